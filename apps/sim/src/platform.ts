/**
 * The platform composer's entry: `describePlatform` runs the default platform scenario
 * (scenario/run-scenario.ts) and returns its report. The scenario composes the layers that exist
 * — @tdx/hw-cpu-seam (memory, CPUs, the TDX module), @tdx/vtd and @tdx/guest-linux-swiotlb — with
 * a provisional host standing in for @tdx/kvm and @tdx/qemu-gmem; the firmware (@tdx/ovmf-cciommu)
 * is not in the run yet (the TD starts in its kernel). When those layers are built they replace
 * the stand-in here.
 */

import type { ScenarioOptions } from "./scenario/options";
import type { ScenarioReport } from "./scenario/report";
import { runScenario } from "./scenario/run-scenario";

export type PlatformReport = ScenarioReport;

/** Run the default platform scenario with `options` and return its report. */
export function describePlatform(options: Partial<ScenarioOptions> = {}): PlatformReport {
  return runScenario(options).report;
}
