/**
 * The cc-swiotlb proposal (GuoRui Yu, Alibaba, LKML January 2023, not merged) as a BouncePolicy:
 * bounce buffers in five size classes (512 B, 2 KiB, 4 KiB, 16 KiB, 512 KiB), each a free list with
 * a watermark (256 / 16384 / 8192 / 1024 / 32 buffers). A map takes the head of the smallest class
 * that fits size + (orig & min_align_mask) and whose size is not a bit of max(min_align_mask,
 * alloc_align_mask); an empty class fails the map (no fallback to a larger class). After a
 * successful take, if any class is below half its watermark the "kccd" thread is woken; it adds one
 * watermark's worth of buffers to every class at or below its watermark, in chunks of at most
 * 4 MiB (MAX_ORDER pages), each decrypted once. Buffers are never returned to the system. Unmap
 * puts the buffer back at the head of its list.
 *
 * Faithful details kept as posted: the copy uses the buffer's original address without the offset
 * of a partial sync (so a sync of a sub-range copies the wrong bytes; `fixPartialSync` corrects it),
 * and a failed decryption is not checked.
 *
 * Time: kccd runs `kccdDelayOps` operations after it is woken (a modelling assumption); its first
 * run at boot happens before any map.
 *
 * @spec shared/reference/swiotlb.md §f; shared/seeds/002 (Andi Kleen's reply quoting the patch);
 *   LKML "[PATCH 2/4] swiotlb: Add a new cc-swiotlb implementation for Confidential VMs"
 *   (message 20230128083254.86012-3-GuoRui.Yu@linux.alibaba.com): kernel/dma/cc-swiotlb.c
 *   SLOT_SIZES, WATERMARK_SLOT_SIZE, tr_index, cc_should_populate, cc_populate_pages,
 *   swiotlb_tbl_map_single, swiotlb_bounce, swiotlb_release_slots, swiotlb_max_mapping_size
 */
import { MemStatus, TdxSimError } from "@tdx/hw-cpu-seam";
import type { DmaDevice } from "../device";
import { DmaAttr, DmaDirection } from "../dma/constants";
import {
  CountingEncryptionOps,
  type MemoryEncryptionOps,
  RecordingEncryptionOps,
} from "../memory/conversion";
import type { GuestMemory } from "../memory/guest-memory";
import type { GuestPageAllocator } from "../memory/page-allocator";
import { KernelLog } from "../swiotlb/log";
import { checkMapArgs, checkSyncDirection } from "../swiotlb/map-args";
import { runWithoutExit } from "../tdx-guest/conversion";
import { CC_NCLASSES, CC_SLOT_SIZES, CcBufferStore } from "./cc-buffers";
import {
  BOUNCE_MAP_ERROR,
  type BounceMapFailure,
  type BouncePolicy,
  type BouncePolicyStats,
  BounceStatus,
} from "./types";

/** Target free buffers per class. @spec cc-swiotlb.c WATERMARK_SLOT_SIZE */
export const CC_DEFAULT_WATERMARKS: readonly number[] = [256, 16384, 8192, 1024, 32];
/** Largest refill chunk: MAX_ORDER_NR_PAGES << PAGE_SHIFT (4 MiB on x86). @spec cc_populate_pages */
export const CC_MAX_CHUNK_BYTES = 4 * 1024 * 1024;
/** Default kccd delay after a wake-up, in operations (a modelling assumption). */
export const DEFAULT_KCCD_DELAY_OPS = 16;

const NCLASSES = CC_NCLASSES;
const TWO32 = 4294967296;
const ANYWHERE = 2 ** 52 - 1;

export interface CcSwiotlbOptions {
  readonly memory: GuestMemory | null;
  /** Pages for refills: "anywhere in memory" (CoCo devices are 64-bit). */
  readonly pageAllocator: GuestPageAllocator;
  readonly conversions?: MemoryEncryptionOps;
  /** Per-class watermarks (default CC_DEFAULT_WATERMARKS). */
  readonly watermarks?: readonly number[];
  readonly kccdDelayOps?: number;
  /** Copy partial syncs from the matching original offset (the RFC does not). Default false. */
  readonly fixPartialSync?: boolean;
  readonly memEncrypted?: boolean;
  readonly log?: KernelLog;
}

export class CcSwiotlb implements BouncePolicy {
  readonly kind = "cc-swiotlb" as const;
  readonly log: KernelLog;
  readonly forceBounce: boolean;
  private readonly memory: GuestMemory | null;
  private readonly pages: GuestPageAllocator;
  private readonly conversions: CountingEncryptionOps;
  private readonly watermarks: Int32Array;
  private readonly delay: number;
  private readonly fixPartialSync: boolean;
  private readonly memEncrypted: boolean;

  private readonly store = new CcBufferStore();
  /** free_count_by_size / total_count_by_size. */
  readonly freeCount = this.store.freeCount;
  readonly totalCount = this.store.totalCount;

  private failure: BounceMapFailure | undefined;
  private encNoticePrinted = false;
  private clock = 0;
  private kccdPending = false;
  private kccdDueAt = 0;
  private reserved = 0;
  private peakReserved = 0;
  private inUse = 0;
  private peakInUse = 0;
  private live = 0;
  private maps = 0;
  private mapFailures = 0;
  private unmaps = 0;
  private syncs = 0;
  private copies = 0;
  private copiedBytes = 0;
  private steps = 0;
  /** Refill attempts that ran out of memory ("No memory for cc swiotlb!"). */
  refillFailures = 0;
  /** kccd runs. */
  kccdRuns = 0;

  constructor(opts: CcSwiotlbOptions) {
    const wm = opts.watermarks ?? CC_DEFAULT_WATERMARKS;
    if (wm.length !== NCLASSES || wm.some((w) => !Number.isInteger(w) || w < 1 || w > 1 << 24)) {
      throw new TdxSimError(
        "E_CC_SWIOTLB",
        `watermarks must be ${NCLASSES} integers in 1..2^24 (one per size class)`,
      );
    }
    const d = opts.kccdDelayOps ?? DEFAULT_KCCD_DELAY_OPS;
    if (!Number.isInteger(d) || d < 0)
      throw new TdxSimError("E_CC_SWIOTLB", `kccdDelayOps ${String(d)} must be an integer >= 0`);
    this.memory = opts.memory;
    this.pages = opts.pageAllocator;
    this.conversions = new CountingEncryptionOps(opts.conversions ?? new RecordingEncryptionOps());
    this.watermarks = Int32Array.from(wm);
    this.delay = d;
    this.fixPartialSync = opts.fixPartialSync ?? false;
    this.memEncrypted = opts.memEncrypted ?? true;
    this.forceBounce = this.memEncrypted;
    this.log = opts.log ?? new KernelLog();
    this.log.info("cc-swiotlb: Use dynamic allocated swiotlb buffer");
    // kccd's first run at boot (cc_page_populator_init -> kccd): every class is empty.
    this.kccdRun();
  }

  get lastFailure(): BounceMapFailure | undefined {
    return this.failure;
  }

  /** tr_index: the smallest class that fits `size` and whose size is not a bit of `alignMask`, or -1. */
  static classFor(size: number, alignMask: number): number {
    for (let i = 0; i < NCLASSES; i++) {
      const s = CC_SLOT_SIZES[i]!;
      if (size <= s && (alignMask & s) === 0) return i;
    }
    return -1;
  }

  mapSingle(
    dev: DmaDevice,
    orig: number,
    mappingSize: number,
    allocAlignMask: number,
    _dir: DmaDirection,
    attrs: number,
    _cpu: number,
  ): number {
    checkMapArgs(orig, mappingSize);
    this.tick();
    this.maps++;
    if (this.memEncrypted && !this.encNoticePrinted) {
      this.encNoticePrinted = true;
      this.log.once(
        "mem-encrypt-bounce",
        "warn",
        "cc-swiotlb: Memory encryption is active and system is using DMA bounce buffers",
      );
    }
    const offset = ((orig % TWO32) & dev.minAlignMask) >>> 0;
    const allocSize = mappingSize + offset;
    const alignMask = Math.max(dev.minAlignMask, allocAlignMask >>> 0);
    const cls = CcSwiotlb.classFor(allocSize, alignMask);
    this.steps += cls < 0 ? NCLASSES : cls + 1;
    let buf = -1;
    if (cls < 0) {
      this.log.once(
        "cc-too-large",
        "warn",
        `Try to allocate too large TLB with size ${allocSize} align_mask ${alignMask.toString(16)}`,
      );
    } else {
      buf = this.store.pop(cls);
      if (buf < 0)
        this.log.once(`cc-fail-${dev.name}`, "warn", `${dev.prefix()}Fail to alloc cc swiotlb slot`);
    }
    if (buf < 0) {
      this.mapFailures++;
      const message = `${dev.prefix()}No memory for cc-swiotlb buffer (sz: ${mappingSize} bytes)`;
      if ((attrs & DmaAttr.NoWarn) === 0) this.log.warn(message);
      this.failure = { kind: "no-buffer", size: mappingSize, tooLarge: cls < 0, message };
      return BOUNCE_MAP_ERROR;
    }
    if (this.shouldPopulate()) this.wakeKccd();
    this.store.orig[buf] = orig;
    this.store.allocSize[buf] = allocSize;
    this.store.offset[buf] = offset;
    this.store.live[buf] = 1;
    this.live++;
    this.inUse += CC_SLOT_SIZES[cls]!;
    if (this.inUse > this.peakInUse) this.peakInUse = this.inUse;
    const tlb = this.store.start[buf]! + offset;
    if (this.bounce(buf, tlb, mappingSize, DmaDirection.ToDevice) !== BounceStatus.Ok) {
      this.releaseBuffer(buf);
      this.mapFailures++;
      const message = `${dev.prefix()}bounce copy of ${mappingSize} bytes from ${orig} failed`;
      this.failure = { kind: "copy-fault", status: MemStatus.Hole, message };
      return BOUNCE_MAP_ERROR;
    }
    return tlb;
  }

  unmapSingle(
    _dev: DmaDevice,
    tlbAddr: number,
    size: number,
    dir: DmaDirection,
    attrs: number,
  ): BounceStatus {
    this.tick();
    const buf = this.store.liveAt(tlbAddr);
    if (buf < 0) return BounceStatus.NotMapped;
    let st: BounceStatus = BounceStatus.Ok;
    if (
      (attrs & DmaAttr.SkipCpuSync) === 0 &&
      (dir === DmaDirection.FromDevice || dir === DmaDirection.Bidirectional)
    ) {
      st = this.bounce(buf, tlbAddr, size, DmaDirection.FromDevice);
    }
    this.releaseBuffer(buf);
    this.unmaps++;
    return st;
  }

  syncSingleForDevice(_dev: DmaDevice, tlbAddr: number, size: number, dir: DmaDirection): BounceStatus {
    this.tick();
    checkSyncDirection(dir);
    const buf = this.store.liveAt(tlbAddr);
    if (buf < 0) return BounceStatus.NotMapped;
    this.syncs++;
    if (dir === DmaDirection.ToDevice || dir === DmaDirection.Bidirectional) {
      return this.bounce(buf, tlbAddr, size, DmaDirection.ToDevice);
    }
    return BounceStatus.Ok;
  }

  syncSingleForCpu(_dev: DmaDevice, tlbAddr: number, size: number, dir: DmaDirection): BounceStatus {
    this.tick();
    checkSyncDirection(dir);
    const buf = this.store.liveAt(tlbAddr);
    if (buf < 0) return BounceStatus.NotMapped;
    this.syncs++;
    if (dir === DmaDirection.FromDevice || dir === DmaDirection.Bidirectional) {
      return this.bounce(buf, tlbAddr, size, DmaDirection.FromDevice);
    }
    return BounceStatus.Ok;
  }

  isBounceBuffer(_dev: DmaDevice, addr: number): boolean {
    return this.store.liveAt(addr) >= 0;
  }

  /** The RFC reports the largest class whatever the device's min_align_mask. */
  maxMappingSize(_dev: DmaDevice): number {
    return CC_SLOT_SIZES[NCLASSES - 1]!;
  }

  runBackground(drain = false): void {
    if (!this.kccdPending) return;
    if (!drain && this.clock < this.kccdDueAt) return;
    this.kccdPending = false;
    this.kccdRun();
  }

  stats(): BouncePolicyStats {
    const c = this.conversions;
    return {
      policy: this.kind,
      reservedBytes: this.reserved,
      peakReservedBytes: this.peakReserved,
      inUseBytes: this.inUse,
      peakInUseBytes: this.peakInUse,
      liveMappings: this.live,
      maps: this.maps,
      mapFailures: this.mapFailures,
      unmaps: this.unmaps,
      syncs: this.syncs,
      copies: this.copies,
      copiedBytes: this.copiedBytes,
      conversions: c.requests,
      convertedPages: c.pagesDecrypted + c.pagesEncrypted,
      searchSteps: this.steps,
      pools: this.store.chunks,
    };
  }

  private tick(): void {
    this.clock++;
    if (this.kccdPending && this.clock >= this.kccdDueAt) {
      this.kccdPending = false;
      this.kccdRun();
    }
  }

  /** cc_should_populate: any class below half its watermark. */
  private shouldPopulate(): boolean {
    for (let i = 0; i < NCLASSES; i++)
      if (this.freeCount[i]! < Math.floor(this.watermarks[i]! / 2)) return true;
    return false;
  }

  private wakeKccd(): void {
    if (this.kccdPending) return;
    this.kccdPending = true;
    this.kccdDueAt = this.clock + this.delay;
  }

  /** One pass of the kccd loop: populate when needed; if still needed (memory ran out), try again later. */
  private kccdRun(): void {
    this.kccdRuns++;
    if (this.shouldPopulate()) this.populate();
    if (this.shouldPopulate()) this.wakeKccd();
  }

  /** cc_populate_pages. */
  private populate(): void {
    for (let c = 0; c < NCLASSES; c++) {
      if (this.freeCount[c]! > this.watermarks[c]!) continue;
      const size = CC_SLOT_SIZES[c]!;
      let remain = size * this.watermarks[c]!;
      const rounds = Math.ceil(remain / CC_MAX_CHUNK_BYTES);
      for (let k = 0; k < rounds && remain > 0; k++) {
        const round = Math.min(remain, CC_MAX_CHUNK_BYTES);
        remain -= round;
        const gpa = this.pages.alloc(round, ANYWHERE);
        if (gpa < 0) {
          this.refillFailures++;
          this.log.warn("cc-swiotlb: No memory for cc swiotlb!");
          return;
        }
        // The RFC ignores the return value of set_memory_decrypted. kccd runs here synchronously:
        // the model has no TD form of cc-swiotlb (inside a TD this conversion would exit).
        if (this.memEncrypted) {
          runWithoutExit(
            this.conversions.setMemoryDecryptedOp(gpa, Math.ceil(round / 4096)),
            "cc-swiotlb kccd (set_memory_decrypted of a refill chunk)",
          );
        }
        this.store.addChunk(gpa, c, round / size);
        this.reserved += round;
        if (this.reserved > this.peakReserved) this.peakReserved = this.reserved;
      }
    }
  }

  /** swiotlb_release_slots: the buffer goes back to the head of its list. */
  private releaseBuffer(b: number): void {
    this.live--;
    this.inUse -= CC_SLOT_SIZES[this.store.cls[b]!]!;
    this.store.release(b);
  }

  /** swiotlb_bounce of the RFC. */
  private bounce(b: number, tlbAddr: number, sizeIn: number, dir: DmaDirection): BounceStatus {
    const store = this.store;
    const start = store.start[b]!;
    let orig = store.orig[b]!;
    const allocSize = store.allocSize[b]!;
    let size = sizeIn;
    if (size > allocSize) {
      this.log.once(
        "cc-overflow",
        "warn",
        `Buffer overflow detected. Allocation size: ${allocSize}. Mapping size: ${size}.`,
      );
      size = allocSize;
    }
    // The RFC copies from/to the original's start whatever part of the buffer tlbAddr names.
    if (this.fixPartialSync) orig += tlbAddr - start - store.offset[b]!;
    this.copies++;
    this.copiedBytes += size;
    const memory = this.memory;
    if (memory === null) return BounceStatus.Ok;
    const st =
      dir === DmaDirection.ToDevice ? memory.copy(tlbAddr, orig, size) : memory.copy(orig, tlbAddr, size);
    return st === MemStatus.Ok ? BounceStatus.Ok : BounceStatus.CopyFault;
  }
}
