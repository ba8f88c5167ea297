/**
 * Reading translation-structure entries from physical memory as two Uint32 halves (no bigint,
 * no allocation): one preallocated out-array, the halves exposed as `lo`/`hi` after each read.
 * Also the address arithmetic for entries whose address field spans bits [HAW-1:12].
 *
 * @spec reference/vtd.md §2.1-§2.3 (entry layouts; "bits above HAW reserved"); ARCHITECTURE.md
 *   conventions ("decode 64-bit descriptors from two Uint32 halves")
 */
import { Initiator, type PhysicalMemoryAccess } from "@tdx/hw-cpu-seam";

export class EntryReader {
  /** Low and high dword of the last qword read. */
  lo = 0;
  hi = 0;
  /** Bits of a high dword inside the host address width (bits [HAW-33:0]). */
  readonly hawHiMask: number;
  /** Bits of a high dword in an address field above the host address width (bits [51:HAW] of the qword). */
  readonly aboveHawHi: number;
  private readonly out = new Uint32Array(2);
  reads = 0;

  constructor(
    readonly mem: PhysicalMemoryAccess,
    readonly hawBits: number,
  ) {
    this.hawHiMask = hawBits >= 64 ? 0xffff_ffff : (2 ** (hawBits - 32) - 1) >>> 0;
    this.aboveHawHi = (0x000f_ffff & ~this.hawHiMask) >>> 0;
  }

  /** Read the qword at `pa`; false when memory refused the access. */
  read(pa: number): boolean {
    this.reads++;
    const st = this.mem.read64(pa, Initiator.Device, this.out);
    this.lo = this.out[0]!;
    this.hi = this.out[1]!;
    return st === 0;
  }

  /** Address field [HAW-1:12] of (lo, hi). */
  addr(lo: number, hi: number): number {
    return (hi & this.hawHiMask) * 4294967296 + ((lo & 0xffff_f000) >>> 0);
  }

  /** Whether (hi) has address bits at or above HAW anywhere in [63:HAW] (pointers: all reserved). */
  pointerAboveHaw(hi: number): boolean {
    return (hi & ~this.hawHiMask) !== 0;
  }

  /** Write the low dword of the entry at `pa` (accessed/dirty updates). */
  writeLo(pa: number, lo: number): boolean {
    return this.mem.write32(pa, lo >>> 0, Initiator.Device) === 0;
  }
}
