/**
 * The script runner against hand-checked fixtures (each expected output derived from the
 * specification, not from running the model), and its handling of malformed lines.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseScript, VtdScriptError } from "./script-ops";
import { runVtdScript } from "./script-runner";

const FIXTURES = join(import.meta.dirname, "../../fixtures");

function expected(name: string): unknown[] {
  return readFileSync(join(FIXTURES, `${name}.expected.jsonl`), "utf8")
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l));
}

describe("tdx-sim vtd script runner", () => {
  for (const name of ["legacy-translate", "legacy-queue", "scalable-first-stage"]) {
    it(`replays ${name}.jsonl with the expected output, line for line`, () => {
      const out = runVtdScript(readFileSync(join(FIXTURES, `${name}.jsonl`), "utf8"));
      expect(out).toEqual(expected(name));
    });
  }

  it("answers unknown ops with ok and ignores them", () => {
    const out = runVtdScript(
      '{"op":"note","x":1}\n{"op":"comment"}\n{"op":"mem.read","addr":"0x0","len":2}\n',
    );
    expect(out).toEqual([{ ok: true }, { ok: true }, { hex: "0000" }]);
  });

  it("prints register values in lower-case hex without leading zeros", () => {
    const out = runVtdScript(
      '{"op":"reset","cap":"0xD2008C222F0606","ecap":"0xF42"}\n{"op":"reg.read","off":"0x1c","size":4}\n{"op":"reg.read","off":"0x8","size":4}\n',
    );
    expect(out).toEqual([{ ok: true }, { value: "0x0" }, { value: "0x222f0606" }]);
  });

  it("rejects malformed lines with an error naming the line", () => {
    const cases: [string, RegExp][] = [
      ['{"op":"reset","cap":"0x1"}', /line 1: "reset" needs a "ecap" field/],
      ['{"op":"reg.read","off":"0x1a","size":4}', /line 1: "off" 0x1a is not aligned/],
      ['{"op":"reg.read","off":"0x18","size":2}', /line 1: "size" must be 4 or 8/],
      ['{"op":"mem.write","addr":"0x10","hex":"abc"}', /line 1: "hex" must be a string of hex byte pairs/],
      [
        '{"op":"dma","sid":"0x10","dir":"up","iova":"0x0","len":1}',
        /line 1: "dir" must be "read" or "write"/,
      ],
      ['{"op":"reg.write","off":"0x18","size":4,"value":"0x100000000"}', /line 1: "value" .* too large/],
      ["[1,2]", /line 1: each line must be a JSON object/],
      ['\n\n{"op":"mem.read","addr":"zz","len":1}', /line 3: "addr" must be a hex string/],
      ['{"op":"note"}\n{"op":', /line 2: not valid JSON/],
    ];
    for (const [text, re] of cases) {
      expect(() => parseScript(text)).toThrow(re);
      expect(() => parseScript(text)).toThrow(VtdScriptError);
    }
  });

  it("answers an untranslated DMA that runs past the host memory {ok:false}, writing and logging nothing", () => {
    const reset = '{"op":"reset","cap":"0xd2008c222f0606","ecap":"0xf42"}';
    const out = runVtdScript(
      [
        reset,
        '{"op":"dma","sid":"0x10","dir":"read","iova":"0xfffffffffffe","len":4}',
        '{"op":"dma","sid":"0x10","dir":"write","iova":"0xfffffffffffe","hex":"11223344"}',
        '{"op":"mem.read","addr":"0xfffffffffffe","len":2}',
        '{"op":"reg.read","off":"0x34","size":4}',
        '{"op":"reg.read","off":"0x22c","size":4}',
      ].join("\n"),
    );
    expect(out).toEqual([
      { ok: true },
      { ok: false },
      { ok: false },
      { hex: "0000" },
      { value: "0x0" },
      { value: "0x0" },
    ]);
  });

  it("rejects register and DMA operations before a reset, and offsets outside the window", () => {
    expect(() => runVtdScript('{"op":"reg.read","off":"0x0","size":4}')).toThrow(
      /line 1: "reg.read" before any "reset"/,
    );
    expect(() =>
      runVtdScript(
        '{"op":"reset","cap":"0xd2008c222f0606","ecap":"0xf42"}\n{"op":"reg.read","off":"0x2000","size":4}',
      ),
    ).toThrow(/line 2: register offset 0x2000 .* outside the 0x1000-byte window/);
    expect(() => runVtdScript('{"op":"reset","cap":"0x0","ecap":"0xf42"}')).toThrow(/line 1: CAP.FRO 0x0/);
  });
});
