/**
 * The EFI unaccepted-memory table and `accept_memory()`: one bit per unit (2 MiB) of memory the
 * firmware left unaccepted, from `phys_base`. Accepting a range clips it to the bitmap, extends
 * it by one unit when it ends on a unit boundary (the guard unit: load_unaligned_zeropad() may
 * read into the next page, and touching unaccepted TDX memory kills the TD), accepts each run of
 * set bits with `tdx_accept_memory()` (a failure panics: "TDX: Failed to accept memory") and
 * clears the bits. `range_contains_unaccepted_memory()` applies the same guard extension.
 *
 * @spec shared/reference/kvm-guest-qemu.md §3.6 (unit_size 2 MiB, guard unit, accepting_list,
 *   runs of set bits -> arch_accept_memory -> tdx_accept_memory); torvalds/linux
 *   drivers/firmware/efi/unaccepted_memory.c accept_memory(start, size),
 *   range_contains_unaccepted_memory(); include/linux/efi.h struct efi_unaccepted_memory
 *   (version, unit_size, phys_base, size = bitmap bytes, bitmap[]); arch/x86/include/asm/
 *   unaccepted_memory.h arch_accept_memory()
 */

import { type GuestOp, TdxSimError } from "@tdx/hw-cpu-seam";
import { tdxAcceptMemory } from "./accept";
import type { TdxVcpu } from "./vcpu";

/** The unit the Linux EFI stub and td-shim use. */
export const UNACCEPTED_UNIT_SIZE = 2 * 1024 * 1024;

export interface UnacceptedTableConfig {
  /** First byte the bitmap covers (unit-aligned). */
  readonly physBase: number;
  /** Bytes of memory the bitmap covers (a multiple of 8 units). */
  readonly coveredBytes: number;
  /** Default 2 MiB. */
  readonly unitSize?: number;
}

/** struct efi_unaccepted_memory plus the accept logic that works on it. */
export class UnacceptedMemory {
  readonly version = 1;
  readonly unitSize: number;
  readonly physBase: number;
  /** The bitmap, bit i of byte j = unit 8j+i (a little-endian unsigned long bitmap). */
  readonly bitmap: Uint8Array;
  /** Unit ranges being accepted right now (accepting_list). */
  private readonly accepting: { start: number; end: number }[] = [];

  constructor(cfg: UnacceptedTableConfig) {
    const unit = cfg.unitSize ?? UNACCEPTED_UNIT_SIZE;
    if (!Number.isSafeInteger(unit) || unit < 4096 || (unit & (unit - 1)) !== 0) {
      throw new TdxSimError("E_UNACCEPTED", `unit size ${unit} must be a power of two of at least 4096`);
    }
    if (!Number.isSafeInteger(cfg.physBase) || cfg.physBase < 0 || cfg.physBase % unit !== 0) {
      throw new TdxSimError("E_UNACCEPTED", `phys_base 0x${cfg.physBase.toString(16)} must be unit-aligned`);
    }
    if (
      !Number.isSafeInteger(cfg.coveredBytes) ||
      cfg.coveredBytes <= 0 ||
      cfg.coveredBytes % (unit * 8) !== 0
    ) {
      throw new TdxSimError(
        "E_UNACCEPTED",
        `covered size ${cfg.coveredBytes} must be a positive multiple of 8 units (${unit * 8} bytes)`,
      );
    }
    this.unitSize = unit;
    this.physBase = cfg.physBase;
    this.bitmap = new Uint8Array(cfg.coveredBytes / unit / 8);
  }

  /** Bitmap size in bytes (the table's `size`). */
  get size(): number {
    return this.bitmap.length;
  }

  isUnitUnaccepted(unit: number): boolean {
    return ((this.bitmap[unit >>> 3]! >>> (unit & 7)) & 1) === 1;
  }

  private setUnit(unit: number, on: boolean): void {
    const i = unit >>> 3;
    const m = 1 << (unit & 7);
    this.bitmap[i] = on ? this.bitmap[i]! | m : this.bitmap[i]! & ~m;
  }

  /** Number of units still unaccepted. */
  unacceptedUnits(): number {
    let n = 0;
    for (const b of this.bitmap) for (let x = b; x; x &= x - 1) n++;
    return n;
  }

  /**
   * Mark [start, end) unaccepted, as the EFI stub does for EfiUnacceptedMemoryType ranges (it
   * accepts an unaligned head and tail itself; here the range must be unit-aligned).
   */
  markUnaccepted(start: number, end: number): void {
    const u = this.unitSize;
    if (start % u !== 0 || end % u !== 0 || start < this.physBase || end > this.limit() || end < start) {
      throw new TdxSimError(
        "E_UNACCEPTED",
        `[0x${start.toString(16)}, 0x${end.toString(16)}) must be unit-aligned and inside [0x${this.physBase.toString(16)}, 0x${this.limit().toString(16)})`,
      );
    }
    for (let a = start; a < end; a += u) this.setUnit((a - this.physBase) / u, true);
  }

  /** End of the memory the bitmap covers. */
  limit(): number {
    return this.physBase + this.bitmap.length * 8 * this.unitSize;
  }

  /** The unit range [start, end) accept_memory()/range_contains...() consider, guard included. */
  private unitRange(start: number, size: number): { start: number; end: number } | undefined {
    let end = start + size;
    if (start < this.physBase) start = this.physBase;
    if (end < this.physBase) return undefined;
    start -= this.physBase;
    end -= this.physBase;
    const u = this.unitSize;
    if (end % u === 0) end += u;
    const max = this.bitmap.length * 8 * u;
    if (end > max) end = max;
    return { start: Math.floor(start / u), end: Math.ceil(end / u) };
  }

  /** range_contains_unaccepted_memory(start, size). */
  rangeContainsUnacceptedMemory(start: number, size: number): boolean {
    const r = this.unitRange(start, size);
    if (!r) return false;
    for (let unit = r.start; unit < r.end; unit++) if (this.isUnitUnaccepted(unit)) return true;
    return false;
  }

  /**
   * accept_memory(start, size) on vCPU `v`. Two vCPUs accepting overlapping units at once would
   * spin on the accepting list until the first finishes; the cooperative execution model cannot
   * run both, so that case is refused with an error.
   */
  *acceptMemory(v: TdxVcpu, start: number, size: number): GuestOp<void> {
    const range = this.unitRange(start, size);
    if (!range) return;
    for (const other of this.accepting) {
      if (other.end > range.start && other.start < range.end) {
        throw new TdxSimError(
          "E_ACCEPT_CONTENDED",
          `units [${range.start}, ${range.end}) are being accepted by another vCPU; the cooperative model cannot spin on accepting_list`,
        );
      }
    }
    this.accepting.push(range);
    try {
      const u = this.unitSize;
      let unit = range.start;
      while (unit < range.end) {
        if (!this.isUnitUnaccepted(unit)) {
          unit++;
          continue;
        }
        let runEnd = unit + 1;
        while (runEnd < range.end && this.isUnitUnaccepted(runEnd)) runEnd++;
        const physStart = unit * u + this.physBase;
        const physEnd = runEnd * u + this.physBase;
        if (!(yield* tdxAcceptMemory(v, physStart, physEnd))) yield* v.panic("TDX: Failed to accept memory");
        for (let i = unit; i < runEnd; i++) this.setUnit(i, false);
        unit = runEnd;
      }
    } finally {
      this.accepting.splice(this.accepting.indexOf(range), 1);
    }
  }
}
