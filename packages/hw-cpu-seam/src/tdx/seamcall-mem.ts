/**
 * Secure-EPT SEAMCALL leaves: TDH.MEM.SEPT.ADD, PAGE.ADD, PAGE.AUG, RANGE.BLOCK, MEM.TRACK,
 * RANGE.UNBLOCK, PAGE.REMOVE, SEPT.RD, SEPT.REMOVE. Allowed source states come from the
 * module's SEPT state table; from RUNNABLE on, removal needs BLOCK then TRACK (TLB epochs).
 *
 * @spec shared/reference/tdx-module.md §3.4, §6.2-§6.3; intel/tdx-module
 *   src/vmm_dispatcher/api_calls/{tdh_mem_sept_add.c,tdh_mem_page_add.c,tdh_mem_page_aug.c,
 *   tdh_mem_range_block.c,tdh_mem_track.c,tdh_mem_range_unblock.c,tdh_mem_page_remove.c,
 *   tdh_mem_sept_rd.c,tdh_mem_sept_remove.c}, include/auto_gen/sept_state_lookup.c
 */
import type { CallCtx, TdxModuleCore } from "./core";
import { SeamcallLeaf } from "./leaves";
import { Gpr } from "./regs";
import { levelSize, SecureEpt } from "./sept";
import {
  blockedState,
  freeEntry,
  isBlockedState,
  isLeafState,
  leafEntry,
  nonLeafEntry,
  SEPT_RWX,
  SeptState,
  seamcallAllowedInSeptState,
  septPa,
  unblockedState,
  withSeptState,
} from "./sept-entry";
import { decodeGpaLevel, isTlbTracked, septError } from "./sept-ops";
import { PageType, tlbTrackingRequired } from "./states";
import { OperandId, withOperand } from "./status";
import { TdxStatus } from "./status-codes";

/** Resolve RDX = TDR and gate `leaf`; decode RCX as GPA|level in [min, max]. */
function setup(m: TdxModuleCore, c: CallCtx, leaf: number, min: number, max: number) {
  const r = m.gatedTd(Number(c.in[Gpr.RDX]), OperandId.RDX, leaf);
  if (!r.td) return { status: r.status, td: undefined } as const;
  const gl = decodeGpaLevel(r.td, c.in[Gpr.RCX]!, min, max);
  if (typeof gl === "bigint") return { status: gl, td: undefined } as const;
  return { td: r.td, sept: r.td.sept!, gpa: gl.gpa, level: gl.level, status: TdxStatus.SUCCESS } as const;
}

/** TDH.MEM.SEPT.ADD: RCX = GPA|L (entry level 1..root), RDX = TDR, R8 = new SEPT page. */
export function memSeptAdd(m: TdxModuleCore, c: CallCtx): bigint {
  const s = setup(m, c, SeamcallLeaf.MEM_SEPT_ADD, 1, 4);
  if (!s.td) return s.status;
  if (s.level > s.sept.rootLevel) return withOperand(TdxStatus.OPERAND_INVALID, OperandId.RCX);
  const page = Number(c.in[Gpr.R8]);
  const st = m.checkFreePage(page, OperandId.R8);
  if (st !== TdxStatus.SUCCESS) return st;
  if (!s.sept.walk(s.gpa, s.level)) return septError(c, TdxStatus.EPT_WALK_FAILED, s.sept);
  if (s.sept.w.state !== SeptState.FREE) return septError(c, TdxStatus.EPT_ENTRY_STATE_INCORRECT, s.sept);
  const withKey = m.sm.layout.withKey(page, s.td.hkid);
  SecureEpt.initTable(m.sm, withKey);
  s.sept.write(s.sept.w.entryPa, nonLeafEntry(withKey));
  m.pamt.write(page, 0, PageType.PT_EPT, s.td.tdrPa);
  s.td.childCount++;
  return TdxStatus.SUCCESS;
}

/**
 * TDH.MEM.PAGE.ADD: RCX = GPA (4K), RDX = TDR, R8 = target page, R9 = source page (shared).
 * Copies the source into the target with the TD key, maps it, extends MRTD with the GPA.
 */
export function memPageAdd(m: TdxModuleCore, c: CallCtx): bigint {
  const s = setup(m, c, SeamcallLeaf.MEM_PAGE_ADD, 0, 0);
  if (!s.td) return s.status;
  const src = Number(c.in[Gpr.R9]);
  let st = m.checkSharedHpa(src, 4096, OperandId.R9);
  if (st !== TdxStatus.SUCCESS) return st;
  const page = Number(c.in[Gpr.R8]);
  st = m.checkFreePage(page, OperandId.R8);
  if (st !== TdxStatus.SUCCESS) return st;
  if (!s.sept.walk(s.gpa, 0)) return septError(c, TdxStatus.EPT_WALK_FAILED, s.sept);
  if (!seamcallAllowedInSeptState(SeamcallLeaf.MEM_PAGE_ADD, s.sept.w.state)) {
    return septError(c, TdxStatus.EPT_ENTRY_STATE_INCORRECT, s.sept);
  }
  const buf = new Uint8Array(4096);
  if (m.sm.tryRead(src, buf) !== 0) return withOperand(TdxStatus.OPERAND_INVALID, OperandId.R9);
  const withKey = m.sm.layout.withKey(page, s.td.hkid);
  m.sm.write(withKey, buf);
  s.sept.write(s.sept.w.entryPa, leafEntry(withKey, SeptState.MAPPED));
  m.pamt.write(page, 0, PageType.PT_REG, s.td.tdrPa);
  s.td.childCount++;
  s.td.mrtd!.addPage(s.gpa);
  return TdxStatus.SUCCESS;
}

/** Whether all 512 4 KiB pages of the 2 MiB range at `pa` (and its 2M entry) are PT_NDA. */
function range2mFree(m: TdxModuleCore, pa: number): boolean {
  if (pa % levelSize(1) !== 0 || !m.pamt.isReady(pa)) return false;
  if (m.pamt.read(pa, 2).pageType !== PageType.PT_NDA || m.pamt.read(pa, 1).pageType !== PageType.PT_NDA)
    return false;
  for (let i = 0; i < 512; i++) if (m.pamt.read(pa + i * 4096, 0).pageType !== PageType.PT_NDA) return false;
  return true;
}

/** TDH.MEM.PAGE.AUG: RCX = GPA|L (0 or 1), RDX = TDR, R8 = page(s). Leaves the entry PENDING. */
export function memPageAug(m: TdxModuleCore, c: CallCtx): bigint {
  const s = setup(m, c, SeamcallLeaf.MEM_PAGE_AUG, 0, 1);
  if (!s.td) return s.status;
  const page = Number(c.in[Gpr.R8]);
  if (s.level === 0) {
    const st = m.checkFreePage(page, OperandId.R8);
    if (st !== TdxStatus.SUCCESS) return st;
  } else {
    const st = m.checkPagePa(page, OperandId.R8);
    if (st !== TdxStatus.SUCCESS) return st;
    if (!range2mFree(m, page)) return withOperand(TdxStatus.PAGE_METADATA_INCORRECT, OperandId.R8);
  }
  if (!s.sept.walk(s.gpa, s.level)) return septError(c, TdxStatus.EPT_WALK_FAILED, s.sept);
  if (!seamcallAllowedInSeptState(SeamcallLeaf.MEM_PAGE_AUG, s.sept.w.state)) {
    return septError(c, TdxStatus.EPT_ENTRY_STATE_INCORRECT, s.sept);
  }
  const withKey = m.sm.layout.withKey(page, s.td.hkid);
  s.sept.write(s.sept.w.entryPa, leafEntry(withKey, SeptState.PENDING));
  m.pamt.write(page, s.level, PageType.PT_REG, s.td.tdrPa);
  s.td.childCount += 512 ** s.level;
  return TdxStatus.SUCCESS;
}

/** PA (KeyID stripped) and PAMT level of the page an entry at `level` describes. */
function pamtTarget(
  m: TdxModuleCore,
  lo: number,
  hi: number,
  level: number,
  state: number,
): [number, number] {
  const pa = m.sm.layout.strip(septPa(lo, hi));
  const leaf = level === 0 || isLeafState(state);
  return [pa, leaf ? level : 0];
}

/** TDH.MEM.RANGE.BLOCK: RCX = GPA|L, RDX = TDR. Records BEPOCH = TD_EPOCH in the PAMT. */
export function memRangeBlock(m: TdxModuleCore, c: CallCtx): bigint {
  const s = setup(m, c, SeamcallLeaf.MEM_RANGE_BLOCK, 0, 3);
  if (!s.td) return s.status;
  if (!s.sept.walk(s.gpa, s.level)) return septError(c, TdxStatus.EPT_WALK_FAILED, s.sept);
  const w = s.sept.w;
  if (isBlockedState(w.state)) return TdxStatus.GPA_RANGE_ALREADY_BLOCKED;
  if (!seamcallAllowedInSeptState(SeamcallLeaf.MEM_RANGE_BLOCK, w.state)) {
    return septError(c, TdxStatus.EPT_ENTRY_STATE_INCORRECT, s.sept);
  }
  const [pa, lvl] = pamtTarget(m, w.lo, w.hi, w.level, w.state);
  s.sept.write(w.entryPa, withSeptState(w.lo & ~SEPT_RWX, w.hi, blockedState(w.state)));
  m.pamt.setBepoch(pa, lvl, s.td.epoch);
  return TdxStatus.SUCCESS;
}

/** TDH.MEM.TRACK: RCX = TDR. TD_EPOCH++ unless an LP is still in the guest from the previous epoch. */
export function memTrack(m: TdxModuleCore, c: CallCtx): bigint {
  const r = m.gatedTd(Number(c.in[Gpr.RCX]), OperandId.RCX, SeamcallLeaf.MEM_TRACK);
  if (!r.td) return r.status;
  const td = r.td;
  if (td.refcount[(td.epoch + 1) & 1] !== 0) return TdxStatus.PREVIOUS_TLB_EPOCH_BUSY;
  td.epoch++;
  return TdxStatus.SUCCESS;
}

/** TDH.MEM.RANGE.UNBLOCK: RCX = GPA|L, RDX = TDR. Needs TLB tracking from RUNNABLE on. */
export function memRangeUnblock(m: TdxModuleCore, c: CallCtx): bigint {
  const s = setup(m, c, SeamcallLeaf.MEM_RANGE_UNBLOCK, 0, 3);
  if (!s.td) return s.status;
  if (!s.sept.walk(s.gpa, s.level)) return septError(c, TdxStatus.EPT_WALK_FAILED, s.sept);
  const w = s.sept.w;
  if (!seamcallAllowedInSeptState(SeamcallLeaf.MEM_RANGE_UNBLOCK, w.state)) {
    return septError(c, TdxStatus.EPT_ENTRY_STATE_INCORRECT, s.sept);
  }
  const [pa, lvl] = pamtTarget(m, w.lo, w.hi, w.level, w.state);
  if (tlbTrackingRequired(s.td.opState) && !isTlbTracked(s.td, m.pamt.read(pa, lvl).bepoch)) {
    return TdxStatus.TLB_TRACKING_NOT_DONE;
  }
  const next = unblockedState(w.state);
  const perms = next === SeptState.PENDING ? 0 : SEPT_RWX;
  s.sept.write(w.entryPa, withSeptState((w.lo & ~SEPT_RWX) | perms, w.hi, next));
  return TdxStatus.SUCCESS;
}

/**
 * TDH.MEM.PAGE.REMOVE: RCX = GPA|L (0..2), RDX = TDR. From RUNNABLE on the range must be blocked
 * and TLB-tracked. Entry -> FREE, page -> PT_NDA. RCX/RDX return the removed entry.
 */
export function memPageRemove(m: TdxModuleCore, c: CallCtx): bigint {
  const s = setup(m, c, SeamcallLeaf.MEM_PAGE_REMOVE, 0, 2);
  if (!s.td) return s.status;
  if (!s.sept.walk(s.gpa, s.level)) return septError(c, TdxStatus.EPT_WALK_FAILED, s.sept);
  const w = s.sept.w;
  if (!seamcallAllowedInSeptState(SeamcallLeaf.MEM_PAGE_REMOVE, w.state)) {
    return septError(c, TdxStatus.EPT_ENTRY_STATE_INCORRECT, s.sept);
  }
  if (s.level > 0 && !isLeafState(w.state)) return septError(c, TdxStatus.EPT_ENTRY_NOT_LEAF, s.sept);
  const [pa] = pamtTarget(m, w.lo, w.hi, w.level, w.state);
  if (tlbTrackingRequired(s.td.opState)) {
    if (!isBlockedState(w.state)) return septError(c, TdxStatus.GPA_RANGE_NOT_BLOCKED, s.sept);
    if (!isTlbTracked(s.td, m.pamt.read(pa, s.level).bepoch)) return TdxStatus.TLB_TRACKING_NOT_DONE;
  }
  septError(c, TdxStatus.SUCCESS, s.sept);
  s.sept.write(w.entryPa, freeEntry());
  m.pamt.write(pa, s.level, PageType.PT_NDA, 0);
  s.td.childCount -= 512 ** s.level;
  return TdxStatus.SUCCESS;
}

/** TDH.MEM.SEPT.RD: RCX = GPA|L, RDX = TDR -> RCX = entry, RDX = level | state << 8. */
export function memSeptRd(m: TdxModuleCore, c: CallCtx): bigint {
  const s = setup(m, c, SeamcallLeaf.MEM_SEPT_RD, 0, 4);
  if (!s.td) return s.status;
  if (s.level > s.sept.rootLevel) return withOperand(TdxStatus.OPERAND_INVALID, OperandId.RCX);
  if (!s.sept.walk(s.gpa, s.level)) return septError(c, TdxStatus.EPT_WALK_FAILED, s.sept);
  return septError(c, TdxStatus.SUCCESS, s.sept);
}

/**
 * TDH.MEM.SEPT.REMOVE: RCX = GPA|L (entry level 1..root), RDX = TDR. Removes an empty SEPT page
 * (every entry FREE); from RUNNABLE on the entry must be blocked and tracked. RCX = removed page.
 */
export function memSeptRemove(m: TdxModuleCore, c: CallCtx): bigint {
  const s = setup(m, c, SeamcallLeaf.MEM_SEPT_REMOVE, 1, 4);
  if (!s.td) return s.status;
  if (s.level > s.sept.rootLevel) return withOperand(TdxStatus.OPERAND_INVALID, OperandId.RCX);
  if (!s.sept.walk(s.gpa, s.level)) return septError(c, TdxStatus.EPT_WALK_FAILED, s.sept);
  const w = s.sept.w;
  if (!seamcallAllowedInSeptState(SeamcallLeaf.MEM_SEPT_REMOVE, w.state)) {
    return septError(c, TdxStatus.EPT_ENTRY_STATE_INCORRECT, s.sept);
  }
  const child = septPa(w.lo, w.hi);
  const pa = m.sm.layout.strip(child);
  if (tlbTrackingRequired(s.td.opState)) {
    if (w.state !== SeptState.NL_BLOCKED) return septError(c, TdxStatus.GPA_RANGE_NOT_BLOCKED, s.sept);
    if (!isTlbTracked(s.td, m.pamt.read(pa, 0).bepoch)) return TdxStatus.TLB_TRACKING_NOT_DONE;
  }
  const entryPa = w.entryPa;
  if (!s.sept.tableIsFree(child)) return TdxStatus.EPT_PAGE_NOT_FREE;
  s.sept.write(entryPa, freeEntry());
  m.pamt.write(pa, 0, PageType.PT_NDA, 0);
  s.td.childCount--;
  c.out[Gpr.RCX] = BigInt(pa);
  return TdxStatus.SUCCESS;
}
