/**
 * The decoder on byte sequences an assembler will not produce: prefix corner cases, the 15-byte
 * limit, encodings the CPU refuses, REX special cases, and the caller's byte range.
 */
import { describe, expect, it } from "vitest";
import { TdxSimError } from "../errors";
import { decodeMmioInstruction } from "./decoder";
import { mmioImmediateHex, mmioImmediateValue } from "./operands";
import type { MmioInstruction } from "./types";

function decode(hex: string): MmioInstruction {
  return decodeMmioInstruction(Uint8Array.from(hex.match(/../g) ?? [], (b) => Number.parseInt(b, 16)));
}

function reason(hex: string): string | undefined {
  const d = decode(hex);
  return d.kind === "unsupported" ? d.reason : undefined;
}

describe("decodeMmioInstruction: operand size", () => {
  it("lets REX.W win over 66 (SDM §2.2.1.2)", () => {
    expect(decode("66488907")).toMatchObject({ kind: "write", size: 8, reg: "rax", length: 4 });
  });

  it("takes imm16 with 66 and imm32 otherwise for C7", () => {
    const w = decode("66c7073412");
    expect(w).toMatchObject({ kind: "write-imm", size: 2, length: 5 });
    if (w.kind === "write-imm") expect(mmioImmediateHex(w)).toBe("0x1234");
    const d = decode("c70778563412");
    expect(d).toMatchObject({ kind: "write-imm", size: 4, length: 6 });
    if (d.kind === "write-imm") expect(mmioImmediateValue(d)).toBe(0x12345678n);
  });

  it("sign-extends imm32 to 8 bytes with REX.W, and only then", () => {
    const q = decode("48c70700000080");
    if (q.kind !== "write-imm") throw new Error("expected write-imm");
    expect(mmioImmediateHex(q)).toBe("0xffffffff80000000");
    const d = decode("c70700000080");
    if (d.kind !== "write-imm") throw new Error("expected write-imm");
    expect(mmioImmediateHex(d)).toBe("0x80000000");
  });

  it("reports MOVZX/MOVSX size as the source size and the register at the operand size", () => {
    expect(decode("660fb707")).toMatchObject({ kind: "read-zext", size: 2, reg: "ax", regSize: 2 });
    expect(decode("480fbe07")).toMatchObject({ kind: "read-sext", size: 1, reg: "rax", regSize: 8 });
  });
});

describe("decodeMmioInstruction: prefixes", () => {
  it("ignores F2/F3 on MOV and records them on MOVS", () => {
    expect(decode("f38907")).toMatchObject({ kind: "write", size: 4, length: 3 });
    expect(decode("f3f2a4")).toMatchObject({ kind: "movs", rep: "repne", length: 3 });
  });

  it("rejects a REX byte that is not immediately before the opcode", () => {
    expect(reason("48668907")).toBe("rex-not-last");
    expect(reason("40488907")).toBe("rex-not-last");
  });

  it("rejects LOCK on every accepted opcode (#UD)", () => {
    for (const hex of ["f08907", "f08a07", "f0c60701", "f00fb607", "f0a4"])
      expect(reason(hex), hex).toBe("lock-prefix");
  });

  it("rejects two different segment overrides, and counts a repeated one once (as Linux)", () => {
    expect(reason("64658907")).toBe("segment-overrides");
    expect(reason("2e6464658907")).toBe("segment-overrides");
    expect(decode("648907")).toMatchObject({ kind: "write", segment: "fs" });
    expect(decode("64648907")).toMatchObject({ kind: "write", size: 4, segment: "fs", length: 4 });
    expect(decode("65666566890700")).toMatchObject({ kind: "write", size: 2, segment: "gs", length: 6 });
  });

  it("takes at most four distinct legacy prefixes; a fifth distinct one is read as the opcode", () => {
    expect(decode("f2f3656667890700")).toMatchObject({ kind: "unsupported", reason: "opcode" });
    expect(decode("f2f36566890700")).toMatchObject({ kind: "write", size: 2, segment: "gs", length: 6 });
    // repeats do not count towards the four
    expect(decode("f2f2f36565666689")).toMatchObject({ kind: "unsupported", reason: "truncated" });
    expect(decode("f2f2f3656566668907")).toMatchObject({ kind: "write", size: 2, length: 9 });
  });

  it("accepts 15 bytes and refuses 16 (too-long), whatever follows", () => {
    const ok = decode(`${"66".repeat(13)}8907`);
    expect(ok).toMatchObject({ kind: "write", size: 2, length: 15 });
    expect(reason(`${"66".repeat(14)}8907`)).toBe("too-long");
    expect(reason(`${"2e".repeat(20)}`)).toBe("too-long");
  });

  it("calls an instruction cut short by the input truncated", () => {
    expect(reason("")).toBe("truncated");
    expect(reason("66")).toBe("truncated");
    expect(reason("0f")).toBe("truncated");
    expect(reason("48")).toBe("truncated");
  });
});

describe("decodeMmioInstruction: encodings that are not MOV to or from memory", () => {
  it("rejects VEX and EVEX prefixes", () => {
    expect(reason("c5fe6f07")).toBe("vex");
    expect(reason("c4817e6f0451")).toBe("vex");
    expect(reason("62f17f486f07")).toBe("evex");
  });

  it("rejects opcodes Linux does not emulate: moffs MOV, MOVSXD, MOV Sreg, 0F 38", () => {
    for (const hex of ["a10010000000000000", "a30010000000000000", "486307", "8c1f", "8e1f", "0f3800"]) {
      expect(reason(hex), hex).toBe("opcode");
    }
  });

  it("rejects C6/C7 with ModRM.reg != 0 (group 11: #UD, XABORT, XBEGIN)", () => {
    expect(reason("c60f01")).toBe("modrm-reg");
    expect(reason("c6f801")).toBe("modrm-reg");
    expect(reason("c7f800000000")).toBe("modrm-reg");
  });

  it("rejects register-direct ModRM (no memory access)", () => {
    expect(reason("c6c001")).toBe("register-operand");
    expect(reason("8bc3")).toBe("register-operand");
  });
});

describe("decodeMmioInstruction: registers and addressing", () => {
  it("names AH..BH without REX and SPL..DIL with any REX, keeping both register numbers", () => {
    expect(decode("8827")).toMatchObject({ reg: "ah", regIndex: 0, regHighByte: true, regField: 4 });
    expect(decode("883f")).toMatchObject({ reg: "bh", regIndex: 3, regHighByte: true, regField: 7 });
    expect(decode("408827")).toMatchObject({ reg: "spl", regIndex: 4, regHighByte: false, regField: 4 });
    expect(decode("448827")).toMatchObject({ reg: "r12b", regIndex: 12, regHighByte: false });
  });

  it("keeps RIP-relative when REX.B is set (decided on r/m's low bits)", () => {
    expect(decode("418b0510000000")).toMatchObject({ ripRelative: true, base: -1, disp: 16, length: 7 });
  });

  it("has no base for SIB base=101 with mod=00, even with REX.B", () => {
    expect(decode("418b042500100000")).toMatchObject({ base: -1, index: -1, disp: 0x1000, length: 8 });
    expect(decode("418b442500")).toMatchObject({ base: 13, index: -1, disp: 0 });
  });

  it("has no index for SIB index=100 without REX.X, and R12 with it", () => {
    expect(decode("8b0427")).toMatchObject({ base: 7, index: -1, scale: 1 });
    expect(decode("8b04e7")).toMatchObject({ base: 7, index: -1, scale: 1 });
    expect(decode("428b04e7")).toMatchObject({ base: 7, index: 12, scale: 8 });
  });
});

describe("decodeMmioInstruction: byte range", () => {
  it("decodes from an offset and stops at the given end", () => {
    const buf = Uint8Array.of(0x90, 0x90, 0x48, 0x8b, 0x47, 0x08, 0xcc);
    expect(decodeMmioInstruction(buf, 2)).toMatchObject({ kind: "read", reg: "rax", disp: 8, length: 4 });
    expect(decodeMmioInstruction(buf, 2, 5)).toEqual({ kind: "unsupported", reason: "truncated" });
  });

  it("throws a TdxSimError for a range outside the buffer", () => {
    const buf = new Uint8Array(4);
    for (const [s, e] of [
      [-1, 2],
      [3, 2],
      [0, 5],
      [0.5, 2],
    ] as const) {
      expect(() => decodeMmioInstruction(buf, s, e)).toThrow(TdxSimError);
    }
    let caught: unknown;
    try {
      decodeMmioInstruction(buf, 0, 9);
    } catch (err) {
      caught = err;
    }
    expect(caught).toMatchObject({ code: "E_BAD_RANGE" });
  });
});
