/**
 * Running register-level scripts against a small fake unit (a 0x40-byte register window, and a DMA
 * port that maps IOVA i to HPA 0x100000 + i, faults at or above 0x10000000 and stalls at or above
 * 0x80000000): mem.* goes straight to the sparse memory, reg.* and dma to the unit built by the
 * last reset, answers are in the contract's format, and misuse is a located RegisterScriptError.
 */
import { describe, expect, it } from "vitest";
import type { DmaRequester, DmaResult, IommuFault } from "../dma/types";
import { TdxSimError } from "../errors";
import type { PhysicalMemory } from "../memory/physical-memory";
import { Initiator } from "../memory/types";
import { RegisterScriptError } from "./script-error";
import { scriptField, scriptInteger } from "./script-fields";
import { parseRegisterScript, type RegisterScriptSyntax } from "./script-parse";
import { RegisterScriptRunner, type RegisterScriptUnitKind, runRegisterScript } from "./script-run";

const DMA_BASE = 0x10_0000;
const FAULT_FROM = 0x1000_0000;
const STALL_FROM = 0x8000_0000;

class FakeUnit {
  readonly regs = new Uint32Array(16);
  readonly requesters: DmaRequester[] = [];

  constructor(
    readonly mem: PhysicalMemory,
    id: bigint,
  ) {
    if (id === 0n) throw new TdxSimError("E_FAKE_ID", "id 0 is refused: the id must be non-zero");
    this.regs[0] = Number(id & 0xffff_ffffn);
  }

  private index(off: number, size: 4 | 8): number {
    if (off + size > 0x40) {
      throw new TdxSimError(
        "E_FAKE_REG",
        `register offset 0x${off.toString(16)} is outside the 0x40-byte window`,
      );
    }
    return off / 4;
  }
  readRegister(off: number, size: 4 | 8): bigint {
    const i = this.index(off, size);
    const lo = BigInt(this.regs[i] as number);
    return size === 4 ? lo : lo | (BigInt(this.regs[i + 1] as number) << 32n);
  }
  writeRegister(off: number, size: 4 | 8, value: bigint): void {
    const i = this.index(off, size);
    this.regs[i] = Number(value & 0xffff_ffffn);
    if (size === 8) this.regs[i + 1] = Number(value >> 32n);
  }

  private access(req: DmaRequester, iova: number, write: boolean): DmaResult | undefined {
    this.requesters.push(req);
    if (iova === 0xdead_0000) throw new TypeError("a bug in the unit model");
    const fault: IommuFault = {
      unit: "fake",
      code: 1,
      name: "FAKE_FAULT",
      iova,
      sid: req.sid,
      pasid: req.pasid,
      write,
      message: "outside the fake window",
    };
    if (iova >= STALL_FROM) return { ok: false, stalled: true, fault };
    if (iova >= FAULT_FROM) return { ok: false, fault };
    return undefined;
  }
  dmaRead(req: DmaRequester, iova: number, dst: Uint8Array): DmaResult {
    const r = this.access(req, iova, false);
    if (r !== undefined) return r;
    this.mem.read(DMA_BASE + iova, dst, Initiator.Device);
    return { ok: true };
  }
  dmaWrite(req: DmaRequester, iova: number, src: Uint8Array): DmaResult {
    const r = this.access(req, iova, true);
    if (r !== undefined) return r;
    this.mem.write(DMA_BASE + iova, src, Initiator.Device);
    return { ok: true };
  }
}

const SYNTAX: RegisterScriptSyntax<{ readonly id: bigint }> = {
  errorCode: "E_TEST_SCRIPT",
  physAddrBits: 40,
  sidLimit: 0x100,
  parseReset: (o, at) => ({ id: scriptInteger(at, "id", scriptField(at, o, "id"), 1n << 64n) }),
  dmaRequester: (o, _at, sid) => ({ sid, pasid: typeof o.ssid === "number" ? o.ssid : -1 }),
};
const KIND: RegisterScriptUnitKind<{ readonly id: bigint }, FakeUnit> = {
  ...SYNTAX,
  createUnit: (reset, mem) => new FakeUnit(mem, reset.id),
  dmaPort: (unit) => unit,
};

const run = (text: string, source?: string) =>
  runRegisterScript(parseRegisterScript(text, source, SYNTAX), KIND, source);

describe("runRegisterScript", () => {
  it("reads and writes the CPU's memory untranslated, anywhere below 2^physAddrBits, before any reset", () => {
    const top = `0x${(2 ** 40 - 2).toString(16)}`;
    expect(
      run(
        [
          '{"op":"mem.read","addr":"0x5000","len":4}',
          '{"op":"mem.write","addr":"0x5001","hex":"A1b2"}',
          '{"op":"mem.read","addr":"0x5000","len":4}',
          `{"op":"mem.write","addr":"${top}","hex":"eeff"}`,
          `{"op":"mem.read","addr":"${top}","len":2}`,
          '{"op":"mem.read","addr":"0x0","len":0}',
        ].join("\n"),
      ),
    ).toEqual([
      { hex: "00000000" },
      { ok: true },
      { hex: "00a1b200" },
      { ok: true },
      { hex: "eeff" },
      { hex: "" },
    ]);
  });

  it("answers register reads in lower-case hex without leading zeros", () => {
    expect(
      run(
        [
          '{"op":"reset","id":"0xABC"}',
          '{"op":"reg.read","off":"0x0","size":4}',
          '{"op":"reg.read","off":"0x4","size":4}',
          '{"op":"reg.write","off":"0x8","size":8,"value":"0x00000001000000F0"}',
          '{"op":"reg.read","off":"0x8","size":8}',
          '{"op":"reg.read","off":"0xc","size":4}',
          '{"op":"note"}',
        ].join("\n"),
      ),
    ).toEqual([
      { ok: true },
      { value: "0xabc" },
      { value: "0x0" },
      { ok: true },
      { value: "0x1000000f0" },
      { value: "0x1" },
      { ok: true },
    ]);
  });

  it("sends dma through the unit: data on success, ok:false on a fault, stalled on a stall, nothing moved unless it succeeds", () => {
    const text = [
      '{"op":"reset","id":"0x1"}',
      '{"op":"mem.write","addr":"0x100010","hex":"cafe"}',
      '{"op":"dma","sid":"0x7","dir":"read","iova":"0x10","len":2,"ssid":5}',
      '{"op":"dma","sid":"0x7","dir":"write","iova":"0x20","hex":"1234"}',
      '{"op":"mem.read","addr":"0x100020","len":2}',
      '{"op":"dma","sid":"0x7","dir":"read","iova":"0x10000000","len":2}',
      '{"op":"dma","sid":"0x7","dir":"write","iova":"0x80000000","hex":"ff"}',
      '{"op":"dma","sid":"0x7","dir":"read","iova":"0x80000000","len":1}',
    ].join("\n");
    const runner = new RegisterScriptRunner(KIND);
    const out = parseRegisterScript(text, undefined, SYNTAX).map((op) => runner.step(op));
    expect(out).toEqual([
      { ok: true },
      { ok: true },
      { ok: true, hex: "cafe" },
      { ok: true },
      { hex: "1234" },
      { ok: false },
      { ok: false, stalled: true },
      { ok: false, stalled: true },
    ]);
    expect(runner.unit?.requesters[0]).toEqual({ sid: 7, pasid: 5 });
    expect(runner.unit?.requesters[1]).toEqual({ sid: 7, pasid: -1 });
  });

  it("builds a fresh unit at each reset, on the same memory", () => {
    const runner = new RegisterScriptRunner(KIND);
    const ops = parseRegisterScript(
      '{"op":"reset","id":"0x1"}\n{"op":"reg.write","off":"0x4","size":4,"value":"0x9"}\n{"op":"mem.write","addr":"0x0","hex":"77"}\n{"op":"reset","id":"0x2"}',
      undefined,
      SYNTAX,
    );
    for (const op of ops.slice(0, 3)) runner.step(op);
    const first = runner.unit;
    runner.step(ops[3]!);
    expect(runner.unit).not.toBe(first);
    expect(runner.unit?.mem).toBe(runner.mem);
    expect(runner.unit?.readRegister(4, 4)).toBe(0n);
    expect(runner.unit?.readRegister(0, 4)).toBe(2n);
    expect(
      runner.step(parseRegisterScript('{"op":"mem.read","addr":"0x0","len":1}', undefined, SYNTAX)[0]!),
    ).toEqual({ hex: "77" });
  });

  it("refuses reg and dma before any reset, naming the line and the op", () => {
    const early = () =>
      run('{"op":"note"}\n{"op":"dma","sid":"0x1","dir":"read","iova":"0x0","len":1}', "x.jsonl");
    expect(early).toThrow(RegisterScriptError);
    expect(early).toThrow(
      expect.objectContaining({
        code: "E_TEST_SCRIPT",
        message: 'x.jsonl:2: "dma.read" before any "reset": the script must reset the unit first',
      }),
    );
    expect(() => run('{"op":"reg.read","off":"0x0","size":4}')).toThrow(
      /^line 1: "reg.read" before any "reset"/,
    );
  });

  it("turns the unit's typed errors into located script errors with the dialect's code, and lets bugs through", () => {
    const reset = '{"op":"reset","id":"0x1"}\n';
    const refused = () => run(`${reset}{"op":"reg.read","off":"0x40","size":4}`, "r.jsonl");
    expect(refused).toThrow(RegisterScriptError);
    expect(refused).toThrow(
      expect.objectContaining({
        code: "E_TEST_SCRIPT",
        line: 2,
        message: "r.jsonl:2: register offset 0x40 is outside the 0x40-byte window",
      }),
    );
    expect(() => run('{"op":"reset","id":"0x0"}')).toThrow(/^line 1: id 0 is refused/);
    expect(() => run(`${reset}{"op":"dma","sid":"0x1","dir":"read","iova":"0xdead0000","len":1}`)).toThrow(
      TypeError,
    );
  });
});
