/**
 * The context cache: decoded root+context entries per source-id, as typed arrays indexed by the
 * 16-bit source-id (one slot per requester, no per-lookup allocation). An entry stays in use until
 * a context-cache invalidation covers it, even if the tables in memory change: stale entries are
 * visible, as on hardware. With negative caching (caching mode) a faulting lookup is cached too,
 * tagged with domain-id 0, and keeps faulting until invalidated.
 *
 * @spec reference/vtd.md §5.1 (context cache tagged by SID, DID recorded), §5.2 (global /
 *   domain-selective / device-selective with FM), §5.5 (CM=1: not-present entries cached, DID 0)
 */

export const CtxState = { Empty: 0, Valid: 1, Negative: 2 } as const;

/** Scalable-mode context flags. */
export const SmCtx = { DTE: 1, PASIDE: 2, PRE: 4, RID_PRIV: 8 } as const;

export class ContextCache {
  static readonly SLOTS = 65536;
  readonly state = new Uint8Array(ContextCache.SLOTS);
  /** Cached fault reason for negative entries. */
  readonly fault = new Uint8Array(ContextCache.SLOTS);
  readonly fpd = new Uint8Array(ContextCache.SLOTS);
  /** Legacy: context DID. Negative entries: 0. Scalable: 0 (domains live in PASID entries). */
  readonly did = new Uint16Array(ContextCache.SLOTS);
  /** Legacy translation type (TT) and page-table levels (AW + 2). */
  readonly tt = new Uint8Array(ContextCache.SLOTS);
  readonly levels = new Uint8Array(ContextCache.SLOTS);
  /** Legacy: SLPTPTR. Scalable: PASID directory pointer. */
  readonly ptr = new Float64Array(ContextCache.SLOTS);
  /** Scalable: DTE/PASIDE/PRE/RID_PRIV flags, PDTS, RID_PASID. */
  readonly smFlags = new Uint8Array(ContextCache.SLOTS);
  readonly pdts = new Uint8Array(ContextCache.SLOTS);
  readonly ridPasid = new Int32Array(ContextCache.SLOTS);
  /** Whether lookups may reuse entries (false: every request reads the tables). */
  enabled: boolean;
  /** Number of fills (misses that read memory). */
  fills = 0;

  constructor(enabled = true) {
    this.enabled = enabled;
  }

  /** Global invalidation. */
  invalidateAll(): void {
    this.state.fill(0);
  }

  /** Domain-selective: entries tagged with `did` (negative entries carry DID 0). */
  invalidateDomain(did: number): void {
    const { state, did: tags } = this;
    for (let s = 0; s < ContextCache.SLOTS; s++) {
      if (state[s] !== 0 && tags[s] === did) state[s] = 0;
    }
  }

  /**
   * Device-selective: `sid` with the function-mask FM applied to the low devfn bits
   * (FM 0: none, 1: bit 2, 2: bits 2:1, 3: bits 2:0). Matches regardless of DID (over-invalidation
   * is always allowed).
   * @spec reference/vtd.md §1.5 (QEMU vtd_context_device_invalidate)
   */
  invalidateDevice(sid: number, fm: number): void {
    const mask = [0, 4, 6, 7][fm & 3]!;
    const base = sid & ~mask & 0xffff;
    for (let low = 0; low <= mask; low++) {
      if ((low & ~mask) !== 0) continue;
      this.state[base | low] = 0;
    }
  }
}
