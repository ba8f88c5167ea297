/**
 * Physical-page SEAMCALL leaves: TDH.PHYMEM.PAGE.RDMD (PAMT metadata of a page),
 * TDH.PHYMEM.PAGE.RECLAIM (give a torn-down TD's page back to the host, PAMT -> PT_NDA; the TDR
 * last, when no child page remains), TDH.PHYMEM.CACHE.WB (per-package write-back of every HKID
 * in HKID_FLUSHED state, resumable) and TDH.PHYMEM.PAGE.WBINVD.
 *
 * @spec shared/reference/tdx-module.md §3.5, §2.2 (KOT, per-package WBINVD tracking), §3.6 item 5
 *   (teardown order); intel/tdx-module src/vmm_dispatcher/api_calls/{tdh_phymem_page_rdmd.c,
 *   tdh_phymem_page_reclaim.c,tdh_phymem_cache_wb.c,tdh_phymem_page_wbinvd.c}
 */
import type { CallCtx, TdxModuleCore } from "./core";
import { Gpr } from "./regs";
import { KotState, PageType, TdLifecycle } from "./states";
import { OperandId, withOperand } from "./status";
import { TdxStatus } from "./status-codes";

/** TDH.PHYMEM.PAGE.RDMD: RCX = PA -> RCX = page type, RDX = owner, R8 = level, R9 = BEPOCH. */
export function phymemPageRdmd(m: TdxModuleCore, c: CallCtx): bigint {
  const pa = Number(c.in[Gpr.RCX]);
  const st = m.checkPagePa(pa, OperandId.RCX);
  if (st !== TdxStatus.SUCCESS) return st;
  const level = m.pamt.leafLevel(pa);
  const e = m.pamt.read(pa, level);
  c.out[Gpr.RCX] = BigInt(e.pageType);
  c.out[Gpr.RDX] = BigInt(e.owner);
  c.out[Gpr.R8] = BigInt(level);
  c.out[Gpr.R9] = BigInt(e.bepoch);
  return TdxStatus.SUCCESS;
}

/**
 * TDH.PHYMEM.PAGE.RECLAIM: RCX = PA (HKID bits 0). The owner TD must be TD_TEARDOWN; the TDR
 * only once CHLDCNT is 0. Outputs RCX = page type, RDX = owner, R8 = level.
 */
export function phymemPageReclaim(m: TdxModuleCore, c: CallCtx): bigint {
  const pa = Number(c.in[Gpr.RCX]);
  const st = m.checkPagePa(pa, OperandId.RCX);
  if (st !== TdxStatus.SUCCESS) return st;
  const level = m.pamt.leafLevel(pa);
  const e = m.pamt.read(pa, level);
  const type = e.pageType;
  const owner = e.owner;
  if (type === PageType.PT_NDA || type === PageType.PT_RSVD || pa % (4096 * 512 ** level) !== 0) {
    return withOperand(TdxStatus.PAGE_METADATA_INCORRECT, OperandId.RCX);
  }
  const td = m.tds.get(type === PageType.PT_TDR ? pa : owner);
  if (!td) return withOperand(TdxStatus.PAGE_METADATA_INCORRECT, OperandId.RCX);
  if (td.lifecycle !== TdLifecycle.TD_TEARDOWN) return TdxStatus.LIFECYCLE_STATE_INCORRECT;
  if (type === PageType.PT_TDR) {
    if (td.childCount !== 0) return TdxStatus.TD_ASSOCIATED_PAGES_EXIST;
    m.tds.delete(pa);
    m.guestCode.delete(pa);
  } else {
    td.childCount -= 512 ** level;
    if (type === PageType.PT_TDVPR) m.vcpus.delete(pa);
  }
  m.pamt.write(pa, level, PageType.PT_NDA, 0);
  c.out[Gpr.RCX] = BigInt(type);
  c.out[Gpr.RDX] = BigInt(owner);
  c.out[Gpr.R8] = BigInt(level);
  return TdxStatus.SUCCESS;
}

/**
 * TDH.PHYMEM.CACHE.WB: RCX = 0 (start) or 1 (resume). Writes back, on this package, every HKID in
 * HKID_FLUSHED state; takes `cacheWbSteps` calls (INTERRUPTED_RESUMABLE before the last).
 */
export function phymemCacheWb(m: TdxModuleCore, c: CallCtx): bigint {
  const mode = c.in[Gpr.RCX]!;
  if (mode > 1n) return withOperand(TdxStatus.OPERAND_INVALID, OperandId.RCX);
  const prog = m.wbProgress;
  const bit = 1 << c.pkg;
  if (mode === 1n && prog[c.pkg] === 0) return TdxStatus.WBCACHE_RESUME_ERROR;
  if (mode === 0n) prog[c.pkg] = 0;
  let any = false;
  for (let h = m.sys.hkidFirst; h <= m.sys.hkidLast; h++) {
    if (m.kot.state[h] === KotState.HKID_FLUSHED && (m.kot.wbPending[h]! & bit) !== 0) any = true;
  }
  if (!any && prog[c.pkg] === 0) return TdxStatus.NO_HKID_READY_TO_WBCACHE;
  prog[c.pkg]!++;
  if (prog[c.pkg]! < m.opt.cacheWbSteps) return TdxStatus.INTERRUPTED_RESUMABLE;
  prog[c.pkg] = 0;
  for (let h = m.sys.hkidFirst; h <= m.sys.hkidLast; h++) {
    if (m.kot.state[h] === KotState.HKID_FLUSHED) m.kot.wbPending[h] = m.kot.wbPending[h]! & ~bit;
  }
  return TdxStatus.SUCCESS;
}

/** TDH.PHYMEM.PAGE.WBINVD: RCX = PA with the KeyID in the HKID bits; the page must be PT_NDA. */
export function phymemPageWbinvd(m: TdxModuleCore, c: CallCtx): bigint {
  const raw = Number(c.in[Gpr.RCX]);
  const pa = m.sm.layout.strip(raw);
  const st = m.checkPagePa(pa, OperandId.RCX);
  if (st !== TdxStatus.SUCCESS) return st;
  const level = m.pamt.leafLevel(pa);
  if (m.pamt.read(pa, level).pageType !== PageType.PT_NDA) {
    return withOperand(TdxStatus.PAGE_METADATA_INCORRECT, OperandId.RCX);
  }
  return TdxStatus.SUCCESS;
}
