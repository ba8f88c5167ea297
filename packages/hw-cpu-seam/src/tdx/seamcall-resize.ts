/**
 * Page-size changes of private mappings: TDH.MEM.PAGE.DEMOTE (split one 2M/1G leaf into 512
 * leaves one level down, in a new SEPT page) and TDH.MEM.PAGE.PROMOTE (merge 512 contiguous,
 * identically-mapped leaves back and free their SEPT page). From RUNNABLE on both need the range
 * blocked and TLB-tracked. After either, the mapping is usable (MAPPED/PENDING, NL_MAPPED)
 * [unverified: whether the module leaves the new entry blocked].
 *
 * @spec shared/reference/tdx-module.md §3.4 (DEMOTE/PROMOTE rows); intel/tdx-module
 *   src/vmm_dispatcher/api_calls/{tdh_mem_page_demote.c,tdh_mem_page_promote.c},
 *   src/common/memory_handlers/pamt_manager.c (pamt_promote/pamt_demote)
 */
import type { CallCtx, TdxModuleCore } from "./core";
import { SeamcallLeaf } from "./leaves";
import { Gpr } from "./regs";
import { levelSize } from "./sept";
import {
  isBlockedState,
  leafEntry,
  nonLeafEntry,
  SeptState,
  seamcallAllowedInSeptState,
  septPa,
  septStateOf,
  unblockedState,
} from "./sept-entry";
import { decodeGpaLevel, isTlbTracked, septError } from "./sept-ops";
import { PageType, tlbTrackingRequired } from "./states";
import { OperandId } from "./status";
import { TdxStatus } from "./status-codes";

function gate(m: TdxModuleCore, c: CallCtx, leaf: number) {
  const r = m.gatedTd(Number(c.in[Gpr.RDX]), OperandId.RDX, leaf);
  if (!r.td) return { status: r.status, td: undefined } as const;
  const gl = decodeGpaLevel(r.td, c.in[Gpr.RCX]!, 1, 2);
  if (typeof gl === "bigint") return { status: gl, td: undefined } as const;
  return { td: r.td, sept: r.td.sept!, ...gl, status: TdxStatus.SUCCESS } as const;
}

/** TDH.MEM.PAGE.DEMOTE: RCX = GPA|L (1..2), RDX = TDR, R8 = new SEPT page. */
export function memPageDemote(m: TdxModuleCore, c: CallCtx): bigint {
  const s = gate(m, c, SeamcallLeaf.MEM_PAGE_DEMOTE);
  if (!s.td) return s.status;
  const page = Number(c.in[Gpr.R8]);
  const st = m.checkFreePage(page, OperandId.R8);
  if (st !== TdxStatus.SUCCESS) return st;
  if (!s.sept.walk(s.gpa, s.level)) return septError(c, TdxStatus.EPT_WALK_FAILED, s.sept);
  const w = s.sept.w;
  if (!seamcallAllowedInSeptState(SeamcallLeaf.MEM_PAGE_DEMOTE, w.state)) {
    return septError(c, TdxStatus.EPT_ENTRY_STATE_INCORRECT, s.sept);
  }
  const base = septPa(w.lo, w.hi);
  const stripped = m.sm.layout.strip(base);
  if (tlbTrackingRequired(s.td.opState)) {
    if (!isBlockedState(w.state)) return septError(c, TdxStatus.GPA_RANGE_NOT_BLOCKED, s.sept);
    if (!isTlbTracked(s.td, m.pamt.read(stripped, s.level).bepoch)) return TdxStatus.TLB_TRACKING_NOT_DONE;
  }
  const entryPa = w.entryPa;
  const childState = unblockedState(w.state);
  const child = s.level - 1;
  const table = new Uint8Array(4096);
  const dv = new DataView(table.buffer);
  for (let i = 0; i < 512; i++) {
    const [lo, hi] = leafEntry(base + i * levelSize(child), childState);
    dv.setUint32(i * 8, lo, true);
    dv.setUint32(i * 8 + 4, hi, true);
  }
  const withKey = m.sm.layout.withKey(page, s.td.hkid);
  m.sm.write(withKey, table);
  s.sept.write(entryPa, nonLeafEntry(withKey));
  m.pamt.write(page, 0, PageType.PT_EPT, s.td.tdrPa);
  m.pamt.write(stripped, s.level, PageType.PT_NDA, 0);
  for (let i = 0; i < 512; i++)
    m.pamt.write(stripped + i * levelSize(child), child, PageType.PT_REG, s.td.tdrPa);
  s.td.childCount++;
  return TdxStatus.SUCCESS;
}

/**
 * TDH.MEM.PAGE.PROMOTE: RCX = GPA|L (1..2), RDX = TDR. The 512 children must all be MAPPED (or
 * all PENDING), physically contiguous from an L-aligned HPA; RCX returns the freed SEPT page.
 */
export function memPagePromote(m: TdxModuleCore, c: CallCtx): bigint {
  const s = gate(m, c, SeamcallLeaf.MEM_PAGE_PROMOTE);
  if (!s.td) return s.status;
  if (!s.sept.walk(s.gpa, s.level)) return septError(c, TdxStatus.EPT_WALK_FAILED, s.sept);
  const w = s.sept.w;
  if (!seamcallAllowedInSeptState(SeamcallLeaf.MEM_PAGE_PROMOTE, w.state)) {
    return septError(c, TdxStatus.EPT_ENTRY_STATE_INCORRECT, s.sept);
  }
  const entryPa = w.entryPa;
  const tablePa = septPa(w.lo, w.hi);
  const tableStripped = m.sm.layout.strip(tablePa);
  if (tlbTrackingRequired(s.td.opState)) {
    if (w.state !== SeptState.NL_BLOCKED) return septError(c, TdxStatus.GPA_RANGE_NOT_BLOCKED, s.sept);
    if (!isTlbTracked(s.td, m.pamt.read(tableStripped, 0).bepoch)) return TdxStatus.TLB_TRACKING_NOT_DONE;
  }
  const child = s.level - 1;
  const first = m.sm.read64(tablePa);
  const firstHi = m.sm.hi;
  const base = septPa(first, firstHi);
  const state = septStateOf(first, firstHi);
  if (
    (state !== SeptState.MAPPED && state !== SeptState.PENDING) ||
    m.sm.layout.strip(base) % levelSize(s.level) !== 0
  ) {
    return TdxStatus.EPT_INVALID_PROMOTE_CONDITIONS;
  }
  for (let i = 1; i < 512; i++) {
    const lo = m.sm.read64(tablePa + i * 8);
    const hi = m.sm.hi;
    if (septStateOf(lo, hi) !== state || septPa(lo, hi) !== base + i * levelSize(child)) {
      return TdxStatus.EPT_INVALID_PROMOTE_CONDITIONS;
    }
  }
  const stripped = m.sm.layout.strip(base);
  s.sept.write(entryPa, leafEntry(base, state));
  for (let i = 0; i < 512; i++) m.pamt.write(stripped + i * levelSize(child), child, PageType.PT_NDA, 0);
  m.pamt.write(stripped, s.level, PageType.PT_REG, s.td.tdrPa);
  m.pamt.write(tableStripped, 0, PageType.PT_NDA, 0);
  s.td.childCount--;
  c.out[Gpr.RCX] = BigInt(tableStripped);
  return TdxStatus.SUCCESS;
}
