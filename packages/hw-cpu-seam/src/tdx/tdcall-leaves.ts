/**
 * TDCALL leaves other than TDG.VP.VMCALL (which exits, see guest-engine.ts): TDG.VP.INFO,
 * TDG.VP.VEINFO.GET, TDG.MEM.PAGE.ACCEPT, TDG.MR.RTMR.EXTEND, TDG.MR.REPORT, TDG.VM.RD/WR.
 * Inputs and outputs are the vCPU's registers. ACCEPT of a page the VMM has not AUGed returns
 * NEEDS_TD_EXIT after preparing an EPT-violation exit (EEQ type ACCEPT): the TDCALL re-executes
 * on the next entry.
 *
 * @spec shared/reference/tdx-module.md §4.1, §4.2, §6.3, §8.2, §8.3; intel/tdx-module
 *   src/td_dispatcher/vm_exits/{tdg_vp_info.c,tdg_vp_veinfo_get.c,tdg_mem_page_accept.c,
 *   tdg_mr_rtmr_extend.c,tdg_mr_report.c,tdg_vm_rd_wr.c (R8 = 0 unless the call succeeds)}
 */
import { Initiator, MemStatus } from "../memory/types";
import type { GuestCpu } from "./guest-cpu";
import { TdcallLeaf } from "./leaves";
import { buildTdReport, encodeTdInfo, rtmrExtend } from "./measurement";
import { Gpr } from "./regs";
import { levelSize } from "./sept";
import {
  isLeafState,
  publicSeptState,
  SEPT_RWX,
  SeptState,
  septPa,
  tdcallAllowedInSeptState,
  withSeptState,
} from "./sept-entry";
import { OperandId, withOperand } from "./status";
import { TdxStatus } from "./status-codes";
import { acceptEeqInfo, EeqType, EptQual, VmxExitReason } from "./td-exit";
import { readTdField, writeTdField } from "./td-metadata";

/** Returned by a leaf that prepared a TD exit; the TDCALL is re-executed after re-entry. */
export const NEEDS_TD_EXIT: unique symbol = Symbol("needs TD exit");

const DEFAULT_MAC_KEY = new TextEncoder().encode("tdx-sim simulated SEAMREPORT key");

export function runTdcallLeaf(e: GuestCpu, leaf: number, version: number): bigint | typeof NEEDS_TD_EXIT {
  if (version !== 0) return withOperand(TdxStatus.OPERAND_INVALID, OperandId.RAX);
  switch (leaf) {
    case TdcallLeaf.VP_INFO:
      return vpInfo(e);
    case TdcallLeaf.VP_VEINFO_GET:
      return veInfoGet(e);
    case TdcallLeaf.MEM_PAGE_ACCEPT:
      return accept(e);
    case TdcallLeaf.MR_RTMR_EXTEND:
      return rtmrExtendLeaf(e);
    case TdcallLeaf.MR_REPORT:
      return report(e);
    case TdcallLeaf.VM_RD:
      return vmRd(e);
    case TdcallLeaf.VM_WR:
      return vmWr(e);
    default:
      return withOperand(TdxStatus.OPERAND_INVALID, OperandId.RAX);
  }
}

/** TDG.VP.INFO: RCX = GPAW, RDX = ATTRIBUTES, R8 = NUM_VCPUS | MAX_VCPUS << 32, R9 = index, R10 = 1 (SYS_RD). */
function vpInfo(e: GuestCpu): bigint {
  const g = e.regs.gpr;
  const p = e.td.params!;
  g[Gpr.RCX] = BigInt(p.gpaw);
  g[Gpr.RDX] = p.attributes;
  g[Gpr.R8] = BigInt(e.td.numVcpus) | (BigInt(p.maxVcpus) << 32n);
  g[Gpr.R9] = BigInt(e.vcpu.index);
  g[Gpr.R10] = 1n;
  g[Gpr.R11] = 0n;
  return TdxStatus.SUCCESS;
}

/** TDG.VP.VEINFO.GET: RCX reason, RDX qualification, R8 GLA, R9 GPA, R10 length | info << 32; clears VALID. */
function veInfoGet(e: GuestCpu): bigint {
  const ve = e.vcpu.veInfo;
  if (!ve.valid) return TdxStatus.NO_VALID_VE_INFO;
  const g = e.regs.gpr;
  g[Gpr.RCX] = BigInt(ve.exitReason);
  g[Gpr.RDX] = ve.exitQualification;
  g[Gpr.R8] = ve.gla;
  g[Gpr.R9] = ve.gpa;
  g[Gpr.R10] = BigInt(ve.instructionLength >>> 0) | (BigInt(ve.instructionInfo >>> 0) << 32n);
  ve.valid = false;
  return TdxStatus.SUCCESS;
}

/** TDG.MEM.PAGE.ACCEPT: RCX = GPA | level (0 = 4K, 1 = 2M, 2 = 1G if enabled). */
function accept(e: GuestCpu): bigint | typeof NEEDS_TD_EXIT {
  const rcx = e.regs.gpr[Gpr.RCX]!;
  const level = Number(rcx & 7n);
  const gpa = Number(rcx & 0x000ffffffffff000n);
  const maxLevel = e.core.opt.accept1G ? 2 : 1;
  if (
    (rcx & 0xfff0000000000ff8n) !== 0n ||
    level > maxLevel ||
    gpa % levelSize(level) !== 0 ||
    gpa >= 2 ** e.td.params!.gpaw ||
    e.isSharedGpa(gpa)
  ) {
    return withOperand(TdxStatus.OPERAND_INVALID, OperandId.RCX);
  }
  const sept = e.sept;
  const reached = sept.walk(gpa, level);
  const w = sept.w;
  const leafAbove = !reached && isLeafState(w.state);
  if (!reached && leafAbove && w.state === SeptState.MAPPED) {
    return withOperand(TdxStatus.PAGE_ALREADY_ACCEPTED, w.level);
  }
  if (reached && level > 0 && (w.state === SeptState.NL_MAPPED || w.state === SeptState.NL_BLOCKED)) {
    return withOperand(TdxStatus.PAGE_SIZE_MISMATCH, level);
  }
  if (reached && w.state === SeptState.MAPPED) return withOperand(TdxStatus.PAGE_ALREADY_ACCEPTED, level);
  if (!reached || !tdcallAllowedInSeptState(TdcallLeaf.MEM_PAGE_ACCEPT, w.state)) {
    const info = acceptEeqInfo(
      level,
      w.level,
      publicSeptState(w.state),
      w.level === 0 || isLeafState(w.state),
    );
    const qual = EptQual.WRITE | (BigInt(w.lo & 7) << 3n);
    e.prepareExit(
      BigInt(VmxExitReason.EPT_VIOLATION),
      qual,
      BigInt(EeqType.ACCEPT) | (BigInt(info) << 32n),
      gpa,
    );
    return NEEDS_TD_EXIT;
  }
  // PENDING: zero the page(s) with the TD key (direct 64-byte writes), then map RWX
  const hpa = septPa(w.lo, w.hi);
  const size = levelSize(level);
  for (let off = 0; off < size; off += 4096) e.core.sm.fill(hpa + off, 4096, 0);
  const [lo, hi] = withSeptState((w.lo & ~7) | SEPT_RWX, w.hi, SeptState.MAPPED);
  sept.write(w.entryPa, [lo, hi]);
  return TdxStatus.SUCCESS;
}

/**
 * Read `len` bytes the guest passes by private GPA (must be mapped); undefined if not. An unmapped
 * operand is reported as OPERAND_INVALID by the callers [approximation: the module may exit].
 */
function readGuest(e: GuestCpu, gpa: number, len: number): Uint8Array | undefined {
  const hpa = e.privateHpa(gpa, false);
  if (hpa < 0 || (gpa % 4096) + len > 4096) return undefined;
  const b = new Uint8Array(len);
  return e.core.cfg.memory.read(hpa, b, Initiator.Seam) === MemStatus.Ok ? b : undefined;
}

/** TDG.MR.RTMR.EXTEND: RCX = GPA of 48 bytes (64-B aligned), RDX = RTMR index 0..3. */
function rtmrExtendLeaf(e: GuestCpu): bigint {
  const g = e.regs.gpr;
  const gpa = Number(g[Gpr.RCX]!);
  const idx = g[Gpr.RDX]!;
  if (idx > 3n) return withOperand(TdxStatus.OPERAND_INVALID, OperandId.RDX);
  if (gpa % 64 !== 0) return withOperand(TdxStatus.OPERAND_INVALID, OperandId.RCX);
  const data = readGuest(e, gpa, 48);
  if (!data) return withOperand(TdxStatus.OPERAND_INVALID, OperandId.RCX);
  e.td.rtmr[Number(idx)] = rtmrExtend(e.td.rtmr[Number(idx)]!, data);
  return TdxStatus.SUCCESS;
}

/** TDG.MR.REPORT: RCX = TDREPORT GPA (1024-B aligned), RDX = REPORTDATA GPA (64-B aligned), R8 = 0. */
function report(e: GuestCpu): bigint {
  const g = e.regs.gpr;
  const outGpa = Number(g[Gpr.RCX]!);
  const dataGpa = Number(g[Gpr.RDX]!);
  if (g[Gpr.R8] !== 0n) return withOperand(TdxStatus.OPERAND_INVALID, OperandId.R8);
  if (outGpa % 1024 !== 0) return withOperand(TdxStatus.OPERAND_INVALID, OperandId.RCX);
  if (dataGpa % 64 !== 0) return withOperand(TdxStatus.OPERAND_INVALID, OperandId.RDX);
  const reportData = readGuest(e, dataGpa, 64);
  if (!reportData) return withOperand(TdxStatus.OPERAND_INVALID, OperandId.RDX);
  const outHpa = e.privateHpa(outGpa, true);
  if (outHpa < 0) return withOperand(TdxStatus.OPERAND_INVALID, OperandId.RCX);
  const td = e.td;
  const p = td.params!;
  const tdInfo = encodeTdInfo({
    attributes: p.attributes,
    xfam: p.xfam,
    mrtd: td.mrtd!.value(),
    mrconfigid: p.mrconfigid,
    mrowner: p.mrowner,
    mrownerconfig: p.mrownerconfig,
    rtmr: td.rtmr,
    servtdHash: new Uint8Array(48), // no service TDs bound [unverified: value of an empty binding table]
  });
  const o = e.core.opt;
  const rep = buildTdReport(tdInfo, {
    reportData,
    cpusvn: o.cpusvn ?? new Uint8Array(16),
    teeTcb: o.teeTcb ?? {
      valid: 0n,
      teeTcbSvn: new Uint8Array(16),
      mrseam: new Uint8Array(48),
      mrsignerseam: new Uint8Array(48),
      attributes: 0n,
    },
    version: o.reportVersion,
    macKey: o.reportMacKey ?? DEFAULT_MAC_KEY,
  });
  e.core.sm.write(outHpa, rep);
  return TdxStatus.SUCCESS;
}

/** TDG.VM.RD: RCX = VM index (0), RDX = field id -> R8 = value (0 on failure), RDX = next id (-1). */
function vmRd(e: GuestCpu): bigint {
  const g = e.regs.gpr;
  g[Gpr.R8] = 0n;
  if (g[Gpr.RCX] !== 0n) return withOperand(TdxStatus.OPERAND_INVALID, OperandId.RCX);
  const r = readTdField(e.td, g[Gpr.RDX]!, "guest");
  if (r.status !== TdxStatus.SUCCESS) return r.status;
  g[Gpr.R8] = r.value;
  g[Gpr.RDX] = 0xffffffffffffffffn;
  return TdxStatus.SUCCESS;
}

/** TDG.VM.WR: RCX = VM index (0), RDX = field id, R8 = value, R9 = mask -> R8 = old value (0 on failure). */
function vmWr(e: GuestCpu): bigint {
  const g = e.regs.gpr;
  const value = g[Gpr.R8]!;
  g[Gpr.R8] = 0n;
  if (g[Gpr.RCX] !== 0n) return withOperand(TdxStatus.OPERAND_INVALID, OperandId.RCX);
  const r = writeTdField(e.td, g[Gpr.RDX]!, value, g[Gpr.R9]!, "guest", e.core.opt.features0);
  if (r.status !== TdxStatus.SUCCESS) return r.status;
  g[Gpr.R8] = r.old;
  return TdxStatus.SUCCESS;
}
