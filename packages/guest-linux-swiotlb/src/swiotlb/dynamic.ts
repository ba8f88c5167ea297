/**
 * CONFIG_SWIOTLB_DYNAMIC: growth of the allocator when no pool has room. The failing map
 * schedules the dyn_alloc work item (a new pool of the default size, capped at 4 MiB, from the
 * page allocator below phys_limit, decrypted, linked at the head of the pool list) and, to serve
 * the request now, creates a transient pool of exactly the slots needed, with one area, from the
 * pre-decrypted atomic DMA pool (decryption may sleep, a map may not). The transient pool is
 * deleted when its mapping is unmapped.
 *
 * Time: the work item runs `workDelayOps` SWIOTLB operations after it was scheduled (a virtual
 * clock; the kernel runs it on a workqueue "soon"), and RCU grace periods are immediate.
 *
 * @spec shared/reference/swiotlb.md §e; Linux kernel/dma/swiotlb.c swiotlb_find_slots (dynamic),
 *   swiotlb_alloc_pool, swiotlb_alloc_tlb, alloc_dma_pages, swiotlb_dyn_alloc, swiotlb_dyn_free,
 *   swiotlb_del_transient, limit_nareas
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";
import type { DmaDevice } from "../device";
import type { MemoryEncryptionOps } from "../memory/conversion";
import type { GuestPageAllocator } from "../memory/page-allocator";
import type { IoTlbMem, PoolGrower } from "./allocator";
import {
  DYNAMIC_POOL_MAX_SLABS,
  IO_TLB_MIN_SLABS,
  IO_TLB_SEGSIZE,
  IO_TLB_SIZE,
  PAGE_SIZE_BYTES,
} from "./constants";
import type { KernelLog } from "./log";
import { IoTlbPool, limitNareas, type PoolKind } from "./pool";
import { searchPoolArea } from "./search";

/** Default delay of the dyn_alloc work item, in SWIOTLB operations (a modelling assumption). */
export const DEFAULT_WORK_DELAY_OPS = 16;

export interface DynamicPoolOptions {
  /** Pages for grown pools (GFP_KERNEL, buddy allocator). */
  readonly pageAllocator: GuestPageAllocator;
  /** The pre-decrypted atomic DMA coherent pool transient pools come from (GFP_NOWAIT in a CoCo guest). */
  readonly atomicPool: GuestPageAllocator;
  readonly conversions: MemoryEncryptionOps;
  readonly log: KernelLog;
  /** default_nslabs: the size a grown pool asks for (before the 4 MiB cap). */
  readonly defaultNslabs: number;
  /** force_dma_unencrypted (true in a TDX/SEV guest): transient pools come from the atomic pool. */
  readonly memEncrypted?: boolean;
  /** Virtual delay of the work item in operations (default DEFAULT_WORK_DELAY_OPS). */
  readonly workDelayOps?: number;
}

/** ALIGN(x, IO_TLB_SEGSIZE). */
function alignSeg(x: number): number {
  return Math.ceil(x / IO_TLB_SEGSIZE) * IO_TLB_SEGSIZE;
}

export class DynamicPoolGrower implements PoolGrower {
  private readonly opts: DynamicPoolOptions;
  private readonly delay: number;
  private workPending = false;
  private workDueAt = 0;
  /** Grown pools added, and work runs that failed ("Failed to allocate new pool"). */
  poolsGrown = 0;
  growFailures = 0;
  transientCreated = 0;
  transientFailed = 0;
  private liveTransient = 0;
  /** Pages that could not be re-encrypted and were leaked on purpose. */
  leakedPages = 0;

  constructor(opts: DynamicPoolOptions) {
    const d = opts.workDelayOps ?? DEFAULT_WORK_DELAY_OPS;
    if (!Number.isInteger(d) || d < 0) {
      throw new TdxSimError("E_SWIOTLB_DYNAMIC", `workDelayOps ${String(d)} must be an integer >= 0`);
    }
    this.opts = opts;
    this.delay = d;
  }

  get liveTransientPools(): number {
    return this.liveTransient;
  }

  grow(mem: IoTlbMem, dev: DmaDevice, orig: number, allocSize: number, allocAlignMask: number): number {
    // schedule_work: a no-op while the item is pending.
    if (!this.workPending) {
      this.workPending = true;
      this.workDueAt = this.now + this.delay;
    }
    const nslabs = Math.ceil(allocSize / IO_TLB_SIZE);
    const pool = this.allocPool(dev, nslabs, nslabs, 1, dev.dmaLimit(), true, "transient");
    if (pool === null) {
      this.transientFailed++;
      return -1;
    }
    const index = searchPoolArea(
      pool,
      0,
      orig,
      allocSize,
      allocAlignMask,
      dev.minAlignMask,
      dev.boundarySlots,
      mem.counters,
    );
    if (index < 0) {
      this.freeTlb(pool, true);
      this.transientFailed++;
      return -1;
    }
    dev.transientPools.unshift(pool);
    mem.transientNslabs += pool.nslabs;
    mem.incUsed(nslabs);
    mem.lastPool = pool;
    this.transientCreated++;
    this.liveTransient++;
    return index;
  }

  deleteTransient(mem: IoTlbMem, dev: DmaDevice, pool: IoTlbPool): void {
    const i = dev.transientPools.indexOf(pool);
    if (i < 0)
      throw new TdxSimError(
        "E_SWIOTLB_DYNAMIC",
        `transient pool at ${pool.start} is not linked to ${dev.name}`,
      );
    dev.transientPools.splice(i, 1);
    mem.decUsed(pool.nslabs);
    mem.transientNslabs -= pool.nslabs;
    this.liveTransient--;
    this.freeTlb(pool, true);
  }

  /** Virtual time, set by the owning Swiotlb before each operation. */
  now = 0;

  runBackground(mem: IoTlbMem, now: number, drain: boolean): void {
    this.now = now;
    if (!this.workPending || (!drain && now < this.workDueAt)) return;
    this.workPending = false;
    // swiotlb_dyn_alloc: default_nslabs / default_nareas, GFP_KERNEL, below phys_limit.
    const pool = this.allocPool(
      null,
      IO_TLB_MIN_SLABS,
      this.opts.defaultNslabs,
      mem.defaultNareas,
      mem.physLimit,
      false,
      "dynamic",
    );
    if (pool === null) {
      this.growFailures++;
      this.opts.log.warn("software IO TLB: Failed to allocate new pool");
      return;
    }
    mem.addPool(pool);
    this.poolsGrown++;
  }

  /** Whether the work item is scheduled and has not run yet. */
  get pending(): boolean {
    return this.workPending;
  }

  /** swiotlb_alloc_pool: cap at 4 MiB, then halve (multiple of 128) down to `minslabs`. */
  private allocPool(
    dev: DmaDevice | null,
    minslabs: number,
    nslabsIn: number,
    nareasIn: number,
    physLimit: number,
    atomic: boolean,
    kind: PoolKind,
  ): IoTlbPool | null {
    let nslabs = nslabsIn;
    let nareas = nareasIn;
    if (nslabs > DYNAMIC_POOL_MAX_SLABS) {
      nslabs = DYNAMIC_POOL_MAX_SLABS;
      nareas = limitNareas(nareas, nslabs);
    }
    for (;;) {
      const tlb = this.allocTlb(dev, nslabs * IO_TLB_SIZE, physLimit, atomic);
      if (tlb >= 0) return new IoTlbPool(tlb, nslabs, Math.max(1, nareas), kind);
      if (nslabs <= minslabs) return null;
      nslabs = alignSeg(Math.floor(nslabs / 2));
      nareas = limitNareas(nareas, nslabs);
    }
  }

  /** swiotlb_alloc_tlb: atomic pool for non-blocking maps in an encrypted guest, else decrypted pages. */
  private allocTlb(dev: DmaDevice | null, bytes: number, physLimit: number, atomic: boolean): number {
    const encrypted = this.opts.memEncrypted ?? true;
    if (atomic && dev !== null && encrypted) return this.opts.atomicPool.alloc(bytes, physLimit);
    const gpa = this.opts.pageAllocator.alloc(bytes, physLimit);
    if (gpa < 0) return -1;
    const pages = Math.ceil(bytes / PAGE_SIZE_BYTES);
    if (!encrypted) return gpa;
    if (this.opts.conversions.setMemoryDecrypted(gpa, pages) === 0) return gpa;
    // alloc_dma_pages: re-encrypt and free; leak on purpose if re-encryption fails too.
    if (this.opts.conversions.setMemoryEncrypted(gpa, pages) === 0) this.opts.pageAllocator.free(gpa, bytes);
    else this.leakedPages += pages;
    return -1;
  }

  /** swiotlb_free_tlb: back to the atomic pool, or re-encrypt and free (leak if that fails). */
  private freeTlb(pool: IoTlbPool, atomic: boolean): void {
    const encrypted = this.opts.memEncrypted ?? true;
    if (atomic && encrypted) {
      this.opts.atomicPool.free(pool.start, pool.bytes);
      return;
    }
    const pages = Math.ceil(pool.bytes / PAGE_SIZE_BYTES);
    if (!encrypted || this.opts.conversions.setMemoryEncrypted(pool.start, pages) === 0) {
      this.opts.pageAllocator.free(pool.start, pool.bytes);
    } else {
      this.leakedPages += pages;
    }
  }
}
