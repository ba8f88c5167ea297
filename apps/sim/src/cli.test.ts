/**
 * End-to-end tests of the tdx-sim CLI shell: help for every command, exit codes, and the
 * workspace bin (`pnpm tdx-sim`) running from sources.
 */
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";

const repo = resolve(__dirname, "../../..");
const bin = resolve(repo, "apps/sim/bin/tdx-sim.mjs");

function cli(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: repo, encoding: "utf8", input });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("tdx-sim CLI", () => {
  it("lists the commands in --help", () => {
    const r = cli(["--help"]);
    expect(r.code).toBe(0);
    for (const c of ["run", "mmio", "swiotlb", "vtd", "smmu"])
      expect(r.stdout).toMatch(new RegExp(`\\n\\s+${c}\\b`));
  });

  it.each(["run", "mmio decode", "swiotlb replay", "vtd script", "smmu script"])(
    "has --help for %s",
    (cmd) => {
      const r = cli([...cmd.split(" "), "--help"]);
      expect(r.code).toBe(0);
      expect(r.stdout).toContain(`Usage: tdx-sim ${cmd}`);
    },
  );

  it("rejects an unknown command with exit 2 and says so", () => {
    const r = cli(["frobnicate"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown command 'frobnicate'/);
  });

  it("runs the default platform scenario: JSON report, readable summary, validated options", () => {
    const r = cli(["run", "--json", "--dma-count", "3", "--dma-size", "8192", "--seed", "5"]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.end).toEqual({ kind: "halted" });
    expect(report.options).toEqual({ dmaCount: 3, dmaSize: 8192, seed: 5, iommu: "legacy" });
    expect(report.dma.toDevice).toEqual({ transfers: 3, bytes: 3 * 8192, mismatches: 0 });
    expect(report.dma.fromDevice).toEqual({ transfers: 3, bytes: 3 * 8192, mismatches: 0 });
    expect(report.counts.mmio.roundTrips).toBe(1 + 4 * (2 + 2 * 3));
    expect(report.security.tdSecretIntact).toBe(true);
    expect(report.time.run.totalUs).toBeGreaterThan(0);
    expect(cli(["run", "--json", "--dma-count", "3", "--dma-size", "8192", "--seed", "5"]).stdout).toBe(
      r.stdout,
    );

    const text = cli(["run", "--cost", "veNs=0"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/^tdx-sim run: default platform scenario \(seed 1; 16 DMA transfers/);
    expect(text.stdout).toContain("not modelled yet: the host is a provisional stand-in");
    expect(text.stdout).toMatch(/to device: 16 transfers, 65,536 B, byte-exact/);
    expect(text.stdout).toMatch(/device write via TD private KeyID: blocked, fault 0xf0/);
    expect(text.stdout).toMatch(/TD secret intact/);
    expect(text.stdout).not.toMatch(/undefined|NaN/);

    for (const bad of [
      ["--dma-count", "0"],
      ["--dma-size", "1M"],
      ["--seed", "-1"],
      ["--iommu", "nested"],
      ["--cost", "veNs=slow"],
      ["--cost", "warpNs=1"],
    ]) {
      const e = cli(["run", ...bad]);
      expect([bad, e.code, e.stdout]).toEqual([bad, 2, ""]);
      expect(e.stderr).toMatch(/^tdx-sim: .*(must be|is not|unknown cost)/);
    }
  });
});
