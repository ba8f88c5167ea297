/**
 * End-to-end tests of `tdx-sim mmio decode`: the CLI is spawned from source, as users run it, in
 * argument and standard-input modes, and its output is held to the external contract (keys, their
 * order and presence) and to the GNU as vectors of @tdx/hw-cpu-seam.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { describe, expect, it } from "vitest";

const repo = resolve(__dirname, "../../../..");

function cli(args: string[], input?: string) {
  const r = spawnSync(
    process.execPath,
    ["--conditions=@tdx/source", "--import", "tsx", "apps/sim/src/cli.ts", ...args],
    { cwd: repo, encoding: "utf8", input },
  );
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function lines(stdout: string): string[] {
  return stdout.split("\n").filter((l) => l !== "");
}

describe("tdx-sim mmio decode", () => {
  it("decodes the instructions given as arguments, one JSON line each, keys in contract order", () => {
    const r = cli(["mmio", "decode", "8907", "48c70425ffffff7ffeffffff"]);
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toEqual([
      '{"hex":"8907","kind":"write","size":4,"reg":"eax","length":2}',
      '{"hex":"48c70425ffffff7ffeffffff","kind":"write-imm","size":8,"imm":"0xfffffffffffffffe","length":12}',
    ]);
  });

  it("writes each kind with exactly its keys", () => {
    const r = cli(["mmio", "decode", "8a27", "66c7073412", "480fb707", "0fbe4f08", "f348a5", "0107", "89d8"]);
    expect(r.code).toBe(0);
    expect(lines(r.stdout).map((l) => JSON.parse(l))).toEqual([
      { hex: "8a27", kind: "read", size: 1, reg: "ah", length: 2 },
      { hex: "66c7073412", kind: "write-imm", size: 2, imm: "0x1234", length: 5 },
      { hex: "480fb707", kind: "read-zext", size: 2, reg: "rax", length: 4 },
      { hex: "0fbe4f08", kind: "read-sext", size: 1, reg: "ecx", length: 4 },
      { hex: "f348a5", kind: "movs", size: 8, length: 3 },
      { hex: "0107", kind: "unsupported" },
      { hex: "89d8", kind: "unsupported" },
    ]);
  });

  it("reads one instruction per line from standard input with -, in argument order", () => {
    const input = "# objdump style and upper case are fine\n  40 88 37 \n\nC60705\n";
    const r = cli(["mmio", "decode", "8b07", "-", "4c8b00"], input);
    expect(r.code).toBe(0);
    expect(lines(r.stdout).map((l) => JSON.parse(l))).toEqual([
      { hex: "8b07", kind: "read", size: 4, reg: "eax", length: 2 },
      { hex: "408837", kind: "write", size: 1, reg: "sil", length: 3 },
      { hex: "c60705", kind: "write-imm", size: 1, imm: "0x05", length: 3 },
      { hex: "4c8b00", kind: "read", size: 8, reg: "r8", length: 3 },
    ]);
  });

  it("adds the reason code with --reason", () => {
    const r = cli(["mmio", "decode", "--reason", "f08907", "c5fe6f07", "89"]);
    expect(lines(r.stdout).map((l) => JSON.parse(l).reason)).toEqual(["lock-prefix", "vex", "truncated"]);
  });

  it.each([
    [["8907", "89z7"], /argument 2 "89z7" is not hex/],
    [["890"], /argument 1 "890" has an odd number of hex digits/],
    [["0x8907"], /argument 1 "0x8907" is not hex: "x"/],
    [["-", "-"], /"-" \(standard input\) may be given only once/],
  ])("rejects %j with exit 2, a message and no output", (args, message) => {
    const r = cli(["mmio", "decode", ...args], "8907\n");
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(message);
  });

  it("names the bad line of standard input and writes nothing for the good ones", () => {
    const r = cli(["mmio", "decode", "8907", "-"], "8b07\n\n8b0g\n");
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/standard input line 3 "8b0g" is not hex/);
  });

  it("needs at least one argument", () => {
    const r = cli(["mmio", "decode"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/missing required argument/);
  });

  it("agrees with every GNU as vector of @tdx/hw-cpu-seam", () => {
    const fixture = JSON.parse(
      readFileSync(resolve(repo, "packages/hw-cpu-seam/src/x86/fixtures/gnu-as-vectors.json"), "utf8"),
    ) as { vectors: { hex: string; expect: Record<string, unknown> }[] };
    const r = cli(["mmio", "decode", "-"], fixture.vectors.map((v) => v.hex).join("\n"));
    expect(r.code).toBe(0);
    const out = lines(r.stdout).map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(out).toHaveLength(fixture.vectors.length);
    const wrong = fixture.vectors.flatMap((v, i) => {
      const e = v.expect;
      const want: Record<string, unknown> = { hex: v.hex, kind: e.kind };
      if (e.kind !== "unsupported") {
        want.size = e.size;
        if (e.reg !== undefined) want.reg = e.reg;
        if (e.imm !== undefined) want.imm = e.imm;
        want.length = e.length;
      }
      return JSON.stringify(out[i]) === JSON.stringify(want) ? [] : [`${v.hex}: ${JSON.stringify(out[i])}`];
    });
    expect(wrong).toEqual([]);
  });
});
