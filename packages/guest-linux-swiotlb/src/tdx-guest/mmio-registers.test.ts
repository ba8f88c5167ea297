import { decodeMmioInstruction, Gpr, type MmioRegisterAccess } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { immediateAsLinuxPasses } from "./mmio";
import { mmioWriteBack, mmioWriteValue } from "./mmio-registers";

function reg(hex: string): MmioRegisterAccess {
  const bytes = Uint8Array.from(hex.split(" ").map((b) => Number.parseInt(b, 16)));
  const insn = decodeMmioInstruction(bytes);
  if (insn.kind === "unsupported" || insn.kind === "movs" || insn.kind === "write-imm") throw new Error(hex);
  return insn;
}

const OLD = 0x1122334455667788n;

function readInto(hex: string, value: bigint, model: "linux" | "isa"): BigUint64Array {
  const g = new BigUint64Array(16).fill(OLD);
  mmioWriteBack(g, reg(hex), value, model);
  return g;
}

describe("MMIO read write-back (both models agree on io.h forms)", () => {
  for (const model of ["linux", "isa"] as const) {
    it(`${model}: 8/16-bit reads merge, 32-bit zero-extends, 64-bit replaces`, () => {
      expect(readInto("8a 07", 0xabn, model)[Gpr.RAX]).toBe(0x11223344556677abn); // mov al,[rdi]
      expect(readInto("66 8b 07", 0xbeefn, model)[Gpr.RAX]).toBe(0x112233445566beefn); // mov ax,[rdi]
      expect(readInto("8b 07", 0xdeadbeefn, model)[Gpr.RAX]).toBe(0xdeadbeefn); // mov eax,[rdi]
      expect(readInto("48 8b 07", 0x0102030405060708n, model)[Gpr.RAX]).toBe(0x0102030405060708n);
      // REX.R: mov r9d,[rdi] lands in R9 and zero-extends
      expect(readInto("44 8b 0f", 0xcafef00dn, model)[Gpr.R9]).toBe(0xcafef00dn);
      // any REX: byte register 6 is SIL, not DH
      const g = readInto("40 8a 37", 0x5an, model);
      expect(g[Gpr.RSI]).toBe(0x112233445566775an);
      expect(g[Gpr.RDX]).toBe(OLD);
    });

    it(`${model}: MOVZX/MOVSX into 16 and 64-bit registers`, () => {
      expect(readInto("66 0f b6 07", 0xf0n, model)[Gpr.RAX]).toBe(0x11223344556600f0n); // movzx ax, byte
      expect(readInto("48 0f b6 07", 0xf0n, model)[Gpr.RAX]).toBe(0xf0n); // movzx rax, byte
      expect(readInto("48 0f bf 07", 0x8000n, model)[Gpr.RAX]).toBe(0xffffffffffff8000n); // movsx rax, word
      expect(readInto("48 0f bf 07", 0x7fffn, model)[Gpr.RAX]).toBe(0x7fffn);
      expect(readInto("66 0f be 07", 0x80n, model)[Gpr.RAX]).toBe(0x112233445566ff80n); // movsx ax, byte
    });
  }
});

describe("MMIO register rules where Linux and the ISA differ", () => {
  it("mov ah,[mmio]: Linux writes the low byte of RSP (pt_regs slot 4), the ISA bits 15:8 of RAX", () => {
    const linux = readInto("8a 27", 0xabn, "linux");
    expect(linux[Gpr.RSP]).toBe(0x11223344556677abn);
    expect(linux[Gpr.RAX]).toBe(OLD);
    const isa = readInto("8a 27", 0xabn, "isa");
    expect(isa[Gpr.RAX]).toBe(0x112233445566ab88n);
    expect(isa[Gpr.RSP]).toBe(OLD);
    // CH, DH, BH likewise: RBP, RSI, RDI under Linux
    expect(readInto("8a 2f", 0x01n, "linux")[Gpr.RBP]).toBe(0x1122334455667701n);
    expect(readInto("8a 37", 0x01n, "isa")[Gpr.RDX]).toBe(0x1122334455660188n);
  });

  it("MOVZX/MOVSX to a 32-bit register: Linux fills 4 bytes and keeps 63:32, the ISA zero-extends", () => {
    expect(readInto("0f b6 07", 0xf0n, "linux")[Gpr.RAX]).toBe(0x11223344000000f0n);
    expect(readInto("0f b6 07", 0xf0n, "isa")[Gpr.RAX]).toBe(0xf0n);
    expect(readInto("0f be 07", 0x80n, "linux")[Gpr.RAX]).toBe(0x11223344ffffff80n);
    expect(readInto("0f be 07", 0x80n, "isa")[Gpr.RAX]).toBe(0xffffff80n);
    expect(readInto("0f bf 07", 0x8001n, "isa")[Gpr.RAX]).toBe(0xffff8001n);
    expect(readInto("0f b7 07", 0x8001n, "linux")[Gpr.RAX]).toBe(0x1122334400008001n);
  });

  it("a write sends size bytes of the operand: mov [mmio],ah is RSP's low byte under Linux", () => {
    const g = new BigUint64Array(16);
    g[Gpr.RAX] = 0x1234n;
    g[Gpr.RSP] = 0xffffc90000001f58n;
    expect(mmioWriteValue(g, reg("88 27"), "linux")).toBe(0x58n);
    expect(mmioWriteValue(g, reg("88 27"), "isa")).toBe(0x12n);
    g[Gpr.R12] = 0x8877665544332211n;
    expect(mmioWriteValue(g, reg("44 89 27"), "linux")).toBe(0x44332211n); // mov [rdi],r12d
    expect(mmioWriteValue(g, reg("66 44 89 27"), "linux")).toBe(0x2211n); // mov [rdi],r12w
    expect(mmioWriteValue(g, reg("4c 89 27"), "isa")).toBe(0x8877665544332211n); // mov [rdi],r12
  });
});

describe("immediates as Linux passes them in R15", () => {
  function imm(hex: string): bigint {
    const insn = decodeMmioInstruction(Uint8Array.from(hex.split(" ").map((b) => Number.parseInt(b, 16))));
    if (insn.kind !== "write-imm") throw new Error(hex);
    return immediateAsLinuxPasses(insn);
  }
  it("sign-extends insn.immediate.value (a signed int) to 64 bits", () => {
    expect(imm("c6 07 80")).toBe(0xffffffffffffff80n); // movb $0x80
    expect(imm("c6 07 7f")).toBe(0x7fn);
    expect(imm("66 c7 07 34 92")).toBe(0xffffffffffff9234n); // movw $0x9234
    expect(imm("c7 07 78 56 34 12")).toBe(0x12345678n); // movl
    expect(imm("48 c7 07 fe ff ff ff")).toBe(0xfffffffffffffffen); // movq $-2
  });
});
