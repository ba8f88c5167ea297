/**
 * The script runner: a hand-checked fixture (bypass DMA, C_BAD_STE recorded in the event queue,
 * an illegal command stopping the queue), a stage-1 stall/resume scenario written as a script of
 * real structures and register writes, and malformed lines reported with their line number.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { TdxSimError } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { encodeCd } from "./cd";
import { encodeCommand } from "./commands";
import { decodeEvent } from "./events";
import { encodeIdRegisters } from "./idr";
import { parseSmmuScript, runSmmuScript } from "./script";
import { encodeSte, SteConfigKind } from "./ste";

const fixtures = join(__dirname, "..", "fixtures");

function hexLe(w: Uint32Array): string {
  return Array.from(new Uint8Array(w.buffer), (b) => b.toString(16).padStart(2, "0")).join("");
}
const h = (n: number) => `0x${n.toString(16)}`;
const line = (o: object) => JSON.stringify(o);

describe("smmu script runner", () => {
  it("answers the hand-checked fixture line for line", () => {
    const text = readFileSync(join(fixtures, "bypass-and-errors.jsonl"), "utf8");
    const expected = readFileSync(join(fixtures, "bypass-and-errors.expected.jsonl"), "utf8")
      .trim()
      .split("\n");
    expect(runSmmuScript(text, "bypass-and-errors.jsonl").map((a) => JSON.stringify(a))).toEqual(expected);
  });

  it("runs a stage-1 stream whose missing page stalls a write until the script fixes the PTE and issues CMD_RESUME", () => {
    const idr = encodeIdRegisters({ stallModel: 0 });
    const ste = encodeSte({ v: true, config: SteConfigKind.S1_TRANS, s1ContextPtr: 0x60_0000 });
    const cd = encodeCd({
      v: true,
      t0sz: 25,
      tg0: 0,
      epd1: true,
      ips: 5,
      aa64: true,
      r: true,
      a: true,
      s: true,
      asid: 1,
      ttb0: 0x40_0000,
    });
    const pte = (pa: number) => hexLe(Uint32Array.of((pa | 0x443) >>> 0, 0));
    const resume = encodeCommand({ op: "RESUME", sid: 3, stag: 0, action: 1 });
    const script = [
      { op: "reset", idr: { "0": h(idr.idr0), "1": h(idr.idr1), "3": h(idr.idr3), "5": h(idr.idr5) } },
      { op: "mem.write", addr: h(0x10_0000 + 3 * 64), hex: hexLe(ste) },
      { op: "mem.write", addr: "0x600000", hex: hexLe(cd) },
      { op: "mem.write", addr: "0x400008", hex: hexLe(Uint32Array.of(0x40_1003, 0)) }, // L1[1] -> L2
      { op: "mem.write", addr: "0x401000", hex: hexLe(Uint32Array.of(0x40_2003, 0)) }, // L2[0] -> L3
      { op: "mem.write", addr: "0x402000", hex: pte(0x50_0000) }, // L3[0]; L3[1] left invalid
      { op: "reg.write", off: "0x80", size: 8, value: "0x100000" },
      { op: "reg.write", off: "0x88", size: 4, value: "0x8" },
      { op: "reg.write", off: "0x90", size: 8, value: "0x200004" },
      { op: "reg.write", off: "0xa0", size: 8, value: "0x300004" },
      { op: "reg.write", off: "0x20", size: 4, value: "0xd" },
      { op: "dma", sid: "0x3", dir: "write", iova: "0x40000010", hex: "cafe" },
      { op: "mem.read", addr: "0x500010", len: 2 },
      { op: "dma", sid: "0x3", dir: "write", iova: "0x40001008", hex: "1122" },
      { op: "reg.read", off: "0x100a8", size: 4 },
      { op: "mem.read", addr: "0x300000", len: 32 },
      { op: "mem.write", addr: "0x402008", hex: pte(0x50_1000) },
      { op: "mem.write", addr: "0x200000", hex: hexLe(resume) },
      { op: "reg.write", off: "0x98", size: 4, value: "0x1" },
      { op: "reg.read", off: "0x9c", size: 4 },
      { op: "mem.read", addr: "0x501008", len: 2 },
      { op: "dma", sid: "0x3", dir: "read", iova: "0x40001008", len: 2, priv: true },
    ]
      .map(line)
      .join("\n");
    const out = runSmmuScript(script);
    expect(out.slice(11, 15)).toEqual([
      { ok: true },
      { hex: "cafe" },
      { ok: false, stalled: true },
      { value: "0x1" },
    ]);
    const rec = String(out[15]!.hex);
    const words = Array.from({ length: 8 }, (_, i) =>
      Number.parseInt(
        rec
          .slice(8 * i, 8 * i + 8)
          .match(/../g)!
          .reverse()
          .join(""),
        16,
      ),
    );
    expect(decodeEvent(words)).toMatchObject({
      name: "F_TRANSLATION",
      sid: 3,
      stall: true,
      stag: 0,
      rnw: false,
      inputAddr: 0x4000_1008,
    });
    expect(out.slice(16)).toEqual([
      { ok: true },
      { ok: true },
      { ok: true },
      { value: "0x1" },
      { hex: "1122" },
      { ok: true, hex: "1122" },
    ]);
  });

  it.each([
    ['{"op":"mem.read","addr":"0x0","len":1}', 1, /first operation must be/],
    ['{"op":"reset","idr":{}}\n{"op":"mem.write","addr":"0x10","hex":"abc"}', 2, /even number of hex digits/],
    ['{"op":"reset","idr":{}}\n\n{"op":"reg.read","off":"0x22","size":4}', 3, /4-byte aligned/],
    ['{"op":"reset","idr":{}}\n{"op":"reg.read","off":"0x20","size":2}', 2, /"size" must be 4 or 8/],
    ['{"op":"reset","idr":{}}\n{"op":"dma","sid":"0x1","iova":"0x0","len":4}', 2, /"dir" must be/],
    ['{"op":"reset","idr":{"7":"0x1"}}', 1, /not an ID register/],
    [
      '{"op":"reset","idr":{}}\n{"op":"reg.write","off":"0x20","size":4,"value":"0x100000000"}',
      2,
      /does not fit in 4 bytes/,
    ],
    ['{"op":"reset","idr":{}}\n{not json', 2, /not valid JSON/],
    ['{"op":"reset","idr":{}}\n{"op":"mem.read","addr":"zz","len":1}', 2, /not a hex/],
  ])("rejects %j at line %i", (text, lineNo, msg) => {
    let err: unknown;
    try {
      parseSmmuScript(text, "t.jsonl");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TdxSimError);
    expect((err as TdxSimError).code).toBe("E_SMMU_SCRIPT");
    expect((err as Error).message).toMatch(new RegExp(`^t\\.jsonl:${lineNo}: `));
    expect((err as Error).message).toMatch(msg);
  });

  it("answers any other op with ok and keeps unspecified ID registers at the model's defaults", () => {
    const out = runSmmuScript(
      '{"op":"reset","idr":{"0":"0x3"}}\n{"op":"x"}\n{"op":"reg.read","off":"0x14","size":4}\n{"op":"reg.read","off":"0x0","size":8}',
    );
    expect(out[1]).toEqual({ ok: true });
    expect(out[2]).toEqual({ value: `0x${encodeIdRegisters().idr5.toString(16)}` });
    expect(out[3]).toEqual({ value: `0x${encodeIdRegisters().idr1.toString(16)}00000003` });
  });
});
