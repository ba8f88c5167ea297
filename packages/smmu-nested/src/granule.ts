/**
 * VMSAv8-64 granule arithmetic: bits per level, the address shift of each level, the stage-1
 * starting level from TxSZ, the stage-2 starting level from SL0 and the number of concatenated
 * first-level tables, and which levels may hold block descriptors.
 *
 * @spec reference/smmu.md §4.1 (granule table, start level formula), §4.4 (SL0 encoding,
 *   concatenation up to 16 tables); sources: qemu/qemu hw/arm/smmu-internal.h (level_shift,
 *   get_start_level, pgd_concat_idx); Arm ARM D8 (VMSAv8-64 translation) via the reference
 */

/** Granule sizes as log2: 12 (4 KiB), 14 (16 KiB), 16 (64 KiB). */
export type GranuleLog2 = 12 | 14 | 16;

/** Address bits resolved by one level: g - 3 (9, 11, 13). */
export function stride(g: number): number {
  return g - 3;
}

/** Address bits below a level L: g + (3 - L)(g - 3). */
export function levelShift(g: number, level: number): number {
  return g + (3 - level) * (g - 3);
}

/**
 * Stage-1 starting level for an input size of `ias` bits: 4 - ceil((ias - g) / (g - 3)).
 * 4K/48 bits -> 0, 4K/39 -> 1, 64K/48 -> 1, 64K/42 -> 2, 16K/48 -> 0.
 */
export function s1StartLevel(g: number, ias: number): number {
  return 4 - Math.ceil((ias - g) / (g - 3));
}

/** CD.TG0 encoding: 0 = 4 KiB, 1 = 64 KiB, 2 = 16 KiB, 3 reserved (returns 0). */
export function tg0ToLog2(tg: number): number {
  return tg === 0 ? 12 : tg === 1 ? 16 : tg === 2 ? 14 : 0;
}
/** CD.TG1 encoding (different!): 1 = 16 KiB, 2 = 4 KiB, 3 = 64 KiB, 0 reserved (returns 0). */
export function tg1ToLog2(tg: number): number {
  return tg === 1 ? 14 : tg === 2 ? 12 : tg === 3 ? 16 : 0;
}
/** STE.S2TG encoding (as TG0): 0 = 4 KiB, 1 = 64 KiB, 2 = 16 KiB, 3 reserved (returns 0). */
export function s2tgToLog2(tg: number): number {
  return tg0ToLog2(tg);
}
/** Range-invalidation TG (command dw1[11:10]): 1 = 4 KiB, 2 = 16 KiB, 3 = 64 KiB (2·TG + 10). */
export function tlbiTgToLog2(tg: number): number {
  return tg === 0 ? 0 : 2 * tg + 10;
}

/**
 * Stage-2 starting level from S2SL0: 4 KiB: 0 -> L2, 1 -> L1, 2 -> L0, 3 -> L3 (only with
 * FEAT_TTST); 16/64 KiB: 0 -> L3, 1 -> L2, 2 -> L1, 3 reserved. Returns -1 for reserved.
 */
export function s2StartLevel(g: number, sl0: number, ttst: boolean): number {
  if (g === 12) {
    if (sl0 === 3) return ttst ? 3 : -1;
    return 2 - sl0;
  }
  if (sl0 === 3) return -1;
  return 3 - sl0;
}

/**
 * Number of concatenated tables at the stage-2 start level for an input of `ias` bits: the start
 * level resolves ias - shift(start) bits; beyond g - 3 bits the extra ones select one of up to 16
 * concatenated tables. Returns 0 when the combination is invalid (too few bits or more than 16
 * tables), which makes the STE ILLEGAL.
 */
export function s2ConcatenatedTables(g: number, start: number, ias: number): number {
  const bits = ias - levelShift(g, start);
  if (bits < 1) return 0;
  const extra = bits - stride(g);
  if (extra <= 0) return 1;
  if (extra > 4) return 0;
  return 2 ** extra;
}

/** Whether a block descriptor is allowed at `level` (no LPA2; 64 KiB L1 blocks need 52-bit OA). */
export function blockAllowed(g: number, level: number, oaBits: number): boolean {
  if (g === 12) return level === 1 || level === 2;
  if (g === 14) return level === 2;
  return level === 2 || (level === 1 && oaBits === 52);
}

/** Powers of two up to 2^63 as exact doubles (table lookups avoid Math.pow on walks). */
export const POW2: Float64Array = (() => {
  const t = new Float64Array(64);
  for (let i = 0; i < 64; i++) t[i] = 2 ** i;
  return t;
})();
