/**
 * Which register an emulated MMIO instruction reads or writes, and how a read's value lands in
 * it. Two models (option `mmioRegisters`):
 * - "linux" (default), `handle_mmio()` to the letter: the register is the pt_regs slot that
 *   ModRM.reg (+REX.R) indexes, so AH/CH/DH/BH resolve to RSP/RBP/RSI/RDI; writes send the low
 *   `size` bytes of that slot. A read then does `memset(reg, extend_val, extend_size)` and
 *   `memcpy(reg, &val, size)`: READ zeroes all 8 bytes first when size is 4 (32-bit results
 *   zero-extend) and otherwise merges (1/2 bytes) or replaces (8); READ_ZERO_EXTEND zeroes
 *   opnd_bytes bytes; READ_SIGN_EXTEND fills opnd_bytes bytes with 0xFF when bit 7 (size 1) or
 *   bit 15 (size 2) of the value is set. A 4-byte MOVZX/MOVSX destination keeps bits 63:32.
 * - "isa": what the CPU would have done: AH..BH are bits 15:8 of RAX..RBX; 8/16-bit results
 *   merge; any 32-bit destination zero-extends to 64 bits; MOVSX sign-extends to the
 *   destination width.
 *
 * @spec shared/reference/kvm-guest-qemu.md §3.3 "Handling per type" (incl. the inferred notes on
 *   32-bit extend destinations and the missing AH..BH case), §8 item 3; torvalds/linux
 *   arch/x86/coco/tdx/tdx.c handle_mmio(), arch/x86/lib/insn-eval.c insn_get_modrm_reg_ptr()
 *   (regoff[] table in GPR order); Intel SDM Vol. 1 §3.4.1.1 (32-bit results zero-extend),
 *   Vol. 2 "MOVZX", "MOVSX"
 */
import type { MmioRegisterAccess } from "@tdx/hw-cpu-seam";
import type { MmioRegisterModel } from "./guest";

const MASK64 = 0xffffffffffffffffn;

function bytesMask(n: number): bigint {
  return n >= 8 ? MASK64 : (1n << BigInt(8 * n)) - 1n;
}

/** `old` with `n` bytes at byte `offset` replaced by the low bytes of `value`. */
function replaceBytes(old: bigint, offset: number, n: number, value: bigint): bigint {
  const shift = BigInt(8 * offset);
  const m = bytesMask(n) << shift;
  return (old & ~m & MASK64) | ((value << shift) & m);
}

/** The GPR index holding the operand and the byte offset within it. */
export function mmioRegisterSlot(
  insn: MmioRegisterAccess,
  model: MmioRegisterModel,
): { index: number; byte: number } {
  if (model === "linux") return { index: insn.regField, byte: 0 };
  return { index: insn.regIndex, byte: insn.regHighByte ? 1 : 0 };
}

/** The value a register-to-memory MOV sends: `size` bytes of the operand register. */
export function mmioWriteValue(
  gpr: BigUint64Array,
  insn: MmioRegisterAccess,
  model: MmioRegisterModel,
): bigint {
  const s = mmioRegisterSlot(insn, model);
  return (gpr[s.index]! >> BigInt(8 * s.byte)) & bytesMask(insn.size);
}

/** Put the `size`-byte value a read returned into the destination register. */
export function mmioWriteBack(
  gpr: BigUint64Array,
  insn: MmioRegisterAccess,
  rawValue: bigint,
  model: MmioRegisterModel,
): void {
  const size = insn.size;
  const value = rawValue & bytesMask(size);
  const s = mmioRegisterSlot(insn, model);
  const old = gpr[s.index]!;
  if (model === "linux") {
    let extendSize = 0;
    let extendVal = 0n;
    if (insn.kind === "read") extendSize = size === 4 ? 8 : 0;
    else if (insn.kind === "read-zext") extendSize = insn.regSize;
    else if (insn.kind === "read-sext") {
      extendSize = insn.regSize;
      const signBit = size === 1 ? 0x80n : 0x8000n;
      extendVal = (rawValue & signBit) !== 0n ? MASK64 : 0n;
    }
    let r = old;
    if (extendSize > 0) r = replaceBytes(r, 0, extendSize, extendVal);
    gpr[s.index] = replaceBytes(r, 0, size, value);
    return;
  }
  // ISA
  let result = value;
  if (insn.kind === "read-sext") {
    const bits = BigInt(8 * size);
    if ((value >> (bits - 1n)) & 1n) result = (value | (MASK64 << bits)) & MASK64;
  }
  const width = insn.kind === "read" ? size : insn.regSize;
  if (width >= 4) gpr[s.index] = result & bytesMask(width);
  else gpr[s.index] = replaceBytes(old, s.byte, width, result);
}
