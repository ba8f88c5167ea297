/**
 * General-purpose register files as the SEAMCALL/TDCALL ABIs see them: a BigUint64Array of 16
 * registers indexed by their x86 encoding (RAX 0, RCX 1, RDX 2, RBX 3, RSP 4, RBP 5, RSI 6,
 * RDI 7, R8..R15 8..15). bigint lives here because this is the 64-bit ABI edge.
 *
 * @spec Intel SDM Vol. 2 §2.1.5 (register encodings); shared/reference/tdx-module.md §0, §4.3
 *   (the VMCALL GPR-select bitmap uses the same order)
 */

export const Gpr = {
  RAX: 0,
  RCX: 1,
  RDX: 2,
  RBX: 3,
  RSP: 4,
  RBP: 5,
  RSI: 6,
  RDI: 7,
  R8: 8,
  R9: 9,
  R10: 10,
  R11: 11,
  R12: 12,
  R13: 13,
  R14: 14,
  R15: 15,
} as const;
export type Gpr = (typeof Gpr)[keyof typeof Gpr];

/** 16 64-bit GPRs in x86 encoding order. */
export type GprFile = BigUint64Array;

export function newGprFile(): GprFile {
  return new BigUint64Array(16);
}

/** Named inputs for building a register file (unnamed registers are 0). */
export type GprValues = Partial<Record<Lowercase<keyof typeof Gpr>, bigint | number>>;

/** A register file holding `values` (numbers must be safe integers). */
export function gprFileOf(values: GprValues): GprFile {
  const f = newGprFile();
  for (const [name, v] of Object.entries(values)) {
    if (v === undefined) continue;
    const idx = Gpr[name.toUpperCase() as keyof typeof Gpr];
    f[idx] = BigInt.asUintN(64, typeof v === "bigint" ? v : BigInt(v));
  }
  return f;
}

/** A register value as a number; exact only below 2^53 (addresses, counts). */
export function regNumber(f: GprFile, r: Gpr): number {
  return Number(f[r]);
}

/** Zero every register. */
export function clearGprFile(f: GprFile): void {
  f.fill(0n);
}
