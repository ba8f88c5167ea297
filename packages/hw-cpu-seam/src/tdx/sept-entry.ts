/**
 * Secure EPT entry format: architectural EPT bits (R/W/X 0-2, memory type 3-5, IPAT 6, PS 7,
 * A 8, D 9, PA 51:12, suppress-#VE 63) plus the TDX software bits (TDEX 53, TDBW 54, TDB 55,
 * TDP 56). The SEPT state is a 7-bit encoding of D, TDEX..TDP, IPAT and PS; each state has a
 * public number (returned in RDX bits 15:8 on errors) and per-leaf allowed-state rows.
 * Entries are handled as two 32-bit halves (lo = bits 31:0, hi = bits 63:32), no bigint.
 *
 * @spec shared/reference/tdx-module.md §6.2, §3.4; intel/tdx-module
 *   include/auto_gen/sept_state_lookup.{h,c} (encodings, public states, seamcall/tdcall rows),
 *   src/common/x86_defs/x86_defs.h ia32e_sept_t, src/common/memory_handlers/sept_manager.h
 *   (SEPT_CONVERT_TO_ENCODING, SEPT_STATE_ENC_TO_MASK)
 */
import { SeamcallLeaf, TdcallLeaf } from "./leaves";

/** SEPT state encodings (bits: 0 = D, 1..4 = TDEX/TDBW/TDB/TDP, 5..6 = IPAT/PS). */
export const SeptState = {
  FREE: 0x0e,
  REMOVED: 0x0c,
  NL_MAPPED: 0x00,
  NL_BLOCKED: 0x08,
  MAPPED: 0x60,
  BLOCKED: 0x68,
  BLOCKEDW: 0x64,
  EXPORTED_BLOCKEDW: 0x66,
  EXPORTED_DIRTY: 0x63,
  EXPORTED_DIRTY_BLOCKEDW: 0x67,
  PENDING: 0x70,
  PENDING_BLOCKED: 0x78,
  PENDING_BLOCKEDW: 0x74,
  PENDING_EXPORTED_BLOCKEDW: 0x76,
  PENDING_EXPORTED_DIRTY: 0x73,
  PENDING_EXPORTED_DIRTY_BLOCKEDW: 0x77,
} as const;
export type SeptState = (typeof SeptState)[keyof typeof SeptState];

/** Order of the 16 states in the lookup tables (their `index`). */
const STATE_ORDER: readonly SeptState[] = [
  SeptState.FREE,
  SeptState.REMOVED,
  SeptState.NL_MAPPED,
  SeptState.NL_BLOCKED,
  SeptState.MAPPED,
  SeptState.BLOCKED,
  SeptState.BLOCKEDW,
  SeptState.EXPORTED_BLOCKEDW,
  SeptState.EXPORTED_DIRTY,
  SeptState.EXPORTED_DIRTY_BLOCKEDW,
  SeptState.PENDING,
  SeptState.PENDING_BLOCKED,
  SeptState.PENDING_BLOCKEDW,
  SeptState.PENDING_EXPORTED_BLOCKEDW,
  SeptState.PENDING_EXPORTED_DIRTY,
  SeptState.PENDING_EXPORTED_DIRTY_BLOCKEDW,
];

/** Public state numbers, in STATE_ORDER. @spec sept_state_lookup.c .public_state */
const PUBLIC_STATE: readonly number[] = [0, 5, 0x84, 0x81, 4, 1, 8, 9, 11, 12, 2, 3, 16, 17, 19, 20];

/** Per-leaf allowed source states, 16 columns in STATE_ORDER. @spec sept_state_lookup.c */
const SEAMCALL_ROWS: Readonly<Record<number, string>> = {
  [SeamcallLeaf.MEM_PAGE_ADD]: "1000000000000000",
  [SeamcallLeaf.MEM_SEPT_ADD]: "1010000000000000",
  [SeamcallLeaf.MEM_PAGE_AUG]: "1100000000000000",
  [SeamcallLeaf.MEM_RANGE_BLOCK]: "0010101000101000",
  [SeamcallLeaf.MEM_RD]: "0000101111000000",
  [SeamcallLeaf.MEM_WR]: "0000100010000000",
  [SeamcallLeaf.MEM_PAGE_DEMOTE]: "0000110000110000",
  [SeamcallLeaf.MR_EXTEND]: "0000100000000000",
  [SeamcallLeaf.MEM_PAGE_PROMOTE]: "0011000000000000",
  [SeamcallLeaf.MEM_SEPT_RD]: "1111111111111111",
  [SeamcallLeaf.MEM_PAGE_REMOVE]: "0000111000111000",
  [SeamcallLeaf.MEM_SEPT_REMOVE]: "0011000000000000",
  [SeamcallLeaf.MEM_RANGE_UNBLOCK]: "0001010000010000",
};
const TDCALL_ROWS: Readonly<Record<number, string>> = {
  [TdcallLeaf.MEM_PAGE_ACCEPT]: "0000000000100010",
};

/** enc -> index in STATE_ORDER, -1 for encodings that are not states. */
const INDEX_OF_ENC = new Int8Array(128).fill(-1);
STATE_ORDER.forEach((e, i) => {
  INDEX_OF_ENC[e] = i;
});

export const SEPT_R = 1;
export const SEPT_W = 2;
export const SEPT_X = 4;
export const SEPT_RWX = 7;
/** Memory type WB (6) in bits 5:3, used in private leaves. */
export const SEPT_MT_WB_LO = 6 << 3;
/** Suppress-#VE (bit 63) in the high half. */
export const SVE_HI = 0x80000000;
const STATE_MASK_LO = 0x2c0; // D 9, PS 7, IPAT 6
const STATE_MASK_HI = 0x1e00000; // TDEX 53 .. TDP 56

/** The state encoding of an entry. */
export function septStateOf(lo: number, hi: number): number {
  return ((lo >>> 9) & 1) | (((hi >>> 21) & 0xf) << 1) | (((lo >>> 6) & 3) << 5);
}

/** Entry halves carrying `state` (keeping the other bits of lo/hi), SVE set. */
export function withSeptState(lo: number, hi: number, state: number): [number, number] {
  const sLo = ((state & 1) << 9) | (((state >>> 5) & 3) << 6);
  const sHi = ((state >>> 1) & 0xf) << 21;
  return [((lo & ~STATE_MASK_LO) | sLo) >>> 0, ((hi & ~STATE_MASK_HI) | sHi | SVE_HI) >>> 0];
}

/** The PA (bits 51:12, KeyID bits included) of an entry. */
export function septPa(lo: number, hi: number): number {
  return (hi & 0xfffff) * 4294967296 + ((lo & 0xfffff000) >>> 0);
}

/** lo/hi PA fields for `pa` (4 KiB aligned, < 2^52). */
export function paFields(pa: number): [number, number] {
  return [(pa % 4294967296) & 0xfffff000, Math.floor(pa / 4294967296) & 0xfffff];
}

/** A FREE entry. */
export function freeEntry(): [number, number] {
  return withSeptState(0, 0, SeptState.FREE);
}

/** A non-leaf entry (NL_MAPPED, RWX) pointing at the SEPT page `childPa`. */
export function nonLeafEntry(childPa: number): [number, number] {
  const [pl, ph] = paFields(childPa);
  return withSeptState(pl | SEPT_RWX, ph, SeptState.NL_MAPPED);
}

/** A leaf entry for `pa` in `state` (MAPPED gets RWX; PENDING/BLOCKED have no permissions). */
export function leafEntry(pa: number, state: SeptState): [number, number] {
  const [pl, ph] = paFields(pa);
  const perms = state === SeptState.MAPPED ? SEPT_RWX : 0;
  return withSeptState(pl | SEPT_MT_WB_LO | perms, ph, state);
}

export function isSeptState(enc: number): boolean {
  return enc >= 0 && enc < 128 && INDEX_OF_ENC[enc]! >= 0;
}

/** Public state number of an encoding (0xFF for a non-state encoding). */
export function publicSeptState(enc: number): number {
  const i = INDEX_OF_ENC[enc & 0x7f]!;
  return i < 0 ? 0xff : PUBLIC_STATE[i]!;
}

/** Whether SEAMCALL `leaf` may operate on an entry in state `enc`. */
export function seamcallAllowedInSeptState(leaf: number, enc: number): boolean {
  const row = SEAMCALL_ROWS[leaf];
  const i = INDEX_OF_ENC[enc & 0x7f]!;
  return row !== undefined && i >= 0 && row[i] === "1";
}

/** Whether TDCALL `leaf` may operate on an entry in state `enc`. */
export function tdcallAllowedInSeptState(leaf: number, enc: number): boolean {
  const row = TDCALL_ROWS[leaf];
  const i = INDEX_OF_ENC[enc & 0x7f]!;
  return row !== undefined && i >= 0 && row[i] === "1";
}

/** Leaf state (PS-tagged) vs non-leaf/free, for levels above 0. */
export function isLeafState(enc: number): boolean {
  return ((enc >>> 6) & 1) === 1;
}

export function isBlockedState(enc: number): boolean {
  return enc === SeptState.BLOCKED || enc === SeptState.NL_BLOCKED || enc === SeptState.PENDING_BLOCKED;
}

export function isPendingState(enc: number): boolean {
  return enc === SeptState.PENDING || enc === SeptState.PENDING_BLOCKED;
}

/** The state an UNBLOCK restores. */
export function unblockedState(enc: number): SeptState {
  if (enc === SeptState.NL_BLOCKED) return SeptState.NL_MAPPED;
  if (enc === SeptState.PENDING_BLOCKED) return SeptState.PENDING;
  return SeptState.MAPPED;
}

/** The state a BLOCK produces. */
export function blockedState(enc: number): SeptState {
  if (enc === SeptState.NL_MAPPED) return SeptState.NL_BLOCKED;
  if (enc === SeptState.PENDING || enc === SeptState.PENDING_BLOCKEDW) return SeptState.PENDING_BLOCKED;
  return SeptState.BLOCKED;
}

/**
 * The architectural view of an entry the module returns in RCX on SEPT errors: FREE reads as
 * only SVE; a leaf keeps R/W/X, memory type, IPAT, PS, PA and SVE; a non-leaf R/W/X, PA, SVE.
 * @spec sept_manager.c set_arch_septe_details_in_vmm_regs
 */
export function archSeptEntry(lo: number, hi: number, level: number): bigint {
  const enc = septStateOf(lo, hi);
  if (enc === SeptState.FREE) return 1n << 63n;
  const leaf = level === 0 || isLeafState(enc);
  const keepLo = (leaf ? 0xff : 0x07) | 0xfffff000;
  const v = (BigInt((hi & 0xfffff) | SVE_HI) << 32n) | BigInt((lo & keepLo) >>> 0);
  return v;
}

/** RDX on SEPT errors: level in bits 2:0, public state in 15:8. */
export function septLevelStateInfo(level: number, enc: number): bigint {
  return BigInt((level & 7) | (publicSeptState(enc) << 8));
}
