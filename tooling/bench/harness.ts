/**
 * Runs BenchSuites with tinybench and relates each case to its same-run baseline and its target.
 */
import { Bench } from "tinybench";
import type { BenchReport, BenchResult, BenchSuite } from "./types";

export interface RunOptions {
  /** Measuring time per case in ms. */
  readonly timeMs: number;
  readonly warmupMs: number;
}

export async function runSuite(suite: BenchSuite, opts: RunOptions): Promise<BenchResult[]> {
  const bench = new Bench({ time: opts.timeMs, warmupTime: opts.warmupMs, name: suite.name });
  for (const c of suite.cases) bench.add(c.name, c.fn);
  await bench.run();
  const measured = new Map<
    string,
    { opsPerSec: number; bytesPerSec?: number; rme: number; samples: number }
  >();
  for (const task of bench.tasks) {
    const c = suite.cases.find((x) => x.name === task.name)!;
    const r = task.result;
    if (r.state !== "completed") {
      const why = r.state === "errored" ? String(r.error) : r.state;
      throw new Error(`benchmark ${suite.name} / ${c.name} did not complete: ${why}`);
    }
    const opsPerSec = r.throughput.mean * (c.opsPerCall ?? 1);
    measured.set(c.name, {
      opsPerSec,
      ...(c.bytesPerOp !== undefined ? { bytesPerSec: opsPerSec * c.bytesPerOp } : {}),
      rme: r.throughput.rme,
      samples: r.latency.samplesCount,
    });
  }
  return suite.cases.map((c) => relate(suite.name, c, measured));
}

function relate(
  suite: string,
  c: BenchSuite["cases"][number],
  measured: Map<string, { opsPerSec: number; bytesPerSec?: number; rme: number; samples: number }>,
): BenchResult {
  const m = measured.get(c.name)!;
  let baseline: BenchResult["baseline"];
  let ratio: number | undefined;
  if (c.baseline !== undefined) {
    const b = measured.get(c.baseline);
    if (b === undefined)
      throw new Error(`benchmark ${suite} / ${c.name}: baseline "${c.baseline}" is not a case of the suite`);
    baseline = {
      name: c.baseline,
      opsPerSec: b.opsPerSec,
      ...(b.bytesPerSec !== undefined ? { bytesPerSec: b.bytesPerSec } : {}),
    };
    ratio = m.opsPerSec / b.opsPerSec;
  }
  let meetsTarget: boolean | undefined;
  if (c.target) {
    meetsTarget =
      (c.target.minOpsPerSec === undefined || m.opsPerSec >= c.target.minOpsPerSec) &&
      (c.target.minRatio === undefined || (ratio !== undefined && ratio >= c.target.minRatio));
  }
  return {
    suite,
    name: c.name,
    ...m,
    ...(baseline ? { baseline, ratio } : {}),
    ...(c.target ? { target: c.target, meetsTarget } : {}),
  };
}

export function makeReport(results: BenchResult[]): BenchReport {
  return { schemaVersion: 1, node: process.version, results };
}

function si(n: number): string {
  const units = ["", "k", "M", "G", "T"];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return `${n.toFixed(n >= 100 ? 0 : n >= 10 ? 1 : 2)}${units[i]}`;
}

/** A fixed-width text table of the results. */
export function formatTable(results: readonly BenchResult[]): string {
  const rows = [["suite", "case", "ops/s", "bytes/s", "baseline", "ratio", "target"]];
  for (const r of results) {
    const target = r.target
      ? `${[r.target.minOpsPerSec !== undefined ? `>=${si(r.target.minOpsPerSec)}/s` : "", r.target.minRatio !== undefined ? `>=${r.target.minRatio}x` : ""].filter(Boolean).join(" ")} ${r.meetsTarget ? "met" : "MISSED"}`
      : "";
    rows.push([
      r.suite,
      r.name,
      si(r.opsPerSec),
      r.bytesPerSec !== undefined ? `${si(r.bytesPerSec)}B` : "",
      r.baseline?.name ?? "",
      r.ratio !== undefined ? `${r.ratio.toFixed(2)}x` : "",
      target,
    ]);
  }
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((row) => row[i]!.length)));
  return rows
    .map((row) =>
      row
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}
