/**
 * TDMR_INFO: the byte layout the host hands TDH.SYS.CONFIG, and the module's validation of a
 * TDMR list against the CMRs (alignment, order, reserved areas, PAMT placement), returning the
 * real "multiple info" statuses (TDMR index, PAMT level, other TDMR index).
 *
 * @spec shared/reference/tdx-module.md §5.2, §5.3; intel/tdx-module include/tdx_api_defs.h
 *   (tdmr_info_entry_t, TDMR_INFO_ENTRY_PTR_ARRAY_ALIGNMENT 512),
 *   src/vmm_dispatcher/api_calls/tdh_sys_config.c (check order and statuses)
 */

import { putU64, u64At } from "./seam-memory";
import { PageLevel } from "./states";
import { withMultipleInfo } from "./status";
import { TdxStatus } from "./status-codes";

export const MAX_TDMRS = 64;
export const MAX_RESERVED_PER_TDMR = 16;
export const PAMT_ENTRY_SIZE = 16;
/** 8 u64 fields + 16 reserved {offset, size} pairs. */
export const TDMR_INFO_SIZE = 64 + MAX_RESERVED_PER_TDMR * 16;
/** Alignment of the TDMR_INFO PA array and of each entry. */
export const TDMR_INFO_ALIGNMENT = 512;
export const MAX_CMRS = 32;

const GIB = 1024 * 1024 * 1024;
const MIB2 = 2 * 1024 * 1024;
const KIB4 = 4096;

export interface PhysRange {
  readonly base: number;
  readonly size: number;
}
export interface ReservedArea {
  readonly offset: number;
  readonly size: number;
}
export interface TdmrInfo {
  readonly base: number;
  readonly size: number;
  readonly pamt1gBase: number;
  readonly pamt1gSize: number;
  readonly pamt2mBase: number;
  readonly pamt2mSize: number;
  readonly pamt4kBase: number;
  readonly pamt4kSize: number;
  /** Up to 16 areas; a size-0 entry ends the list. */
  readonly reserved: readonly ReservedArea[];
}

/** Encode one TDMR_INFO entry (320 bytes). */
export function encodeTdmrInfo(t: TdmrInfo): Uint8Array {
  const b = new Uint8Array(TDMR_INFO_SIZE);
  const fields = [
    t.base,
    t.size,
    t.pamt1gBase,
    t.pamt1gSize,
    t.pamt2mBase,
    t.pamt2mSize,
    t.pamt4kBase,
    t.pamt4kSize,
  ];
  fields.forEach((v, i) => {
    putU64(b, i * 8, v);
  });
  t.reserved.slice(0, MAX_RESERVED_PER_TDMR).forEach((r, i) => {
    putU64(b, 64 + i * 16, r.offset);
    putU64(b, 64 + i * 16 + 8, r.size);
  });
  return b;
}

/** Decode one TDMR_INFO entry (all 16 reserved slots, null entries included). */
export function decodeTdmrInfo(b: Uint8Array): TdmrInfo {
  const reserved: ReservedArea[] = [];
  for (let i = 0; i < MAX_RESERVED_PER_TDMR; i++) {
    reserved.push({ offset: u64At(b, 64 + i * 16), size: u64At(b, 64 + i * 16 + 8) });
  }
  return {
    base: u64At(b, 0),
    size: u64At(b, 8),
    pamt1gBase: u64At(b, 16),
    pamt1gSize: u64At(b, 24),
    pamt2mBase: u64At(b, 32),
    pamt2mSize: u64At(b, 40),
    pamt4kBase: u64At(b, 48),
    pamt4kSize: u64At(b, 56),
    reserved,
  };
}

/** PAMT bytes per level for a TDMR of `tdmrSize`, each rounded up to 4 KiB (as Linux allocates). */
export function pamtSizes(tdmrSize: number): {
  readonly l1g: number;
  readonly l2m: number;
  readonly l4k: number;
} {
  const up = (n: number) => Math.ceil(n / KIB4) * KIB4;
  return {
    l1g: up((tdmrSize / GIB) * PAMT_ENTRY_SIZE),
    l2m: up((tdmrSize / MIB2) * PAMT_ENTRY_SIZE),
    l4k: up((tdmrSize / KIB4) * PAMT_ENTRY_SIZE),
  };
}

const aligned = (v: number, a: number) => v % a === 0;
const overlap = (b1: number, s1: number, b2: number, s2: number) => b1 < b2 + s2 && b2 < b1 + s1;

/** Whether [start, end) lies in one CMR or in a run of contiguous CMRs (is_area_in_cmr). */
export function isAreaInCmrs(start: number, end: number, cmrs: readonly PhysRange[]): boolean {
  let runStart = 0;
  let runEnd = 0;
  for (const c of cmrs) {
    if (c.size === 0) continue;
    const s = c.base === runEnd ? runStart : c.base;
    const e = c.base + c.size;
    if (start >= s && end <= e) return true;
    runStart = s;
    runEnd = e;
  }
  return false;
}

/** The non-reserved ("available") parts of a TDMR, in order. */
export function availableAreas(t: TdmrInfo): PhysRange[] {
  const out: PhysRange[] = [];
  let cur = t.base;
  const end = t.base + t.size;
  for (const r of t.reserved) {
    if (r.size === 0) break;
    const rs = t.base + r.offset;
    if (rs > cur) out.push({ base: cur, size: rs - cur });
    cur = Math.max(cur, rs + r.size);
  }
  if (end > cur) out.push({ base: cur, size: end - cur });
  return out;
}

interface PamtArea {
  readonly base: number;
  readonly size: number;
  readonly level: PageLevel;
}
function pamtAreas(t: TdmrInfo): PamtArea[] {
  return [
    { base: t.pamt4kBase, size: t.pamt4kSize, level: PageLevel.L4K },
    { base: t.pamt2mBase, size: t.pamt2mSize, level: PageLevel.L2M },
    { base: t.pamt1gBase, size: t.pamt1gSize, level: PageLevel.L1G },
  ];
}

function checkReserved(t: TdmrInfo, i: number): bigint {
  for (let j = 0; j < MAX_RESERVED_PER_TDMR; j++) {
    const r = t.reserved[j]!;
    if (r.size === 0) {
      if (j < MAX_RESERVED_PER_TDMR - 1 && t.reserved[j + 1]!.size !== 0) {
        return withMultipleInfo(TdxStatus.NON_ORDERED_RESERVED_IN_TDMR, i, j);
      }
      continue;
    }
    if (j > 0) {
      const p = t.reserved[j - 1]!;
      if (r.offset < p.offset || r.offset < p.offset + p.size) {
        return withMultipleInfo(TdxStatus.NON_ORDERED_RESERVED_IN_TDMR, i, j);
      }
    }
    if (!aligned(r.offset, KIB4) || !aligned(r.size, KIB4) || r.offset + r.size > t.size) {
      return withMultipleInfo(TdxStatus.INVALID_RESERVED_IN_TDMR, i, j);
    }
  }
  return TdxStatus.SUCCESS;
}

function pamtAddressOk(a: PamtArea, tdmrSize: number, paLimit: number): boolean {
  if (!aligned(a.base, KIB4) || !aligned(a.size, KIB4)) return false;
  if (a.base >= paLimit || a.base + a.size - 1 >= paLimit) return false;
  const required = (tdmrSize / [KIB4, MIB2, GIB][a.level]!) * PAMT_ENTRY_SIZE;
  return a.size >= required;
}

function overlapsAvailable(t: TdmrInfo, a: PamtArea): boolean {
  return availableAreas(t).some((r) => overlap(a.base, a.size, r.base, r.size));
}

function checkPamts(
  list: readonly TdmrInfo[],
  i: number,
  cmrs: readonly PhysRange[],
  paLimit: number,
): bigint {
  const t = list[i]!;
  const mine = pamtAreas(t);
  // addresses and sizes, in the module's order 1G, 2M, 4K
  for (const a of [mine[2]!, mine[1]!, mine[0]!]) {
    if (!pamtAddressOk(a, t.size, paLimit)) return withMultipleInfo(TdxStatus.INVALID_PAMT, i, a.level);
  }
  // PAMTs must not overlap other PAMTs (earlier TDMRs', then this TDMR's own three)
  for (let j = 0; j < i; j++) {
    const theirs = pamtAreas(list[j]!);
    for (const a of mine) {
      if (theirs.some((o) => overlap(a.base, a.size, o.base, o.size))) {
        return withMultipleInfo(TdxStatus.PAMT_OVERLAP, i, a.level, j);
      }
    }
  }
  const [p4k, p2m, p1g] = mine as [PamtArea, PamtArea, PamtArea];
  if (overlap(p4k.base, p4k.size, p2m.base, p2m.size) || overlap(p4k.base, p4k.size, p1g.base, p1g.size)) {
    return withMultipleInfo(TdxStatus.PAMT_OVERLAP, i, PageLevel.L4K, i);
  }
  if (overlap(p2m.base, p2m.size, p1g.base, p1g.size)) {
    return withMultipleInfo(TdxStatus.PAMT_OVERLAP, i, PageLevel.L2M, i);
  }
  // PAMTs may sit only in reserved areas of any TDMR
  for (let j = 0; j <= i; j++) {
    for (const a of mine) {
      if (overlapsAvailable(list[j]!, a)) return withMultipleInfo(TdxStatus.PAMT_OVERLAP, i, a.level, j);
    }
    if (j < i) {
      for (const a of pamtAreas(list[j]!)) {
        if (overlapsAvailable(t, a)) return withMultipleInfo(TdxStatus.PAMT_OVERLAP, j, a.level, i);
      }
    }
  }
  for (const a of [p1g, p2m, p4k]) {
    if (!isAreaInCmrs(a.base, a.base + a.size, cmrs)) {
      return withMultipleInfo(TdxStatus.PAMT_OUTSIDE_CMRS, i, a.level);
    }
  }
  return TdxStatus.SUCCESS;
}

/**
 * Validate TDMRs 0..i-1 are already accepted; check TDMR `i` as TDH.SYS.CONFIG does.
 * `paLimit` is 2^(MAX_PA - KeyID bits): a PA at or above it has non-zero HKID bits.
 */
export function checkTdmr(
  list: readonly TdmrInfo[],
  i: number,
  cmrs: readonly PhysRange[],
  paLimit: number,
): bigint {
  const t = list[i]!;
  if (!Number.isSafeInteger(t.base + t.size)) return withMultipleInfo(TdxStatus.INVALID_TDMR, i);
  if (i > 0) {
    const p = list[i - 1]!;
    if (t.base < p.base || t.base < p.base + p.size) return withMultipleInfo(TdxStatus.NON_ORDERED_TDMR, i);
  }
  if (!aligned(t.base, GIB) || !aligned(t.size, GIB) || t.size <= 0) {
    return withMultipleInfo(TdxStatus.INVALID_TDMR, i);
  }
  if (t.base >= paLimit || t.base + t.size - 1 >= paLimit) return withMultipleInfo(TdxStatus.INVALID_TDMR, i);
  const rsv = checkReserved(t, i);
  if (rsv !== TdxStatus.SUCCESS) return rsv;
  const pamt = checkPamts(list, i, cmrs, paLimit);
  if (pamt !== TdxStatus.SUCCESS) return pamt;
  for (const a of availableAreas(t)) {
    if (!isAreaInCmrs(a.base, a.base + a.size, cmrs)) return withMultipleInfo(TdxStatus.TDMR_OUTSIDE_CMRS, i);
  }
  return TdxStatus.SUCCESS;
}

/** Check a whole list (1..64 entries) in order; SUCCESS or the first failure. */
export function validateTdmrList(
  list: readonly TdmrInfo[],
  cmrs: readonly PhysRange[],
  paLimit: number,
): bigint {
  for (let i = 0; i < list.length; i++) {
    const st = checkTdmr(list, i, cmrs, paLimit);
    if (st !== TdxStatus.SUCCESS) return st;
  }
  return TdxStatus.SUCCESS;
}
