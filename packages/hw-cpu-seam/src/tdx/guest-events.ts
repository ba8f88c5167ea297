/**
 * The event side of a guest vCPU: the exception handlers the guest registered (its IDT), #VE
 * injection with VE_INFO as the module fills it (and #DF when VE_INFO is still valid), other
 * exceptions (#GP), the triple-fault shutdown, the machine check that makes the TD fatal, and
 * preparing the TD exit that TDH.VP.ENTER returns. The execution engine extends it.
 *
 * @spec shared/reference/tdx-module.md §4.2 (tdx_inject_ve: VE_INFO exit reason, qualification,
 *   GLA, GPA, instruction length and information, VALID; #DF if VALID is already set), §4.3
 *   (exit registers), §7 (machine check -> TDX_NON_RECOVERABLE_TD_NON_ACCESSIBLE); intel/
 *   tdx-module src/td_dispatcher/vm_exits/td_other_exits.c tdx_inject_ve()
 */
import { TdxSimError } from "../errors";
import { TD_EXIT_SIGNAL, type TdControl, type VcpuControl } from "./control";
import type { TdxModuleCore } from "./core";
import { type ExceptionHandler, ExceptionVector, type GuestOp, type TdGuestContext } from "./guest-interface";
import { Gpr } from "./regs";
import { TdxStatus } from "./status-codes";
import { VmxExitReason } from "./td-exit";

export abstract class VcpuEvents {
  private readonly handlers: (ExceptionHandler | undefined)[] = [];
  /** The vCPU shut down (triple fault): TDH.VP.ENTER marks it DISABLED. */
  shutDown = false;

  constructor(
    readonly core: TdxModuleCore,
    readonly td: TdControl,
    readonly vcpu: VcpuControl,
  ) {}

  /** The context handlers receive (the engine itself). */
  protected abstract context(): TdGuestContext;

  setExceptionHandler(vector: number, handler: ExceptionHandler | undefined): void {
    if (!Number.isInteger(vector) || vector < 0 || vector > 31) {
      throw new TdxSimError(
        "E_BAD_VECTOR",
        `exception vector ${vector} is not an architectural exception (0..31)`,
      );
    }
    this.handlers[vector] = handler;
  }

  /** Fill the pending exit: RAX status, RCX, RDX, R8 = GPA with bits 11:0 cleared; others zero. */
  prepareExit(status: bigint, rcx: bigint, rdx: bigint, gpa: number): void {
    const p = this.vcpu.pending;
    p.regs.fill(0n);
    p.status = status;
    p.regs[Gpr.RCX] = rcx;
    p.regs[Gpr.RDX] = rdx;
    p.regs[Gpr.R8] = BigInt(gpa - (gpa % 4096));
    p.vmcall = false;
  }

  /**
   * Inject #VE with this VE_INFO (exit reason, qualification, GLA, GPA, instruction length and
   * information) into the vector-20 handler; #DF instead (then shutdown) while VE_INFO is valid.
   */
  *raiseVe(
    exitReason: number,
    qualification: bigint,
    gla: number,
    gpa: number,
    instructionLength: number,
    instructionInfo: number,
  ): GuestOp<void> {
    const ve = this.vcpu.veInfo;
    if (ve.valid) {
      yield* this.deliver(ExceptionVector.DF);
      yield* this.shutdown();
    }
    ve.valid = true;
    ve.exitReason = exitReason;
    ve.exitQualification = qualification;
    ve.gla = BigInt(gla);
    ve.gpa = BigInt(gpa);
    ve.instructionLength = instructionLength;
    ve.instructionInfo = instructionInfo;
    yield* this.deliver(ExceptionVector.VE);
  }

  /** Deliver a fault (e.g. #GP(0)) to its handler; without one the vCPU shuts down. */
  *raiseException(vector: number): GuestOp<void> {
    yield* this.deliver(vector);
  }

  private *deliver(vector: number): GuestOp<void> {
    const h = this.handlers[vector];
    if (!h) yield* this.shutdown();
    else {
      const run = h(this.context(), vector);
      if (run) yield* run;
    }
  }

  /** Triple fault: the vCPU stops for good; TDH.VP.ENTER returns TDX_NON_RECOVERABLE_VCPU. */
  *shutdown(): GuestOp<never> {
    this.shutDown = true;
    this.prepareExit(TdxStatus.NON_RECOVERABLE_VCPU | BigInt(VmxExitReason.TRIPLE_FAULT), 0n, 0n, 0);
    yield TD_EXIT_SIGNAL;
    throw new TdxSimError("E_TDX_STATE", "a shut-down vCPU was resumed");
  }

  /** Consuming poison: the module makes the TD fatal. */
  protected *machineCheck(): GuestOp<never> {
    this.td.fatal = true;
    this.prepareExit(TdxStatus.NON_RECOVERABLE_TD_NON_ACCESSIBLE, 0n, 0n, 0);
    yield TD_EXIT_SIGNAL;
    throw new TdxSimError("E_TDX_STATE", "a vCPU of a fatal TD was resumed");
  }
}
