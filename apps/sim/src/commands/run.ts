/**
 * tdx-sim run: the default platform scenario (see scenario/run-scenario.ts): a TD launched through
 * the TDX module, MMIO through #VE, streaming and coherent DMA through SWIOTLB and VT-d, a security
 * probe, and the report with predicted platform time. A readable summary, or --json for the whole
 * report; --trace FILE also writes the run as Chrome trace-event JSON (opens in Perfetto). Bad
 * options, and a trace path that cannot be written, exit 2 with a message naming what is allowed.
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";
import type { Command } from "commander";
import { CliInputError } from "../io";

import { COST_NAMES, parseCostOverrides } from "../scenario/cost-model";
import { IOMMU_MODES, type IommuMode } from "../scenario/host-iommu";
import { MAX_DMA_SIZE } from "../scenario/layout";
import { DEFAULT_SCENARIO, MAX_DMA_COUNT, type ScenarioOptions } from "../scenario/options";
import { runScenario, type ScenarioTraceOptions } from "../scenario/run-scenario";
import { formatSummary } from "../scenario/summary";
import { DEFAULT_MAX_TRACE_EVENTS, fileSink, MAX_TRACE_EVENTS_LIMIT } from "../trace/trace-writer";

interface RunFlags {
  json?: boolean;
  dmaCount?: string;
  dmaSize?: string;
  seed?: string;
  iommu?: string;
  cost?: string[];
  trace?: string;
  traceMaxEvents?: string;
}

function integer(text: string, flag: string, min: number, max: number): number {
  const t = text.trim().toLowerCase();
  const v = /^0x[0-9a-f]+$/.test(t) ? Number.parseInt(t, 16) : /^\d+$/.test(t) ? Number(t) : Number.NaN;
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    throw new CliInputError("E_RUN_OPTION", `${flag} "${text}" must be an integer from ${min} to ${max}`);
  }
  return v;
}

/** The scenario options the flags ask for. */
export function runOptionsFrom(f: RunFlags): Partial<ScenarioOptions> {
  const o: { -readonly [K in keyof ScenarioOptions]?: ScenarioOptions[K] } = {};
  if (f.dmaCount !== undefined) o.dmaCount = integer(f.dmaCount, "--dma-count", 1, MAX_DMA_COUNT);
  if (f.dmaSize !== undefined) o.dmaSize = integer(f.dmaSize, "--dma-size", 1, MAX_DMA_SIZE);
  if (f.seed !== undefined) o.seed = integer(f.seed, "--seed", 0, 0xffff_ffff);
  if (f.iommu !== undefined) {
    if (!(IOMMU_MODES as readonly string[]).includes(f.iommu)) {
      throw new CliInputError(
        "E_RUN_OPTION",
        `--iommu "${f.iommu}" must be one of ${IOMMU_MODES.join(", ")}`,
      );
    }
    o.iommu = f.iommu as IommuMode;
  }
  if (f.cost !== undefined) {
    try {
      o.costs = parseCostOverrides(f.cost);
    } catch (err) {
      if (err instanceof TdxSimError) throw new CliInputError(err.code, err.message);
      throw err;
    }
  }
  return o;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];

/**
 * The trace the flags ask for: the file is created here, before the run, so a bad path fails
 * first. Standard output carries the report, so `-` is refused rather than mixed into it.
 */
export function traceOptionsFrom(f: RunFlags): ScenarioTraceOptions | undefined {
  if (f.trace === undefined) {
    if (f.traceMaxEvents !== undefined) {
      throw new CliInputError("E_RUN_OPTION", "--trace-max-events needs --trace FILE");
    }
    return undefined;
  }
  const maxEvents =
    f.traceMaxEvents === undefined
      ? DEFAULT_MAX_TRACE_EVENTS
      : integer(f.traceMaxEvents, "--trace-max-events", 1, MAX_TRACE_EVENTS_LIMIT);
  if (f.trace === "-" || f.trace.trim() === "") {
    throw new CliInputError(
      "E_RUN_OPTION",
      `--trace "${f.trace}" must be a file path: standard output carries the report`,
    );
  }
  try {
    return { sink: fileSink(f.trace), maxEvents };
  } catch (err) {
    if (err instanceof TdxSimError) throw new CliInputError(err.code, err.message);
    throw err;
  }
}

export function registerRun(program: Command): void {
  program
    .command("run")
    .description(
      "Run the default platform scenario: launch a TD, MMIO and DMA through SWIOTLB and VT-d, a security probe, and a report with predicted time",
    )
    .option("--json", "print the full report as JSON")
    .option(
      "--dma-count <n>",
      `streaming DMA transfers each way, 1-${MAX_DMA_COUNT}`,
      String(DEFAULT_SCENARIO.dmaCount),
    )
    .option("--dma-size <bytes>", `bytes per transfer, 1-${MAX_DMA_SIZE}`, String(DEFAULT_SCENARIO.dmaSize))
    .option("--seed <n>", "seed of the run's payloads, 0-4294967295", String(DEFAULT_SCENARIO.seed))
    .option("--iommu <mode>", `VT-d translation mode: ${IOMMU_MODES.join(" | ")}`, DEFAULT_SCENARIO.iommu)
    .option(
      "--cost <name=ns>",
      `override a cost-model default (repeatable): ${COST_NAMES.join(", ")}`,
      collect,
    )
    .option(
      "--trace <file>",
      "also write the run as Chrome trace-event JSON (open it in ui.perfetto.dev); timestamps from the cost model's virtual clock",
    )
    .option(
      "--trace-max-events <n>",
      `stop tracing after n events, ending the file with a "trace capped" event (default ${DEFAULT_MAX_TRACE_EVENTS})`,
    )
    .action((flags: RunFlags) => {
      const options = runOptionsFrom(flags);
      const traceTo = traceOptionsFrom(flags);
      const { report, trace } = runScenario(options, traceTo);
      process.stdout.write(flags.json ? `${JSON.stringify(report, null, 2)}\n` : formatSummary(report));
      if (trace?.capped) {
        process.stderr.write(
          `tdx-sim: trace capped at ${trace.maxEvents} events (--trace-max-events); the rest of the run is not in ${flags.trace}\n`,
        );
      }
    });
}
