/**
 * The default platform scenario, composed from the layers that exist: the provisional host brings
 * the TDX module up, builds and finalizes a TD, programs VT-d and attaches the emulated device; the
 * guest kernel from @tdx/guest-linux-swiotlb boots its DMA layer and runs the driver workload; at
 * the guest's idle halt the host runs the security probe; the report prices it all. Deterministic:
 * the same options give the same report (payloads from one seeded PRNG, split per party) and,
 * when traced, the same trace bytes (timestamps from the cost model's virtual clock).
 */

import { SeededRandom } from "@tdx/hw-cpu-seam";
import { DEFAULT_MAX_TRACE_EVENTS, TraceEventWriter, type TraceSink } from "../trace/trace-writer";
import { ChromeTracer, NO_TRACE, type Tracer } from "../trace/tracer";
import { costModelWith } from "./cost-model";
import { type GuestRecord, guestProgram, newGuestRecord } from "./guest-program";
import { resolveScenarioOptions, type ScenarioOptions } from "./options";
import { ProvisionalHost } from "./provisional-host";
import { buildReport, type ScenarioReport } from "./report";
import { runSecurityProbe, type SecurityProbeResult } from "./security-probe";

/** Where to write the run's Chrome trace-event JSON, and its cap on events. */
export interface ScenarioTraceOptions {
  readonly sink: TraceSink;
  /** Default DEFAULT_MAX_TRACE_EVENTS (1,000,000). */
  readonly maxEvents?: number;
}

/** What was traced: events written, whether the cap stopped the writer, the clock at the end. */
export interface ScenarioTraceResult {
  readonly events: number;
  readonly capped: boolean;
  readonly maxEvents: number;
  readonly endNs: number;
}

/** A finished run: the report, and the parties for callers that look closer (tests, traces). */
export interface ScenarioRun {
  readonly report: ScenarioReport;
  readonly host: ProvisionalHost;
  readonly guest: GuestRecord;
  readonly probe: SecurityProbeResult | undefined;
  readonly trace: ScenarioTraceResult | undefined;
}

export function runScenario(
  options: Partial<ScenarioOptions> = {},
  traceTo?: ScenarioTraceOptions,
): ScenarioRun {
  const o = resolveScenarioOptions(options);
  const writer = traceTo
    ? new TraceEventWriter(traceTo.sink, traceTo.maxEvents ?? DEFAULT_MAX_TRACE_EVENTS)
    : undefined;
  const chrome = writer ? new ChromeTracer(writer, costModelWith(o.costs)) : undefined;
  const tracer: Tracer = chrome ?? NO_TRACE;
  const seed = new SeededRandom(o.seed);
  const guestRandom = seed.fork(1);
  const deviceRandom = seed.fork(2);
  const host = new ProvisionalHost({ iommu: o.iommu, deviceRandom, tracer });
  const guest = newGuestRecord();
  host.loadGuest(
    guestProgram({ dmaCount: o.dmaCount, dmaSize: o.dmaSize, random: guestRandom, tracer }, guest),
  );
  let probe: SecurityProbeResult | undefined;
  const end = host.run(() => {
    probe ??= runSecurityProbe(host, tracer);
  });
  const report = buildReport(o, host, guest, probe, end);
  let trace: ScenarioTraceResult | undefined;
  if (chrome && writer) {
    const endNs = chrome.nowNs;
    chrome.finish({
      generator: "tdx-sim run",
      scenario: report.scenario,
      host: report.host,
      options: report.options,
      end: report.end.kind,
      clock: "virtual: each traced event advances it by its cost-model price",
      reportTotalUs: report.time.totalUs,
    });
    trace = { events: writer.events, capped: writer.capped, maxEvents: writer.maxEvents, endNs };
  }
  return { report, host, guest, probe, trace };
}
