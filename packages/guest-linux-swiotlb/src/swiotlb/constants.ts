/**
 * SWIOTLB constants of Linux 6.12.y / 6.18.y (identical in both), and the x86 values the
 * confidential-computing paths use. Every number names its source.
 */

/**
 * log2 of the slot ("slab") size.
 * @spec shared/reference/swiotlb.md §a; Linux include/linux/swiotlb.h IO_TLB_SHIFT
 */
export const IO_TLB_SHIFT = 11;
/**
 * Slot size in bytes: the allocation granule.
 * @spec shared/reference/swiotlb.md §a; Linux include/linux/swiotlb.h IO_TLB_SIZE
 */
export const IO_TLB_SIZE = 2048;
/**
 * Slots per segment; an allocation never crosses a segment.
 * @spec shared/reference/swiotlb.md §a; Linux include/linux/swiotlb.h IO_TLB_SEGSIZE
 */
export const IO_TLB_SEGSIZE = 128;
/**
 * Largest single bounce buffer: IO_TLB_SEGSIZE * IO_TLB_SIZE = 256 KiB.
 * @spec shared/reference/swiotlb.md §a, §d.3 (swiotlb_max_mapping_size)
 */
export const IO_TLB_MAX_SEGMENT_BYTES = IO_TLB_SEGSIZE * IO_TLB_SIZE;
/**
 * Default pool size in bytes (64 MiB).
 * @spec shared/reference/swiotlb.md §a; Linux include/linux/swiotlb.h IO_TLB_DEFAULT_SIZE
 */
export const IO_TLB_DEFAULT_SIZE = 64 * 1024 * 1024;
/** Default pool size in slots (32768). @spec as IO_TLB_DEFAULT_SIZE >> IO_TLB_SHIFT */
export const IO_TLB_DEFAULT_NSLABS = IO_TLB_DEFAULT_SIZE / IO_TLB_SIZE;
/**
 * Floor (slots, 1 MiB) for the boot-time halving fallback and for dynamic pools.
 * @spec shared/reference/swiotlb.md §a; Linux kernel/dma/swiotlb.c IO_TLB_MIN_SLABS
 */
export const IO_TLB_MIN_SLABS = (1024 * 1024) / IO_TLB_SIZE;
/** x86 page size. @spec Intel SDM Vol. 3 §4.5 (4-KByte pages) */
export const PAGE_SIZE_BYTES = 4096;
/** Slots per 4 KiB page. @spec Linux kernel/dma/swiotlb.c SLABS_PER_PAGE */
export const SLABS_PER_PAGE = PAGE_SIZE_BYTES / IO_TLB_SIZE;
/**
 * Largest buddy-allocator order on x86 (MAX_PAGE_ORDER, named MAX_ORDER before 6.8): 4 MiB blocks.
 * @spec shared/reference/swiotlb.md §e ("capped at 2 × 2^MAX_PAGE_ORDER slots = 2048 slots = 4 MiB on x86")
 */
export const MAX_PAGE_ORDER = 10;
/**
 * Largest dynamic pool: SLABS_PER_PAGE << MAX_PAGE_ORDER = 2048 slots (4 MiB).
 * @spec shared/reference/swiotlb.md §e; Linux kernel/dma/swiotlb.c swiotlb_alloc_pool
 */
export const DYNAMIC_POOL_MAX_SLABS = SLABS_PER_PAGE * 2 ** MAX_PAGE_ORDER;
/**
 * memblock_alloc_low's upper limit on x86 (ARCH_LOW_ADDRESS_LIMIT): the pool sits below 4 GiB;
 * also the dynamic-pool phys_limit on x86 CoCo (no SWIOTLB_ANY).
 * @spec shared/reference/swiotlb.md §b.4 step 3
 */
export const ARCH_LOW_ADDRESS_LIMIT = 0xffff_ffff;
/**
 * The segment-boundary mask a PCI device gets by default.
 * @spec shared/reference/swiotlb.md §c ("PCI devices default to 0xFFFFFFFF"); Linux drivers/pci/probe.c
 *   pci_device_add -> dma_set_seg_boundary(0xffffffff)
 */
export const PCI_DEFAULT_SEG_BOUNDARY_MASK = 0xffff_ffff;
/**
 * "No segment boundary" (ULONG_MAX, what dma_get_seg_boundary returns without dma_parms): any mask
 * at or above 2^52 is treated as all ones.
 * @spec Linux include/linux/dma-mapping.h dma_get_seg_boundary
 */
export const NO_SEG_BOUNDARY = 2 ** 52;
/**
 * The x86 CoCo sizing rule: 6 % of memblock_phys_mem_size() clamped to [64 MiB, 1 GiB].
 * @spec shared/reference/swiotlb.md §b.3; Linux arch/x86/mm/mem_encrypt.c mem_encrypt_setup_arch
 */
export const COCO_SWIOTLB_PERCENT = 6;
export const COCO_SWIOTLB_MIN_BYTES = IO_TLB_DEFAULT_SIZE;
export const COCO_SWIOTLB_MAX_BYTES = 1024 * 1024 * 1024;
/** Marker for a slot with no original buffer (INVALID_PHYS_ADDR, all ones in C). */
export const INVALID_PHYS_ADDR = -1;
