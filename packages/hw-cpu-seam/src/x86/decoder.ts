/**
 * Decode one 64-bit-mode instruction into the MMIO form Linux's TDX #VE handler emulates, or say
 * why it is not one. The accepted opcodes and the reported size are those of Linux's
 * insn_decode_mmio(); beyond it, bytes the CPU itself would refuse (#UD, #GP) or that cannot
 * access memory are reported unsupported, since they never raise an EPT-violation #VE.
 *
 * @spec shared/reference/kvm-guest-qemu.md §3.3 (insn_decode_mmio table: 88/89 WRITE, C6/C7
 *   WRITE_IMM, 8A/8B READ, A4/A5 MOVS, 0F B6/B7 READ_ZERO_EXTEND and 0F BE/BF READ_SIGN_EXTEND
 *   with size 1/2 = the source size, everything else DECODE_FAILED), citing torvalds/linux
 *   arch/x86/lib/insn-eval.c insn_decode_mmio() and arch/x86/coco/tdx/tdx.c handle_mmio();
 *   Intel SDM Vol. 2 "MOV", "MOVZX", "MOVSX", "MOVS" (C6 /0 ib, C7 /0 iw/id, REX.W C7 /0 id
 *   sign-extended to 64 bits) and "LOCK" (#UD on a non-lockable instruction)
 */
import { TdxSimError } from "../errors";
import { ByteCursor } from "./cursor";
import { newModrmFields, readMemoryOperand, readModrmByte } from "./modrm";
import { newPrefixes, operandSize, readPrefixes } from "./prefixes";
import { gprName, isHighByteRegister } from "./registers";
import type { MmioAccessSize, MmioInstruction, MmioKind, MmioUnsupported, UnsupportedReason } from "./types";

const cursor = new ByteCursor();
const prefixes = newPrefixes();
const modrm = newModrmFields();

const UNSUPPORTED: { readonly [R in UnsupportedReason]: MmioUnsupported } = {
  truncated: Object.freeze({ kind: "unsupported", reason: "truncated" }),
  "too-long": Object.freeze({ kind: "unsupported", reason: "too-long" }),
  "lock-prefix": Object.freeze({ kind: "unsupported", reason: "lock-prefix" }),
  "rex-not-last": Object.freeze({ kind: "unsupported", reason: "rex-not-last" }),
  "segment-overrides": Object.freeze({ kind: "unsupported", reason: "segment-overrides" }),
  vex: Object.freeze({ kind: "unsupported", reason: "vex" }),
  evex: Object.freeze({ kind: "unsupported", reason: "evex" }),
  opcode: Object.freeze({ kind: "unsupported", reason: "opcode" }),
  "register-operand": Object.freeze({ kind: "unsupported", reason: "register-operand" }),
  "modrm-reg": Object.freeze({ kind: "unsupported", reason: "modrm-reg" }),
};

function unsupported(reason: UnsupportedReason): MmioUnsupported {
  return UNSUPPORTED[reason];
}

/**
 * Decode the instruction starting at `bytes[start]`, reading no further than `end` (exclusive)
 * and at most 15 bytes; bytes after the instruction are ignored, as the #VE handler copies 15
 * bytes at RIP whatever the instruction's length.
 */
export function decodeMmioInstruction(
  bytes: Uint8Array,
  start = 0,
  end: number = bytes.length,
): MmioInstruction {
  if (!Number.isInteger(start) || !Number.isInteger(end) || start < 0 || end < start || end > bytes.length) {
    throw new TdxSimError(
      "E_BAD_RANGE",
      `cannot decode bytes [${start}, ${end}) of a ${bytes.length}-byte buffer: need integers 0 <= start <= end <= ${bytes.length}`,
    );
  }
  const c = cursor;
  const p = prefixes;
  c.reset(bytes, start, end);
  let op = readPrefixes(c, p);
  if (op < 0) return unsupported(c.fail);
  // In 64-bit mode C4/C5 always start a VEX prefix and 62 an EVEX prefix (SDM Vol. 2 §2.3.5, §2.7).
  if (op === 0xc4 || op === 0xc5) return unsupported("vex");
  if (op === 0x62) return unsupported("evex");

  const opnd = operandSize(p);
  let kind: MmioKind;
  let size: MmioAccessSize;
  switch (op) {
    case 0x88:
      kind = "write";
      size = 1;
      break;
    case 0x89:
      kind = "write";
      size = opnd;
      break;
    case 0x8a:
      kind = "read";
      size = 1;
      break;
    case 0x8b:
      kind = "read";
      size = opnd;
      break;
    case 0xc6:
      kind = "write-imm";
      size = 1;
      break;
    case 0xc7:
      kind = "write-imm";
      size = opnd;
      break;
    case 0xa4:
      kind = "movs";
      size = 1;
      break;
    case 0xa5:
      kind = "movs";
      size = opnd;
      break;
    case 0x0f:
      op = c.next();
      if (op < 0) return unsupported(c.fail);
      if (op === 0xb6 || op === 0xbe) size = 1;
      else if (op === 0xb7 || op === 0xbf) size = 2;
      else return unsupported("opcode");
      kind = op === 0xb6 || op === 0xb7 ? "read-zext" : "read-sext";
      break;
    default:
      return unsupported("opcode");
  }
  if (p.lock) return unsupported("lock-prefix");
  if (p.segmentCount > 1) return unsupported("segment-overrides");
  const addressSize = p.addr32 ? 4 : 8;

  if (kind === "movs") {
    const rep = p.rep === 0xf3 ? "rep" : p.rep === 0xf2 ? "repne" : "none";
    return { kind, size, length: c.length, addressSize, segment: p.segment, rep };
  }

  const m = readModrmByte(c, p.rex, modrm);
  if (m < 0) return unsupported(c.fail);
  // C6/C7 are MOV only as /0; /7 with mod=3 is XABORT/XBEGIN, the rest #UD (SDM Vol. 2 opcode map
  // Table A-6, group 11).
  if (kind === "write-imm" && (modrm.reg & 7) !== 0) return unsupported("modrm-reg");
  if (modrm.mod === 3) return unsupported("register-operand");
  if (!readMemoryOperand(c, p.rex, m, modrm)) return unsupported(c.fail);

  const mem = modrm;
  if (kind === "write-imm") {
    // imm8 for C6, imm16 with 66, else imm32 (sign-extended to 64 bits with REX.W).
    const n = size === 1 ? 1 : size === 2 ? 2 : 4;
    let immLo = 0;
    for (let i = 0; i < n; i++) {
      const b = c.next();
      if (b < 0) return unsupported(c.fail);
      immLo += b * 2 ** (8 * i);
    }
    const immHi = size === 8 && immLo >= 0x80000000 ? 0xffffffff : 0;
    return {
      kind,
      size,
      length: c.length,
      addressSize,
      segment: p.segment,
      base: mem.base,
      index: mem.index,
      scale: mem.scale,
      disp: mem.disp,
      ripRelative: mem.ripRelative,
      immLo,
      immHi,
    };
  }

  const rex = p.rex !== 0;
  // MOVZX/MOVSX write a register of the operand size; the other forms one of the access size.
  const regSize = kind === "read-zext" || kind === "read-sext" ? opnd : size;
  const highByte = isHighByteRegister(modrm.reg, regSize, rex);
  return {
    kind,
    size,
    length: c.length,
    addressSize,
    segment: p.segment,
    base: mem.base,
    index: mem.index,
    scale: mem.scale,
    disp: mem.disp,
    ripRelative: mem.ripRelative,
    reg: gprName(modrm.reg, regSize, rex),
    regIndex: highByte ? modrm.reg - 4 : modrm.reg,
    regHighByte: highByte,
    regField: modrm.reg,
    regSize,
  };
}
