/**
 * The host's VT-d unit and the host kernel's part in it, as the provisional host drives them: the
 * unit sits on the platform's physical memory (the same memory the TDX module guards), the host's
 * intel-iommu programs it through registers only (VtdDriver: root table, queued invalidation,
 * translation enable, fault records), and the device's domain is a real-format second-level page
 * table in host memory — in legacy mode through a context entry, in scalable mode through a
 * RID_PASID entry with PGTT = second-stage.
 *
 * What the domain maps follows QEMU + VFIO for a TD: only shared memory can be IOMMU-mapped, at
 * IOVA = the GPA as QEMU's address space knows it (the shared bit stripped — the same number the
 * guest's DMA API hands its device), to the host page backing it; conversions map on to-shared
 * and unmap on to-private (RamDiscardManager notifying VFIO), 4 KiB at a time. A map needs no
 * invalidation (CAP.CM = 0: not-present entries are not cached); an unmap is followed by a
 * page-selective IOTLB invalidation, as iommu_unmap's iotlb_sync does.
 *
 * @spec shared/reference/kvm-guest-qemu.md §4.8 step 3, §4.9 (VFIO maps only shared memory, 4 KiB
 *   granularity), §8.1 (the shared bit is stripped before userspace); shared/reference/vtd.md §6.2
 *   (Linux attach: context entry, then flushes; map then PSI only under caching mode), §7.1 (IOVA
 *   -> HPA tables built by the VMM; a private KeyID in the output is blocked), §4.2 (dmar_fault)
 */
import type { DeviceDmaPort, PhysicalMemory } from "@tdx/hw-cpu-seam";
import { TdxSimError } from "@tdx/hw-cpu-seam";
import { type VtdProfile, VtdUnit } from "@tdx/vtd";
import {
  BumpAllocator,
  type FaultRecord,
  LegacyContextTables,
  PasidTables,
  ScalableContextTables,
  SecondStagePageTable,
  VtdDriver,
} from "@tdx/vtd/testing";
import { hex } from "../trace/names";
import { tracedDmaPort } from "../trace/traced-dma-port";
import { NO_TRACE, type Tracer } from "../trace/tracer";
import { PAGE } from "./layout";

export type IommuMode = "legacy" | "scalable";
export const IOMMU_MODES: readonly IommuMode[] = ["legacy", "scalable"];

/** Domain id of the device's domain (DID 0 is reserved when CM is set; the host uses 1). */
export const DEVICE_DOMAIN_ID = 1;

/** Second-level paging levels (4-level, AW = 2: 48-bit IOVAs). @spec shared/reference/vtd.md §2.2 (context AW 010 = 48-bit, 4-level), §2.4 */
const SL_LEVELS = 4;
const SL_AW = 2;

/** CAP/ECAP profile of each mode: QEMU's legacy unit, or scalable mode with second-stage only. */
function profileOf(mode: IommuMode): VtdProfile {
  return mode === "legacy" ? {} : { scalable: { secondStage: true } };
}

export class HostIommu {
  readonly unit: VtdUnit;
  readonly driver: VtdDriver;
  private readonly alloc: BumpAllocator;
  private readonly domain: SecondStagePageTable;
  /** Mappings the host made and removed (4 KiB pages), and invalidation requests it issued. */
  readonly counts = { pagesMapped: 0, pagesUnmapped: 0, invalidationRequests: 0 };
  /** Every fault record the host's fault handler read, in order. */
  readonly faultLog: FaultRecord[] = [];
  /** The unit's DMA port as the device uses it (traced when the run is). */
  readonly port: DeviceDmaPort;

  constructor(
    private readonly mem: PhysicalMemory,
    /** Host memory for the unit's tables and queue (KeyID 0, outside any TDMR). */
    tables: { readonly base: number; readonly size: number },
    readonly mode: IommuMode,
    private readonly trace: Tracer = NO_TRACE,
  ) {
    if (!IOMMU_MODES.includes(mode)) {
      throw new TdxSimError(
        "E_SCENARIO_OPTION",
        `IOMMU mode "${String(mode)}" is not one of ${IOMMU_MODES.join(", ")}`,
      );
    }
    this.unit = new VtdUnit({ mem, profile: profileOf(mode) });
    this.alloc = new BumpAllocator(mem, tables.base, tables.base + tables.size);
    this.driver = new VtdDriver(this.unit, mem, this.alloc);
    this.domain = new SecondStagePageTable(mem, this.alloc, SL_LEVELS);
    const unit = this.unit;
    this.port = tracedDmaPort(
      unit.port,
      {
        stats: unit.translator.stats,
        faults: () => {
          const c = unit.recorder.counts;
          let n = 0;
          for (const k in c) n += c[k as keyof typeof c];
          return n;
        },
      },
      trace,
    );
  }

  /** One invalidation request submitted and waited for (qi_submit_sync), on the unit's track. */
  private invalidated(kind: string, iova: number, pages: number): void {
    this.counts.invalidationRequests++;
    const t = this.trace;
    if (t.enabled) {
      t.complete(
        "iotlbInvalidation",
        kind,
        { kind, did: DEVICE_DOMAIN_ID, iova: hex(iova), pages },
        t.costs.iotlbInvalidationNs,
      );
    }
  }

  /** intel-iommu init and device attach: root table, QI, context (and PASID) entry, flushes, TE. */
  attach(sid: number): void {
    const d = this.driver;
    d.enableQueue();
    if (this.mode === "legacy") {
      const ctx = new LegacyContextTables(this.mem, this.alloc);
      ctx.setContext(sid, { slptptr: this.domain.root, aw: SL_AW, did: DEVICE_DOMAIN_ID });
      d.setRootTable(ctx.root, false);
    } else {
      const ctx = new ScalableContextTables(this.mem, this.alloc);
      const pasids = new PasidTables(this.mem, this.alloc);
      pasids.setEntry(0, { pgtt: 2, did: DEVICE_DOMAIN_ID, ssptr: this.domain.root, aw: SL_AW });
      ctx.setContext(sid, { pasidDir: pasids.dir, ridPasid: 0 });
      d.setRootTable(ctx.root, true);
    }
    d.contextGlobal();
    this.invalidated("context-cache global", 0, 0);
    d.iotlbGlobal();
    this.invalidated("IOTLB global", 0, 0);
    d.enableTranslation();
  }

  /** Map one 4 KiB page IOVA -> HPA, readable and writable (VFIO_IOMMU_MAP_DMA). */
  mapPage(iova: number, hpa: number): void {
    this.domain.map(iova, hpa, PAGE, { read: true, write: true });
    this.counts.pagesMapped++;
  }

  /**
   * Unmap one 4 KiB page (VFIO_IOMMU_UNMAP_DMA); the caller invalidates the range it unmapped
   * before the pages are reused (`invalidate`), as iommu_unmap's gather + iotlb_sync does.
   */
  unmapPage(iova: number): void {
    this.domain.unmap(iova, PAGE);
    this.counts.pagesUnmapped++;
  }

  /**
   * Rewrite the leaf of `iova` to point at `hpa` (any value the host chooses, KeyID bits
   * included) and invalidate it: what a malicious host can do to its own tables.
   */
  rewriteLeaf(iova: number, hpa: number): void {
    this.domain.map(iova, hpa, PAGE, { read: true, write: true });
    this.invalidate(iova, 1);
  }

  /**
   * Page-selective IOTLB invalidation covering [iova, iova + pages*4K): the smallest naturally
   * aligned block of 2^AM pages that holds the whole range. @spec shared/reference/vtd.md §5.2, §5.4 (IOTLB descriptor G=3 PSI: ADDR, AM)
   */
  invalidate(iova: number, pages: number): void {
    const first = Math.floor(iova / PAGE);
    const last = first + Math.max(1, pages) - 1;
    let am = 0;
    while (Math.floor(first / 2 ** am) !== Math.floor(last / 2 ** am)) am++;
    const span = PAGE * 2 ** am;
    this.driver.iotlbPages(DEVICE_DOMAIN_ID, iova - (iova % span), am);
    this.invalidated("IOTLB page-selective", iova - (iova % span), 2 ** am);
  }

  /** The host's fault handler (dmar_fault): read every pending record, clear them, keep them. */
  serviceFaults(): FaultRecord[] {
    const recs = this.driver.pendingFaults();
    if (recs.length > 0) this.driver.clearFaults();
    this.faultLog.push(...recs);
    return recs;
  }
}
