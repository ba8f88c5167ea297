/**
 * Typed TDCALL wrappers for guest code (the guest kernel and firmware models): each sets the
 * leaf and inputs in the vCPU registers, runs `ctx.tdcall()` and returns the status with the
 * leaf's outputs. They use only the `TdGuestContext` ABI, so guest code can equally do it by hand.
 *
 * @spec shared/reference/tdx-module.md §4.1 (leaves, inputs and outputs), §4.3 (TDG.VP.VMCALL
 *   register protocol and GHCI sub-functions, R10 = 0 standard, R11 = sub-function)
 */
import type { GuestOp, TdGuestContext } from "./guest-interface";
import { TdcallLeaf } from "./leaves";
import { Gpr, type GprValues } from "./regs";

/** GPRs Linux exposes on every TDG.VP.VMCALL: RDX, RBX, RSI, RDI, R8-R15. @spec §4.3 */
export const LINUX_VMCALL_MASK = 0xffcc;

/** GHCI TDG.VP.VMCALL sub-functions (R11). @spec tdx-module.md §4.3 table */
export const TdVmcall = {
  CPUID: 10,
  HLT: 12,
  IO: 30,
  RDMSR: 31,
  WRMSR: 32,
  REQUEST_MMIO: 48,
  WBINVD: 54,
  PCONFIG: 65,
  GET_TD_VMCALL_INFO: 0x10000,
  MAP_GPA: 0x10001,
  GET_QUOTE: 0x10002,
  REPORT_FATAL_ERROR: 0x10003,
  SETUP_EVENT_NOTIFY_INTERRUPT: 0x10004,
} as const;

/** GHCI status codes returned in R10. */
export const TdVmcallStatus = {
  SUCCESS: 0n,
  RETRY: 1n,
  INVALID_OPERAND: 0x8000000000000000n,
  GPA_INUSE: 0x8000000000000001n,
  ALIGN_ERROR: 0x8000000000000002n,
  SUBFUNC_UNSUPPORTED: 0x8000000000000003n,
} as const;

function setRegs(ctx: TdGuestContext, leaf: number, values: GprValues): void {
  const g = ctx.regs.gpr;
  g[Gpr.RAX] = BigInt(leaf);
  for (const [name, v] of Object.entries(values)) {
    if (v === undefined) continue;
    g[Gpr[name.toUpperCase() as keyof typeof Gpr]] = BigInt.asUintN(
      64,
      typeof v === "bigint" ? v : BigInt(v),
    );
  }
}

/** Any TDCALL leaf with explicit inputs; returns the status (outputs stay in ctx.regs.gpr). */
export function* tdcallLeaf(ctx: TdGuestContext, leaf: number, inputs: GprValues = {}): GuestOp<bigint> {
  setRegs(ctx, leaf, inputs);
  return yield* ctx.tdcall();
}

export interface VpInfo {
  readonly status: bigint;
  readonly gpaw: number;
  readonly attributes: bigint;
  readonly numVcpus: number;
  readonly maxVcpus: number;
  readonly vcpuIndex: number;
}

/** TDG.VP.INFO. */
export function* tdgVpInfo(ctx: TdGuestContext): GuestOp<VpInfo> {
  const status = yield* tdcallLeaf(ctx, TdcallLeaf.VP_INFO);
  const g = ctx.regs.gpr;
  return {
    status,
    gpaw: Number(g[Gpr.RCX]! & 0x3fn),
    attributes: g[Gpr.RDX]!,
    numVcpus: Number(g[Gpr.R8]! & 0xffffffffn),
    maxVcpus: Number(g[Gpr.R8]! >> 32n),
    vcpuIndex: Number(g[Gpr.R9]! & 0xffffffffn),
  };
}

export interface VeInfoRegs {
  readonly status: bigint;
  readonly exitReason: number;
  readonly exitQualification: bigint;
  readonly gla: bigint;
  readonly gpa: bigint;
  readonly instructionLength: number;
  readonly instructionInfo: number;
}

/** TDG.VP.VEINFO.GET (call it first in a #VE handler). */
export function* tdgVeInfoGet(ctx: TdGuestContext): GuestOp<VeInfoRegs> {
  const status = yield* tdcallLeaf(ctx, TdcallLeaf.VP_VEINFO_GET);
  const g = ctx.regs.gpr;
  return {
    status,
    exitReason: Number(g[Gpr.RCX]! & 0xffffffffn),
    exitQualification: g[Gpr.RDX]!,
    gla: g[Gpr.R8]!,
    gpa: g[Gpr.R9]!,
    instructionLength: Number(g[Gpr.R10]! & 0xffffffffn),
    instructionInfo: Number(g[Gpr.R10]! >> 32n),
  };
}

/** TDG.MEM.PAGE.ACCEPT of `gpa` at `level` (0 = 4K, 1 = 2M, 2 = 1G). */
export function* tdgMemPageAccept(ctx: TdGuestContext, gpa: number, level = 0): GuestOp<bigint> {
  return yield* tdcallLeaf(ctx, TdcallLeaf.MEM_PAGE_ACCEPT, { rcx: gpa + level });
}

/** TDG.MR.RTMR.EXTEND with the 48 bytes at private `gpa` (64-B aligned). */
export function* tdgMrRtmrExtend(ctx: TdGuestContext, gpa: number, index: number): GuestOp<bigint> {
  return yield* tdcallLeaf(ctx, TdcallLeaf.MR_RTMR_EXTEND, { rcx: gpa, rdx: index });
}

/** TDG.MR.REPORT into `reportGpa` (1024-B aligned) with REPORTDATA at `dataGpa` (64-B aligned). */
export function* tdgMrReport(ctx: TdGuestContext, reportGpa: number, dataGpa: number): GuestOp<bigint> {
  return yield* tdcallLeaf(ctx, TdcallLeaf.MR_REPORT, { rcx: reportGpa, rdx: dataGpa, r8: 0 });
}

/** TDG.VM.RD of a TD-scope field; value in the result. */
export function* tdgVmRd(ctx: TdGuestContext, fieldId: bigint): GuestOp<{ status: bigint; value: bigint }> {
  const status = yield* tdcallLeaf(ctx, TdcallLeaf.VM_RD, { rcx: 0, rdx: fieldId });
  return { status, value: ctx.regs.gpr[Gpr.R8]! };
}

/** TDG.VM.WR of `value` under `mask` to a TD-scope field; returns the status and the old value. */
export function* tdgVmWr(
  ctx: TdGuestContext,
  fieldId: bigint,
  value: bigint,
  mask: bigint,
): GuestOp<{ status: bigint; old: bigint }> {
  const status = yield* tdcallLeaf(ctx, TdcallLeaf.VM_WR, { rcx: 0, rdx: fieldId, r8: value, r9: mask });
  return { status, old: ctx.regs.gpr[Gpr.R8]! };
}

export interface VmcallResult {
  /** Status of the TDCALL itself (RAX). */
  readonly status: bigint;
  /** GHCI status (R10) and primary output (R11) as the VMM returned them. */
  readonly r10: bigint;
  readonly r11: bigint;
}

/**
 * TDG.VP.VMCALL with a GHCI sub-function: R10 = 0 (standard), R11 = `subFunction`, arguments in
 * R12.. and others as given; exposes `mask` (Linux's 0xFFCC by default).
 */
export function* tdgVpVmcall(
  ctx: TdGuestContext,
  subFunction: number,
  args: GprValues = {},
  mask = LINUX_VMCALL_MASK,
): GuestOp<VmcallResult> {
  const status = yield* tdcallLeaf(ctx, TdcallLeaf.VP_VMCALL, {
    ...args,
    rcx: mask,
    r10: 0,
    r11: subFunction,
  });
  const g = ctx.regs.gpr;
  return { status, r10: g[Gpr.R10]!, r11: g[Gpr.R11]! };
}
