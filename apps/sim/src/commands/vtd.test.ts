/**
 * End-to-end tests of `tdx-sim vtd script`: the CLI is spawned from source (cwd the repository
 * root), fed the hand-checked fixture scripts of @tdx/vtd, and held to the external contract's
 * output format; malformed scripts exit 2 naming the line, with nothing on standard output.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";

const repo = resolve(__dirname, "../../../..");
const fixtures = "packages/vtd/fixtures";

function cli(args: string[], input?: string) {
  const r = spawnSync(
    process.execPath,
    ["--conditions=@tdx/source", "--import", "tsx", "apps/sim/src/cli.ts", ...args],
    { cwd: repo, encoding: "utf8", input },
  );
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function lines(text: string): string[] {
  return text.split("\n").filter((l) => l.trim() !== "");
}

describe("tdx-sim vtd script", () => {
  for (const name of ["legacy-translate", "legacy-queue", "scalable-first-stage"]) {
    it(`replays ${name}.jsonl byte-for-byte as the expected JSON lines`, () => {
      const r = cli(["vtd", "script", `${fixtures}/${name}.jsonl`]);
      expect(r.stderr).toBe("");
      expect(r.code).toBe(0);
      expect(lines(r.stdout)).toEqual(
        lines(readFileSync(join(repo, fixtures, `${name}.expected.jsonl`), "utf8")),
      );
    });
  }

  it("reads the script from standard input with -", () => {
    const script =
      '{"op":"reset","cap":"0xd2008c222f0606","ecap":"0xf42"}\n' +
      '{"op":"note","text":"hello"}\n' +
      '{"op":"mem.write","addr":"0xfff000000000","hex":"0102"}\n' +
      '{"op":"mem.read","addr":"0xfff000000000","len":3}\n' +
      '{"op":"dma","sid":"0x100","dir":"read","iova":"0xfff000000000","len":2}\n' +
      '{"op":"reg.read","off":"0x8","size":8}\n';
    const r = cli(["vtd", "script", "-"], script);
    expect(r.code).toBe(0);
    expect(lines(r.stdout)).toEqual([
      '{"ok":true}',
      '{"ok":true}',
      '{"ok":true}',
      '{"hex":"010200"}',
      '{"ok":true,"hex":"0102"}',
      '{"value":"0xd2008c222f0606"}',
    ]);
  });

  it("exits 2 on a malformed line, naming it, with nothing written", () => {
    const dir = mkdtempSync(join(tmpdir(), "vtd-script-"));
    const file = join(dir, "bad.jsonl");
    writeFileSync(
      file,
      '{"op":"reset","cap":"0xd2008c222f0606","ecap":"0xf42"}\n{"op":"reg.read","off":"0x0","size":4}\n{"op":"reg.write","off":"0x18","size":3,"value":"0x0"}\n',
    );
    const r = cli(["vtd", "script", file]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/bad\.jsonl: line 3: "size" must be 4 or 8/);
    const j = cli(["vtd", "script", "-"], '{"op":"reset",\n');
    expect(j.code).toBe(2);
    expect(j.stderr).toMatch(/line 1: not valid JSON/);
  });

  it("exits 2 for an unreadable file and an unknown option value", () => {
    expect(cli(["vtd", "script", "no/such/file.jsonl"]).code).toBe(2);
    const r = cli(["vtd", "script", "--fault-codes", "intel", `${fixtures}/legacy-translate.jsonl`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--fault-codes "intel" is not allowed/);
  });
});
