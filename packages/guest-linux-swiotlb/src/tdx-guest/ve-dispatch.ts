/**
 * The #VE handler (`exc_virtualization_exception()`): save the interrupted context (pt_regs),
 * read VE_INFO first, dispatch on user/kernel mode and exit reason, advance RIP on success or
 * raise the fault Linux raises (`ve_raise_fault()`), then restore the context (IRET).
 * Kernel: HLT, RDMSR, WRMSR, CPUID, EPT violation (private GPA: panic; shared: MMIO), I/O;
 * user: CPUID only. A fault resumes at the exception-table fixup of the faulting RIP when there
 * is one; otherwise a kernel oops and a user SIGSEGV are fatal in this model (see `raiseFault`).
 *
 * @spec shared/reference/kvm-guest-qemu.md §3.2 (dispatch table, RIP advance, failure = #GP-like
 *   fault); shared/reference/tdx-module.md §4.2 (VEINFO.GET first, #DF otherwise); torvalds/
 *   linux arch/x86/kernel/traps.c exc_virtualization_exception(), ve_raise_fault() ("VE fault");
 *   arch/x86/coco/tdx/tdx.c tdx_handle_virt_exception(), virt_exception_kernel(),
 *   virt_exception_user(), is_private_gpa()
 */
import { ExceptionVector, type GuestOp, VmxExitReason } from "@tdx/hw-cpu-seam";
import { SIGSEGV } from "./abi";
import { handleCpuid, handleHalt, handleRdmsr, handleWrmsr } from "./instructions";
import { MmioEmulator } from "./mmio";
import { handleIo } from "./port-io";
import type { TdxVcpu } from "./vcpu";
import { getVeInfo, newVeInfo, type VeInfo } from "./ve-info";
import { type PtRegs, type VeFailureReason, type VeResult, veFailure } from "./ve-result";

/** What the last #VE came to (one record per vCPU, overwritten by each #VE). */
export interface VeOutcome {
  /** "emulated": RIP advanced; "fixup": fault recovered through the exception table. */
  kind: "none" | "emulated" | "fixup" | "fatal";
  exitReason: number;
  /** Bytes RIP advanced ("emulated"). */
  length: number;
  failure: VeFailureReason | undefined;
  /** Positive errno of the failure, 0 if none. */
  errno: number;
  /** RIP the fault resumed at ("fixup"). */
  fixupRip: number;
}

export class TdxVeHandler {
  /** VE_INFO of the last #VE. */
  readonly ve: VeInfo = newVeInfo();
  readonly last: VeOutcome = {
    kind: "none",
    exitReason: 0,
    length: 0,
    failure: undefined,
    errno: 0,
    fixupRip: 0,
  };
  private readonly args = new BigUint64Array(16);
  private readonly frame: PtRegs = { gpr: new BigUint64Array(16), ip: 0, flags: 0n, userMode: false };
  private readonly mmio: MmioEmulator;

  constructor(readonly v: TdxVcpu) {
    this.mmio = new MmioEmulator(v);
  }

  /** Register as the vCPU's #VE (vector 20) handler. */
  install(): this {
    this.v.cpu.setExceptionHandler(ExceptionVector.VE, () => this.handle());
    return this;
  }

  *handle(): GuestOp<void> {
    const { v, frame, ve, last } = this;
    const regs = v.cpu.regs;
    frame.gpr.set(regs.gpr);
    frame.ip = regs.rip;
    frame.flags = regs.rflags;
    frame.userMode = v.userMode;
    yield* getVeInfo(v, this.args, ve);
    if (ve.exitReason < 128) v.guest.stats.veByReason[ve.exitReason]!++;
    last.exitReason = ve.exitReason;
    last.failure = undefined;
    last.errno = 0;
    last.length = 0;
    const r = frame.userMode ? yield* this.userVe() : yield* this.kernelVe();
    if (r.ok) {
      frame.ip += r.length;
      last.kind = "emulated";
      last.length = r.length;
    } else {
      v.guest.stats.veFailed++;
      last.failure = r.reason;
      last.errno = r.errno;
      yield* this.raiseFault(r.reason);
    }
    regs.gpr.set(frame.gpr);
    regs.rip = frame.ip;
    regs.rflags = frame.flags;
  }

  private *userVe(): GuestOp<VeResult> {
    if (this.ve.exitReason === VmxExitReason.CPUID)
      return yield* handleCpuid(this.v, this.frame, this.ve, this.args);
    this.v.guest.warn(`tdx: Unexpected #VE: ${this.ve.exitReason}`);
    return veFailure("unexpected-exit-reason");
  }

  private *kernelVe(): GuestOp<VeResult> {
    const { v, frame, ve, args } = this;
    switch (ve.exitReason) {
      case VmxExitReason.HLT:
        return yield* handleHalt(v, frame, ve, args);
      case VmxExitReason.MSR_READ:
        return yield* handleRdmsr(v, frame, ve, args);
      case VmxExitReason.MSR_WRITE:
        return yield* handleWrmsr(v, frame, ve, args);
      case VmxExitReason.CPUID:
        return yield* handleCpuid(v, frame, ve, args);
      case VmxExitReason.EPT_VIOLATION:
        if (v.guest.isPrivateGpa(ve.gpa)) yield* this.fatal("Unexpected EPT-violation on private memory.");
        return yield* this.mmio.handle(frame, ve, args);
      case VmxExitReason.IO:
        return yield* handleIo(v, frame, ve, args);
      default:
        v.guest.warn(`tdx: Unexpected #VE: ${ve.exitReason}`);
        return veFailure("unexpected-exit-reason");
    }
  }

  /**
   * ve_raise_fault(): an exception-table fixup for the faulting RIP (kernel: extable, e.g.
   * load_unaligned_zeropad(); user: where the task's signal handler resumes) wins. Otherwise a
   * kernel fault is an oops ("VE fault") and a user fault a SIGSEGV. The model has no tasks to
   * kill or schedule, so both are fatal: the oops as with panic_on_oops, the SIGSEGV as the
   * death of init.
   */
  private *raiseFault(reason: VeFailureReason): GuestOp<void> {
    const { v, frame, last } = this;
    const fixup = v.guest.exceptionFixups.get(frame.ip);
    if (fixup !== undefined) {
      frame.ip = fixup;
      last.kind = "fixup";
      last.fixupRip = fixup;
      return;
    }
    if (frame.userMode) {
      v.guest.warn(`traps: #VE ${reason}: SIGSEGV at ip 0x${frame.ip.toString(16)}`);
      yield* this.fatal(`Attempted to kill init! exitcode=0x${SIGSEGV.toString(16).padStart(8, "0")}`);
    }
    v.guest.warn(`VE fault: 0000 [#1] SMP (${reason}) RIP: 0x${frame.ip.toString(16)}`);
    yield* this.fatal("Fatal exception");
  }

  private *fatal(message: string): GuestOp<never> {
    this.last.kind = "fatal";
    return yield* this.v.panic(message);
  }
}
