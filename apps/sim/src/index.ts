/**
 * @tdx/sim: the composing app's library face (the CLI lives in cli.ts). `runScenario` runs the
 * default platform scenario programmatically; `describePlatform` is what `tdx-sim run` prints;
 * the trace API writes and checks Chrome trace-event JSON of a run.
 */
export { buildProgram, main } from "./cli";
export { describePlatform, type PlatformReport } from "./platform";
export { type CostModel, costModelWith, DEFAULT_COSTS, priceRun } from "./scenario/cost-model";
export { DEFAULT_SCENARIO, resolveScenarioOptions, type ScenarioOptions } from "./scenario/options";
export type { ScenarioReport } from "./scenario/report";
export { runScenario, type ScenarioRun } from "./scenario/run-scenario";
export { formatSummary } from "./scenario/summary";
export { checkChromeTrace, type TraceCheck, type TraceEvent } from "./trace/trace-check";
export { TRACE_POINTS, TRACK_NAMES, type TracePointName, type Track } from "./trace/trace-points";
export { DEFAULT_MAX_TRACE_EVENTS, fileSink, MemorySink, type TraceSink } from "./trace/trace-writer";
