/**
 * End-to-end tests of `tdx-sim swiotlb`: the CLI is spawned from source (cwd the repository root)
 * on the six reference traces (copied into @tdx/guest-linux-swiotlb's fixtures) and must write
 * exactly the kernel's results; an ftrace capture replays; bad input exits 2 naming the line with
 * nothing on standard output; compare and size print their figures.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const repo = resolve(__dirname, "../../../..");
const traces = "packages/guest-linux-swiotlb/fixtures/swiotlb-traces";
const capture = "packages/guest-linux-swiotlb/fixtures/ftrace/tdx-guest-bounced.trace";

function cli(args: string[], input?: string) {
  const r = spawnSync(
    process.execPath,
    ["--conditions=@tdx/source", "--import", "tsx", "apps/sim/src/cli.ts", ...args],
    { cwd: repo, encoding: "utf8", input, maxBuffer: 64 * 1024 * 1024 },
  );
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("tdx-sim swiotlb replay", () => {
  for (const name of [
    "01-seq-small",
    "02-multicpu-areas4",
    "03-align-nvme",
    "04-fragmentation",
    "05-net-block-mix",
    "06-long-random",
  ]) {
    it(`reproduces ${name}.out.jsonl byte for byte`, () => {
      const r = cli(["swiotlb", "replay", `${traces}/${name}.in.jsonl`]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(readFileSync(join(repo, traces, `${name}.out.jsonl`), "utf8"));
    });
  }

  it("reads standard input with - and takes --policy", () => {
    const input = readFileSync(join(repo, traces, "04-fragmentation.in.jsonl"), "utf8");
    const r = cli(["swiotlb", "replay", "-", "--policy", "linux-dynamic"], input);
    expect(r.code).toBe(0);
    const out = r.stdout.trimEnd().split("\n");
    expect(out.length).toBe(842);
    expect(out.filter((l) => l.includes('"error":"full"')).length).toBe(0);
  });

  it("replays an ftrace capture of swiotlb_bounced (auto-detected), a map and an unmap per event", () => {
    const r = cli([
      "swiotlb",
      "replay",
      capture,
      "--min-align-mask",
      "0000:00:04.0=0xfff",
      "--hold-us",
      "200",
    ]);
    expect(r.code).toBe(0);
    const out = r.stdout
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(out.length).toBe(112);
    expect(out[0]).toEqual({ id: "L13", offset: 16777216 }); // CPU 1 of 4 areas on the 64 MiB pool
    expect(out.filter((o) => o.ok === true).length).toBe(56);
  });

  it("--emit-trace writes the converted trace, which replays to the same results", () => {
    const emitted = cli(["swiotlb", "replay", capture, "--emit-trace"]);
    expect(emitted.code).toBe(0);
    expect(emitted.stdout.split("\n")[0]).toBe('{"nslabs":32768,"nareas":4}');
    const direct = cli(["swiotlb", "replay", capture]);
    const via = cli(["swiotlb", "replay", "-"], emitted.stdout);
    expect(via.stdout).toBe(direct.stdout);
  });

  it("exits 2 naming the line of a malformed trace line, writing nothing", () => {
    const r = cli(["swiotlb", "replay", "-"], '{"nslabs":128,"nareas":1}\n{"op":"map","id":"a","cpu":0}\n');
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe('tdx-sim: stdin:2: missing field "orig"\n');
  });

  it("exits 2 on an unmap of an unknown id, writing nothing", () => {
    const r = cli(
      ["swiotlb", "replay", "-"],
      '{"nslabs":128,"nareas":1}\n{"op":"map","id":"a","cpu":0,"orig":0,"size":1,"minAlignMask":0,"allocAlignMask":0}\n{"op":"unmap","id":"b"}\n',
    );
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe('tdx-sim: stdin:3: unmap of id "b": no earlier map has that id\n');
  });

  it("exits 2 on a malformed ftrace line and on a bad option", () => {
    const bad = cli(
      ["swiotlb", "replay", "--ftrace", "-"],
      "   x-1 [000] .... 1.000001: swiotlb_bounced: dev_name: d size=3\n",
    );
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/^tdx-sim: stdin:1: swiotlb_bounced text/);
    const opt = cli(["swiotlb", "replay", `${traces}/01-seq-small.in.jsonl`, "--policy", "buddy"]);
    expect(opt.code).toBe(2);
    expect(opt.stderr).toContain('--policy "buddy" is not allowed: use linux, linux-dynamic, cc-swiotlb');
  });
});

describe("tdx-sim swiotlb compare and size", () => {
  it("compare prints the three policies side by side", () => {
    const r = cli(["swiotlb", "compare", `${traces}/04-fragmentation.in.jsonl`, "--json"]);
    expect(r.code).toBe(0);
    const rows = r.stdout
      .trimEnd()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, number | string>);
    expect(rows.map((x) => [x.policy, x.mapFailures])).toEqual([
      ["linux", 72],
      ["linux-dynamic", 0],
      ["cc-swiotlb", 0],
    ]);
    const table = cli(["swiotlb", "compare", `${traces}/04-fragmentation.in.jsonl`]);
    expect(table.stdout.split("\n")[0]).toMatch(/^policy\s+reserved MiB/);
  });

  it("size gives the pool a 16 GiB TD gets", () => {
    const r = cli(["swiotlb", "size", "--ram", "16G", "--cpus", "8"]);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({
      enabled: true,
      nslabs: 524288,
      nareas: 8,
      bytes: 1073741824,
    });
  });
});
