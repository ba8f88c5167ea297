/**
 * TD management SEAMCALL leaves: TDH.MNG.CREATE, KEY.CONFIG, ADDCX, INIT, RD, WR, VPFLUSHDONE,
 * KEY.FREEID, KEY.RECLAIMID — the TD lifecycle and its HKID in the KOT.
 *
 * @spec shared/reference/tdx-module.md §3.2, §2.2-§2.4, §3.6 (KVM's order); intel/tdx-module
 *   src/vmm_dispatcher/api_calls/{tdh_mng_create.c,tdh_mng_key_config.c,tdh_mng_add_cx.c,
 *   tdh_mng_init.c,tdh_mng_rd_wr.c,tdh_mng_vpflushdone.c,tdh_mng_key_freeid.c}
 */
import { newTdControl, setTdCtls, TDCS_MSR_BITMAP_PAGE, TDCS_PAGES, TDCS_SEPT_ROOT_PAGE } from "./control";
import type { CallCtx, TdxModuleCore } from "./core";
import { SeamcallLeaf } from "./leaves";
import { MrtdAccumulator } from "./measurement";
import { Gpr } from "./regs";
import { SecureEpt } from "./sept";
import { KotState, OpState, PageType, TdLifecycle } from "./states";
import { OperandId, withOperand } from "./status";
import { TdxStatus } from "./status-codes";
import { tdCpuidTable } from "./td-cpuid";
import { hostAccessor, readTdField, writeTdField } from "./td-metadata";
import { TD_PARAMS_ALIGNMENT, TD_PARAMS_SIZE, TdAttributes, TdCtls, validateTdParams } from "./td-params";

/** TDH.MNG.CREATE: RCX = new TDR page, RDX = HKID (private, free). */
export function mngCreate(m: TdxModuleCore, c: CallCtx): bigint {
  const tdrPa = Number(c.in[Gpr.RCX]);
  const st = m.checkFreePage(tdrPa, OperandId.RCX);
  if (st !== TdxStatus.SUCCESS) return st;
  const rdx = c.in[Gpr.RDX]!;
  const hkid = Number(rdx & 0xffffn);
  if (rdx >> 16n !== 0n || !m.isPrivateHkid(hkid))
    return withOperand(TdxStatus.OPERAND_INVALID, OperandId.RDX);
  if (!m.kot.isFree(hkid)) return TdxStatus.HKID_NOT_FREE;
  m.initPage(tdrPa, m.sys.globalHkid);
  m.pamt.write(tdrPa, 0, PageType.PT_TDR, tdrPa);
  m.kot.state[hkid] = KotState.HKID_ASSIGNED;
  m.tds.set(tdrPa, newTdControl(tdrPa, hkid, TdLifecycle.TD_HKID_ASSIGNED, OpState.UNINITIALIZED));
  return TdxStatus.SUCCESS;
}

/** TDH.MNG.KEY.CONFIG: RCX = TDR; program the TD key on this package; last package -> KEYS_CONFIGURED. */
export function mngKeyConfig(m: TdxModuleCore, c: CallCtx): bigint {
  const r = m.tdOf(Number(c.in[Gpr.RCX]), OperandId.RCX);
  if (!r.td) return r.status;
  const td = r.td;
  if (td.fatal) return TdxStatus.TD_FATAL;
  if (td.lifecycle !== TdLifecycle.TD_HKID_ASSIGNED) return TdxStatus.LIFECYCLE_STATE_INCORRECT;
  const bit = 1 << c.pkg;
  if ((td.pkgConfigured & bit) !== 0) return TdxStatus.KEY_CONFIGURED;
  td.pkgConfigured |= bit;
  if (td.pkgConfigured === 2 ** m.packageCount - 1) td.lifecycle = TdLifecycle.TD_KEYS_CONFIGURED;
  return TdxStatus.SUCCESS;
}

/**
 * TDH.MNG.ADDCX: RCX = TDCX page, RDX = TDR. Page 2 becomes the MSR bitmap (all 1s), page 3 the
 * Secure EPT root (FREE entries); the TDCS (and OP_STATE) exists once all pages are added.
 */
export function mngAddCx(m: TdxModuleCore, c: CallCtx): bigint {
  const r = m.tdOf(Number(c.in[Gpr.RDX]), OperandId.RDX);
  if (!r.td) return r.status;
  const td = r.td;
  const g = m.gateTd(td, SeamcallLeaf.MNG_ADDCX, false);
  if (g !== TdxStatus.SUCCESS) return g;
  if (td.tdcxPas.length >= TDCS_PAGES) return TdxStatus.TDCX_NUM_INCORRECT;
  const pa = Number(c.in[Gpr.RCX]);
  const st = m.checkFreePage(pa, OperandId.RCX);
  if (st !== TdxStatus.SUCCESS) return st;
  const idx = td.tdcxPas.length;
  const withKey = m.sm.layout.withKey(pa, td.hkid);
  if (idx === TDCS_MSR_BITMAP_PAGE) m.sm.fill(withKey, 4096, 0xff);
  else if (idx === TDCS_SEPT_ROOT_PAGE) SecureEpt.initTable(m.sm, withKey);
  else m.initPage(pa, td.hkid);
  m.pamt.write(pa, 0, PageType.PT_TDCX, td.tdrPa);
  td.tdcxPas.push(pa);
  td.childCount++;
  if (td.tdcxPas.length === TDCS_PAGES) td.opState = OpState.UNINITIALIZED;
  return TdxStatus.SUCCESS;
}

/**
 * TDH.MNG.INIT: RCX = TDR, RDX = TD_PARAMS (1 KiB aligned, shared). Starts MRTD, sets TD_CTLS
 * (PENDING_VE_DISABLE = ATTRIBUTES.SEPT_VE_DISABLE), TOPOLOGY_ENUM_CONFIGURED and the virtual
 * CPUID; -> INITIALIZED.
 */
export function mngInit(m: TdxModuleCore, c: CallCtx): bigint {
  const r = m.gatedTd(Number(c.in[Gpr.RCX]), OperandId.RCX, SeamcallLeaf.MNG_INIT);
  if (!r.td) return r.status;
  const td = r.td;
  const ppa = Number(c.in[Gpr.RDX]);
  const st = m.checkSharedHpa(ppa, TD_PARAMS_ALIGNMENT, OperandId.RDX);
  if (st !== TdxStatus.SUCCESS) return st;
  const bytes = new Uint8Array(TD_PARAMS_SIZE);
  if (m.sm.tryRead(ppa, bytes) !== 0) return withOperand(TdxStatus.OPERAND_INVALID, OperandId.RDX);
  const v = validateTdParams(bytes, m.opt.maxEptLevels);
  if (!v.ok) return v.status;
  const p = v.params;
  td.params = p;
  setTdCtls(td, (p.attributes & TdAttributes.SEPT_VE_DISABLE) !== 0n ? TdCtls.PENDING_VE_DISABLE : 0n);
  // cleared again if a vCPU is initialised without a virtual x2APIC id (TDH.VP.INIT version 0)
  td.topologyEnumConfigured = true;
  td.cpuid = tdCpuidTable(m, p.gpaw);
  td.sept = new SecureEpt(
    m.sm,
    m.sm.layout.withKey(td.tdcxPas[TDCS_SEPT_ROOT_PAGE]!, td.hkid),
    p.eptLevels - 1,
  );
  td.mrtd = new MrtdAccumulator();
  td.opState = OpState.INITIALIZED;
  return TdxStatus.SUCCESS;
}

/** TDH.MNG.RD: RCX = TDR, RDX = field id -> R8 = value, RDX = next id (-1). */
export function mngRd(m: TdxModuleCore, c: CallCtx): bigint {
  const r = m.gatedTd(Number(c.in[Gpr.RCX]), OperandId.RCX, SeamcallLeaf.MNG_RD);
  if (!r.td) return r.status;
  const v = readTdField(r.td, c.in[Gpr.RDX]!, hostAccessor(r.td));
  if (v.status !== TdxStatus.SUCCESS) return v.status;
  c.out[Gpr.R8] = v.value;
  c.out[Gpr.RDX] = 0xffffffffffffffffn;
  return TdxStatus.SUCCESS;
}

/** TDH.MNG.WR: RCX = TDR, RDX = field id, R8 = value, R9 = mask -> R8 = old value. */
export function mngWr(m: TdxModuleCore, c: CallCtx): bigint {
  const r = m.gatedTd(Number(c.in[Gpr.RCX]), OperandId.RCX, SeamcallLeaf.MNG_WR);
  if (!r.td) return r.status;
  const v = writeTdField(
    r.td,
    c.in[Gpr.RDX]!,
    c.in[Gpr.R8]!,
    c.in[Gpr.R9]!,
    hostAccessor(r.td),
    m.opt.features0,
  );
  if (v.status !== TdxStatus.SUCCESS) return v.status;
  c.out[Gpr.R8] = v.old;
  return TdxStatus.SUCCESS;
}

/**
 * TDH.MNG.VPFLUSHDONE: RCX = TDR. No vCPU may still be associated with an LP; lifecycle ->
 * TD_BLOCKED, KOT -> HKID_FLUSHED, and every package must now run TDH.PHYMEM.CACHE.WB.
 */
export function mngVpFlushDone(m: TdxModuleCore, c: CallCtx): bigint {
  const r = m.tdOf(Number(c.in[Gpr.RCX]), OperandId.RCX);
  if (!r.td) return r.status;
  const td = r.td;
  if (td.lifecycle !== TdLifecycle.TD_HKID_ASSIGNED && td.lifecycle !== TdLifecycle.TD_KEYS_CONFIGURED) {
    return TdxStatus.LIFECYCLE_STATE_INCORRECT;
  }
  if (td.tdcxPas.length === TDCS_PAGES && td.numAssocVcpus > 0) return TdxStatus.FLUSHVP_NOT_DONE;
  td.lifecycle = TdLifecycle.TD_BLOCKED;
  m.kot.state[td.hkid] = KotState.HKID_FLUSHED;
  m.kot.wbPending[td.hkid] = 2 ** m.packageCount - 1;
  return TdxStatus.SUCCESS;
}

/** TDH.MNG.KEY.FREEID: RCX = TDR. Needs TD_BLOCKED and CACHE.WB done on every package. */
export function mngKeyFreeId(m: TdxModuleCore, c: CallCtx): bigint {
  const r = m.tdOf(Number(c.in[Gpr.RCX]), OperandId.RCX);
  if (!r.td) return r.status;
  const td = r.td;
  if (td.lifecycle !== TdLifecycle.TD_BLOCKED) return TdxStatus.LIFECYCLE_STATE_INCORRECT;
  if (m.kot.wbPending[td.hkid] !== 0) return TdxStatus.WBCACHE_NOT_COMPLETE;
  m.kot.state[td.hkid] = KotState.HKID_FREE;
  td.lifecycle = TdLifecycle.TD_TEARDOWN;
  return TdxStatus.SUCCESS;
}

/** TDH.MNG.KEY.RECLAIMID: a backward-compatibility no-op in 1.5. */
export function mngKeyReclaimId(): bigint {
  return TdxStatus.SUCCESS;
}
