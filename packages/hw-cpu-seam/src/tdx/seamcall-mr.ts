/**
 * Measurement and debug-access SEAMCALL leaves: TDH.MR.EXTEND (256 bytes of a mapped private
 * page into MRTD), TDH.MR.FINALIZE (MRTD out, OP_STATE -> RUNNABLE), TDH.MEM.RD/WR (8 bytes of
 * private memory, DEBUG TDs only).
 *
 * @spec shared/reference/tdx-module.md §3.4 (MR.EXTEND, MR.FINALIZE, MEM.RD/WR), §8.1;
 *   intel/tdx-module src/vmm_dispatcher/api_calls/{tdh_mr_extend.c,tdh_mr_finalize.c,tdh_mem_rd_wr.c}
 */
import type { CallCtx, TdxModuleCore } from "./core";
import { SeamcallLeaf } from "./leaves";
import { MR_EXTEND_CHUNK } from "./measurement";
import { Gpr } from "./regs";
import { levelSize, type SecureEpt } from "./sept";
import { SeptState, septPa } from "./sept-entry";
import { septError } from "./sept-ops";
import { OpState, VcpuState } from "./states";
import { OperandId, withOperand } from "./status";
import { TdxStatus } from "./status-codes";
import { TdAttributes } from "./td-params";

/** Walk to the leaf mapping `gpa`; its HPA (with HKID) if MAPPED, else -1 (sept.w holds the entry). */
function mappedHpa(sept: SecureEpt, gpa: number): number {
  sept.walk(gpa, 0);
  const w = sept.w;
  if (w.state !== SeptState.MAPPED) return -1;
  return septPa(w.lo, w.hi) + (gpa % levelSize(w.level));
}

function privateGpaOk(gpa: number, gpaw: number, align: number): boolean {
  return Number.isSafeInteger(gpa) && gpa % align === 0 && gpa < 2 ** (gpaw - 1);
}

/** TDH.MR.EXTEND: RCX = GPA (256-B aligned), RDX = TDR. */
export function mrExtend(m: TdxModuleCore, c: CallCtx): bigint {
  const r = m.gatedTd(Number(c.in[Gpr.RDX]), OperandId.RDX, SeamcallLeaf.MR_EXTEND);
  if (!r.td) return r.status;
  const td = r.td;
  const gpa = Number(c.in[Gpr.RCX]);
  if (!privateGpaOk(gpa, td.params!.gpaw, MR_EXTEND_CHUNK))
    return withOperand(TdxStatus.OPERAND_INVALID, OperandId.RCX);
  const hpa = mappedHpa(td.sept!, gpa);
  if (hpa < 0) return septError(c, TdxStatus.EPT_ENTRY_NOT_PRESENT, td.sept!);
  const chunk = new Uint8Array(MR_EXTEND_CHUNK);
  m.sm.read(hpa, chunk);
  td.mrtd!.extend(gpa, chunk);
  return TdxStatus.SUCCESS;
}

/** TDH.MR.FINALIZE: RCX = TDR. Needs at least one initialised vCPU. */
export function mrFinalize(m: TdxModuleCore, c: CallCtx): bigint {
  const r = m.gatedTd(Number(c.in[Gpr.RCX]), OperandId.RCX, SeamcallLeaf.MR_FINALIZE);
  if (!r.td) return r.status;
  const td = r.td;
  if (!td.vcpus.some((v) => v.state !== VcpuState.UNINITIALIZED)) return TdxStatus.NO_VCPUS;
  td.mrtd!.finalize();
  td.opState = OpState.RUNNABLE;
  return TdxStatus.SUCCESS;
}

function debugTd(m: TdxModuleCore, c: CallCtx, leaf: number) {
  const r = m.gatedTd(Number(c.in[Gpr.RDX]), OperandId.RDX, leaf);
  if (!r.td) return { status: r.status } as const;
  if ((r.td.params!.attributes & TdAttributes.DEBUG) === 0n)
    return { status: TdxStatus.TD_NON_DEBUG } as const;
  const gpa = Number(c.in[Gpr.RCX]);
  if (!privateGpaOk(gpa, r.td.params!.gpaw, 8)) {
    return { status: withOperand(TdxStatus.OPERAND_INVALID, OperandId.RCX) } as const;
  }
  const hpa = mappedHpa(r.td.sept!, gpa);
  if (hpa < 0) return { status: septError(c, TdxStatus.EPT_ENTRY_NOT_PRESENT, r.td.sept!) } as const;
  return { hpa, status: TdxStatus.SUCCESS } as const;
}

/** TDH.MEM.RD: RCX = GPA (8-B aligned), RDX = TDR -> R8 = data. DEBUG TDs only. */
export function memRd(m: TdxModuleCore, c: CallCtx): bigint {
  const d = debugTd(m, c, SeamcallLeaf.MEM_RD);
  if (d.hpa === undefined) return d.status;
  const lo = m.sm.read64(d.hpa);
  c.out[Gpr.R8] = (BigInt(m.sm.hi) << 32n) | BigInt(lo);
  return TdxStatus.SUCCESS;
}

/** TDH.MEM.WR: RCX = GPA, RDX = TDR, R8 = data -> R8 = old data. DEBUG TDs only. */
export function memWr(m: TdxModuleCore, c: CallCtx): bigint {
  const d = debugTd(m, c, SeamcallLeaf.MEM_WR);
  if (d.hpa === undefined) return d.status;
  const lo = m.sm.read64(d.hpa);
  c.out[Gpr.R8] = (BigInt(m.sm.hi) << 32n) | BigInt(lo);
  const v = c.in[Gpr.R8]!;
  m.sm.write64(d.hpa, Number(v & 0xffffffffn), Number(v >> 32n));
  return TdxStatus.SUCCESS;
}
