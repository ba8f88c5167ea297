/**
 * The cost model: a price in nanoseconds per event the run counts, and the sum that turns a run's
 * counts into predicted platform time. Every default says where it comes from. Public sources give
 * no per-operation latency for SEAMCALL, TD exit, #VE or IOTLB events on current parts (the
 * reference notes say so), so most defaults are calibrated guesses anchored on the published
 * aggregate figures; override any of them (`tdx-sim run --cost name=value`) to match a machine.
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";

export interface CostModel {
  /** One SEAMCALL other than TDH.VP.ENTER (a SEAM transition and back plus the leaf's work). */
  readonly seamcallNs: number;
  /** One TDH.VP.ENTER with the TD exit that ends it (entry + exit transitions, module save/restore). */
  readonly tdEnterExitNs: number;
  /** One #VE: delivery, the handler, TDG.VP.VEINFO.GET and the instruction decode. */
  readonly veNs: number;
  /** One exit from KVM to the VMM in userspace and back (KVM_EXIT_MMIO, KVM_EXIT_HYPERCALL). */
  readonly userspaceExitNs: number;
  /** One register access handled by the device model. */
  readonly mmioDeviceNs: number;
  /** Host work per 4 KiB page converted, beyond its SEAMCALLs (attributes, guest_memfd, pre-fault). */
  readonly pageConversionNs: number;
  /** One 4 KiB page accepted by the guest (TDG.MEM.PAGE.ACCEPT: zeroing and S-EPT update). */
  readonly acceptPageNs: number;
  /** SWIOTLB slot search and bookkeeping per dma_map (with its unmap). */
  readonly swiotlbMapNs: number;
  /** Bounce copy, per byte copied (private <-> shared). */
  readonly bounceCopyNsPerByte: number;
  /** VT-d translation served from the IOTLB. */
  readonly iotlbHitNs: number;
  /** One memory access of a VT-d page walk (root, context, paging entries). */
  readonly walkReadNs: number;
  /** One invalidation request to the VT-d unit, waited for (qi_submit_sync). */
  readonly iotlbInvalidationNs: number;
  /** Device DMA, per byte moved across the link. */
  readonly deviceDmaNsPerByte: number;
}

/** The defaults, one source each. */
export const DEFAULT_COSTS: CostModel = {
  // Calibrated guess: tdx-module.md §10 found no published SEAMCALL latency; one SEAM round trip
  // is of the order of the ~1.7 k-cycle (~650 ns) CPUID prior quoted there from TUM-DSE/CVM_eval.
  seamcallNs: 1000,
  // tdx-module.md §10: a TD exit is SEAM VM exit + SEAMRET, then SEAMCALL + VMRESUME; "use a
  // calibrated per-transition constant (default a few µs)"; CVM_eval's ~3.9 µs CPUID as a prior.
  tdEnterExitNs: 3000,
  // Calibrated guess: no citable #VE latency exists (ecosystem.md §4f "Not found"; kvm-guest-qemu.md §7).
  veNs: 1000,
  // Calibrated guess: kvm-guest-qemu.md §7 counts the userspace trip (+1 per MMIO not handled in
  // the kernel, ceil(N / 2 MiB) per MapGPA) but gives no latency for it.
  userspaceExitNs: 5000,
  // Calibrated guess: a device model's register handler is a few hundred instructions.
  mmioDeviceNs: 100,
  // Calibrated guess: KVM_SET_MEMORY_ATTRIBUTES, a guest_memfd punch-hole and a pre-fault per page.
  pageConversionNs: 1000,
  // kvm-guest-qemu.md §7: private fault + AUG + accept ~8 µs per 4 KiB (Dstack-TEE/dstack PR
  // #1220), ~12 µs derived from asterinas PR #3640; the exit and the AUG are priced separately.
  acceptPageNs: 4000,
  // ecosystem.md §4f / swiotlb.md §i: Chao Gao's 2022 allocator rework took fio 4 KiB from 216 k to
  // 250 k IOPS (~0.6 µs per I/O under contention); an uncontended search is a fraction of that.
  swiotlbMapNs: 300,
  // Calibrated guess: a single-core memcpy at ~10 GB/s (swiotlb.md §i: bouncing is a measurable
  // share of CVM I/O cost — Bifrost's >50% "CVM-IO tax" includes it).
  bounceCopyNsPerByte: 0.1,
  // vtd.md §8.3: no public per-hit latency; ecosystem.md §4f budgets IOMMU lookups at 10-100 ns each.
  iotlbHitNs: 10,
  // vtd.md §8.3 / ecosystem.md §4f: 4-5 walk lookups of 10-100 ns; a miss reads memory (upper end).
  walkReadNs: 100,
  // Calibrated guess: vtd.md §8.3 (Peleg et al. ATC'15) names invalidation a bottleneck, no per-op figure.
  iotlbInvalidationNs: 1000,
  // Calibrated guess from the link rate: PCIe Gen4 x16 carries ~25 GB/s.
  deviceDmaNsPerByte: 0.04,
};

export const COST_NAMES = Object.keys(DEFAULT_COSTS) as readonly (keyof CostModel)[];

/** The events a run priced, in the units the cost model charges. */
export interface CostEvents {
  readonly seamcalls: number;
  readonly tdEntries: number;
  readonly ves: number;
  readonly userspaceExits: number;
  readonly mmioAccesses: number;
  readonly pagesConverted: number;
  readonly pagesAccepted: number;
  readonly swiotlbMaps: number;
  readonly bytesBounced: number;
  readonly iotlbHits: number;
  readonly walkReads: number;
  readonly invalidations: number;
  readonly deviceDmaBytes: number;
}

/** Predicted time by category (ns) and in total (µs, rounded to 0.001). */
export interface PricedRun {
  readonly breakdownNs: Record<string, number>;
  readonly totalUs: number;
}

export function priceRun(e: CostEvents, c: CostModel): PricedRun {
  const breakdownNs: Record<string, number> = {
    seamcalls: e.seamcalls * c.seamcallNs,
    tdEnterExit: e.tdEntries * c.tdEnterExitNs,
    ve: e.ves * c.veNs,
    userspaceExits: e.userspaceExits * c.userspaceExitNs,
    deviceModel: e.mmioAccesses * c.mmioDeviceNs,
    conversions: e.pagesConverted * c.pageConversionNs,
    accept: e.pagesAccepted * c.acceptPageNs,
    swiotlb: e.swiotlbMaps * c.swiotlbMapNs + e.bytesBounced * c.bounceCopyNsPerByte,
    iommu: e.iotlbHits * c.iotlbHitNs + e.walkReads * c.walkReadNs + e.invalidations * c.iotlbInvalidationNs,
    deviceDma: e.deviceDmaBytes * c.deviceDmaNsPerByte,
  };
  let total = 0;
  for (const k of Object.keys(breakdownNs)) {
    breakdownNs[k] = Math.round(breakdownNs[k]! * 1000) / 1000;
    total += breakdownNs[k]!;
  }
  return { breakdownNs, totalUs: Math.round(total) / 1000 };
}

/** The defaults with `overrides` applied; unknown names or bad values are errors. */
export function costModelWith(overrides: Readonly<Record<string, number>> = {}): CostModel {
  const out: Record<string, number> = { ...DEFAULT_COSTS };
  for (const [k, v] of Object.entries(overrides)) {
    if (!(COST_NAMES as readonly string[]).includes(k)) {
      throw new TdxSimError("E_SCENARIO_COST", `unknown cost "${k}": the costs are ${COST_NAMES.join(", ")}`);
    }
    if (typeof v !== "number" || !Number.isFinite(v) || v < 0) {
      throw new TdxSimError(
        "E_SCENARIO_COST",
        `cost ${k}=${String(v)} must be a finite number >= 0 (nanoseconds)`,
      );
    }
    out[k] = v;
  }
  return out as unknown as CostModel;
}

/** Parse `name=value` overrides (the CLI's --cost). */
export function parseCostOverrides(items: readonly string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) {
    const m = /^([A-Za-z]+)=(.+)$/.exec(item.trim());
    const v = m ? Number(m[2]) : Number.NaN;
    if (!m || m[2]!.trim() === "" || !Number.isFinite(v)) {
      throw new TdxSimError(
        "E_SCENARIO_COST",
        `--cost "${item}" is not name=number (e.g. tdEnterExitNs=2500)`,
      );
    }
    out[m[1]!] = v;
  }
  costModelWith(out);
  return out;
}
