/**
 * The default platform scenario, composed from the layers that exist: the provisional host brings
 * the TDX module up, builds and finalizes a TD, programs VT-d and attaches the emulated device; the
 * guest kernel from @tdx/guest-linux-swiotlb boots its DMA layer and runs the driver workload; at
 * the guest's idle halt the host runs the security probe; the report prices it all. Deterministic:
 * the same options give the same report (payloads from one seeded PRNG, split per party).
 */
import { type GuestRecord, guestProgram, newGuestRecord } from "./guest-program";
import { resolveScenarioOptions, type ScenarioOptions } from "./options";
import { SeededRandom } from "./prng";
import { ProvisionalHost } from "./provisional-host";
import { buildReport, type ScenarioReport } from "./report";
import { runSecurityProbe, type SecurityProbeResult } from "./security-probe";

/** A finished run: the report, and the parties for callers that look closer (tests, traces). */
export interface ScenarioRun {
  readonly report: ScenarioReport;
  readonly host: ProvisionalHost;
  readonly guest: GuestRecord;
  readonly probe: SecurityProbeResult | undefined;
}

export function runScenario(options: Partial<ScenarioOptions> = {}): ScenarioRun {
  const o = resolveScenarioOptions(options);
  const seed = new SeededRandom(o.seed);
  const guestRandom = seed.fork(1);
  const deviceRandom = seed.fork(2);
  const host = new ProvisionalHost({ iommu: o.iommu, deviceRandom });
  const guest = newGuestRecord();
  host.loadGuest(guestProgram({ dmaCount: o.dmaCount, dmaSize: o.dmaSize, random: guestRandom }, guest));
  let probe: SecurityProbeResult | undefined;
  const end = host.run(() => {
    probe ??= runSecurityProbe(host);
  });
  return { report: buildReport(o, host, guest, probe, end), host, guest, probe };
}
