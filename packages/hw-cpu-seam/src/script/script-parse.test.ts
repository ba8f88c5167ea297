/**
 * Parsing register-level scripts: the shared ops become checked values, numbers are read in every
 * accepted form, a dialect's hooks (reset fields, DMA requester, register window, reset first)
 * apply, and every malformed line is a RegisterScriptError with the dialect's code, located as
 * "source:N" or "line N", saying what was wrong.
 */
import { describe, expect, it } from "vitest";
import { RegisterScriptError } from "./script-error";
import {
  REGISTER_SCRIPT_MAX_LEN,
  scriptBool,
  scriptField,
  scriptInteger,
  scriptNumber,
} from "./script-fields";
import { parseRegisterScript, type RegisterScriptSyntax } from "./script-parse";

/** A plain dialect: reset {"id"}, 8-bit sids, RAM below 2^40, the unit checks its own window. */
const PLAIN: RegisterScriptSyntax<{ readonly id: bigint }> = {
  errorCode: "E_TEST_SCRIPT",
  physAddrBits: 40,
  sidLimit: 0x100,
  parseReset: (o, at) => ({ id: scriptInteger(at, "id", scriptField(at, o, "id"), 1n << 64n) }),
};

/** A strict dialect: a parse-time register window, reset first, DMA requesters with extras. */
const STRICT: RegisterScriptSyntax<{ readonly id: bigint }> = {
  ...PLAIN,
  errorCode: "E_STRICT_SCRIPT",
  registerSpace: { size: 0x100, name: "the test window" },
  resetFirst: '{"op":"reset","id":"0x…"}',
  dmaRequester: (o, at, sid) => ({
    sid,
    pasid: o.ssid === undefined ? -1 : scriptNumber(at, "ssid", o.ssid, 2 ** 20),
    priv: scriptBool(at, "priv", o.priv),
  }),
};

const parse = (text: string, source?: string) => parseRegisterScript(text, source, PLAIN);

/** The RegisterScriptError `fn` throws (failing the test when it throws none or another kind). */
function errorOf(fn: () => unknown): RegisterScriptError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(RegisterScriptError);
    return e as RegisterScriptError;
  }
  throw new Error("expected a RegisterScriptError, nothing was thrown");
}

describe("parseRegisterScript", () => {
  it("turns each shared op into a checked value, keeping line numbers across blank lines", () => {
    const ops = parse(
      [
        '{"op":"reset","id":"0xffffffffffffffff"}',
        "",
        '{"op":"mem.write","addr":"0x1000","hex":"00Ff7a"}',
        '{"op":"mem.read","addr":"0x2000","len":3}',
        '{"op":"reg.write","off":"0x18","size":8,"value":"0xffffffffffffffff"}',
        '{"op":"reg.read","off":"0x4","size":4}',
        '{"op":"dma","sid":"0xff","dir":"read","iova":"0xfffffffffffff","len":2}',
        '{"op":"dma","sid":"0x1","dir":"write","iova":"0x10","hex":"beef"}',
        '   {"op":"note","text":"anything"}   ',
      ].join("\n"),
    );
    expect(ops).toEqual([
      { op: "reset", line: 1, reset: { id: 0xffff_ffff_ffff_ffffn } },
      { op: "mem.write", line: 3, addr: 0x1000, bytes: Uint8Array.of(0x00, 0xff, 0x7a) },
      { op: "mem.read", line: 4, addr: 0x2000, len: 3 },
      { op: "reg.write", line: 5, off: 0x18, size: 8, value: 0xffff_ffff_ffff_ffffn },
      { op: "reg.read", line: 6, off: 4, size: 4 },
      { op: "dma.read", line: 7, req: { sid: 0xff, pasid: -1 }, iova: 2 ** 52 - 1, len: 2 },
      { op: "dma.write", line: 8, req: { sid: 1, pasid: -1 }, iova: 0x10, bytes: Uint8Array.of(0xbe, 0xef) },
      { op: "other", line: 9, name: "note" },
    ]);
  });

  it('reads numbers as 0x/0X hex, decimal strings or non-negative JSON integers, and sizes as 4|8 or "4"|"8"', () => {
    for (const addr of ['"0x10"', '"0X10"', '"16"', "16", '" 0x10 "']) {
      expect(parse(`{"op":"mem.read","addr":${addr},"len":1}`)[0]).toMatchObject({ addr: 16 });
    }
    expect(parse('{"op":"reg.read","off":"0x8","size":"8"}')[0]).toMatchObject({ size: 8 });
  });

  it("accepts accesses that end exactly at the top of the memory, and nothing beyond", () => {
    expect(parse(`{"op":"mem.read","addr":"0x${(2 ** 40 - 2).toString(16)}","len":2}`)[0]).toMatchObject({
      addr: 2 ** 40 - 2,
    });
    expect(() => parse(`{"op":"mem.read","addr":"0x${(2 ** 40 - 2).toString(16)}","len":3}`)).toThrow(
      /line 1: the read runs past 2\^40/,
    );
    expect(() => parse(`{"op":"mem.write","addr":"0x${(2 ** 40 - 1).toString(16)}","hex":"0102"}`)).toThrow(
      /line 1: the write runs past 2\^40/,
    );
  });

  it.each([
    ['{"op":"reset"}', /"reset" needs a "id" field/],
    ['{"op":"mem.read","addr":"zz","len":1}', /"addr" must be a hex string "0x…" .*"zz" is not a hex/],
    ['{"op":"mem.read","addr":"-1","len":1}', /"addr" must be a hex string/],
    [
      '{"op":"mem.read","addr":"0x10000000000","len":1}',
      /"addr" 0x10000000000 is too large: it must be below 0x10000000000/,
    ],
    ['{"op":"mem.read","addr":"0x0","len":-1}', /"len" must be an integer in 0\.\.16777216, got -1/],
    [`{"op":"mem.read","addr":"0x0","len":${REGISTER_SCRIPT_MAX_LEN + 1}}`, /"len" must be an integer/],
    [
      '{"op":"mem.write","addr":"0x0","hex":"abc"}',
      /"hex" must be a string of hex byte pairs .*even number of hex digits/,
    ],
    ['{"op":"mem.write","addr":"0x0","hex":"0x01"}', /"hex" must be a string of hex byte pairs/],
    ['{"op":"reg.read","off":"0x0","size":2}', /"size" must be 4 or 8, got 2/],
    [
      '{"op":"reg.read","off":"0x6","size":4}',
      /"off" 0x6 is not aligned to the access size 4: it must be 4-byte aligned$/,
    ],
    ['{"op":"reg.read","off":"0x100000000","size":4}', /"off" 0x100000000 is too large/],
    [
      '{"op":"reg.write","off":"0x0","size":4,"value":"0x100000000"}',
      /"value" 0x100000000 is too large: it does not fit in 4 bytes/,
    ],
    ['{"op":"reg.write","off":"0x0","size":4}', /"reg.write" needs a "value" field/],
    [
      '{"op":"dma","sid":"0x100","dir":"read","iova":"0x0","len":1}',
      /"sid" 0x100 is too large: it must be below 0x100/,
    ],
    ['{"op":"dma","sid":"0x1","dir":"read","iova":"0x10000000000000","len":1}', /"iova" .* too large/],
    ['{"op":"dma","sid":"0x1","dir":"up","iova":"0x0","len":1}', /"dir" must be "read" or "write", got "up"/],
    ['{"op":"dma","sid":"0x1","iova":"0x0","len":1}', /"dir" must be "read" or "write"/],
    ['{"op":"dma","sid":"0x1","dir":"write","iova":"0x0"}', /"dma" needs a "hex" field/],
    ["[1,2]", /each line must be a JSON object with an "op" field, got \[1,2\]/],
    ['{"op":7}', /the "op" field must be a string, got 7/],
    ['{"op":', /not valid JSON/],
  ])("rejects %s, saying what was wrong", (line, message) => {
    const e = errorOf(() => parse(`{"op":"note"}\n\n${line}`, "t.jsonl"));
    expect(e.code).toBe("E_TEST_SCRIPT");
    expect(e.line).toBe(3);
    expect(e.source).toBe("t.jsonl");
    expect(e.message).toMatch(/^t\.jsonl:3: /);
    expect(e.message).toMatch(message);
  });

  it('locates errors as "line N" when the script has no name', () => {
    expect(() => parse('\n{"op":"reg.read","off":"0x0","size":3}')).toThrow(/^line 2: "size" must be 4 or 8/);
  });

  it("applies a dialect's register window, reset-first rule, requester fields and error code", () => {
    const strict = (text: string) => parseRegisterScript(text, "s", STRICT);
    expect(() => strict('{"op":"mem.read","addr":"0x0","len":1}')).toThrow(
      /^s:1: the first operation must be \{"op":"reset","id":"0x…"\}, not "mem.read"/,
    );
    const reset = '{"op":"reset","id":"0x1"}\n';
    expect(() => strict(`${reset}{"op":"reg.read","off":"0x100","size":4}`)).toThrow(
      /^s:2: "off" 0x100 is too large: it must lie within the test window \(0x0-0xff\)/,
    );
    expect(() => strict(`${reset}{"op":"reg.read","off":"0xfa","size":4}`)).toThrow(
      /4-byte aligned within the test window \(0x0-0xff\)/,
    );
    expect(() =>
      strict(`${reset}{"op":"dma","sid":"0x1","dir":"read","iova":"0x0","len":1,"priv":"yes"}`),
    ).toThrow(/^s:2: "priv" must be true or false, got "yes"/);
    expect(errorOf(() => strict("{}")).code).toBe("E_STRICT_SCRIPT");
    expect(
      strict(
        `${reset}{"op":"dma","sid":"0x2","dir":"read","iova":"0x0","len":1,"ssid":"0x5","priv":true}`,
      )[1],
    ).toEqual({
      op: "dma.read",
      line: 2,
      req: { sid: 2, pasid: 5, priv: true },
      iova: 0,
      len: 1,
    });
    expect(strict(`${reset}{"op":"reg.read","off":"0xfc","size":4}`)[1]).toMatchObject({ off: 0xfc });
  });
});
