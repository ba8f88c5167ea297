/**
 * One workload, three policies, their memory and failure figures side by side: the fragmentation
 * trace fails 72 maps on the fixed 2 MiB Linux pool; dynamic pools grow instead; cc-swiotlb never
 * fails it but reserves its watermarks (96 MiB) up front.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseTrace } from "../trace/format";
import { comparePolicies, formatComparisonTable } from "./compare";

const MiB = 1024 * 1024;
const trace = parseTrace(
  readFileSync(join(import.meta.dirname, "../../fixtures/swiotlb-traces/04-fragmentation.in.jsonl"), "utf8"),
  "04-fragmentation",
);

describe("comparePolicies", () => {
  const rows = comparePolicies(trace);
  const by = Object.fromEntries(rows.map((r) => [r.policy, r]));

  it("runs the same workload under linux, linux-dynamic and cc-swiotlb", () => {
    expect(rows.map((r) => r.policy)).toEqual(["linux", "linux-dynamic", "cc-swiotlb"]);
    for (const r of rows) expect(r.stats.maps).toBe(457);
  });

  it("the fixed pool fails, the others do not", () => {
    expect(by["linux"]!.stats.mapFailures).toBe(72);
    expect(by["linux"]!.skippedUnmaps).toBe(0); // the trace never unmaps a map that failed on Linux
    expect(by["linux-dynamic"]!.stats.mapFailures).toBe(0);
    expect(by["cc-swiotlb"]!.stats.mapFailures).toBe(0);
  });

  it("reports memory: fixed 2 MiB, grown pools, or the cc-swiotlb watermarks reserved up front", () => {
    expect(by["linux"]!.stats.reservedBytes).toBe(2 * MiB);
    expect(by["linux"]!.stats.peakReservedBytes).toBe(2 * MiB);
    expect(by["linux-dynamic"]!.stats.peakReservedBytes).toBeGreaterThan(2 * MiB);
    expect(by["cc-swiotlb"]!.stats.peakReservedBytes).toBeGreaterThanOrEqual(100794368);
    for (const r of rows) expect(r.stats.peakInUseBytes).toBeLessThanOrEqual(r.stats.peakReservedBytes);
    // The trace has no unmap for the 72 maps that failed on Linux: elsewhere they stay live.
    expect(by["linux"]!.stats.liveMappings).toBe(0);
    expect(by["linux-dynamic"]!.stats.liveMappings).toBe(72);
    expect(by["cc-swiotlb"]!.stats.liveMappings).toBe(72);
  });

  it("counts a copy per successful map and per bidirectional unmap", () => {
    for (const r of rows) {
      const ok = r.stats.maps - r.stats.mapFailures;
      expect(r.stats.copies).toBe(ok + r.stats.unmaps);
      expect(r.stats.unmaps).toBe(385);
      expect(r.stats.liveMappings).toBe(ok - r.stats.unmaps);
    }
  });

  it("prints one table row per policy", () => {
    const table = formatComparisonTable(rows).split("\n");
    expect(table.length).toBe(4);
    expect(table[0]).toMatch(
      /^policy\s+reserved MiB\s+peak reserved MiB\s+peak in use MiB\s+maps\s+failures/,
    );
    expect(table[1]).toMatch(/^linux\s+2\.0\s+2\.0\s/);
    expect(table[3]).toMatch(/^cc-swiotlb\s/);
  });
});
