/**
 * The PASID cache (scalable mode): decoded PASID-table entries, looked up by (source-id, PASID)
 * and tagged with the entry's domain-id for invalidation. A set-associative typed-array cache with
 * round-robin replacement. Entries stay in use until a PASID-cache invalidation (or a covering
 * context-cache invalidation) removes them.
 *
 * @spec reference/vtd.md §5.1 (PASID cache, tag DID + PASID; invalidated by descriptor 0x7:
 *   domain / PASID-selective / global) and §3.3 (PASID-table entry fields)
 */

/** PASID granular translation types (PGTT). @spec reference/vtd.md §3.3 PGTT [8:6] */
export const Pgtt = { FirstStage: 1, SecondStage: 2, Nested: 3, PassThrough: 4 } as const;
export type Pgtt = (typeof Pgtt)[keyof typeof Pgtt];

/** Decoded PASID-entry flags kept in the cache. */
export const PeFlag = {
  SRE: 1,
  ERE: 2,
  WPE: 4,
  NXE: 8,
  SMEP: 16,
  SLADE: 32,
  SLEE: 64,
} as const;

export class PasidCache {
  readonly ways: number;
  readonly sets: number;
  readonly state: Uint8Array;
  readonly key: Float64Array;
  readonly fault: Uint8Array;
  readonly fpd: Uint8Array;
  readonly pgtt: Uint8Array;
  readonly did: Uint16Array;
  readonly ssLevels: Uint8Array;
  readonly ssPtr: Float64Array;
  readonly fsLevels: Uint8Array;
  readonly fsPtr: Float64Array;
  readonly flags: Uint8Array;
  private readonly victim: Uint8Array;
  enabled: boolean;
  fills = 0;

  constructor(sets = 256, ways = 4, enabled = true) {
    this.sets = sets;
    this.ways = ways;
    const n = sets * ways;
    this.state = new Uint8Array(n);
    this.key = new Float64Array(n);
    this.fault = new Uint8Array(n);
    this.fpd = new Uint8Array(n);
    this.pgtt = new Uint8Array(n);
    this.did = new Uint16Array(n);
    this.ssLevels = new Uint8Array(n);
    this.ssPtr = new Float64Array(n);
    this.fsLevels = new Uint8Array(n);
    this.fsPtr = new Float64Array(n);
    this.flags = new Uint8Array(n);
    this.victim = new Uint8Array(sets);
    this.enabled = enabled && n > 0;
  }

  private setOf(sid: number, pasid: number): number {
    return (Math.imul(pasid ^ Math.imul(sid, 0x9e37_79b1), 0x85eb_ca6b) >>> 0) % this.sets;
  }

  /** The slot holding (sid, pasid), or -1. */
  lookup(sid: number, pasid: number): number {
    if (!this.enabled) return -1;
    const k = sid * 1048576 + pasid;
    const base = this.setOf(sid, pasid) * this.ways;
    for (let w = 0; w < this.ways; w++) {
      const s = base + w;
      if (this.state[s] !== 0 && this.key[s] === k) return s;
    }
    return -1;
  }

  /** A slot for (sid, pasid): the existing one or a victim. The caller fills the fields. */
  allocate(sid: number, pasid: number): number {
    const existing = this.lookup(sid, pasid);
    if (existing >= 0) return existing;
    const set = this.setOf(sid, pasid);
    const base = set * this.ways;
    let slot = -1;
    for (let w = 0; w < this.ways; w++) {
      if (this.state[base + w] === 0) {
        slot = base + w;
        break;
      }
    }
    if (slot < 0) {
      slot = base + this.victim[set]!;
      this.victim[set] = (this.victim[set]! + 1) % this.ways;
    }
    this.key[slot] = sid * 1048576 + pasid;
    this.fills++;
    return slot;
  }

  invalidateAll(): void {
    this.state.fill(0);
  }

  /** Domain-selective (G=0): every entry tagged with `did`. */
  invalidateDomain(did: number): void {
    for (let s = 0; s < this.state.length; s++)
      if (this.state[s] !== 0 && this.did[s] === did) this.state[s] = 0;
  }

  /** PASID-selective (G=1): entries tagged with `did` for `pasid`, on any requester. */
  invalidatePasid(did: number, pasid: number): void {
    for (let s = 0; s < this.state.length; s++) {
      if (this.state[s] !== 0 && this.did[s] === did && this.key[s]! % 1048576 === pasid) this.state[s] = 0;
    }
  }

  /** Every entry of the given requesters (a device-selective context-cache invalidation). */
  invalidateSids(match: (sid: number) => boolean): void {
    for (let s = 0; s < this.state.length; s++) {
      if (this.state[s] !== 0 && match(Math.floor(this.key[s]! / 1048576))) this.state[s] = 0;
    }
  }
}
