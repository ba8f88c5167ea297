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

  it("runs the default scenario and says which layers are not built yet", () => {
    const r = cli(["run", "--json"]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.layers).toHaveLength(7);
    expect(report.composed).toBe(false);
    const text = cli(["run"]);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(/layer 1 @tdx\/hw-cpu-seam\s+built/);
    expect(text.stdout).toMatch(/layer 4 @tdx\/kvm\s+not built yet/);
    expect(text.stdout).not.toContain("undefined");
  });
});
