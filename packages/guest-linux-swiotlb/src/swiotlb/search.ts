/**
 * The slot search inside one area of one pool (Linux 6.12/6.18 `swiotlb_search_pool_area`): the
 * effective alignment, the stride, the quick reject, the scan from the area cursor with min_align
 * matching and the segment-boundary check, and the claim (free-run renumbering, cursor update).
 *
 * Hot path: numbers and typed arrays only, no allocation. Masks are below 2^32 and addresses below
 * 2^52, so address bits are taken modulo 2^32 by the 32-bit bitwise operators (exact for masks).
 *
 * @spec shared/reference/swiotlb.md §c.1 (sizes), §c.3 (search), §c.4 (finishing the map);
 *   Linux kernel/dma/swiotlb.c swiotlb_search_pool_area, include/linux/iommu-helper.h
 *   iommu_is_span_boundary
 */
import {
  NO_SEG_BOUNDARY,
  PAGE_SIZE_BYTES as PAGE,
  IO_TLB_SHIFT as SHIFT,
  IO_TLB_SIZE as SIZE,
} from "./constants";

// Module-local copies: the hot loops read plain constants, not imported bindings.
const IO_TLB_SHIFT = SHIFT;
const IO_TLB_SIZE = SIZE;
const PAGE_SIZE_BYTES = PAGE;

import type { IoTlbPool } from "./pool";

/** Counters a search adds to (the caller owns the object; nothing is allocated per search). */
export interface SearchCounters {
  /** Slots examined by scans ("slots_checked" summed over searches): a search-cost figure. */
  slotsChecked: number;
  /** Area searches started. */
  areaSearches: number;
}

/**
 * Slots of the segment-boundary window for a boundary mask (get_max_slots), or 0 when the mask is
 * "all ones" (no run can cross it).
 * @spec Linux kernel/dma/swiotlb.c get_max_slots; include/linux/dma-mapping.h dma_get_seg_boundary
 */
export function boundarySlotsOf(segBoundaryMask: number): number {
  if (segBoundaryMask >= NO_SEG_BOUNDARY) return 0;
  return Math.floor(segBoundaryMask / IO_TLB_SIZE) + 1;
}

/**
 * Search area `areaIndex` of `pool` for `allocSize` bytes (already including the alignment
 * offset and rounded to the alloc alignment) and claim the slots. Returns the first claimed slot
 * index (a padding slot when padding applies), or -1.
 *
 * @param origAddr the original buffer address; 0 skips min_align matching, as in the kernel
 * @param allocAlignMask the caller's alloc_align_mask (0 for dma-direct streaming maps)
 * @param minAlignMask the device's min_align_mask
 * @param boundarySlots the device's segment-boundary window in slots (boundarySlotsOf), 0 for none
 */
export function searchPoolArea(
  pool: IoTlbPool,
  areaIndex: number,
  origAddr: number,
  allocSize: number,
  allocAlignMask: number,
  minAlignMask: number,
  boundarySlots: number,
  counters: SearchCounters,
): number {
  const areaNslabs = pool.areaNslabs;
  const nslots = (allocSize + (IO_TLB_SIZE - 1)) >>> IO_TLB_SHIFT;
  counters.areaSearches++;

  // §c.3.3: quick reject.
  const used = pool.areaUsed[areaIndex]!;
  if (nslots > areaNslabs - used) return -1;

  // §c.3.1: page alignment for mask-less maps of a page or more, then slot alignment; the
  // min_align bits above the alloc alignment must be matched by choosing the slot.
  let alignMask = allocAlignMask >>> 0;
  if (alignMask === 0 && minAlignMask === 0 && allocSize >= PAGE_SIZE_BYTES) alignMask = PAGE_SIZE_BYTES - 1;
  alignMask = (alignMask | (IO_TLB_SIZE - 1)) >>> 0;
  const iotlbAlignMask = (minAlignMask & ~alignMask) >>> 0;
  // §c.3.2: stride in slots.
  const stride = (Math.max(alignMask, iotlbAlignMask) >>> IO_TLB_SHIFT) + 1;

  // DMA address of the pool start, masked by the boundary (the TDX DMA address of shared memory
  // is the plain GPA: phys_to_dma_unencrypted adds nothing on Intel). Cached per pool.
  if (pool.boundaryCacheSlots !== boundarySlots) {
    const tbl = boundarySlots === 0 ? pool.start : pool.start % (boundarySlots * IO_TLB_SIZE);
    const shift = Math.ceil(tbl / IO_TLB_SIZE);
    pool.boundaryCacheSlots = boundarySlots;
    pool.boundaryCacheTblLo = tbl % 4294967296;
    pool.boundaryCacheShift = shift;
    // A pool inside one boundary window never has a run crossing it: skip the check.
    pool.boundaryCacheCheck =
      boundarySlots !== 0 &&
      Math.floor(shift / boundarySlots) !== Math.floor((shift + pool.nslabs - 1) / boundarySlots);
  }
  const tblLo = pool.boundaryCacheTblLo;
  const shiftSlots = pool.boundaryCacheShift;
  const checkBoundary = pool.boundaryCacheCheck;
  const checkOrig = origAddr !== 0 && iotlbAlignMask !== 0;
  const origMasked = checkOrig ? (origAddr % 4294967296) & iotlbAlignMask : 0;
  const slotBase = areaIndex * areaNslabs;
  const runEnd = pool.runEnd;

  let index = pool.areaIndex[areaIndex]!;
  let checked = 0;
  let found = -1;
  while (checked < areaNslabs) {
    const slotIndex = slotBase + index;
    const a = tblLo + slotIndex * IO_TLB_SIZE;
    if ((a & alignMask) !== 0 || (checkOrig && (a & iotlbAlignMask) !== origMasked)) {
      index = index + 1 >= areaNslabs ? 0 : index + 1;
      checked++;
      continue;
    }
    if (
      runEnd[slotIndex]! - slotIndex >= nslots &&
      (!checkBoundary || ((shiftSlots + slotIndex) % boundarySlots) + nslots <= boundarySlots)
    ) {
      found = slotIndex;
      break;
    }
    index = index + stride >= areaNslabs ? 0 : index + stride;
    checked += stride;
  }
  counters.slotsChecked += checked;
  if (found < 0) return -1;

  // §c.3.5: claim. alloc_size per slot excludes the in-slot offset of the original.
  const lowOffset = minAlignMask === 0 ? 0 : (origAddr % 4294967296) & minAlignMask & (IO_TLB_SIZE - 1);
  const allocSizeArr = pool.allocSize;
  const tags = pool.runStartTag;
  const end = runEnd[found]!;
  const runStart = tags[end - 1]!;
  let remaining = allocSize - lowOffset;
  for (let i = found; i < found + nslots; i++) {
    runEnd[i] = i; // list = 0
    allocSizeArr[i] = remaining;
    remaining -= IO_TLB_SIZE;
  }
  // The free slots before the run (same segment) now end at the allocation: the kernel renumbers
  // them 1, 2, ... backwards; the free slots after it keep their run.
  if (found > runStart) {
    runEnd.fill(found, runStart, found);
    tags[found - 1] = runStart;
  }
  if (found + nslots < end) tags[end - 1] = found + nslots;
  // §c.3.6: cursor update (wrap_area_index wraps to 0, it is not a modulo).
  const next = index + nslots;
  pool.areaIndex[areaIndex] = next >= areaNslabs ? 0 : next;
  pool.areaUsed[areaIndex] = used + nslots;
  return found;
}
