/**
 * The DMA API a guest driver calls, as dma-direct implements it in a TD: streaming maps of single
 * buffers and scatter-gather lists (bounced through the SWIOTLB policy whenever it forces bouncing,
 * as it always does in an encrypted guest, or when an address is beyond the device's reach), their
 * syncs and unmaps, and coherent allocations (pages decrypted with set_memory_decrypted, or taken
 * from the pre-decrypted atomic pool when the caller cannot sleep).
 *
 * Coherent allocation and free convert pages, so they are guest code (`allocCoherentOp`,
 * `freeCoherentOp`, composed with `yield*` inside a TD, where MapGPA exits to the VMM); the
 * synchronous `allocCoherent` / `freeCoherent` run the same code and refuse an exit.
 *
 * DMA addresses equal guest-physical addresses: on Intel TDX phys_to_dma and
 * phys_to_dma_unencrypted add nothing (the shared bit lives in the page tables, not in DMA
 * addresses).
 *
 * @spec shared/reference/swiotlb.md §d.1 (who bounces, force_dma_unencrypted), §d.2, §d.3
 *   (dma_max_mapping_size); shared/reference/kvm-guest-qemu.md §3.7; Linux kernel/dma/direct.c
 *   dma_direct_map_sg, dma_direct_unmap_sg, dma_direct_alloc, dma_direct_free,
 *   kernel/dma/direct.h dma_direct_map_page, dma_direct_unmap_page, dma_direct_sync_single_for_*,
 *   kernel/dma/swiotlb.c swiotlb_map, include/linux/dma-direct.h dma_capable
 */
import { type GuestOp, MemStatus, TdxSimError } from "@tdx/hw-cpu-seam";
import type { DmaDevice } from "../device";
import { dmaBitMaskHex } from "../device";
import {
  type AnyMemoryEncryptionOps,
  type MemoryEncryptionGuestOps,
  toGuestEncryptionOps,
} from "../memory/conversion";
import type { GuestMemory } from "../memory/guest-memory";
import type { GuestPageAllocator } from "../memory/page-allocator";
import { BOUNCE_MAP_ERROR, type BounceMapFailure, type BouncePolicy, BounceStatus } from "../policy/types";
import { PAGE_SIZE_BYTES } from "../swiotlb/constants";
import { KernelLog } from "../swiotlb/log";
import { runWithoutExit } from "../tdx-guest/conversion";
import { DmaAttr, DmaDirection } from "./constants";

/** One swiotlb_bounced tracepoint hit (what `swiotlb_map` records before mapping). */
export interface SwiotlbBouncedEvent {
  readonly devName: string;
  readonly dmaMaskBits: number;
  /** phys_to_dma of the original buffer (not the bounce address). */
  readonly devAddr: number;
  readonly size: number;
  readonly force: boolean;
  readonly cpu: number;
}

export type DmaMapError =
  | { readonly kind: "bounce"; readonly failure: BounceMapFailure }
  | {
      /** The (bounce or direct) address is beyond the device's DMA mask or bus limit. */
      readonly kind: "not-dma-capable";
      readonly dmaAddr: number;
      readonly size: number;
      readonly message: string;
    };

export type DmaMapResult =
  | { readonly ok: true; readonly dmaAddr: number }
  | { readonly ok: false; readonly error: DmaMapError };

export type DmaStatusResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly error: "not-mapped" | "copy-fault" };

export interface ScatterEntry {
  readonly addr: number;
  readonly length: number;
}

export interface MappedSegment {
  readonly dmaAddr: number;
  readonly length: number;
}

export type DmaMapSgResult =
  | { readonly ok: true; readonly segments: MappedSegment[] }
  | { readonly ok: false; readonly index: number; readonly error: DmaMapError };

export interface CoherentBuffer {
  readonly cpuAddr: number;
  readonly dmaAddr: number;
  /** Page-aligned size actually allocated. */
  readonly size: number;
  /** Whether it came from the atomic pool. */
  readonly atomic: boolean;
}

export type DmaAllocResult =
  | { readonly ok: true; readonly buffer: CoherentBuffer }
  | { readonly ok: false; readonly error: "no-memory" | "decrypt-failed" };

export type DmaFreeResult =
  | { readonly ok: true; readonly leaked: boolean }
  | { readonly ok: false; readonly error: "not-allocated" };

export interface DmaApiOptions {
  /** The SWIOTLB policy, or null when none is active. */
  readonly bounce: BouncePolicy | null;
  readonly memory: GuestMemory;
  /** Pages for coherent allocations (blocking). */
  readonly pageAllocator: GuestPageAllocator;
  /** The pre-decrypted atomic pool for non-blocking coherent allocations. */
  readonly atomicPool?: GuestPageAllocator;
  /** Either form; inside a TD the guest-code form, with `allocCoherentOp` / `freeCoherentOp`. */
  readonly conversions: AnyMemoryEncryptionOps;
  /** force_dma_unencrypted (true in a TDX/SEV guest). Default true. */
  readonly memEncrypted?: boolean;
  readonly log?: KernelLog;
  /** Called for every swiotlb_bounced tracepoint hit. */
  readonly onBounced?: (ev: SwiotlbBouncedEvent) => void;
}

const SIZE_MAX = Number.MAX_SAFE_INTEGER;

function hexAddr(n: number): string {
  return `0x${n.toString(16).padStart(16, "0")}`;
}

export class DmaApi {
  /** The CPU the calls run on (raw_smp_processor_id): it picks the first SWIOTLB area. */
  cpu = 0;
  readonly log: KernelLog;
  private readonly bounce: BouncePolicy | null;
  private readonly memory: GuestMemory;
  private readonly pages: GuestPageAllocator;
  private readonly atomicPool: GuestPageAllocator | undefined;
  private readonly conversions: MemoryEncryptionGuestOps;
  private readonly memEncrypted: boolean;
  private readonly onBounced: ((ev: SwiotlbBouncedEvent) => void) | undefined;
  private readonly coherent = new Map<number, CoherentBuffer>();
  /** Pages leaked because re-encryption or decryption failed. */
  leakedPages = 0;

  constructor(opts: DmaApiOptions) {
    this.bounce = opts.bounce;
    this.memory = opts.memory;
    this.pages = opts.pageAllocator;
    this.atomicPool = opts.atomicPool;
    this.conversions = toGuestEncryptionOps(opts.conversions);
    this.memEncrypted = opts.memEncrypted ?? true;
    this.log = opts.log ?? opts.bounce?.log ?? new KernelLog();
    this.onBounced = opts.onBounced;
  }

  /** dma_capable(dev, addr, size, true). */
  static dmaCapable(dev: DmaDevice, addr: number, size: number): boolean {
    return addr + size - 1 <= dev.dmaLimit();
  }

  /** dma_map_single / dma_map_page: the DMA address for the device, or why there is none. */
  mapSingle(dev: DmaDevice, addr: number, size: number, dir: DmaDirection, attrs = 0): DmaMapResult {
    checkDirection(dir);
    const b = this.bounce;
    if (b?.forceBounce) return this.swiotlbMap(dev, b, addr, size, dir, attrs);
    if (!DmaApi.dmaCapable(dev, addr, size)) {
      if (b !== null) return this.swiotlbMap(dev, b, addr, size, dir, attrs);
      const message = `${dev.prefix()}DMA addr ${hexAddr(addr)}+${size} overflow (mask ${dmaBitMaskHex(dev.dmaMaskBits)}, bus limit ${dev.busDmaLimit.toString(16)}).`;
      this.log.once(`direct-overflow-${dev.name}`, "warn", message);
      return { ok: false, error: { kind: "not-dma-capable", dmaAddr: addr, size, message } };
    }
    return { ok: true, dmaAddr: addr };
  }

  /** dma_unmap_single / dma_unmap_page. */
  unmapSingle(dev: DmaDevice, dmaAddr: number, size: number, dir: DmaDirection, attrs = 0): DmaStatusResult {
    checkDirection(dir);
    const b = this.bounce;
    if (b?.isBounceBuffer(dev, dmaAddr)) {
      // dma_direct_unmap_page: the CPU sync first, then the unmap with SKIP_CPU_SYNC (one copy).
      let st: BounceStatus = BounceStatus.Ok;
      if ((attrs & DmaAttr.SkipCpuSync) === 0) st = b.syncSingleForCpu(dev, dmaAddr, size, dir);
      const u = b.unmapSingle(dev, dmaAddr, size, dir, attrs | DmaAttr.SkipCpuSync);
      if (u !== BounceStatus.Ok)
        return { ok: false, error: u === BounceStatus.NotMapped ? "not-mapped" : "copy-fault" };
      return st === BounceStatus.Ok ? { ok: true } : { ok: false, error: "copy-fault" };
    }
    // A direct mapping needs nothing; a device that must bounce cannot own a direct mapping.
    return b?.forceBounce ? { ok: false, error: "not-mapped" } : { ok: true };
  }

  /** dma_sync_single_for_cpu (also the range variant: pass dmaAddr + offset). */
  syncSingleForCpu(dev: DmaDevice, dmaAddr: number, size: number, dir: DmaDirection): DmaStatusResult {
    checkDirection(dir);
    const b = this.bounce;
    if (b === null || !b.isBounceBuffer(dev, dmaAddr)) return this.directSyncResult(b);
    return toResult(b.syncSingleForCpu(dev, dmaAddr, size, dir));
  }

  /** dma_sync_single_for_device. */
  syncSingleForDevice(dev: DmaDevice, dmaAddr: number, size: number, dir: DmaDirection): DmaStatusResult {
    checkDirection(dir);
    const b = this.bounce;
    if (b === null || !b.isBounceBuffer(dev, dmaAddr)) return this.directSyncResult(b);
    return toResult(b.syncSingleForDevice(dev, dmaAddr, size, dir));
  }

  /** dma_map_sg: each entry mapped in turn; on a failure the mapped ones are unmapped (no CPU sync). */
  mapSg(dev: DmaDevice, sg: readonly ScatterEntry[], dir: DmaDirection, attrs = 0): DmaMapSgResult {
    const segments: MappedSegment[] = [];
    for (let i = 0; i < sg.length; i++) {
      const e = sg[i]!;
      const r = this.mapSingle(dev, e.addr, e.length, dir, attrs);
      if (!r.ok) {
        this.unmapSg(dev, segments, dir, attrs | DmaAttr.SkipCpuSync);
        return { ok: false, index: i, error: r.error };
      }
      segments.push({ dmaAddr: r.dmaAddr, length: e.length });
    }
    return { ok: true, segments };
  }

  /** dma_unmap_sg: every segment; the first failure is reported after all are processed. */
  unmapSg(dev: DmaDevice, segments: readonly MappedSegment[], dir: DmaDirection, attrs = 0): DmaStatusResult {
    let result: DmaStatusResult = { ok: true };
    for (const s of segments) {
      const r = this.unmapSingle(dev, s.dmaAddr, s.length, dir, attrs);
      if (!r.ok && result.ok) result = r;
    }
    return result;
  }

  syncSgForCpu(dev: DmaDevice, segments: readonly MappedSegment[], dir: DmaDirection): DmaStatusResult {
    let result: DmaStatusResult = { ok: true };
    for (const s of segments) {
      const r = this.syncSingleForCpu(dev, s.dmaAddr, s.length, dir);
      if (!r.ok && result.ok) result = r;
    }
    return result;
  }

  syncSgForDevice(dev: DmaDevice, segments: readonly MappedSegment[], dir: DmaDirection): DmaStatusResult {
    let result: DmaStatusResult = { ok: true };
    for (const s of segments) {
      const r = this.syncSingleForDevice(dev, s.dmaAddr, s.length, dir);
      if (!r.ok && result.ok) result = r;
    }
    return result;
  }

  /**
   * dma_alloc_coherent: page-aligned, zeroed, and in an encrypted guest shared (decrypted pages,
   * or the atomic pool when `atomic`). A failed decryption leaks the pages, as the kernel does.
   */
  allocCoherent(dev: DmaDevice, sizeIn: number, opts: { readonly atomic?: boolean } = {}): DmaAllocResult {
    return runWithoutExit(
      this.allocCoherentOp(dev, sizeIn, opts),
      "dma_alloc_coherent (set_memory_decrypted)",
    );
  }

  /** `allocCoherent` as guest code: the decryption may exit to the VMM (MapGPA). */
  *allocCoherentOp(
    dev: DmaDevice,
    sizeIn: number,
    opts: { readonly atomic?: boolean } = {},
  ): GuestOp<DmaAllocResult> {
    if (!Number.isSafeInteger(sizeIn) || sizeIn <= 0) {
      throw new TdxSimError(
        "E_DMA_ALLOC",
        `coherent allocation of ${String(sizeIn)} bytes: the size must be a positive integer`,
      );
    }
    const size = Math.ceil(sizeIn / PAGE_SIZE_BYTES) * PAGE_SIZE_BYTES;
    const atomic = opts.atomic ?? false;
    let gpa: number;
    if (atomic && this.memEncrypted) {
      if (this.atomicPool === undefined) return { ok: false, error: "no-memory" };
      gpa = this.atomicPool.alloc(size, dev.coherentLimit());
      if (gpa < 0) return { ok: false, error: "no-memory" };
    } else {
      gpa = this.pages.alloc(size, dev.coherentLimit());
      if (gpa < 0) return { ok: false, error: "no-memory" };
      if (
        this.memEncrypted &&
        (yield* this.conversions.setMemoryDecryptedOp(gpa, size / PAGE_SIZE_BYTES)) !== 0
      ) {
        this.leakedPages += size / PAGE_SIZE_BYTES;
        return { ok: false, error: "decrypt-failed" };
      }
    }
    if (this.memory.fill(gpa, size, 0) !== MemStatus.Ok) {
      throw new TdxSimError(
        "E_DMA_ALLOC",
        `coherent buffer at ${hexAddr(gpa)} is outside guest memory: check the allocator's range`,
      );
    }
    const buffer: CoherentBuffer = { cpuAddr: gpa, dmaAddr: gpa, size, atomic: atomic && this.memEncrypted };
    this.coherent.set(gpa, buffer);
    return { ok: true, buffer };
  }

  /** dma_free_coherent: re-encrypt and free; leak if re-encryption fails. */
  freeCoherent(dev: DmaDevice, buffer: CoherentBuffer): DmaFreeResult {
    return runWithoutExit(this.freeCoherentOp(dev, buffer), "dma_free_coherent (set_memory_encrypted)");
  }

  /**
   * `freeCoherent` as guest code: re-encryption is MapGPA to private (an exit), then acceptance of
   * the pages the VMM adds back.
   */
  *freeCoherentOp(_dev: DmaDevice, buffer: CoherentBuffer): GuestOp<DmaFreeResult> {
    const b = this.coherent.get(buffer.cpuAddr);
    if (b === undefined || b.size !== buffer.size) return { ok: false, error: "not-allocated" };
    this.coherent.delete(buffer.cpuAddr);
    if (b.atomic) {
      this.atomicPool!.free(b.cpuAddr, b.size);
      return { ok: true, leaked: false };
    }
    if (
      this.memEncrypted &&
      (yield* this.conversions.setMemoryEncryptedOp(b.cpuAddr, b.size / PAGE_SIZE_BYTES)) !== 0
    ) {
      this.leakedPages += b.size / PAGE_SIZE_BYTES;
      return { ok: true, leaked: true };
    }
    this.pages.free(b.cpuAddr, b.size);
    return { ok: true, leaked: false };
  }

  /** dma_max_mapping_size: the SWIOTLB limit when the device bounces, else unlimited. */
  maxMappingSize(dev: DmaDevice): number {
    const b = this.bounce;
    if (b !== null && (b.forceBounce || dev.dmaLimit() < 2 ** 52 - 1)) return b.maxMappingSize(dev);
    return SIZE_MAX;
  }

  /** dma_opt_mapping_size: dma-direct has no preference, so the max mapping size. */
  optMappingSize(dev: DmaDevice): number {
    return this.maxMappingSize(dev);
  }

  /** swiotlb_map: trace, bounce, check the bounce address is reachable by the device. */
  private swiotlbMap(
    dev: DmaDevice,
    b: BouncePolicy,
    phys: number,
    size: number,
    dir: DmaDirection,
    attrs: number,
  ): DmaMapResult {
    this.onBounced?.({
      devName: dev.name,
      dmaMaskBits: dev.dmaMaskBits,
      devAddr: phys,
      size,
      force: b.forceBounce,
      cpu: this.cpu,
    });
    const tlb = b.mapSingle(dev, phys, size, 0, dir, attrs, this.cpu);
    if (tlb === BOUNCE_MAP_ERROR) return { ok: false, error: { kind: "bounce", failure: b.lastFailure! } };
    if (!DmaApi.dmaCapable(dev, tlb, size)) {
      b.unmapSingle(dev, tlb, size, dir, attrs | DmaAttr.SkipCpuSync);
      const message = `${dev.prefix()}swiotlb addr ${hexAddr(tlb)}+${size} overflow (mask ${dmaBitMaskHex(dev.dmaMaskBits)}, bus limit ${dev.busDmaLimit.toString(16)}).`;
      this.log.once(`swiotlb-overflow-${dev.name}`, "warn", message);
      return { ok: false, error: { kind: "not-dma-capable", dmaAddr: tlb, size, message } };
    }
    return { ok: true, dmaAddr: tlb };
  }

  private directSyncResult(b: BouncePolicy | null): DmaStatusResult {
    return b?.forceBounce ? { ok: false, error: "not-mapped" } : { ok: true };
  }
}

function toResult(st: BounceStatus): DmaStatusResult {
  if (st === BounceStatus.Ok) return { ok: true };
  return { ok: false, error: st === BounceStatus.NotMapped ? "not-mapped" : "copy-fault" };
}

function checkDirection(dir: DmaDirection): void {
  if (
    dir !== DmaDirection.ToDevice &&
    dir !== DmaDirection.FromDevice &&
    dir !== DmaDirection.Bidirectional
  ) {
    throw new TdxSimError(
      "E_DMA_DIRECTION",
      `DMA direction ${String(dir)} is not valid for a mapping: use to-device (1), from-device (2) or bidirectional (0)`,
    );
  }
}
