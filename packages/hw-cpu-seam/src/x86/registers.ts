/**
 * General-purpose register names by encoding number and width, as Intel writes them. In 64-bit
 * mode a byte register number 4-7 is AH/CH/DH/BH when the instruction has no REX prefix and
 * SPL/BPL/SIL/DIL when it has any REX prefix (even 40h).
 *
 * @spec Intel SDM Vol. 2 §2.2.1.2 Table 2-5 "Register Specifier for 8-bit registers";
 *   Vol. 1 §3.4.1.1 "General-Purpose Registers in 64-Bit Mode"
 */
import { TdxSimError } from "../errors";
import type { MmioAccessSize } from "./types";

const LOW8 = ["r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"];

export const GPR64_NAMES: readonly string[] = [
  "rax",
  "rcx",
  "rdx",
  "rbx",
  "rsp",
  "rbp",
  "rsi",
  "rdi",
  ...LOW8,
];
export const GPR32_NAMES: readonly string[] = [
  "eax",
  "ecx",
  "edx",
  "ebx",
  "esp",
  "ebp",
  "esi",
  "edi",
  ...LOW8.map((r) => `${r}d`),
];
export const GPR16_NAMES: readonly string[] = [
  "ax",
  "cx",
  "dx",
  "bx",
  "sp",
  "bp",
  "si",
  "di",
  ...LOW8.map((r) => `${r}w`),
];
/** Byte registers when the instruction has a REX prefix. */
export const GPR8_REX_NAMES: readonly string[] = [
  "al",
  "cl",
  "dl",
  "bl",
  "spl",
  "bpl",
  "sil",
  "dil",
  ...LOW8.map((r) => `${r}b`),
];
/** Byte registers 0-7 without a REX prefix (8-15 need REX, so they do not exist here). */
export const GPR8_LEGACY_NAMES: readonly string[] = ["al", "cl", "dl", "bl", "ah", "ch", "dh", "bh"];

/**
 * The Intel name of register number `field` (0-15, REX.R/B already applied) at `size` bytes;
 * `rex` says whether the instruction carries a REX prefix (it changes byte registers 4-7).
 */
export function gprName(field: number, size: MmioAccessSize, rex: boolean): string {
  const table =
    size === 8
      ? GPR64_NAMES
      : size === 4
        ? GPR32_NAMES
        : size === 2
          ? GPR16_NAMES
          : rex
            ? GPR8_REX_NAMES
            : GPR8_LEGACY_NAMES;
  const name = table[field];
  if (name === undefined) {
    throw new TdxSimError(
      "E_BAD_REGISTER",
      `there is no ${size}-byte register number ${field}${rex ? "" : " without REX"}: allowed are 0-15 (0-7 for bytes without REX)`,
    );
  }
  return name;
}

/** Whether byte register number `field` is AH/CH/DH/BH: 4-7 with no REX prefix. */
export function isHighByteRegister(field: number, size: MmioAccessSize, rex: boolean): boolean {
  return size === 1 && !rex && field >= 4 && field <= 7;
}
