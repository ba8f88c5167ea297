/**
 * Field packing shared by the STE and CD codecs: checked unsigned fields, booleans as bits, and
 * 52-bit table addresses split into (or joined from) the two 32-bit halves of an entry, with
 * their alignment (the low bits an entry's address field does not hold).
 *
 * @spec reference/smmu.md §2.1 (STE S1ContextPtr[51:6], S2TTB[51:4]), §3.1 (CD TTB0/TTB1[51:4])
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";

/** An unsigned field of `bits` bits (undefined = 0); anything else is a TdxSimError naming it. */
export function fieldU(n: number | undefined, bits: number, name: string): number {
  const v = n ?? 0;
  if (!Number.isInteger(v) || v < 0 || v >= 2 ** bits) {
    throw new TdxSimError("E_SMMU_FIELD", `${name} = ${String(n)} does not fit in ${bits} bits`);
  }
  return v;
}

/** A boolean as a bit. */
export function bit(x: boolean | undefined): number {
  return x ? 1 : 0;
}

/** A 2^lowBit-aligned address below 2^52 as [low word, high word]. */
export function addrHalves(a: number | undefined, lowBit: number, name: string): [number, number] {
  const v = a ?? 0;
  if (!Number.isSafeInteger(v) || v < 0 || v >= 2 ** 52 || v % 2 ** lowBit !== 0) {
    throw new TdxSimError(
      "E_SMMU_FIELD",
      `${name} = ${String(a)} must be a ${2 ** lowBit}-byte aligned address below 2^52`,
    );
  }
  return [v >>> 0, Math.floor(v / 4294967296)];
}

/** The address field [51:lowBit] of an entry from its two words (bits above 51 ignored). */
export function addr51(lo: number, hi: number, lowBit: number): number {
  const mask = lowBit >= 32 ? 0 : ~((1 << lowBit) - 1) >>> 0;
  return (hi & 0xfffff) * 4294967296 + ((lo & mask) >>> 0);
}
