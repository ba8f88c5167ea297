/**
 * VE_INFO as the #VE handler reads it with TDG.VP.VEINFO.GET, which must come first in the
 * handler (it clears VE_INFO.VALID; a #VE while it is set is a #DF).
 *
 * @spec shared/reference/kvm-guest-qemu.md §3.2 (outputs: RCX exit reason, RDX qualification,
 *   R8 GLA, R9 GPA, R10[31:0] instruction length, R10[63:32] instruction info);
 *   shared/reference/tdx-module.md §4.1, §4.2; torvalds/linux arch/x86/coco/tdx/tdx.c
 *   tdx_get_ve_info() (a failing TDCALL panics)
 */
import { Gpr, type GuestOp, TdcallLeaf } from "@tdx/hw-cpu-seam";
import type { TdxVcpu } from "./vcpu";

/** Linux `struct ve_info`. One per vCPU, overwritten by every #VE. */
export interface VeInfo {
  /** VMX basic exit reason (RCX, 32 bits). */
  exitReason: number;
  /** Exit qualification (RDX). */
  exitQual: bigint;
  /** Guest linear address (R8). */
  gla: bigint;
  /** Guest physical address (R9), shared bit included. */
  gpa: number;
  /** Instruction length (R10[31:0]); defined only for instruction-caused #VEs. */
  instrLen: number;
  /** Instruction information (R10[63:32]). */
  instrInfo: number;
}

export function newVeInfo(): VeInfo {
  return { exitReason: 0, exitQual: 0n, gla: 0n, gpa: 0, instrLen: 0, instrInfo: 0 };
}

/** tdx_get_ve_info(): TDG.VP.VEINFO.GET into `ve` (panics if the TDCALL fails). */
export function* getVeInfo(v: TdxVcpu, args: BigUint64Array, ve: VeInfo): GuestOp<void> {
  args.fill(0n);
  yield* v.tdcallOrPanic(TdcallLeaf.VP_VEINFO_GET, args);
  ve.exitReason = Number(args[Gpr.RCX]! & 0xffffffffn);
  ve.exitQual = args[Gpr.RDX]!;
  ve.gla = args[Gpr.R8]!;
  ve.gpa = Number(args[Gpr.R9]!);
  const r10 = args[Gpr.R10]!;
  ve.instrLen = Number(r10 & 0xffffffffn);
  ve.instrInfo = Number(r10 >> 32n);
}
