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
 * Where it runs (`workItems`): "inline" (default, standalone) runs the due work item inside the
 * SWIOTLB operation at which it falls due, its conversion through the synchronous driver;
 * "deferred" (inside a TD) leaves it pending until guest code drives `runBackgroundOp` — a
 * kworker's turn on the vCPU — because its set_memory_decrypted exits to the VMM (MapGPA), which
 * a map or unmap, running in atomic context, cannot do. Pool allocation and release are written
 * once as guest operations; transient pools never convert (they come from the pre-decrypted
 * atomic pool), so the map path runs them synchronously.
 *
 * @spec shared/reference/swiotlb.md §e; Linux kernel/dma/swiotlb.c swiotlb_find_slots (dynamic),
 *   swiotlb_alloc_pool, swiotlb_alloc_tlb, alloc_dma_pages, swiotlb_dyn_alloc, swiotlb_dyn_free,
 *   swiotlb_del_transient, limit_nareas
 */
import { type GuestOp, TdxSimError } from "@tdx/hw-cpu-seam";
import type { DmaDevice } from "../device";
import {
  type AnyMemoryEncryptionOps,
  type MemoryEncryptionGuestOps,
  toGuestEncryptionOps,
} from "../memory/conversion";
import type { GuestPageAllocator } from "../memory/page-allocator";
import { runWithoutExit } from "../tdx-guest/conversion";
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
  readonly conversions: AnyMemoryEncryptionOps;
  readonly log: KernelLog;
  /** default_nslabs: the size a grown pool asks for (before the 4 MiB cap). */
  readonly defaultNslabs: number;
  /** force_dma_unencrypted (true in a TDX/SEV guest): transient pools come from the atomic pool. */
  readonly memEncrypted?: boolean;
  /** Virtual delay of the work item in operations (default DEFAULT_WORK_DELAY_OPS). */
  readonly workDelayOps?: number;
  /**
   * Where the dyn_alloc work item runs: "inline" (default: inside the operation at which it is
   * due) or "deferred" (only when guest code drives `runBackgroundOp`; required inside a TD).
   */
  readonly workItems?: WorkItemMode;
}

/** Where background work that converts memory runs (see the module comment). */
export type WorkItemMode = "inline" | "deferred";

/** ALIGN(x, IO_TLB_SEGSIZE). */
function alignSeg(x: number): number {
  return Math.ceil(x / IO_TLB_SEGSIZE) * IO_TLB_SEGSIZE;
}

export class DynamicPoolGrower implements PoolGrower {
  private readonly opts: DynamicPoolOptions;
  private readonly conversions: MemoryEncryptionGuestOps;
  private readonly delay: number;
  readonly workItems: WorkItemMode;
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
    const mode = opts.workItems ?? "inline";
    if (mode !== "inline" && mode !== "deferred") {
      throw new TdxSimError(
        "E_SWIOTLB_DYNAMIC",
        `workItems "${String(mode)}" is not allowed: use "inline" or "deferred"`,
      );
    }
    this.opts = opts;
    this.conversions = toGuestEncryptionOps(opts.conversions);
    this.delay = d;
    this.workItems = mode;
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
    const pool = runWithoutExit(
      this.allocPoolOp(dev, nslabs, nslabs, 1, dev.dmaLimit(), true, "transient"),
      "a transient SWIOTLB pool",
    );
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
      runWithoutExit(this.freeTlbOp(pool, true), "a transient SWIOTLB pool");
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
    runWithoutExit(this.freeTlbOp(pool, true), "a transient SWIOTLB pool");
  }

  /** Virtual time, set by the owning Swiotlb before each operation. */
  now = 0;

  runBackground(mem: IoTlbMem, now: number, drain: boolean): void {
    this.now = now;
    if (!this.workPending || (!drain && now < this.workDueAt) || this.workItems === "deferred") return;
    runWithoutExit(this.dynAllocOp(mem), "the SWIOTLB dyn_alloc work item");
  }

  *runBackgroundOp(mem: IoTlbMem, now: number, drain: boolean): GuestOp<void> {
    this.now = now;
    if (!this.workPending || (!drain && now < this.workDueAt)) return;
    yield* this.dynAllocOp(mem);
  }

  /** swiotlb_dyn_alloc: one pool of default_nslabs / default_nareas, GFP_KERNEL, below phys_limit. */
  private *dynAllocOp(mem: IoTlbMem): GuestOp<void> {
    this.workPending = false;
    const pool = yield* this.allocPoolOp(
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
  private *allocPoolOp(
    dev: DmaDevice | null,
    minslabs: number,
    nslabsIn: number,
    nareasIn: number,
    physLimit: number,
    atomic: boolean,
    kind: PoolKind,
  ): GuestOp<IoTlbPool | null> {
    let nslabs = nslabsIn;
    let nareas = nareasIn;
    if (nslabs > DYNAMIC_POOL_MAX_SLABS) {
      nslabs = DYNAMIC_POOL_MAX_SLABS;
      nareas = limitNareas(nareas, nslabs);
    }
    for (;;) {
      const tlb = yield* this.allocTlbOp(dev, nslabs * IO_TLB_SIZE, physLimit, atomic);
      if (tlb >= 0) return new IoTlbPool(tlb, nslabs, Math.max(1, nareas), kind);
      if (nslabs <= minslabs) return null;
      nslabs = alignSeg(Math.floor(nslabs / 2));
      nareas = limitNareas(nareas, nslabs);
    }
  }

  /** swiotlb_alloc_tlb: atomic pool for non-blocking maps in an encrypted guest, else decrypted pages. */
  private *allocTlbOp(
    dev: DmaDevice | null,
    bytes: number,
    physLimit: number,
    atomic: boolean,
  ): GuestOp<number> {
    const encrypted = this.opts.memEncrypted ?? true;
    if (atomic && dev !== null && encrypted) return this.opts.atomicPool.alloc(bytes, physLimit);
    const gpa = this.opts.pageAllocator.alloc(bytes, physLimit);
    if (gpa < 0) return -1;
    const pages = Math.ceil(bytes / PAGE_SIZE_BYTES);
    if (!encrypted) return gpa;
    if ((yield* this.conversions.setMemoryDecryptedOp(gpa, pages)) === 0) return gpa;
    // alloc_dma_pages: re-encrypt and free; leak on purpose if re-encryption fails too.
    if ((yield* this.conversions.setMemoryEncryptedOp(gpa, pages)) === 0)
      this.opts.pageAllocator.free(gpa, bytes);
    else this.leakedPages += pages;
    return -1;
  }

  /** swiotlb_free_tlb: back to the atomic pool, or re-encrypt and free (leak if that fails). */
  private *freeTlbOp(pool: IoTlbPool, atomic: boolean): GuestOp<void> {
    const encrypted = this.opts.memEncrypted ?? true;
    if (atomic && encrypted) {
      this.opts.atomicPool.free(pool.start, pool.bytes);
      return;
    }
    const pages = Math.ceil(pool.bytes / PAGE_SIZE_BYTES);
    if (!encrypted || (yield* this.conversions.setMemoryEncryptedOp(pool.start, pages)) === 0) {
      this.opts.pageAllocator.free(pool.start, pool.bytes);
    } else {
      this.leakedPages += pages;
    }
  }
}
