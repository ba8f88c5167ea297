/**
 * The SWIOTLB allocator a device points to (Linux `struct io_tlb_mem`): its pools (the default
 * pool, and with CONFIG_SWIOTLB_DYNAMIC the grown pools, newest first), the area iteration order,
 * pool lookup by address, and the debugfs counters (nslabs, used, hiwater, transient).
 *
 * @spec shared/reference/swiotlb.md §a (io_tlb_mem), §c.2 (choosing areas, static and dynamic
 *   orders), §c.8 (debugfs), §e (lookups); Linux kernel/dma/swiotlb.c swiotlb_find_slots,
 *   swiotlb_search_area, swiotlb_pool_find_slots, inc_used_and_hiwater, add_mem_pool
 */
import { type GuestOp, TdxSimError } from "@tdx/hw-cpu-seam";
import type { DmaDevice } from "../device";
import { ARCH_LOW_ADDRESS_LIMIT, IO_TLB_MAX_SEGMENT_BYTES, IO_TLB_SIZE } from "./constants";
import type { IoTlbPool } from "./pool";
import { type SearchCounters, searchPoolArea } from "./search";

/** What the allocator calls when no pool has room and it may grow (CONFIG_SWIOTLB_DYNAMIC). */
export interface PoolGrower {
  /**
   * Schedule background growth and try a transient pool for this one request. Returns the first
   * slot index in that pool (setting `mem.lastPool`), or -1.
   */
  grow(mem: IoTlbMem, dev: DmaDevice, orig: number, allocSize: number, allocAlignMask: number): number;
  /** Release a transient pool when its mapping is unmapped. */
  deleteTransient(mem: IoTlbMem, dev: DmaDevice, pool: IoTlbPool): void;
  /**
   * Called at every SWIOTLB operation (virtual time `now`): run the background work item if it is
   * due and runs inline; work deferred to guest code only notes the time.
   */
  runBackground(mem: IoTlbMem, now: number, drain: boolean): void;
  /**
   * Run the background work item if it is due at `now` (or whenever pending, with `drain`), in
   * either mode, as guest code: its conversions may exit to the VMM.
   */
  runBackgroundOp(mem: IoTlbMem, now: number, drain: boolean): GuestOp<void>;
  /** Transient pools currently alive (over all devices). */
  readonly liveTransientPools: number;
}

/** The debugfs files of /sys/kernel/debug/swiotlb/. */
export interface SwiotlbDebugfs {
  readonly io_tlb_nslabs: number;
  readonly io_tlb_used: number;
  readonly io_tlb_used_hiwater: number;
  /** Present with CONFIG_SWIOTLB_DYNAMIC only. */
  readonly io_tlb_transient_nslabs?: number;
}

export interface IoTlbMemOptions {
  /** CONFIG_SWIOTLB_DYNAMIC. */
  readonly dynamic: boolean;
  /** default_nareas (the dynamic area iteration runs over this many offsets). */
  readonly defaultNareas: number;
  /** io_tlb_mem.force_bounce. */
  readonly forceBounce: boolean;
  /** io_tlb_mem.phys_limit for dynamic pools (x86 CoCo: 4 GiB - 1). */
  readonly physLimit?: number;
  /** io_tlb_mem.can_grow (dynamic only; true when no remap callback is used, as on x86 CoCo). */
  readonly canGrow?: boolean;
}

export class IoTlbMem {
  /** Pools in RCU-list order: newest first (the default pool is last). */
  readonly pools: IoTlbPool[] = [];
  defpool: IoTlbPool | null = null;
  /** Slots over all non-transient pools (the "total" of the full message, io_tlb_nslabs). */
  nslabs = 0;
  /** Slots in use over all pools, transient included (total_used). */
  totalUsed = 0;
  /** Peak of totalUsed since the last reset (used_hiwater). */
  usedHiwater = 0;
  /** Peak of totalUsed over the whole run (never reset). */
  peakUsed = 0;
  /** Slots held by transient pools (transient_nslabs). */
  transientNslabs = 0;
  readonly dynamic: boolean;
  readonly defaultNareas: number;
  readonly forceBounce: boolean;
  readonly physLimit: number;
  canGrow: boolean;
  grower: PoolGrower | null = null;
  readonly counters: SearchCounters = { slotsChecked: 0, areaSearches: 0 };
  /** The pool of the last successful findSlots (set instead of returning a pair). */
  lastPool: IoTlbPool | null = null;

  constructor(opts: IoTlbMemOptions) {
    if (!Number.isInteger(opts.defaultNareas) || opts.defaultNareas < 1) {
      throw new TdxSimError(
        "E_SWIOTLB_AREAS",
        `default area count ${String(opts.defaultNareas)} must be >= 1`,
      );
    }
    this.dynamic = opts.dynamic;
    this.defaultNareas = opts.defaultNareas;
    this.forceBounce = opts.forceBounce;
    this.physLimit = opts.physLimit ?? ARCH_LOW_ADDRESS_LIMIT;
    this.canGrow = opts.dynamic && (opts.canGrow ?? true);
  }

  /** add_mem_pool: link a pool (at the head of the list) and count its slots. */
  addPool(pool: IoTlbPool, isDefault = false): void {
    if (!this.dynamic && this.pools.length > 0) {
      throw new TdxSimError(
        "E_SWIOTLB_POOL",
        "a static SWIOTLB has exactly one pool: enable dynamic pools to add more",
      );
    }
    this.pools.unshift(pool);
    if (isDefault) this.defpool = pool;
    this.nslabs += pool.nslabs;
  }

  /**
   * Find and claim slots for `allocSize` bytes on CPU `cpu` (swiotlb_find_slots). Returns the
   * first slot index and sets `lastPool`, or -1.
   */
  findSlots(dev: DmaDevice, orig: number, allocSize: number, allocAlignMask: number, cpu: number): number {
    const minAlign = dev.minAlignMask;
    const boundary = dev.boundarySlots;
    if (!this.dynamic) {
      const pool = this.defpool;
      if (pool === null) return -1;
      const n = pool.nareas;
      const start = cpu & (n - 1);
      let i = start;
      do {
        const index = searchPoolArea(
          pool,
          i,
          orig,
          allocSize,
          allocAlignMask,
          minAlign,
          boundary,
          this.counters,
        );
        if (index >= 0) {
          this.lastPool = pool;
          this.incUsed(Math.ceil(allocSize / IO_TLB_SIZE));
          return index;
        }
        i = i + 1 >= n ? 0 : i + 1;
      } while (i !== start);
      return -1;
    }
    // Dynamic build: oversized requests are rejected up front; then per CPU offset, every pool
    // newest first, skipping pools with fewer areas than the offset.
    if (allocSize > IO_TLB_MAX_SEGMENT_BYTES) return -1;
    const pools = this.pools;
    for (let off = 0; off < this.defaultNareas; off++) {
      for (let p = 0; p < pools.length; p++) {
        const pool = pools[p]!;
        if (off >= pool.nareas) continue;
        const area = (cpu + off) & (pool.nareas - 1);
        const index = searchPoolArea(
          pool,
          area,
          orig,
          allocSize,
          allocAlignMask,
          minAlign,
          boundary,
          this.counters,
        );
        if (index >= 0) {
          this.lastPool = pool;
          this.incUsed(Math.ceil(allocSize / IO_TLB_SIZE));
          dev.usesIoTlb = true;
          return index;
        }
      }
    }
    if (!this.canGrow || this.grower === null) return -1;
    const index = this.grower.grow(this, dev, orig, allocSize, allocAlignMask);
    if (index >= 0) dev.usesIoTlb = true;
    return index;
  }

  /** The pool holding `addr` for this device, or null (swiotlb_find_pool / is_swiotlb_buffer). */
  findPool(dev: DmaDevice, addr: number): IoTlbPool | null {
    const pools = this.pools;
    if (!this.dynamic) {
      const p = this.defpool;
      return p !== null && addr >= p.start && addr < p.end ? p : null;
    }
    if (!dev.usesIoTlb) return null;
    for (let i = 0; i < pools.length; i++) {
      const p = pools[i]!;
      if (addr >= p.start && addr < p.end) return p;
    }
    const tp = dev.transientPools;
    for (let i = 0; i < tp.length; i++) {
      const p = tp[i]!;
      if (addr >= p.start && addr < p.end) return p;
    }
    return null;
  }

  /** inc_used_and_hiwater. */
  incUsed(nslots: number): void {
    const u = this.totalUsed + nslots;
    this.totalUsed = u;
    if (u > this.usedHiwater) this.usedHiwater = u;
    if (u > this.peakUsed) this.peakUsed = u;
  }

  /** dec_used. */
  decUsed(nslots: number): void {
    this.totalUsed -= nslots;
  }

  /** The debugfs view. */
  debugfs(): SwiotlbDebugfs {
    const base = {
      io_tlb_nslabs: this.nslabs,
      io_tlb_used: this.totalUsed,
      io_tlb_used_hiwater: this.usedHiwater,
    };
    return this.dynamic ? { ...base, io_tlb_transient_nslabs: this.transientNslabs } : base;
  }

  /** Write io_tlb_used_hiwater: only 0 is accepted; returns 0 or -EINVAL (-22) as the kernel does. */
  writeHiwater(value: number): number {
    if (value !== 0) return -22;
    this.usedHiwater = 0;
    return 0;
  }

  /** Bytes of all pools (non-transient) plus transient pools. */
  reservedBytes(): number {
    return (this.nslabs + this.transientNslabs) * IO_TLB_SIZE;
  }
}
