/**
 * Construction options of a VT-d unit and the policies for behaviour the specification leaves to
 * the implementation or where the sources disagree, each with its documented default.
 *
 * @spec reference/vtd.md §9 "Make hardware-discretionary behaviour explicit policies: fault
 *   collapsing, cache capacity and replacement, whether CM caches negative results, ESRTPS,
 *   ordering of permission vs reserved-bit checks"
 */
import type { PhysicalMemoryAccess } from "@tdx/hw-cpu-seam";
import type { MsiSink } from "../faults/events";
import type { FaultCollapse } from "../faults/fault-recorder";
import type { VtdProfile } from "../spec/capabilities";
import type { TdxDmaOptions } from "../tdx/tdx-policy";

export interface VtdPolicy {
  /**
   * A GCMD write that changes more than one command at once (the specification asks for one per
   * write). "apply-all" acts on each, as QEMU does; "ignore" drops the whole write. Default
   * "apply-all".
   */
  readonly multiCommandGcmd: "apply-all" | "ignore";
  /** Fault collapsing (see FaultRecorder). Default "none". */
  readonly faultCollapse: FaultCollapse;
  /**
   * Cache not-present / faulting lookups (context, PASID and leaf), so a not-present to present
   * change is invisible until invalidated. Default: CAP.CM (caching mode).
   */
  readonly negativeCaching: boolean;
  /**
   * Fault reasons for root/context lookups and second-stage walks in scalable mode: "scalable"
   * uses the scalable-mode codes (0x38-0x43, 0x78-0x7B, 0x83, 0x85/0x86); "qemu" reports the legacy
   * codes there, as QEMU's intel-iommu does. Default "scalable".
   */
  readonly scalableFaultCodes: "scalable" | "qemu";
  /** IQER error information: "spec" fills IQEI [unverified values], "none" leaves IQER 0 (QEMU). Default "spec". */
  readonly iqerReporting: "spec" | "none";
  /** QI may be disabled only after a wait descriptor was the last one processed (QEMU). Default false. */
  readonly qiDisableRequiresWait: boolean;
  /** Context cache on. Default true. */
  readonly contextCache: boolean;
  /** PASID cache geometry, or false for none. Default 256 sets x 4 ways. */
  readonly pasidCache: { readonly sets: number; readonly ways: number } | false;
  /** IOTLB geometry (sets a power of two), or false for none. Default 1024 sets x 4 ways. */
  readonly iotlb: { readonly sets: number; readonly ways: number } | false;
  /** Paging-structure cache geometry, or false for none. Default 256 sets x 4 ways. */
  readonly pagingStructureCache: { readonly sets: number; readonly ways: number } | false;
}

export interface VtdUnitOptions {
  /** Host physical memory the tables, queues and DMA data live in. */
  readonly mem: PhysicalMemoryAccess;
  /** CAP and ECAP exactly (take precedence over `profile`). */
  readonly cap?: bigint;
  readonly ecap?: bigint;
  /** Otherwise a readable profile (composeCapabilities); default QEMU-like legacy unit. */
  readonly profile?: VtdProfile;
  /** VER register. Default 0x10 (1.0, QEMU's value). */
  readonly version?: number;
  /**
   * Host address width: entry address bits at or above it are reserved. Default the memory's
   * physical-address width (KeyID bits included, as the IOMMU sees them), at most 52.
   */
  readonly hawBits?: number;
  readonly policy?: Partial<VtdPolicy>;
  /** TDX rules for untrusted DMA; false disables them. */
  readonly tdx?: TdxDmaOptions | false;
  /** Receives every MSI the unit sends (fault and invalidation-completion events). */
  readonly onMsi?: MsiSink;
  /**
   * Device writes kept in flight after translation until drained (0, the default: every write
   * completes before dmaWrite returns). See VtdDmaPort.
   */
  readonly postedWriteDepth?: number;
  /** Receives interrupt requests (device writes to 0xFEEx_xxxx without PASID). */
  readonly onInterruptRequest?: (sid: number, address: number, data: Uint8Array) => void;
}
