/**
 * End-to-end test of `tdx-sim smmu script`: the CLI run from sources on fixture scripts (bypass and
 * command errors; a nested stream through a stall, resume and abort), their answers line for line,
 * and malformed input rejected with exit 2 and the line named.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const repo = resolve(__dirname, "../../../..");
const fixtures = join(repo, "packages/smmu-nested/fixtures");

function cli(args: string[], input?: string) {
  const r = spawnSync(
    process.execPath,
    ["--conditions=@tdx/source", "--import", "tsx", "apps/sim/src/cli.ts", ...args],
    {
      cwd: repo,
      encoding: "utf8",
      input,
    },
  );
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("tdx-sim smmu script", () => {
  it("answers a register-level script one JSON object per line", () => {
    const r = cli(["smmu", "script", join(fixtures, "bypass-and-errors.jsonl")]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(readFileSync(join(fixtures, "bypass-and-errors.expected.jsonl"), "utf8"));
  });

  it("runs a nested stream through a stall: the event as software reads it, the fix, CMD_RESUME retry and abort", () => {
    // Hand-checked: events are F_TRANSLATION (0x10) for SID 1 with Stall, STAG 0 then 1, CLASS=IN,
    // stage 1, write; the retried write lands at S2(S1(VA)); the aborted one writes nothing.
    const r = cli(["smmu", "script", join(fixtures, "nested-stall.jsonl")]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(readFileSync(join(fixtures, "nested-stall.expected.jsonl"), "utf8"));
  });

  it("reads the script from standard input with -", () => {
    const r = cli(
      ["smmu", "script", "-"],
      '{"op":"reset","idr":{"0":"0x3"}}\n{"op":"reg.read","off":"0x0","size":4}\n',
    );
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('{"ok":true}\n{"value":"0x3"}\n');
  });

  it("rejects a malformed line with exit 2, naming the file and line, and prints no answers", () => {
    const dir = mkdtempSync(join(tmpdir(), "smmu-script-"));
    const f = join(dir, "bad.jsonl");
    writeFileSync(f, '{"op":"reset","idr":{}}\n{"op":"reg.write","off":"0x21","size":4,"value":"0x1"}\n');
    const r = cli(["smmu", "script", f]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/bad\.jsonl:2: .*4-byte aligned/);
  });

  it("fails cleanly on a missing file", () => {
    const r = cli(["smmu", "script", "/nonexistent/x.jsonl"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/cannot read/);
  });
});
