/**
 * vCPU SEAMCALL leaves except TDH.VP.ENTER: TDH.VP.CREATE, ADDCX, INIT, RD, WR, FLUSH.
 *
 * @spec shared/reference/tdx-module.md §3.3, §2.5 (VCPU states, association); intel/tdx-module
 *   src/vmm_dispatcher/api_calls/{tdh_vp_create.c,tdh_vp_addcx.c,tdh_vp_init.c,tdh_vp_rd_wr.c,
 *   tdh_vp_flush.c}, src/common/td_vmcs_init.c (initial guest state)
 */
import { newVcpuControl, TDVPS_PAGES } from "./control";
import type { CallCtx, TdxModuleCore } from "./core";
import { SeamcallLeaf } from "./leaves";
import { fieldKey, VpField } from "./metadata";
import { Gpr } from "./regs";
import { PageType, TdLifecycle, VcpuState } from "./states";
import { OperandId, withOperand } from "./status";
import { TdxStatus } from "./status-codes";
import { TdAttributes } from "./td-params";

/** CPUID(1).EAX the initial RDX carries (a Sapphire Rapids signature) [configurable later]. */
const CPUID_1_EAX = 0x000806f8n;
/** Reset vector. */
const RESET_RIP = 0xfffffff0;

/** TDH.VP.CREATE: RCX = new TDVPR page, RDX = TDR (OP_STATE INITIALIZED). */
export function vpCreate(m: TdxModuleCore, c: CallCtx): bigint {
  const r = m.gatedTd(Number(c.in[Gpr.RDX]), OperandId.RDX, SeamcallLeaf.VP_CREATE);
  if (!r.td) return r.status;
  const pa = Number(c.in[Gpr.RCX]);
  const st = m.checkFreePage(pa, OperandId.RCX);
  if (st !== TdxStatus.SUCCESS) return st;
  m.initPage(pa, r.td.hkid);
  m.pamt.write(pa, 0, PageType.PT_TDVPR, r.td.tdrPa);
  r.td.childCount++;
  const v = newVcpuControl(pa, r.td, VcpuState.UNINITIALIZED);
  m.vcpus.set(pa, v);
  r.td.vcpus.push(v);
  return TdxStatus.SUCCESS;
}

/** TDH.VP.ADDCX: RCX = TDCX page, RDX = TDVPR (vCPU UNINITIALIZED). */
export function vpAddCx(m: TdxModuleCore, c: CallCtx): bigint {
  const r = m.vcpuOf(Number(c.in[Gpr.RDX]), OperandId.RDX);
  if (!r.vcpu) return r.status;
  const v = r.vcpu;
  const g = m.gateTd(v.td, SeamcallLeaf.VP_ADDCX);
  if (g !== TdxStatus.SUCCESS) return g;
  if (v.state !== VcpuState.UNINITIALIZED) return TdxStatus.VCPU_STATE_INCORRECT;
  if (v.tdcxPas.length >= TDVPS_PAGES - 1) return TdxStatus.TDCX_NUM_INCORRECT;
  const pa = Number(c.in[Gpr.RCX]);
  const st = m.checkFreePage(pa, OperandId.RCX);
  if (st !== TdxStatus.SUCCESS) return st;
  m.initPage(pa, v.td.hkid);
  m.pamt.write(pa, 0, PageType.PT_TDCX, v.td.tdrPa);
  v.tdcxPas.push(pa);
  v.td.childCount++;
  return TdxStatus.SUCCESS;
}

/**
 * TDH.VP.INIT: RCX = TDVPR, RDX = initial guest RCX/R8; version 1 adds R8 = x2APIC id (unique in
 * the TD); version 0 clears TDCS.TOPOLOGY_ENUM_CONFIGURED. Assigns VCPU_INDEX and the reset state: RIP 0xFFFFFFF0, RBX = GPAW, RSI = index.
 */
export function vpInit(m: TdxModuleCore, c: CallCtx): bigint {
  const r = m.vcpuOf(Number(c.in[Gpr.RCX]), OperandId.RCX);
  if (!r.vcpu) return r.status;
  const v = r.vcpu;
  const td = v.td;
  const g = m.gateTd(td, SeamcallLeaf.VP_INIT);
  if (g !== TdxStatus.SUCCESS) return g;
  if (v.state !== VcpuState.UNINITIALIZED) return TdxStatus.VCPU_STATE_INCORRECT;
  if (v.tdcxPas.length !== TDVPS_PAGES - 1) return TdxStatus.TDCX_NUM_INCORRECT;
  if (td.numVcpus >= td.params!.maxVcpus) return TdxStatus.MAX_VCPUS_EXCEEDED;
  const x2apic = c.version === 1 ? Number(c.in[Gpr.R8]! & 0xffffffffn) : td.numVcpus;
  if (
    c.version === 1 &&
    td.vcpus.some((o) => o !== v && o.state !== VcpuState.UNINITIALIZED && o.x2apicId === x2apic)
  ) {
    return TdxStatus.X2APIC_ID_NOT_UNIQUE;
  }
  v.index = td.numVcpus++;
  v.x2apicId = x2apic;
  // no virtual x2APIC id given: the VMM has not configured topology enumeration
  if (c.version === 0) td.topologyEnumConfigured = false;
  const gpr = v.regs.gpr;
  gpr.fill(0n);
  gpr[Gpr.RBX] = BigInt(td.params!.gpaw);
  gpr[Gpr.RCX] = c.in[Gpr.RDX]!;
  gpr[Gpr.R8] = c.in[Gpr.RDX]!;
  gpr[Gpr.RDX] = CPUID_1_EAX;
  gpr[Gpr.RSI] = BigInt(v.index);
  v.regs.rip = RESET_RIP;
  v.regs.rflags = 2n;
  v.state = VcpuState.READY;
  return TdxStatus.SUCCESS;
}

/** TDH.VP.FLUSH: RCX = TDVPR; must run on the LP the vCPU is associated with. */
export function vpFlush(m: TdxModuleCore, c: CallCtx): bigint {
  const r = m.vcpuOf(Number(c.in[Gpr.RCX]), OperandId.RCX);
  if (!r.vcpu) return r.status;
  const v = r.vcpu;
  if (v.td.lifecycle === TdLifecycle.TD_HKID_ASSIGNED) return TdxStatus.TD_KEYS_NOT_CONFIGURED;
  if (v.associatedLp !== c.lp) return TdxStatus.VCPU_NOT_ASSOCIATED;
  v.associatedLp = -1;
  v.td.numAssocVcpus--;
  return TdxStatus.SUCCESS;
}

/** Whether a TDVPS field is a guest GPR (readable/writable only for DEBUG TDs). */
function gprIndexOf(field: bigint): number {
  const key = fieldKey(field);
  const base = fieldKey(VpField.GPR0);
  return key >= base && key < base + 16 ? key - base : -1;
}

/** TDH.VP.RD: RCX = TDVPR, RDX = field id -> R8. SHARED_EPT_POINTER; GPRs on DEBUG TDs. */
export function vpRd(m: TdxModuleCore, c: CallCtx): bigint {
  const r = m.vcpuOf(Number(c.in[Gpr.RCX]), OperandId.RCX);
  if (!r.vcpu) return r.status;
  const v = r.vcpu;
  const g = m.gateTd(v.td, SeamcallLeaf.VP_RD);
  if (g !== TdxStatus.SUCCESS) return g;
  const field = c.in[Gpr.RDX]!;
  const debug = ((v.td.params?.attributes ?? 0n) & TdAttributes.DEBUG) !== 0n;
  if (fieldKey(field) === fieldKey(VpField.SHARED_EPT_POINTER)) c.out[Gpr.R8] = v.sharedEptp;
  else if (gprIndexOf(field) >= 0) {
    if (!debug) return TdxStatus.METADATA_FIELD_NOT_READABLE;
    c.out[Gpr.R8] = v.regs.gpr[gprIndexOf(field)]!;
  } else return withOperand(TdxStatus.METADATA_FIELD_ID_INCORRECT, OperandId.RDX);
  c.out[Gpr.RDX] = 0xffffffffffffffffn;
  return TdxStatus.SUCCESS;
}

/** TDH.VP.WR: RCX = TDVPR, RDX = field id, R8 = value, R9 = mask -> R8 = old value. */
export function vpWr(m: TdxModuleCore, c: CallCtx): bigint {
  const r = m.vcpuOf(Number(c.in[Gpr.RCX]), OperandId.RCX);
  if (!r.vcpu) return r.status;
  const v = r.vcpu;
  const g = m.gateTd(v.td, SeamcallLeaf.VP_WR);
  if (g !== TdxStatus.SUCCESS) return g;
  const field = c.in[Gpr.RDX]!;
  const value = c.in[Gpr.R8]!;
  const mask = c.in[Gpr.R9]!;
  const debug = ((v.td.params?.attributes ?? 0n) & TdAttributes.DEBUG) !== 0n;
  if (fieldKey(field) === fieldKey(VpField.SHARED_EPT_POINTER)) {
    c.out[Gpr.R8] = v.sharedEptp;
    v.sharedEptp = (v.sharedEptp & ~mask) | (value & mask);
  } else if (gprIndexOf(field) >= 0) {
    if (!debug) return TdxStatus.METADATA_FIELD_NOT_WRITABLE;
    const i = gprIndexOf(field);
    c.out[Gpr.R8] = v.regs.gpr[i]!;
    v.regs.gpr[i] = (v.regs.gpr[i]! & ~mask) | (value & mask);
  } else return withOperand(TdxStatus.METADATA_FIELD_ID_INCORRECT, OperandId.RDX);
  return TdxStatus.SUCCESS;
}
