/**
 * Helpers over a decoded MMIO instruction for its users (the #VE handler, the CLI): the immediate
 * as a 64-bit value or as hex, the effective address from register values, and a sentence for
 * each unsupported reason. 64-bit values are bigint here: these sit at the register-ABI edge.
 *
 * @spec Intel SDM Vol. 1 §3.7.5 "Specifying an Offset" (base + index*scale + displacement),
 *   Vol. 2 §2.2.1.6 (RIP-relative: relative to the next instruction), Vol. 1 §3.3.7 (67 prefix:
 *   32-bit effective address, zero-extended); shared/reference/kvm-guest-qemu.md §3.3
 *   (WRITE_IMM writes the sign-extended immediate)
 */
import type { MmioImmediateWrite, MmioMemoryOperand, UnsupportedReason } from "./types";
import { NO_REGISTER } from "./types";

const MASK64 = (1n << 64n) - 1n;
const MASK32 = (1n << 32n) - 1n;

/** The value a write-imm puts in memory, as an unsigned `size`-byte integer. */
export function mmioImmediateValue(insn: MmioImmediateWrite): bigint {
  return (BigInt(insn.immHi) << 32n) | BigInt(insn.immLo);
}

/** The value a write-imm puts in memory as `0x` and 2*size lower-case hex digits. */
export function mmioImmediateHex(insn: MmioImmediateWrite): string {
  return `0x${mmioImmediateValue(insn)
    .toString(16)
    .padStart(2 * insn.size, "0")}`;
}

/**
 * The linear address a ModRM memory operand refers to. `gpr(i)` gives the 64-bit value of GPR
 * i (0-15); `rip` is the address of the instruction itself (where RIP points at the #VE);
 * `segmentBase` is FS.base/GS.base for those overrides (0 otherwise in 64-bit mode).
 */
export function mmioEffectiveAddress(
  op: MmioMemoryOperand & { readonly length: number },
  gpr: (index: number) => bigint,
  rip: bigint,
  segmentBase = 0n,
): bigint {
  let ea = op.ripRelative ? rip + BigInt(op.length) : op.base === NO_REGISTER ? 0n : gpr(op.base);
  if (op.index !== NO_REGISTER) ea += gpr(op.index) * BigInt(op.scale);
  ea = (ea + BigInt(op.disp)) & (op.addressSize === 8 ? MASK64 : MASK32);
  return (ea + segmentBase) & MASK64;
}

const WHY: { readonly [R in UnsupportedReason]: string } = {
  truncated: "the bytes end before the instruction does",
  "too-long": "the instruction would be longer than 15 bytes",
  "lock-prefix": "a LOCK prefix on MOV is #UD",
  "rex-not-last": "a REX prefix must come immediately before the opcode",
  "segment-overrides": "more than one segment-override prefix",
  vex: "a VEX-encoded (AVX) instruction",
  evex: "an EVEX-encoded (AVX-512) instruction",
  opcode: "not one of the MOV forms Linux emulates for MMIO (88/89/8A/8B/C6/C7/A4/A5/0F B6/B7/BE/BF)",
  "register-operand": "ModRM mod=3: a register operand, no memory access",
  "modrm-reg": "C6/C7 with ModRM.reg != 0 is not MOV",
};

/** One sentence saying why an instruction is unsupported. */
export function describeUnsupported(reason: UnsupportedReason): string {
  return WHY[reason];
}
