/**
 * Guest page allocation for the memory the DMA layer takes at run time: dynamic SWIOTLB pools
 * (buddy allocator, alloc_pages), the atomic DMA coherent pool that transient pools come from
 * (gen_pool, page granular), coherent DMA buffers, and cc-swiotlb refills. A first-fit range
 * allocator over one GPA window stands in for both: deterministic, with a byte budget.
 *
 * @spec shared/reference/swiotlb.md §e (dynamic pools from the page allocator below phys_limit,
 *   transient pools from the atomic coherent pool); Linux kernel/dma/pool.c (atomic pool sizing)
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";

export interface GuestPageAllocator {
  /**
   * Allocate `bytes` (rounded up to 4 KiB pages) whose last byte is at or below `physLimit`.
   * Returns the GPA, or -1 when nothing fits.
   */
  alloc(bytes: number, physLimit: number): number;
  /** Free an allocation made by `alloc` (same `bytes`). */
  free(gpa: number, bytes: number): void;
  /** Bytes currently allocated. */
  allocatedBytes(): number;
}

const PAGE = 4096;

export interface RangeAllocatorOptions {
  /** Align each allocation to its size rounded up to a power of two (buddy order), as alloc_pages does. Default true. */
  readonly buddyAligned?: boolean;
}

/**
 * First-fit allocator over [base, base + size). Buddy-aligned mode aligns each block to
 * 2^get_order(bytes) pages (alloc_pages); otherwise page alignment (gen_pool with PAGE_SHIFT
 * granules). Frees coalesce with neighbours.
 */
export class RangePageAllocator implements GuestPageAllocator {
  readonly base: number;
  readonly size: number;
  private readonly buddyAligned: boolean;
  /** Free ranges, sorted by start, as [start, end) pairs. */
  private freeList: number[];
  private used = 0;
  private readonly live = new Map<number, number>();

  constructor(base: number, size: number, opts: RangeAllocatorOptions = {}) {
    if (
      !Number.isSafeInteger(base) ||
      base < 0 ||
      base % PAGE !== 0 ||
      !Number.isSafeInteger(size) ||
      size <= 0 ||
      size % PAGE !== 0
    ) {
      throw new TdxSimError(
        "E_PAGE_ALLOCATOR",
        `range [${String(base)}, +${String(size)}) is invalid: base and size must be positive multiples of 4096`,
      );
    }
    this.base = base;
    this.size = size;
    this.buddyAligned = opts.buddyAligned ?? true;
    this.freeList = [base, base + size];
  }

  alloc(bytes: number, physLimit: number): number {
    if (!(bytes > 0))
      throw new TdxSimError("E_PAGE_ALLOCATOR", `alloc(${String(bytes)}): size must be positive`);
    const len = Math.ceil(bytes / PAGE) * PAGE;
    const align = this.buddyAligned ? PAGE * 2 ** Math.ceil(Math.log2(len / PAGE)) : PAGE;
    const fl = this.freeList;
    for (let i = 0; i < fl.length; i += 2) {
      const s = fl[i]!;
      const e = fl[i + 1]!;
      const a = Math.ceil(s / align) * align;
      if (a + len > e || a + len - 1 > physLimit) continue;
      // Split [s, e) into [s, a) and [a + len, e).
      const parts: number[] = [];
      if (a > s) parts.push(s, a);
      if (a + len < e) parts.push(a + len, e);
      fl.splice(i, 2, ...parts);
      this.used += len;
      this.live.set(a, len);
      return a;
    }
    return -1;
  }

  free(gpa: number, bytes: number): void {
    const len = Math.ceil(bytes / PAGE) * PAGE;
    if (this.live.get(gpa) !== len) {
      throw new TdxSimError(
        "E_PAGE_ALLOCATOR",
        `free(${gpa}, ${bytes}): no live allocation of that size starts there`,
      );
    }
    this.live.delete(gpa);
    this.used -= len;
    const fl = this.freeList;
    let i = 0;
    while (i < fl.length && fl[i]! < gpa) i += 2;
    fl.splice(i, 0, gpa, gpa + len);
    // Coalesce with the previous and next ranges.
    if (i + 2 < fl.length && fl[i + 1] === fl[i + 2]) fl.splice(i + 1, 2);
    if (i >= 2 && fl[i - 1] === fl[i]) fl.splice(i - 1, 2);
  }

  allocatedBytes(): number {
    return this.used;
  }
}

/**
 * Default size of the atomic DMA coherent pool: 128 KiB per GiB of RAM, at least 128 KiB, at most
 * MAX_ORDER_NR_PAGES (4 MiB). The kernel also grows it in the background when it runs low; this
 * model keeps it at its initial size.
 * @spec Linux kernel/dma/pool.c dma_atomic_pool_init (after commit "dma-pool: fix too large DMA
 *   pools on medium memory size systems")
 */
export function atomicPoolDefaultBytes(ramBytes: number): number {
  const pages = Math.min(Math.floor(ramBytes / PAGE / 8192), 1024);
  return Math.max(pages * PAGE, 128 * 1024);
}
