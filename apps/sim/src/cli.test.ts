/**
 * End-to-end tests of the tdx-sim CLI shell: help for every command, exit codes, and the
 * workspace bin (`pnpm tdx-sim`) running from sources.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkChromeTrace } from "./trace/trace-check";

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

  describe("run --trace", () => {
    const dir = mkdtempSync(join(tmpdir(), "tdx-sim-trace-"));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const args = ["run", "--dma-count", "2", "--seed", "3"];

    it("writes a Perfetto-loadable trace beside the summary or the JSON report", () => {
      const file = join(dir, "run.json");
      const r = cli([...args, "--json", "--trace", file]);
      expect([r.code, r.stderr]).toEqual([0, ""]);
      const report = JSON.parse(r.stdout);
      const check = checkChromeTrace(readFileSync(file, "utf8"));
      expect(check.problems).toEqual([]);
      expect(check.events.filter((e) => e.cat === "mmio").length).toBe(report.counts.mmio.roundTrips);
      expect(check.otherData).toMatchObject({ reportTotalUs: report.time.totalUs, capped: false });

      const again = join(dir, "again.json");
      const text = cli([...args, "--trace", again]);
      expect(text.code).toBe(0);
      expect(text.stdout).toMatch(/^tdx-sim run: default platform scenario \(seed 3; 2 DMA transfers/);
      expect(readFileSync(again, "utf8")).toBe(readFileSync(file, "utf8"));
    });

    it("caps the trace at --trace-max-events and says so on stderr", () => {
      const file = join(dir, "capped.json");
      const r = cli([...args, "--trace", file, "--trace-max-events", "100"]);
      expect(r.code).toBe(0);
      expect(r.stderr).toMatch(/^tdx-sim: trace capped at 100 events \(--trace-max-events\)/);
      const body = checkChromeTrace(readFileSync(file, "utf8")).events.filter((e) => e.ph !== "M");
      expect(body.length).toBe(101);
      expect(body.at(-1)?.name).toBe("trace capped");
    });

    it("refuses a path it cannot write, standard output, and a bad cap, with exit 2", () => {
      const missing = join(dir, "no-such-dir", "t.json");
      const bad = cli([...args, "--trace", missing]);
      expect([bad.code, bad.stdout]).toEqual([2, ""]);
      expect(bad.stderr).toMatch(/^tdx-sim: cannot write the trace file .*no-such-dir.*ENOENT/);
      const dash = cli([...args, "--trace", "-"]);
      expect([dash.code, dash.stdout]).toEqual([2, ""]);
      expect(dash.stderr).toMatch(/--trace "-" must be a file path: standard output carries the report/);
      for (const cap of ["0", "lots"]) {
        const file = join(dir, `cap-${cap}.json`);
        const e = cli([...args, "--trace", file, "--trace-max-events", cap]);
        expect([e.code, e.stdout]).toEqual([2, ""]);
        expect(e.stderr).toMatch(/--trace-max-events .* must be an integer from 1 to/);
        expect(existsSync(file)).toBe(false);
      }
      const alone = cli([...args, "--trace-max-events", "5"]);
      expect([alone.code, alone.stderr]).toEqual([2, "tdx-sim: --trace-max-events needs --trace FILE\n"]);
    });

    it("documents --trace in run --help", () => {
      const h = cli(["run", "--help"]);
      expect(h.stdout).toMatch(/--trace <file>/);
      expect(h.stdout).toMatch(/--trace-max-events <n>/);
    });
  });
});
