/**
 * Effective addresses from decoded operands and register values, immediates as values, register
 * names, and the reason texts.
 */
import { describe, expect, it } from "vitest";
import { TdxSimError } from "../errors";
import { decodeMmioInstruction } from "./decoder";
import { describeUnsupported, mmioEffectiveAddress } from "./operands";
import { GPR8_REX_NAMES, gprName, isHighByteRegister } from "./registers";
import type { MmioMemoryOperand, UnsupportedReason } from "./types";

function operand(hex: string): MmioMemoryOperand & { length: number } {
  const d = decodeMmioInstruction(Uint8Array.from(hex.match(/../g) ?? [], (b) => Number.parseInt(b, 16)));
  if (d.kind === "unsupported" || d.kind === "movs") throw new Error(`${hex} has no ModRM operand`);
  return d;
}

/** rax=0x1000, rcx=2, ..., r15: distinct values per register. */
const regs = (i: number): bigint => (i === 0 ? 0x1000n : BigInt(i) * 0x100000001n);

describe("mmioEffectiveAddress", () => {
  it("adds base, index*scale and disp", () => {
    // mov eax, [rax+rcx*4+0x10]
    expect(mmioEffectiveAddress(operand("8b448810"), regs, 0n)).toBe(0x1000n + 4n * 0x100000001n + 0x10n);
  });

  it("is relative to the next instruction for RIP-relative operands", () => {
    // mov eax, [rip-0x10]: 6 bytes
    expect(mmioEffectiveAddress(operand("8b05f0ffffff"), regs, 0xffffffff81000000n)).toBe(
      0xffffffff81000000n + 6n - 0x10n,
    );
  });

  it("wraps at 64 bits and truncates to 32 bits with the 67 prefix", () => {
    const high = (): bigint => 0xfffffffffffffff0n;
    // mov eax, [rdi+0x20]
    expect(mmioEffectiveAddress(operand("8b4720"), high, 0n)).toBe(0x10n);
    // mov eax, [edi+0x20]
    expect(mmioEffectiveAddress(operand("678b4720"), high, 0n)).toBe(0x10n);
    // mov eax, [edi]: upper half of rdi ignored
    expect(mmioEffectiveAddress(operand("678b07"), () => 0x1234567800000010n, 0n)).toBe(0x10n);
  });

  it("adds the segment base the caller passes for FS/GS", () => {
    // mov rax, gs:[0x28]
    const op = operand("65488b042528000000");
    expect(op.segment).toBe("gs");
    expect(mmioEffectiveAddress(op, regs, 0n, 0xffff888000000000n)).toBe(0xffff888000000028n);
  });
});

describe("registers", () => {
  it("name every byte register with REX, and refuse numbers that do not exist", () => {
    expect(GPR8_REX_NAMES).toHaveLength(16);
    expect(gprName(15, 2, true)).toBe("r15w");
    expect(gprName(6, 1, false)).toBe("dh");
    expect(() => gprName(8, 1, false)).toThrow(TdxSimError);
    expect(() => gprName(16, 8, true)).toThrow(TdxSimError);
  });

  it("treat 4-7 as high bytes only for byte size without REX", () => {
    expect(isHighByteRegister(4, 1, false)).toBe(true);
    expect(isHighByteRegister(4, 1, true)).toBe(false);
    expect(isHighByteRegister(4, 2, false)).toBe(false);
    expect(isHighByteRegister(3, 1, false)).toBe(false);
  });
});

describe("describeUnsupported", () => {
  it("gives a distinct sentence for every reason", () => {
    const reasons: UnsupportedReason[] = [
      "truncated",
      "too-long",
      "lock-prefix",
      "rex-not-last",
      "segment-overrides",
      "vex",
      "evex",
      "opcode",
      "register-operand",
      "modrm-reg",
    ];
    const texts = new Set(reasons.map(describeUnsupported));
    expect(texts.size).toBe(reasons.length);
  });
});
