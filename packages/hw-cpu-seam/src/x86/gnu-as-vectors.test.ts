/**
 * Checks the decoder against every vector GNU as produced (fixtures/gnu-as-vectors.json, written
 * by tooling/x86-vectors/generate.mjs): kind, size, register, immediate, length and the memory
 * operand, all expected from the assembly text, never from this decoder.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { decodeMmioInstruction } from "./decoder";
import { mmioImmediateHex } from "./operands";
import type { MmioInstruction } from "./types";

interface ExpectedMem {
  readonly base: number;
  readonly index: number;
  readonly scale: number;
  readonly disp: number;
  readonly ripRelative: boolean;
  readonly addressSize: number;
  readonly segment: string;
}
interface Expected {
  readonly kind: string;
  readonly reason?: string;
  readonly size?: number;
  readonly length?: number;
  readonly reg?: string;
  readonly regNumber?: number;
  readonly regHigh?: boolean;
  readonly regSize?: number;
  readonly imm?: string;
  readonly mem?: ExpectedMem;
  readonly addressSize?: number;
  readonly segment?: string;
  readonly rep?: string;
}
interface Vector {
  readonly hex: string;
  readonly asm: string;
  readonly objdump: string;
  readonly expect: Expected;
}

const fixture = JSON.parse(readFileSync(join(__dirname, "fixtures/gnu-as-vectors.json"), "utf8")) as {
  vectors: Vector[];
};
const vectors = fixture.vectors;

function bytesOf(hex: string): Uint8Array {
  return Uint8Array.from(hex.match(/../g) ?? [], (b) => Number.parseInt(b, 16));
}

/** The decoded instruction in the fixture's shape, so one deep comparison shows every field. */
function actualOf(d: MmioInstruction): Expected {
  switch (d.kind) {
    case "unsupported":
      return { kind: d.kind, reason: d.reason };
    case "movs":
      return {
        kind: d.kind,
        size: d.size,
        length: d.length,
        addressSize: d.addressSize,
        segment: d.segment,
        rep: d.rep,
      };
    default: {
      const mem: ExpectedMem = {
        base: d.base,
        index: d.index,
        scale: d.scale,
        disp: d.disp,
        ripRelative: d.ripRelative,
        addressSize: d.addressSize,
        segment: d.segment,
      };
      if (d.kind === "write-imm") {
        return { kind: d.kind, size: d.size, imm: mmioImmediateHex(d), mem, length: d.length };
      }
      return {
        kind: d.kind,
        size: d.size,
        reg: d.reg,
        regNumber: d.regIndex,
        regHigh: d.regHighByte,
        regSize: d.regSize,
        mem,
        length: d.length,
      };
    }
  }
}

/** JSON with keys sorted at every level, to compare objects whatever their key order. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === "object" && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
}

/** The expectation, without a reason when the fixture leaves it open. */
function comparable(e: Expected, actual: Expected): Expected {
  if (e.kind === "unsupported" && e.reason === undefined && actual.kind === "unsupported") {
    return { kind: e.kind, reason: actual.reason };
  }
  return e;
}

describe("GNU as vectors", () => {
  it("cover every kind, every register name and the rejected forms", () => {
    const kinds = new Set(vectors.map((v) => v.expect.kind));
    expect([...kinds].sort()).toEqual(
      ["movs", "read", "read-sext", "read-zext", "unsupported", "write", "write-imm"].sort(),
    );
    const regs = new Set(vectors.map((v) => v.expect.reg).filter((r) => r !== undefined));
    for (const r of ["ah", "bh", "spl", "dil", "r8b", "r15w", "r12d", "r13", "esp", "rbp"]) {
      expect(regs.has(r), r).toBe(true);
    }
    expect(vectors.length).toBeGreaterThan(700);
  });

  for (const kind of ["write", "read", "write-imm", "read-zext", "read-sext", "movs", "unsupported"]) {
    it(`decode as GNU as intended: ${kind}`, () => {
      const mismatches: string[] = [];
      for (const v of vectors.filter((x) => x.expect.kind === kind)) {
        const actual = actualOf(decodeMmioInstruction(bytesOf(v.hex)));
        const expected = comparable(v.expect, actual);
        if (canonical(actual) !== canonical(expected)) {
          mismatches.push(`${v.hex} (${v.asm}): got ${JSON.stringify(actual)}`);
        }
      }
      expect(mismatches).toEqual([]);
    });
  }

  it("ignore bytes after the instruction (the #VE handler fetches 15 bytes at RIP)", () => {
    for (const v of vectors) {
      const bytes = bytesOf(`${v.hex}${"cc".repeat(15)}`);
      const padded = actualOf(decodeMmioInstruction(bytes));
      expect(padded, v.asm).toEqual(actualOf(decodeMmioInstruction(bytesOf(v.hex))));
    }
  });

  it("report every strict prefix of a supported instruction as truncated", () => {
    for (const v of vectors.filter((x) => x.expect.kind !== "unsupported")) {
      const bytes = bytesOf(v.hex);
      for (let end = 0; end < bytes.length; end++) {
        const d = decodeMmioInstruction(bytes, 0, end);
        expect(d, `${v.asm} cut to ${end} bytes`).toEqual({ kind: "unsupported", reason: "truncated" });
      }
    }
  });
});
