/**
 * The decoded forms of the x86 instructions that can touch MMIO, as the guest's #VE handler needs
 * them: a closed discriminated union on `kind`, one small object per decode (strings come from
 * constant tables, never built per call).
 *
 * @spec shared/reference/kvm-guest-qemu.md §3.3 (insn_decode_mmio table and per-type handling);
 *   torvalds/linux arch/x86/include/asm/insn-eval.h `enum insn_mmio_type`
 */

/** Memory access size in bytes. */
export type MmioAccessSize = 1 | 2 | 4 | 8;

/**
 * The MMIO instruction classes, named after Linux's `enum insn_mmio_type` (INSN_MMIO_WRITE,
 * _WRITE_IMM, _READ, _READ_ZERO_EXTEND, _READ_SIGN_EXTEND, _MOVS).
 */
export type MmioKind = "write" | "write-imm" | "read" | "read-zext" | "read-sext" | "movs";

/** A segment-override prefix (26/2E/36/3E/64/65), or none. */
export type SegmentOverride = "none" | "es" | "cs" | "ss" | "ds" | "fs" | "gs";

/** "No register" in the `base` / `index` fields of a memory operand. */
export const NO_REGISTER = -1;

/**
 * The memory operand of a ModRM instruction, as effective-address components. The effective
 * address is `base + index*scale + disp` (RIP-relative: the address of the next instruction +
 * disp), truncated to `addressSize` bytes, plus the segment base (only FS/GS are non-zero in
 * 64-bit mode).
 *
 * @spec Intel SDM Vol. 2 §2.2.1.3 (ModRM/SIB in 64-bit mode), §2.2.1.6 (RIP-relative addressing)
 */
export interface MmioMemoryOperand {
  /** 8, or 4 with the 67 address-size prefix (32-bit registers, result zero-extended). */
  readonly addressSize: 4 | 8;
  readonly segment: SegmentOverride;
  /** GPR number 0-15 (REX.B applied), or NO_REGISTER. */
  readonly base: number;
  /** GPR number 0-15 (REX.X applied; 4 without REX.X means none), or NO_REGISTER. */
  readonly index: number;
  /** 1, 2, 4 or 8; 1 whenever there is no index. */
  readonly scale: 1 | 2 | 4 | 8;
  /** Signed displacement (disp8 sign-extended, or disp32); 0 when there is none. */
  readonly disp: number;
  /** ModRM mod=00 r/m=101: the address is RIP (of the next instruction) + disp32. */
  readonly ripRelative: boolean;
}

interface Decoded {
  /** Memory access size in bytes (for MOVZX/MOVSX the source size, as Linux reports it). */
  readonly size: MmioAccessSize;
  /** Instruction length in bytes (how far RIP advances). */
  readonly length: number;
}

/** MOV between a general-purpose register and memory, including MOVZX/MOVSX loads. */
export interface MmioRegisterAccess extends Decoded, MmioMemoryOperand {
  readonly kind: "write" | "read" | "read-zext" | "read-sext";
  /** The register operand by its Intel name: "eax", "r8d", "ah", "sil", ... */
  readonly reg: string;
  /**
   * The GPR the ISA accesses, 0-15 (rax=0 ... r15=15). AH/CH/DH/BH give 0-3 with
   * `regHighByte` set: they are byte 1 of RAX/RCX/RDX/RBX.
   */
  readonly regIndex: number;
  readonly regHighByte: boolean;
  /**
   * ModRM.reg with REX.R as encoded (AH..BH give 4-7). Linux's insn_get_modrm_reg_ptr() resolves
   * exactly this number to a pt_regs slot, so for AH..BH it names RSP/RBP/RSI/RDI.
   */
  readonly regField: number;
  /** Width of the register operand: equals `size` except for MOVZX/MOVSX (opnd_bytes). */
  readonly regSize: MmioAccessSize;
}

/** MOV of an immediate to memory (C6 /0 ib, C7 /0 iw/id). */
export interface MmioImmediateWrite extends Decoded, MmioMemoryOperand {
  readonly kind: "write-imm";
  /** Low 32 bits of the value memory receives (unsigned; only the low `size` bytes are set). */
  readonly immLo: number;
  /** High 32 bits (unsigned): the sign extension of imm32 when size is 8, else 0. */
  readonly immHi: number;
}

/** MOVS (A4/A5): memory to memory, DS:rSI (segment overridable) to ES:rDI. */
export interface MmioStringMove extends Decoded {
  readonly kind: "movs";
  readonly addressSize: 4 | 8;
  /** Override of the source segment (the destination is always ES). */
  readonly segment: SegmentOverride;
  /** F3 (REP) or F2 (REPNE, which MOVS treats as REP); the last one given wins. */
  readonly rep: "none" | "rep" | "repne";
}

/**
 * Why bytes are not an MMIO instruction Linux's #VE handler emulates.
 * - truncated: the bytes end before the instruction does;
 * - too-long: the instruction would exceed 15 bytes (#GP on hardware; MAX_INSN_SIZE in Linux);
 * - lock-prefix: F0 on a MOV is #UD (SDM Vol. 2 "LOCK"), it never reaches memory;
 * - rex-not-last: a REX byte not immediately before the opcode (hardware ignores it; Linux's
 *   decoder then takes the next prefix as the opcode and fails);
 * - segment-overrides: two different segment-override prefixes (undefined, SDM Vol. 2 §2.1.1;
 *   Linux's get_seg_override_idx() returns -EINVAL; a repeated one is stored, and counted, once);
 * - vex, evex: C4/C5 and 62 encodings (AVX, AVX-512);
 * - opcode: an opcode insn_decode_mmio() does not list (ALU ops, XCHG, MOVNTI, SSE, ...);
 * - register-operand: ModRM mod=3, no memory access at all;
 * - modrm-reg: C6/C7 with ModRM.reg != 0, which is not MOV (#UD, or XABORT/XBEGIN).
 */
export type UnsupportedReason =
  | "truncated"
  | "too-long"
  | "lock-prefix"
  | "rex-not-last"
  | "segment-overrides"
  | "vex"
  | "evex"
  | "opcode"
  | "register-operand"
  | "modrm-reg";

export interface MmioUnsupported {
  readonly kind: "unsupported";
  readonly reason: UnsupportedReason;
}

/** The outcome of decoding one instruction. */
export type MmioInstruction = MmioRegisterAccess | MmioImmediateWrite | MmioStringMove | MmioUnsupported;
