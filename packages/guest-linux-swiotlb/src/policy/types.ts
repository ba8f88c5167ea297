/**
 * One interface for every bounce-buffer policy (the swiotlb_tbl_* level of the kernel: map with
 * the initial copy, sync in either direction, unmap with the final copy, lookup), so the Linux
 * allocator, Linux with dynamic pools and the cc-swiotlb proposal run the same workloads and
 * report the same figures. Hot-path calls return numbers; failures are described by a closed
 * union available from `lastFailure`.
 *
 * @spec shared/reference/swiotlb.md §c.5 (failure message), §d (bounce semantics), §e (dynamic),
 *   §f (cc-swiotlb)
 */
import type { MemStatus } from "@tdx/hw-cpu-seam";
import type { DmaDevice } from "../device";
import type { DmaDirection } from "../dma/constants";
import type { KernelLog } from "../swiotlb/log";

export type PolicyKind = "linux" | "linux-dynamic" | "cc-swiotlb";
export const POLICY_KINDS: readonly PolicyKind[] = ["linux", "linux-dynamic", "cc-swiotlb"];

/** mapSingle's failure value (DMA_MAPPING_ERROR as a physical address). */
export const BOUNCE_MAP_ERROR = -1;

/** Outcome of unmap and sync calls. */
export const BounceStatus = {
  Ok: 0,
  /** The address is not the start of a live bounce mapping of this policy. */
  NotMapped: -1,
  /** Guest memory refused the copy (a MemStatus other than Ok; see lastFailure). */
  CopyFault: -2,
} as const;
export type BounceStatus = (typeof BounceStatus)[keyof typeof BounceStatus];

/** Why a map failed. */
export type BounceMapFailure =
  | {
      /** No SWIOTLB pool was ever allocated (boot fallback gave up, or swiotlb=noforce). */
      readonly kind: "no-pool";
      readonly message: string;
    }
  | {
      /** Linux: no run of free slots ("swiotlb buffer is full"); sz includes the alignment offset. */
      readonly kind: "full";
      readonly size: number;
      readonly totalSlots: number;
      readonly usedSlots: number;
      readonly message: string;
    }
  | {
      /** cc-swiotlb: the size class had no free buffer, or no class fits the request. */
      readonly kind: "no-buffer";
      readonly size: number;
      readonly tooLarge: boolean;
      readonly message: string;
    }
  | {
      /** Guest memory refused the initial copy; the slots were released again. */
      readonly kind: "copy-fault";
      readonly status: MemStatus;
      readonly message: string;
    };

/** Figures every policy reports (bytes are guest memory; counts are operations). */
export interface BouncePolicyStats {
  readonly policy: PolicyKind;
  /** Shared (decrypted) memory the policy holds now for bounce buffers. */
  readonly reservedBytes: number;
  readonly peakReservedBytes: number;
  /** Bytes held by live mappings, at the policy's granularity (2 KiB slots, or size classes). */
  readonly inUseBytes: number;
  readonly peakInUseBytes: number;
  readonly liveMappings: number;
  readonly maps: number;
  readonly mapFailures: number;
  readonly unmaps: number;
  readonly syncs: number;
  /** Bounce copies performed and their bytes (the cost model prices these). */
  readonly copies: number;
  readonly copiedBytes: number;
  /** set_memory_decrypted / set_memory_encrypted requests made, and pages converted. */
  readonly conversions: number;
  readonly convertedPages: number;
  /** Allocator search effort: slots (Linux) or list operations (cc-swiotlb) examined. */
  readonly searchSteps: number;
  /** Pools (Linux) or size-class refill chunks (cc-swiotlb) currently held. */
  readonly pools: number;
}

export interface BouncePolicy {
  readonly kind: PolicyKind;
  readonly log: KernelLog;
  /**
   * swiotlb_tbl_map_single: allocate a bounce buffer for `size` bytes at `orig` and copy the
   * original into it (always, whatever the direction). Returns the bounce address, or
   * BOUNCE_MAP_ERROR with `lastFailure` set.
   */
  mapSingle(
    dev: DmaDevice,
    orig: number,
    size: number,
    allocAlignMask: number,
    dir: DmaDirection,
    attrs: number,
    cpu: number,
  ): number;
  /** The failure of the most recent map that returned BOUNCE_MAP_ERROR. */
  readonly lastFailure: BounceMapFailure | undefined;
  /** swiotlb_tbl_unmap_single: copy back for FROM_DEVICE/BIDIRECTIONAL unless SKIP_CPU_SYNC, then release. */
  unmapSingle(dev: DmaDevice, tlbAddr: number, size: number, dir: DmaDirection, attrs: number): BounceStatus;
  /** swiotlb_sync_single_for_device: copy original -> bounce for TO_DEVICE/BIDIRECTIONAL. */
  syncSingleForDevice(dev: DmaDevice, tlbAddr: number, size: number, dir: DmaDirection): BounceStatus;
  /** swiotlb_sync_single_for_cpu: copy bounce -> original for FROM_DEVICE/BIDIRECTIONAL. */
  syncSingleForCpu(dev: DmaDevice, tlbAddr: number, size: number, dir: DmaDirection): BounceStatus;
  /**
   * is_swiotlb_buffer: true for every live mapping's addresses. Linux answers for the whole pool
   * range (free slots too); cc-swiotlb only for live buffers.
   */
  isBounceBuffer(dev: DmaDevice, addr: number): boolean;
  /** swiotlb_max_mapping_size. */
  maxMappingSize(dev: DmaDevice): number;
  /** Whether streaming maps of every device must bounce (io_tlb_mem.force_bounce). */
  readonly forceBounce: boolean;
  /** Run background work that is due now, or all pending work when `drain` is set. */
  runBackground(drain?: boolean): void;
  stats(): BouncePolicyStats;
}
