/**
 * Slot release (Linux 6.12/6.18 `swiotlb_release_slots`): recover the first allocated slot from
 * the bounce address and the device's min_align_mask (stepping back over padding slots), derive
 * the slot count from that slot's alloc_size, and return the run to the free lists, merging with
 * the free slots after it and before it inside the same segment.
 *
 * @spec shared/reference/swiotlb.md §c.6; Linux kernel/dma/swiotlb.c swiotlb_release_slots
 */
import { INVALID_PHYS_ADDR as INVALID, IO_TLB_SEGSIZE as SEGSIZE, IO_TLB_SIZE as SIZE } from "./constants";

// Module-local copies: the hot loops read plain constants, not imported bindings.
const INVALID_PHYS_ADDR = INVALID;
const IO_TLB_SEGSIZE = SEGSIZE;
const IO_TLB_SIZE = SIZE;

import type { IoTlbPool } from "./pool";

/**
 * The first data slot of the mapping whose bounce address is `tlbAddr`, or -1 when no live
 * mapping starts there (a DMA-API-debug style check; the kernel itself does not check).
 */
export function mappingDataSlot(pool: IoTlbPool, tlbAddr: number, minAlignMask: number): number {
  const offset = minAlignMask === 0 ? 0 : (tlbAddr % 4294967296) & minAlignMask & (IO_TLB_SIZE - 1);
  const index = Math.floor((tlbAddr - offset - pool.start) / IO_TLB_SIZE);
  if (index < 0 || index >= pool.nslabs || pool.mapHead[index] !== 1) return -1;
  return index;
}

/**
 * Release the live mapping whose first data slot is `dataSlot` (from mappingDataSlot) with the
 * in-slot offset recovered from `tlbAddr`. Returns the number of slots freed.
 */
export function releaseSlots(
  pool: IoTlbPool,
  tlbAddr: number,
  dataSlot: number,
  minAlignMask: number,
): number {
  const offset = minAlignMask === 0 ? 0 : (tlbAddr % 4294967296) & minAlignMask & (IO_TLB_SIZE - 1);
  const index = dataSlot - pool.padSlots[dataSlot]!;
  const nslots = (pool.allocSize[index]! + offset + (IO_TLB_SIZE - 1)) >>> 11;
  const aindex = Math.floor(index / pool.areaNslabs);
  pool.mapHead[dataSlot] = 0;
  const runEnd = pool.runEnd;
  const tags = pool.runStartTag;
  const origArr = pool.origAddr;
  const sizeArr = pool.allocSize;
  const padArr = pool.padSlots;
  for (let i = index; i < index + nslots; i++) {
    origArr[i] = INVALID_PHYS_ADDR;
    sizeArr[i] = 0;
    padArr[i] = 0;
  }
  // Merge with the free run that follows if it is in the same segment (and inside the pool: the
  // kernel reads past the end only for transient pools, which are never released this way) ...
  const after = index + nslots;
  const segEnd = (index | (IO_TLB_SEGSIZE - 1)) + 1;
  const end = after < segEnd && after < pool.nslabs && runEnd[after]! > after ? runEnd[after]! : after;
  // ... and with the free run that precedes it in the same segment.
  const start =
    (index & (IO_TLB_SEGSIZE - 1)) !== 0 && runEnd[index - 1]! > index - 1 ? tags[index - 1]! : index;
  runEnd.fill(end, start, after);
  tags[end - 1] = start;
  pool.areaUsed[aindex] = pool.areaUsed[aindex]! - nslots;
  return nslots;
}
