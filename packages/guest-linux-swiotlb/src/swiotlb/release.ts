/**
 * Slot release (Linux 6.12/6.18 `swiotlb_release_slots`): recover the first allocated slot from
 * the bounce address and the device's min_align_mask (stepping back over padding slots), derive
 * the slot count from that slot's alloc_size, and return the run to the free lists, merging with
 * the free slots after it and before it inside the same segment.
 *
 * @spec shared/reference/swiotlb.md §c.6; Linux kernel/dma/swiotlb.c swiotlb_release_slots
 */
import { INVALID_PHYS_ADDR, IO_TLB_SEGSIZE, IO_TLB_SIZE } from "./constants";
import type { IoTlbPool } from "./pool";

/**
 * The first data slot of the mapping whose bounce address is `tlbAddr`, or -1 when no live
 * mapping starts there (a DMA-API-debug style check; the kernel itself does not check).
 */
export function mappingDataSlot(pool: IoTlbPool, tlbAddr: number, minAlignMask: number): number {
  const offset = (tlbAddr % 4294967296) & minAlignMask & (IO_TLB_SIZE - 1);
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
  const offset = (tlbAddr % 4294967296) & minAlignMask & (IO_TLB_SIZE - 1);
  const index = dataSlot - pool.padSlots[dataSlot]!;
  const nslots = Math.ceil((pool.allocSize[index]! + offset) / IO_TLB_SIZE);
  const aindex = Math.floor(index / pool.areaNslabs);
  const list = pool.list;
  pool.mapHead[dataSlot] = 0;

  // Merge with the free run that follows, if it is in the same segment (and inside the pool:
  // the kernel reads past the end only for transient pools, which are never released this way).
  const after = index + nslots;
  const segEnd = (Math.floor(index / IO_TLB_SEGSIZE) + 1) * IO_TLB_SEGSIZE;
  let count = after < segEnd && after < pool.nslabs ? list[after]! : 0;
  for (let i = after - 1; i >= index; i--) {
    list[i] = ++count;
    pool.origAddr[i] = INVALID_PHYS_ADDR;
    pool.allocSize[i] = 0;
    pool.padSlots[i] = 0;
  }
  // Merge with the free slots that precede, in the same segment.
  for (let i = index - 1; (i & (IO_TLB_SEGSIZE - 1)) !== IO_TLB_SEGSIZE - 1 && list[i]! !== 0; i--) {
    list[i] = ++count;
  }
  pool.areaUsed[aindex] = pool.areaUsed[aindex]! - nslots;
  return nslots;
}
