/**
 * The layering guard catches what it must: an upward import in source (dependency-cruiser with
 * the repo's own config) and an upward dependency in a package.json; the real tree is clean.
 */
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { checkPackageDeps } from "./check-package-deps.mjs";

const repo = resolve(__dirname, "../..");
const depcruise = join(repo, "node_modules/.bin/depcruise");

function cruise(cwd: string, target: string): { code: number; out: string } {
  try {
    const out = execFileSync(
      depcruise,
      [target, "--config", join(repo, ".dependency-cruiser.cjs"), "--no-progress"],
      {
        cwd,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    return { code: 0, out };
  } catch (err) {
    const e = err as { status: number; stdout: string; stderr: string };
    return { code: e.status, out: `${e.stdout}${e.stderr}` };
  }
}

describe("layering guard", () => {
  it("rejects vtd importing kvm, naming the file and the rule", () => {
    const r = cruise(join(__dirname, "fixtures/upward"), "packages");
    expect(r.code).not.toBe(0);
    expect(r.out).toContain("layer-vtd-imports-only-hw-cpu-seam");
    expect(r.out).toContain("packages/vtd/src/index.ts");
    // the downward import kvm -> hw-cpu-seam in the same fixture is allowed
    expect(r.out).not.toContain("layer-kvm");
  });

  it("rejects a sideways import by package name, naming the layer rule", () => {
    const r = cruise(join(__dirname, "fixtures/upward"), "packages");
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(
      /layer-smmu-nested-imports-only-hw-cpu-seam: packages\/smmu-nested\/src\/index\.ts → @tdx\/vtd/,
    );
  });

  it("accepts the real source tree", () => {
    const r = cruise(repo, "packages");
    expect(r.out).not.toContain("error");
    expect(r.code).toBe(0);
  });

  it("rejects an upward dependency declared in package.json", () => {
    const tmp = mkdtempSync(join(tmpdir(), "tdx-layers-"));
    cpSync(join(repo, "packages"), join(tmp, "packages"), {
      recursive: true,
      filter: (src) => !src.includes("node_modules") && !src.includes("/src/"),
    });
    expect(checkPackageDeps(tmp)).toEqual([]);
    const pjPath = join(tmp, "packages/vtd/package.json");
    const pj = JSON.parse(readFileSync(pjPath, "utf8"));
    pj.dependencies["@tdx/kvm"] = "workspace:*";
    writeFileSync(pjPath, JSON.stringify(pj));
    const problems = checkPackageDeps(tmp);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toContain("@tdx/vtd depends on @tdx/kvm");
    expect(problems[0]).toContain("layer-vtd");
  });
});
