/**
 * The Linux SWIOTLB bounce layer (`swiotlb_tbl_map_single`, `swiotlb_tbl_unmap_single`,
 * `swiotlb_sync_single_for_device/cpu`, `swiotlb_bounce`, `swiotlb_max_mapping_size`) on top of an
 * IoTlbMem, as one BouncePolicy: "linux" (one static pool) or "linux-dynamic" (with
 * CONFIG_SWIOTLB_DYNAMIC growth). The copies go through GuestMemory; with no memory (trace
 * replay of addresses only) they are counted but no bytes move.
 *
 * @spec shared/reference/swiotlb.md §c.1, §c.4, §c.5 (map and failure), §c.6 (release), §d.2
 *   (copy directions, CVE-2022-0854: map always copies), §d.3 (max mapping size);
 *   Linux kernel/dma/swiotlb.c (6.12.y / 6.18.y)
 */
import { type GuestOp, MemStatus, TdxSimError } from "@tdx/hw-cpu-seam";
import type { DmaDevice } from "../device";
import { DmaAttr, DmaDirection } from "../dma/constants";
import type { CountingEncryptionOps } from "../memory/conversion";
import type { GuestMemory } from "../memory/guest-memory";
import {
  BOUNCE_MAP_ERROR,
  type BounceMapFailure,
  type BouncePolicy,
  type BouncePolicyStats,
  BounceStatus,
  type PolicyKind,
} from "../policy/types";
import { runWithoutExit } from "../tdx-guest/conversion";
import type { IoTlbMem } from "./allocator";
import { IO_TLB_MAX_SEGMENT_BYTES, IO_TLB_SIZE, PAGE_SIZE_BYTES } from "./constants";
import { KernelLog } from "./log";
import { checkMapArgs, checkSyncDirection } from "./map-args";
import type { IoTlbPool } from "./pool";
import { mappingDataSlot, releaseSlots } from "./release";

export interface SwiotlbOptions {
  readonly mem: IoTlbMem;
  /** Guest memory for the copies; null counts copies without moving bytes. */
  readonly memory: GuestMemory | null;
  readonly log?: KernelLog;
  /** cc_platform_has(CC_ATTR_MEM_ENCRYPT): true in a TD (prints the once-only notice). */
  readonly memEncrypted?: boolean;
  /** The conversion counter the pools were decrypted through (for the stats). */
  readonly conversions?: CountingEncryptionOps;
}

const TWO32 = 4294967296;

/** swiotlb_max_mapping_size: 256 KiB minus min_align_mask rounded up to a slot. @spec §d.3 */
export function swiotlbMaxMappingSize(minAlignMask: number): number {
  const minAlign = minAlignMask === 0 ? 0 : Math.ceil(minAlignMask / IO_TLB_SIZE) * IO_TLB_SIZE;
  return IO_TLB_MAX_SEGMENT_BYTES - minAlign;
}

export class Swiotlb implements BouncePolicy {
  readonly kind: PolicyKind;
  readonly mem: IoTlbMem;
  readonly log: KernelLog;
  private readonly memory: GuestMemory | null;
  private readonly memEncrypted: boolean;
  private readonly conversions: CountingEncryptionOps | undefined;
  private failure: BounceMapFailure | undefined;
  private clock = 0;
  private maps = 0;
  private mapFailures = 0;
  private unmaps = 0;
  private syncs = 0;
  private live = 0;
  private copies = 0;
  private copiedBytes = 0;
  private peakReserved = 0;
  private encNoticePrinted = false;
  /** MemStatus of the last copy that failed. */
  lastCopyStatus: MemStatus = MemStatus.Ok;

  constructor(opts: SwiotlbOptions) {
    this.mem = opts.mem;
    this.kind = opts.mem.dynamic ? "linux-dynamic" : "linux";
    this.memory = opts.memory;
    this.log = opts.log ?? new KernelLog();
    this.memEncrypted = opts.memEncrypted ?? true;
    this.conversions = opts.conversions;
    this.peakReserved = opts.mem.reservedBytes();
  }

  get lastFailure(): BounceMapFailure | undefined {
    return this.failure;
  }

  get forceBounce(): boolean {
    return this.mem.forceBounce;
  }

  /** Advance the virtual clock by one operation and run background work that is due. */
  private tick(): void {
    this.clock++;
    const g = this.mem.grower;
    if (g !== null) g.runBackground(this.mem, this.clock, false);
  }

  mapSingle(
    dev: DmaDevice,
    orig: number,
    mappingSize: number,
    allocAlignMask: number,
    _dir: DmaDirection,
    attrs: number,
    cpu: number,
  ): number {
    checkMapArgs(orig, mappingSize);
    if (allocAlignMask < 0 || allocAlignMask > 0xffff_ffff || (allocAlignMask & (allocAlignMask + 1)) !== 0) {
      throw new TdxSimError(
        "E_SWIOTLB_ALIGN",
        `alloc_align_mask ${String(allocAlignMask)} is invalid: 2^k - 1 below 2^32`,
      );
    }
    this.tick();
    const mem = this.mem;
    this.maps++;
    if (mem.nslabs === 0) {
      this.mapFailures++;
      const message = `${dev.prefix()}Can not allocate SWIOTLB buffer earlier and can't now provide you with the DMA bounce buffer`;
      this.log.warn(message);
      this.failure = { kind: "no-pool", message };
      return BOUNCE_MAP_ERROR;
    }
    if (this.memEncrypted && !this.encNoticePrinted) {
      this.encNoticePrinted = true;
      this.log.once(
        "mem-encrypt-bounce",
        "warn",
        "software IO TLB: Memory encryption is active and system is using DMA bounce buffers",
      );
    }
    if (allocAlignMask > PAGE_SIZE_BYTES - 1) {
      this.log.once(
        "alloc-align",
        "warn",
        `${dev.prefix()}Alloc alignment may prevent fulfilling requests with max mapping_size`,
      );
    }
    // §c.1: full alignment offset (in-slot part plus whole padding slots), allocation size.
    const m = dev.minAlignMask;
    const offset = m === 0 ? 0 : ((orig % TWO32) & m & (allocAlignMask | (IO_TLB_SIZE - 1))) >>> 0;
    const align = allocAlignMask + 1;
    const size = align === 1 ? mappingSize + offset : Math.ceil((mappingSize + offset) / align) * align;
    let index = mem.findSlots(dev, orig, size, allocAlignMask, cpu);
    if (mem.grower !== null) this.notePeakReserved();
    if (index < 0) {
      this.mapFailures++;
      const message = `${dev.prefix()}swiotlb buffer is full (sz: ${size} bytes), total ${mem.nslabs} (slots), used ${mem.totalUsed} (slots)`;
      if ((attrs & DmaAttr.NoWarn) === 0) this.log.warn(message);
      this.failure = { kind: "full", size, totalSlots: mem.nslabs, usedSlots: mem.totalUsed, message };
      return BOUNCE_MAP_ERROR;
    }
    const pool = mem.lastPool!;
    // §c.4: padding slots, per-slot original addresses, bounce address.
    const pad = Math.floor(offset / IO_TLB_SIZE);
    index += pad;
    pool.padSlots[index] = pad;
    pool.mapHead[index] = 1;
    const dataSlots = Math.ceil(size / IO_TLB_SIZE) - pad;
    const origArr = pool.origAddr;
    for (let i = 0; i < dataSlots; i++) origArr[index + i] = orig + i * IO_TLB_SIZE;
    const tlb = pool.start + index * IO_TLB_SIZE + (offset % IO_TLB_SIZE);
    // §d.2: the map always copies the original in (CVE-2022-0854), whatever the direction.
    if (this.bounce(dev, tlb, mappingSize, DmaDirection.ToDevice, pool) !== BounceStatus.Ok) {
      this.release(dev, pool, tlb, index);
      this.mapFailures++;
      const message = `${dev.prefix()}bounce copy of ${mappingSize} bytes from ${orig} failed (memory status ${this.lastCopyStatus})`;
      this.failure = { kind: "copy-fault", status: this.lastCopyStatus, message };
      return BOUNCE_MAP_ERROR;
    }
    this.live++;
    return tlb;
  }

  unmapSingle(
    dev: DmaDevice,
    tlbAddr: number,
    mappingSize: number,
    dir: DmaDirection,
    attrs: number,
  ): BounceStatus {
    this.tick();
    const pool = this.mem.findPool(dev, tlbAddr);
    if (pool === null) return BounceStatus.NotMapped;
    const dataSlot = mappingDataSlot(pool, tlbAddr, dev.minAlignMask);
    if (dataSlot < 0) return BounceStatus.NotMapped;
    let st: BounceStatus = BounceStatus.Ok;
    if (
      (attrs & DmaAttr.SkipCpuSync) === 0 &&
      (dir === DmaDirection.FromDevice || dir === DmaDirection.Bidirectional)
    ) {
      st = this.bounce(dev, tlbAddr, mappingSize, DmaDirection.FromDevice, pool);
    }
    this.release(dev, pool, tlbAddr, dataSlot);
    this.unmaps++;
    this.live--;
    return st;
  }

  syncSingleForDevice(dev: DmaDevice, tlbAddr: number, size: number, dir: DmaDirection): BounceStatus {
    this.tick();
    checkSyncDirection(dir);
    const pool = this.livePoolAt(dev, tlbAddr);
    if (pool === null) return BounceStatus.NotMapped;
    this.syncs++;
    if (dir === DmaDirection.ToDevice || dir === DmaDirection.Bidirectional) {
      return this.bounce(dev, tlbAddr, size, DmaDirection.ToDevice, pool);
    }
    return BounceStatus.Ok;
  }

  syncSingleForCpu(dev: DmaDevice, tlbAddr: number, size: number, dir: DmaDirection): BounceStatus {
    this.tick();
    checkSyncDirection(dir);
    const pool = this.livePoolAt(dev, tlbAddr);
    if (pool === null) return BounceStatus.NotMapped;
    this.syncs++;
    if (dir === DmaDirection.FromDevice || dir === DmaDirection.Bidirectional) {
      return this.bounce(dev, tlbAddr, size, DmaDirection.FromDevice, pool);
    }
    return BounceStatus.Ok;
  }

  isBounceBuffer(dev: DmaDevice, addr: number): boolean {
    return this.mem.findPool(dev, addr) !== null;
  }

  maxMappingSize(dev: DmaDevice): number {
    return swiotlbMaxMappingSize(dev.minAlignMask);
  }

  runBackground(drain = false): void {
    runWithoutExit(this.runBackgroundOp(drain), "SWIOTLB background work (the dyn_alloc work item)");
  }

  /**
   * Background work that is due now (or all pending work with `drain`) as guest code: the
   * dyn_alloc work item decrypts its new pool, which exits to the VMM inside a TD. Guest programs
   * drive this where a kworker would get the vCPU (with `workItems: "deferred"`).
   */
  *runBackgroundOp(drain = false): GuestOp<void> {
    const g = this.mem.grower;
    if (g !== null) yield* g.runBackgroundOp(this.mem, this.clock, drain);
    this.notePeakReserved();
  }

  stats(): BouncePolicyStats {
    const mem = this.mem;
    this.notePeakReserved();
    const c = this.conversions;
    return {
      policy: this.kind,
      reservedBytes: mem.reservedBytes(),
      peakReservedBytes: this.peakReserved,
      inUseBytes: mem.totalUsed * IO_TLB_SIZE,
      peakInUseBytes: mem.peakUsed * IO_TLB_SIZE,
      liveMappings: this.live,
      maps: this.maps,
      mapFailures: this.mapFailures,
      unmaps: this.unmaps,
      syncs: this.syncs,
      copies: this.copies,
      copiedBytes: this.copiedBytes,
      conversions: c ? c.requests : 0,
      convertedPages: c ? c.pagesDecrypted + c.pagesEncrypted : 0,
      searchSteps: mem.counters.slotsChecked,
      pools: mem.pools.length + (mem.grower?.liveTransientPools ?? 0),
    };
  }

  private notePeakReserved(): void {
    const r = this.mem.reservedBytes();
    if (r > this.peakReserved) this.peakReserved = r;
  }

  /** The pool when `addr` lies in an allocated slot of a live mapping, else null. */
  private livePoolAt(dev: DmaDevice, addr: number): IoTlbPool | null {
    const pool = this.mem.findPool(dev, addr);
    if (pool === null) return null;
    const idx = Math.floor((addr - pool.start) / IO_TLB_SIZE);
    return !pool.isFree(idx) && pool.origAddr[idx]! >= 0 ? pool : null;
  }

  private release(dev: DmaDevice, pool: IoTlbPool, tlbAddr: number, dataSlot: number): void {
    if (pool.kind === "transient") {
      pool.mapHead[dataSlot] = 0;
      this.mem.grower!.deleteTransient(this.mem, dev, pool);
      return;
    }
    const n = releaseSlots(pool, tlbAddr, dataSlot, dev.minAlignMask);
    this.mem.decUsed(n);
  }

  /**
   * swiotlb_bounce: copy between the original and the bounce slot for `size` bytes starting at
   * `tlbAddr` (which may be inside the mapping: partial syncs find their source through the slot's
   * orig_addr, with a possibly negative in-slot correction), truncated to the allocation.
   */
  private bounce(
    dev: DmaDevice,
    tlbAddr: number,
    sizeIn: number,
    dir: DmaDirection,
    pool: IoTlbPool,
  ): BounceStatus {
    const index = Math.floor((tlbAddr - pool.start) / IO_TLB_SIZE);
    let orig = pool.origAddr[index]!;
    if (orig < 0) return BounceStatus.Ok;
    let allocSize = pool.allocSize[index]!;
    const m = dev.minAlignMask;
    const tlbOffset = (tlbAddr % IO_TLB_SIZE) - (m === 0 ? 0 : (orig % TWO32) & m & (IO_TLB_SIZE - 1));
    orig += tlbOffset;
    allocSize -= tlbOffset;
    let size = sizeIn;
    if (size > allocSize) {
      this.log.once(
        "bounce-overflow",
        "warn",
        `${dev.prefix()}Buffer overflow detected. Allocation size: ${allocSize}. Mapping size: ${size}.`,
      );
      size = allocSize;
    }
    if (size <= 0) return BounceStatus.Ok;
    this.copies++;
    this.copiedBytes += size;
    const memory = this.memory;
    if (memory === null) return BounceStatus.Ok;
    const st =
      dir === DmaDirection.ToDevice ? memory.copy(tlbAddr, orig, size) : memory.copy(orig, tlbAddr, size);
    if (st !== MemStatus.Ok) {
      this.lastCopyStatus = st;
      return BounceStatus.CopyFault;
    }
    return BounceStatus.Ok;
  }
}
