/**
 * Early boot memory (memblock) as far as the SWIOTLB needs it: memblock_alloc_low, which takes a
 * page-aligned block below ARCH_LOW_ADDRESS_LIMIT (4 GiB on x86), searching top-down as memblock
 * does by default.
 *
 * @spec shared/reference/swiotlb.md §b.4 step 3 (memblock_alloc_low, below 4 GiB, page aligned);
 *   Linux mm/memblock.c memblock_alloc_low (top-down default)
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";
import { ARCH_LOW_ADDRESS_LIMIT, PAGE_SIZE_BYTES } from "../swiotlb/constants";

/** What SWIOTLB boot sizing asks of early memory. */
export interface BootMemblock {
  /** memblock_alloc_low(bytes, PAGE_SIZE): base address, or -1 when no free block fits below 4 GiB. */
  allocLow(bytes: number): number;
}

/** Free ranges of guest RAM; allocations are carved from the top of the highest range that fits. */
export class TopDownMemblock implements BootMemblock {
  /** [start, end) pairs, sorted by start. */
  private readonly free: number[] = [];

  constructor(freeRanges: ReadonlyArray<readonly [number, number]>) {
    const sorted = [...freeRanges].sort((a, b) => a[0] - b[0]);
    for (const [s, e] of sorted) {
      if (!Number.isSafeInteger(s) || !Number.isSafeInteger(e) || s < 0 || e <= s) {
        throw new TdxSimError(
          "E_MEMBLOCK",
          `free range [${String(s)}, ${String(e)}) is invalid: need 0 <= start < end`,
        );
      }
      const last = this.free.length;
      if (last > 0 && s < this.free[last - 1]!) {
        throw new TdxSimError("E_MEMBLOCK", `free range [${s}, ${e}) overlaps the previous range`);
      }
      this.free.push(s, e);
    }
  }

  allocLow(bytes: number): number {
    const len = Math.ceil(bytes / PAGE_SIZE_BYTES) * PAGE_SIZE_BYTES;
    const limitEnd = ARCH_LOW_ADDRESS_LIMIT + 1;
    for (let i = this.free.length - 2; i >= 0; i -= 2) {
      const s = this.free[i]!;
      const e = Math.min(this.free[i + 1]!, limitEnd);
      const base = Math.floor((e - len) / PAGE_SIZE_BYTES) * PAGE_SIZE_BYTES;
      if (base < s || e - s < len) continue;
      // Cut [base, base + len) out of [s, free end).
      const fe = this.free[i + 1]!;
      const parts: number[] = [];
      if (base > s) parts.push(s, base);
      if (base + len < fe) parts.push(base + len, fe);
      this.free.splice(i, 2, ...parts);
      return base;
    }
    return -1;
  }

  /** Largest free block below 4 GiB, in bytes. */
  largestLowBlock(): number {
    let best = 0;
    for (let i = 0; i < this.free.length; i += 2) {
      const e = Math.min(this.free[i + 1]!, ARCH_LOW_ADDRESS_LIMIT + 1);
      best = Math.max(best, e - this.free[i]!);
    }
    return best;
  }
}
