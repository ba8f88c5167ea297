/**
 * VMSAv8-64 descriptor decoding shared by both stages: output addresses from the two 32-bit
 * halves, big-endian swapping, and the bit positions of the attributes the walker checks.
 *
 * @spec reference/smmu.md §4.2 (descriptor formats: bits[1:0], OA[47:g], AF[10], nG[11],
 *   AP[7:6], S2AP[7:6], MemAttr[5:2], DBM[51], PXN[53], UXN/XN[54], APTable[62:61],
 *   UXNTable[60], PXNTable[59]); Arm ARM D8.3 via the reference
 */

/** Low-word bits. */
export const DescLo = {
  VALID: 1,
  TABLE_OR_PAGE: 2,
  /** Stage-1 AP[1]: EL0 access. */
  AP1: 1 << 6,
  /** Stage-1 AP[2]: read-only. */
  AP2: 1 << 7,
  /** Stage-2 S2AP[0]: read. */
  S2AP_R: 1 << 6,
  /** Stage-2 S2AP[1]: write. */
  S2AP_W: 1 << 7,
  AF: 1 << 10,
  NG: 1 << 11,
} as const;

/** High-word bits (descriptor bit n is high-word bit n - 32). */
export const DescHi = {
  DBM: 1 << 19,
  PXN: 1 << 21,
  UXN: 1 << 22,
  /** Stage-2 XN[1:0] at bits [54:53] (FEAT_XNX); without XNX only bit 54. */
  S2XN_SHIFT: 21,
  PXN_TABLE: 1 << 27,
  UXN_TABLE: 1 << 28,
  /** APTable[0] (bit 61): no EL0 access below. */
  AP_TABLE_NO_EL0: 1 << 29,
  /** APTable[1] (bit 62): read-only below. */
  AP_TABLE_RO: 1 << 30,
} as const;

/** Byte-swap a 32-bit word. */
export function bswap32(x: number): number {
  return (((x & 0xff) << 24) | ((x & 0xff00) << 8) | ((x >>> 8) & 0xff00) | (x >>> 24)) >>> 0;
}

/**
 * Output (or next-table) address of a descriptor: bits [47:g]; with a 64 KiB granule and a 52-bit
 * output size, bits [15:12] carry OA[51:48] (FEAT_LPA).
 */
export function outputAddress(lo: number, hi: number, g: number, oaBits: number): number {
  const low = (lo & ~((1 << g) - 1)) >>> 0;
  let a = (hi & 0xffff) * 4294967296 + low;
  if (g === 16 && oaBits === 52) a += ((lo >>> 12) & 0xf) * 281474976710656;
  return a;
}
