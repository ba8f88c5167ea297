/**
 * The scenario's report: what happened (TD, exits, #VEs, TDVMCALLs, conversions, SWIOTLB, VT-d,
 * MMIO, DMA integrity, the security probe) and what it cost (the cost model applied to the launch
 * and to the run). Plain JSON data, built only from counts and bytes the run produced, so the same
 * options and seed give the same report.
 */
import { createHash } from "node:crypto";
import { VmxExitReason } from "@tdx/hw-cpu-seam";
import { type CostModel, costModelWith, type PricedRun, priceRun } from "./cost-model";
import type { DeviceCounters } from "./device-model";
import { DESCRIPTOR_BYTES, type GuestRecord } from "./guest-program";
import { TdLayout } from "./layout";
import type { ScenarioOptions } from "./options";
import type { HostCounters, ProvisionalHost, RunEnd } from "./provisional-host";
import type { SecurityProbeResult } from "./security-probe";

export const NOT_MODELLED =
  "KVM, QEMU and OVMF are not modelled yet: the host is a provisional stand-in (apps/sim/src/scenario/provisional-host.ts) and the TD starts in its kernel without firmware";

export interface IntegrityCheck {
  readonly transfers: number;
  readonly bytes: number;
  /** Transfers whose bytes differ between the two sides, plus transfers one side lacks. */
  readonly mismatches: number;
}

export interface ScenarioReport {
  readonly scenario: "default";
  readonly host: "provisional";
  readonly notModelled: string;
  readonly options: Omit<ScenarioOptions, "costs">;
  readonly end: RunEnd;
  readonly td: {
    readonly hkid: number;
    readonly gpaw: number | null;
    readonly sharedBit: string;
    readonly mrtd: string;
    readonly vcpus: 1;
    readonly ramBytes: number;
  };
  readonly guest: {
    readonly deviceId: string | null;
    readonly errors: readonly string[];
    readonly swiotlbBootLog: readonly string[];
  };
  readonly counts: {
    readonly seamcalls: {
      launch: Record<string, number>;
      run: Record<string, number>;
      launchTotal: number;
      runTotal: number;
    };
    readonly tdExits: Record<string, number>;
    readonly tdvmcalls: Record<string, number>;
    readonly ves: Record<string, number>;
    readonly vesFailed: number;
    readonly mapGpa: HostCounters["mapGpa"];
    readonly accepted: { readonly pages4k: number; readonly pages2m: number };
    readonly mmio: { readonly roundTrips: number; readonly reads: number; readonly writes: number };
    readonly swiotlb: {
      readonly poolBytes: number;
      readonly maps: number;
      readonly unmaps: number;
      readonly mapFailures: number;
      readonly bounces: number;
      readonly bytesBounced: number;
      readonly hiwaterSlots: number;
      readonly peakInUseBytes: number;
    };
    readonly vtd: {
      readonly translations: number;
      readonly iotlbHits: number;
      readonly iotlbMisses: number;
      readonly walkReads: number;
      /** Faults the unit reported (recorded, or suppressed / overflowed / collapsed / not logged). */
      readonly faults: number;
      /** Fault records the host's fault handler read from the registers. */
      readonly faultsRecorded: number;
      readonly invalidationRequests: number;
      readonly pagesMapped: number;
      readonly pagesUnmapped: number;
    };
    readonly device: DeviceCounters;
  };
  readonly dma: {
    /** SHA-256 over every byte the device moved, in order: the run's payloads in one value. */
    readonly payloadSha256: string;
    readonly toDevice: IntegrityCheck;
    readonly fromDevice: IntegrityCheck;
    readonly coherent: {
      readonly bytesEachWay: number;
      readonly mismatches: number;
      readonly freed: boolean;
    };
  };
  readonly security: SecurityProbeResult & { readonly tdSecretIntact: boolean };
  readonly time: {
    readonly costModel: CostModel;
    readonly launch: PricedRun;
    readonly run: PricedRun;
    readonly totalUs: number;
  };
}

const VMX_NAMES = new Map<number, string>(Object.entries(VmxExitReason).map(([k, v]) => [v, k]));

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
const same = (a: Uint8Array | undefined, b: Uint8Array | undefined) =>
  a !== undefined && b !== undefined && a.length === b.length && a.every((x, i) => x === b[i]);

function digest(parts: readonly Uint8Array[]): string {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest("hex");
}

function integrity(ours: readonly Uint8Array[], theirs: readonly Uint8Array[]): IntegrityCheck {
  let mismatches = Math.abs(ours.length - theirs.length);
  for (let i = 0; i < Math.min(ours.length, theirs.length); i++) if (!same(ours[i], theirs[i])) mismatches++;
  return { transfers: ours.length, bytes: ours.reduce((a, b) => a + b.length, 0), mismatches };
}

export function buildReport(
  o: ScenarioOptions,
  host: ProvisionalHost,
  rec: GuestRecord,
  probe: SecurityProbeResult | undefined,
  end: RunEnd,
): ScenarioReport {
  const hc = host.counters;
  const stats = rec.guest?.stats;
  const ves: Record<string, number> = {};
  let veTotal = 0;
  stats?.veByReason.forEach((n, reason) => {
    if (n > 0) {
      ves[VMX_NAMES.get(reason) ?? `reason-${reason}`] = n;
      veTotal += n;
    }
  });
  const sw = rec.dma?.swiotlb.stats();
  const hiwater = rec.dma?.swiotlb.mem.debugfs().io_tlb_used_hiwater ?? 0;
  const tr = host.iommu.unit.translator.stats;
  const calls = host.seamcalls();
  const enter = calls.run["TDH.VP.ENTER"] ?? 0;
  const dev = host.device;
  const inPool = (iova: number) => iova >= TdLayout.SWIOTLB_LOW && iova < TdLayout.SWIOTLB_HIGH;
  const streamed = (dir: "to-device" | "from-device") =>
    dev.transfers.filter((t) => t.dir === dir && inPool(t.iova)).map((t) => t.data);
  const coherentSeen = dev.transfers.filter((t) => !inPool(t.iova));
  const c = rec.coherent;
  const coherentMismatches =
    (same(coherentSeen[0]?.data, c?.sent) ? 0 : 1) + (same(coherentSeen[1]?.data, c?.received) ? 0 : 1);
  const pages4k = stats ? stats.acceptDone[0]! : 0;
  const pages2m = stats ? stats.acceptDone[1]! : 0;
  const mmioTrips = hc.mmio.reads + hc.mmio.writes;
  const costs = costModelWith(o.costs);
  const launch = priceRun({ ...NO_EVENTS, seamcalls: sum(calls.launch) }, costs);
  const run = priceRun(
    {
      seamcalls: sum(calls.run) - enter,
      tdEntries: enter,
      ves: veTotal,
      userspaceExits: mmioTrips + hc.mapGpa.userspaceExits,
      mmioAccesses: dev.counters.mmioReads + dev.counters.mmioWrites,
      pagesConverted: hc.mapGpa.pagesToShared + hc.mapGpa.pagesToPrivate,
      pagesAccepted: pages4k + 512 * pages2m,
      swiotlbMaps: sw?.maps ?? 0,
      bytesBounced: sw?.copiedBytes ?? 0,
      iotlbHits: tr.iotlbHits,
      walkReads: tr.walkReads,
      invalidations: host.iommu.counts.invalidationRequests,
      deviceDmaBytes: dev.counters.bytesRead + dev.counters.bytesWritten,
    },
    costs,
  );
  const secret = rec.secret;
  return {
    scenario: "default",
    host: "provisional",
    notModelled: NOT_MODELLED,
    options: { dmaCount: o.dmaCount, dmaSize: o.dmaSize, seed: o.seed, iommu: o.iommu },
    end,
    td: {
      hkid: host.td.hkid,
      gpaw: rec.gpaw ?? null,
      sharedBit: `0x${host.td.sharedBit.toString(16)}`,
      mrtd: host.mrtd,
      vcpus: 1,
      ramBytes: TdLayout.RAM_TOP,
    },
    guest: {
      deviceId: rec.deviceId === undefined ? null : `0x${rec.deviceId.toString(16)}`,
      errors: rec.errors,
      swiotlbBootLog: rec.bootLog ?? [],
    },
    counts: {
      seamcalls: { ...calls, launchTotal: sum(calls.launch), runTotal: sum(calls.run) },
      tdExits: hc.tdExits,
      tdvmcalls: hc.tdvmcalls,
      ves,
      vesFailed: stats?.veFailed ?? 0,
      mapGpa: hc.mapGpa,
      accepted: { pages4k, pages2m },
      mmio: { roundTrips: mmioTrips, reads: hc.mmio.reads, writes: hc.mmio.writes },
      swiotlb: {
        poolBytes: sw?.reservedBytes ?? 0,
        maps: sw?.maps ?? 0,
        unmaps: sw?.unmaps ?? 0,
        mapFailures: sw?.mapFailures ?? 0,
        bounces: sw?.copies ?? 0,
        bytesBounced: sw?.copiedBytes ?? 0,
        hiwaterSlots: hiwater,
        peakInUseBytes: sw?.peakInUseBytes ?? 0,
      },
      vtd: {
        translations: tr.requests,
        iotlbHits: tr.iotlbHits,
        iotlbMisses: tr.walks,
        walkReads: tr.walkReads,
        faults: sum(host.iommu.unit.recorder.counts),
        faultsRecorded: host.iommu.faultLog.length,
        invalidationRequests: host.iommu.counts.invalidationRequests,
        pagesMapped: host.iommu.counts.pagesMapped,
        pagesUnmapped: host.iommu.counts.pagesUnmapped,
      },
      device: { ...dev.counters },
    },
    dma: {
      payloadSha256: digest(dev.transfers.map((t) => t.data)),
      toDevice: integrity(rec.sent, streamed("to-device")),
      fromDevice: integrity(rec.received, streamed("from-device")),
      coherent: { bytesEachWay: DESCRIPTOR_BYTES, mismatches: coherentMismatches, freed: c?.freed ?? false },
    },
    security: {
      ...(probe ?? {
        victimGpa: TdLayout.SECRET,
        attempts: [],
        faultRecords: [],
        hostCpuReads: [],
        restored: false,
      }),
      tdSecretIntact: secret !== undefined && same(secret.written, secret.afterProbe),
    },
    time: {
      costModel: costs,
      launch,
      run,
      totalUs: Math.round((launch.totalUs + run.totalUs) * 1000) / 1000,
    },
  };
}

const NO_EVENTS = {
  seamcalls: 0,
  tdEntries: 0,
  ves: 0,
  userspaceExits: 0,
  mmioAccesses: 0,
  pagesConverted: 0,
  pagesAccepted: 0,
  swiotlbMaps: 0,
  bytesBounced: 0,
  iotlbHits: 0,
  walkReads: 0,
  invalidations: 0,
  deviceDmaBytes: 0,
} as const;
