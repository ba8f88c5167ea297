/**
 * The TDX rules for untrusted DMA, as options with the defaults the reference recommends:
 * - a translation whose output address carries a TDX private KeyID is blocked and reported with
 *   the model-specific fault 0xF0 (how real hardware reports it is undocumented);
 * - untrusted DMA never writes TD-owned lines: a device write touching a line the memory reports
 *   TD-owned (PhysicalMemoryAccess.anyTdOwnedLine) is blocked with 0xF2 (reads of such lines
 *   through a shared KeyID already return no TD data in the memory model);
 * - optionally (off by default: a simulator invariant, not VT-d behaviour), an input address
 *   without the TD shared bit is rejected with 0xF1.
 *
 * @spec reference/vtd.md §7.1 (devices never reach private memory; "model as: any DMA whose output
 *   HPA carries a private KeyID is aborted ... use a simulator-specific fault code"; the shared-bit
 *   input check "behind a flag ... a sim invariant, not hardware")
 */
import type { PhysicalMemoryAccess } from "@tdx/hw-cpu-seam";
import { TdxSimError } from "@tdx/hw-cpu-seam";

export interface TdxDmaOptions {
  /** Block outputs with a private KeyID. Default true. */
  readonly blockPrivateKeyId?: boolean;
  /** Which KeyIDs are TDX private. Default: those the memory reports private (`isPrivateKeyId`). */
  readonly privateKeyIds?: { readonly first: number; readonly count: number };
  /** Block device writes to TD-owned lines. Default true (moot when no KeyID is private). */
  readonly guardTdOwnedLines?: boolean;
  /** Reject inputs without the shared bit of this GPAW. Default off. */
  readonly requireSharedBit?: { readonly gpaw: 48 | 52 } | false;
}

export class TdxDmaPolicy {
  /** Kind per KeyID (1 = private), so the per-access check is one table load. */
  private readonly privateTable: Uint8Array;
  readonly blockPrivate: boolean;
  readonly sharedBitMask: number;
  /** Whether device writes are checked against TD-owned lines. */
  private readonly guardOwned: boolean;

  constructor(
    private readonly mem: PhysicalMemoryAccess,
    opts: TdxDmaOptions | false | undefined,
  ) {
    const o = opts === false ? { blockPrivateKeyId: false, guardTdOwnedLines: false } : (opts ?? {});
    const keyIdBits = mem.keyIdBits;
    this.privateTable = new Uint8Array(2 ** keyIdBits);
    if (o.privateKeyIds) {
      const { first, count } = o.privateKeyIds;
      if (
        !Number.isInteger(first) ||
        !Number.isInteger(count) ||
        first < 1 ||
        first + count > 2 ** keyIdBits
      ) {
        throw new TdxSimError(
          "E_VTD_TDX",
          `private KeyIDs [${first}, ${first + count}) do not fit the memory's ${keyIdBits} KeyID bits: they must lie in [1, ${2 ** keyIdBits})`,
        );
      }
      this.privateTable.fill(1, first, first + count);
    } else {
      for (let k = 0; k < this.privateTable.length; k++) this.privateTable[k] = mem.isPrivateKeyId(k) ? 1 : 0;
    }
    this.blockPrivate = o.blockPrivateKeyId ?? true;
    // Lines can only be TD-owned if some KeyID is private.
    this.guardOwned = (o.guardTdOwnedLines ?? true) && this.privateTable.includes(1);
    const rs = o.requireSharedBit ?? false;
    this.sharedBitMask = rs === false ? 0 : 2 ** (rs.gpaw - 1);
  }

  /** Whether an output HPA must be blocked (private KeyID). */
  blocksOutput(hpa: number): boolean {
    return this.blockPrivate && this.privateTable[this.mem.keyIdOf(hpa)] === 1;
  }

  /** Whether an input address must be rejected (shared bit required and absent). */
  rejectsInput(addr: number): boolean {
    return this.sharedBitMask !== 0 && Math.floor(addr / this.sharedBitMask) % 2 === 0;
  }

  /** Whether a device write to [hpa, hpa+len) touches TD-owned lines (64-byte granularity). */
  writeHitsTdOwned(hpa: number, len: number): boolean {
    return this.guardOwned && this.mem.anyTdOwnedLine(hpa, len);
  }
}
