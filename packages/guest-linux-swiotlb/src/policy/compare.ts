/**
 * The same workload under every bounce-buffer policy, side by side: memory reserved (now and at
 * peak), peak use, failures, copies and conversions, as rows and as a text table.
 *
 * @spec shared/reference/swiotlb.md §e (dynamic pools), §f (cc-swiotlb figures and objections), §h
 */
import type { SwiotlbTrace } from "../trace/format";
import { type ReplayOptions, replayTrace } from "../trace/replay";
import { type BouncePolicyStats, POLICY_KINDS, type PolicyKind } from "./types";

export interface PolicyComparisonRow {
  readonly policy: PolicyKind;
  readonly stats: BouncePolicyStats;
  /** Unmaps skipped because this policy failed the map (see replayTrace). */
  readonly skippedUnmaps: number;
  /** Warning lines the policy logged (e.g. "swiotlb buffer is full"). */
  readonly warnings: number;
}

/** Replay `trace` once per policy (each on a fresh platform). */
export function comparePolicies(
  trace: SwiotlbTrace,
  opts: Omit<ReplayOptions, "policy"> = {},
  kinds: readonly PolicyKind[] = POLICY_KINDS,
): PolicyComparisonRow[] {
  return kinds.map((policy) => {
    const run = replayTrace(trace, { ...opts, policy });
    let skipped = 0;
    for (const r of run.results) if ("error" in r && r.error === "not-mapped") skipped++;
    return { policy, stats: run.stats, skippedUnmaps: skipped, warnings: run.log.length };
  });
}

function mib(bytes: number): string {
  return (bytes / (1024 * 1024)).toFixed(1);
}

/** A fixed-width table of the comparison, one row per policy. */
export function formatComparisonTable(rows: readonly PolicyComparisonRow[]): string {
  const head = [
    "policy",
    "reserved MiB",
    "peak reserved MiB",
    "peak in use MiB",
    "maps",
    "failures",
    "copies",
    "copied MiB",
    "conversions",
    "converted MiB",
    "search steps",
  ];
  const body = rows.map((r) => {
    const s = r.stats;
    return [
      r.policy,
      mib(s.reservedBytes),
      mib(s.peakReservedBytes),
      mib(s.peakInUseBytes),
      String(s.maps),
      String(s.mapFailures),
      String(s.copies),
      mib(s.copiedBytes),
      String(s.conversions),
      mib(s.convertedPages * 4096),
      String(s.searchSteps),
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const fmt = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  return [fmt(head), ...body.map(fmt)].join("\n");
}
