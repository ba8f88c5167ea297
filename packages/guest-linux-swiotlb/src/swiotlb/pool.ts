/**
 * One SWIOTLB memory pool (Linux `struct io_tlb_pool`): a contiguous shared range cut into 2 KiB
 * slots, with per-slot state in typed arrays (the kernel's `struct io_tlb_slot` fields, one array
 * per field) and per-area lock domains (`struct io_tlb_area`: used count and search cursor).
 *
 * The kernel's free-run counter `list[i]` (free slots from i to the end of its run inside the
 * segment, 0 when in use) is held as `runEnd[i]` = i + list[i], so every counter the kernel would
 * renumber one by one is updated with one `fill`; `listAt(i)` gives the kernel's value. The last
 * slot of each free run also records where the run starts (`runStartTag`), so merges need no walk.
 * The counters, and so every search decision, are exactly the kernel's.
 *
 * @spec shared/reference/swiotlb.md §a (data structures), §c.6 (free-run invariant);
 *   Linux kernel/dma/swiotlb.c swiotlb_init_io_tlb_pool
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";
import { INVALID_PHYS_ADDR, IO_TLB_SEGSIZE, IO_TLB_SIZE } from "./constants";

/** What kind of pool this is (the default pool, a grown dynamic pool, or a per-map transient pool). */
export type PoolKind = "default" | "dynamic" | "transient";

export class IoTlbPool {
  /** Physical (guest-physical) address of slot 0; the shared bit is not part of it. */
  readonly start: number;
  /** One past the last byte. */
  readonly end: number;
  readonly nslabs: number;
  readonly nareas: number;
  /** Slots per area (nslabs / nareas). */
  readonly areaNslabs: number;
  readonly kind: PoolKind;
  /** End (exclusive) of the free run holding slot i; i itself when the slot is in use (list = 0). */
  readonly runEnd: Int32Array;
  /** At the last slot of each free run: the run's first slot (other entries are stale). */
  readonly runStartTag: Int32Array;
  /** Bytes of the allocation remaining from the start of this slot (`alloc_size`). */
  readonly allocSize: Int32Array;
  /** Padding slots before the first data slot, stored in that data slot (`pad_slots`). */
  readonly padSlots: Uint16Array;
  /** Original buffer address this slot shadows (`orig_addr`), -1 (INVALID_PHYS_ADDR) if none. */
  readonly origAddr: Float64Array;
  /**
   * 1 in the first data slot of a live mapping. Not a kernel field: it lets unmap/sync refuse an
   * address that is not a live mapping, as CONFIG_DMA_API_DEBUG does, instead of corrupting state.
   */
  readonly mapHead: Uint8Array;
  /** Per area: slots in use (`used`). */
  readonly areaUsed: Int32Array;
  /** Per area: area-relative slot where the next search starts (`index`). */
  readonly areaIndex: Int32Array;
  /** Search cache: the boundary window (slots) the two values below were computed for (-1: none). */
  boundaryCacheSlots = -1;
  /** Low 32 bits of the pool's DMA address masked by that boundary, and its slot number. */
  boundaryCacheTblLo = 0;
  boundaryCacheShift = 0;
  /** Whether runs in this pool can cross a window of that size at all. */
  boundaryCacheCheck = false;

  constructor(start: number, nslabs: number, nareas: number, kind: PoolKind) {
    if (!Number.isSafeInteger(start) || start < 0 || start % IO_TLB_SIZE !== 0) {
      throw new TdxSimError(
        "E_SWIOTLB_POOL",
        `pool start ${String(start)} is invalid: it must be a non-negative multiple of ${IO_TLB_SIZE}`,
      );
    }
    if (!Number.isInteger(nslabs) || nslabs < 1 || nslabs > 2 ** 26) {
      throw new TdxSimError(
        "E_SWIOTLB_POOL",
        `pool of ${String(nslabs)} slots is invalid: it must have 1 to 2^26 slots`,
      );
    }
    if (!Number.isInteger(nareas) || nareas < 1 || nareas > nslabs) {
      throw new TdxSimError(
        "E_SWIOTLB_POOL",
        `pool of ${nslabs} slots cannot have ${String(nareas)} areas: allowed 1 to ${nslabs}`,
      );
    }
    this.start = start;
    this.nslabs = nslabs;
    this.end = start + nslabs * IO_TLB_SIZE;
    this.nareas = nareas;
    this.areaNslabs = Math.floor(nslabs / nareas);
    this.kind = kind;
    this.runEnd = new Int32Array(nslabs);
    this.runStartTag = new Int32Array(nslabs);
    this.allocSize = new Int32Array(nslabs);
    this.padSlots = new Uint16Array(nslabs);
    this.origAddr = new Float64Array(nslabs).fill(INVALID_PHYS_ADDR);
    this.mapHead = new Uint8Array(nslabs);
    this.areaUsed = new Int32Array(nareas);
    this.areaIndex = new Int32Array(nareas);
    // Each segment starts as one free run (the last one capped by the pool end).
    for (let s = 0; s < nslabs; s += IO_TLB_SEGSIZE) {
      const e = Math.min(s + IO_TLB_SEGSIZE, nslabs);
      this.runEnd.fill(e, s, e);
      this.runStartTag[e - 1] = s;
    }
  }

  /** The kernel's free-run counter `list` of slot i (0 when the slot is in use). */
  listAt(i: number): number {
    return this.runEnd[i]! - i;
  }

  /** Whether slot i is free. */
  isFree(i: number): boolean {
    return this.runEnd[i]! > i;
  }

  /** Whether `addr` lies inside this pool. */
  contains(addr: number): boolean {
    return addr >= this.start && addr < this.end;
  }

  /** Address of slot `index`. */
  slotAddr(index: number): number {
    return this.start + index * IO_TLB_SIZE;
  }

  /** Slot index of an address inside the pool. */
  slotOf(addr: number): number {
    return Math.floor((addr - this.start) / IO_TLB_SIZE);
  }

  /** Slots in use, summed over the areas (what mem_pool_used reports). */
  used(): number {
    let u = 0;
    for (let a = 0; a < this.nareas; a++) u += this.areaUsed[a]!;
    return u;
  }

  /** Bytes of the pool. */
  get bytes(): number {
    return this.nslabs * IO_TLB_SIZE;
  }

  /**
   * Check the free-run invariant of §c.6: a free slot's counter is 1 + the next slot's counter
   * when that slot is free and in the same segment, else 1; in-use slots are 0. Also checks the
   * run-start tags. Returns the first violation as text, or undefined when the pool is consistent.
   */
  checkInvariant(): string | undefined {
    const n = this.nslabs;
    for (let i = n - 1; i >= 0; i--) {
      const v = this.listAt(i);
      if (v < 0) return `slot ${i}: run end ${this.runEnd[i]} before the slot`;
      if (v === 0) continue;
      const nextSameSeg = i + 1 < n && ((i + 1) & (IO_TLB_SEGSIZE - 1)) !== 0;
      const expect = nextSameSeg && this.listAt(i + 1) !== 0 ? this.listAt(i + 1) + 1 : 1;
      if (v !== expect) return `slot ${i}: free-run counter ${v}, expected ${expect}`;
      const startsRun = (i & (IO_TLB_SEGSIZE - 1)) === 0 || this.listAt(i - 1) === 0;
      if (startsRun && this.runStartTag[this.runEnd[i]! - 1] !== i) {
        return `run [${i}, ${this.runEnd[i]}): start tag ${this.runStartTag[this.runEnd[i]! - 1]}, expected ${i}`;
      }
    }
    return undefined;
  }
}

/** Slots needed for `bytes` (nr_slots: DIV_ROUND_UP(bytes, IO_TLB_SIZE)). */
export function nrSlots(bytes: number): number {
  return Math.ceil(bytes / IO_TLB_SIZE);
}

/**
 * limit_nareas: a pool with fewer than 128 slots per area gets nslots / 128 areas (not re-rounded
 * to a power of two). @spec shared/reference/swiotlb.md §b.2; Linux kernel/dma/swiotlb.c limit_nareas
 */
export function limitNareas(nareas: number, nslots: number): number {
  return nslots < nareas * IO_TLB_SEGSIZE ? Math.floor(nslots / IO_TLB_SEGSIZE) : nareas;
}
