/**
 * One vCPU of the TDX guest kernel: the TDCALL and TDG.VP.VMCALL wrappers every other part
 * uses, and panic. Arguments travel in a register file indexed like the CPU's (Linux's
 * `struct tdx_module_args`): a wrapper saves the vCPU's registers, loads leaf and arguments,
 * executes TDCALL (which may exit to the host: compose with `yield*`), copies the outputs back
 * into the arguments and restores the registers, so the register file keeps showing the
 * interrupted or calling context, as pt_regs and the C calling convention do for Linux code.
 *
 * @spec shared/reference/tdx-module.md §0.2 (RAX = leaf, status in RAX), §4.3 (GHCI: RCX =
 *   exposure mask, R10 = 0 standard, R11 = sub-function, R12-R15 args; R10 status, R11 output;
 *   ReportFatalError message registers); torvalds/linux arch/x86/coco/tdx/tdx.c (tdcall() and
 *   __tdx_hypercall() panic when TDCALL itself fails, tdx_panic() loops on ReportFatalError),
 *   arch/x86/virt/vmx/tdx/tdxcall.S
 */

import { Gpr, type GuestOp, TdcallLeaf, TdVmcall, TdxSimError } from "@tdx/hw-cpu-seam";
import { TDVMCALL_EXPOSE_REGS_MASK, TDX_HYPERCALL_STANDARD } from "./abi";
import type { TdxGuest } from "./guest";
import type { TdCpu } from "./td-cpu";

const LOW32 = 0xffffffffn;

/** GHCI order of the 64-byte ReportFatalError message. @spec tdx-module.md §4.3 table */
const FATAL_MESSAGE_REGS = [Gpr.R14, Gpr.R15, Gpr.RBX, Gpr.RDI, Gpr.RSI, Gpr.R8, Gpr.R9, Gpr.RDX] as const;

export class TdxVcpu {
  /** Arguments for kernel code outside the #VE handler. */
  readonly args = new BigUint64Array(16);
  /**
   * The vCPU runs user code (CPL 3). The execution model has no CS register; guest programs that
   * model user mode set this, and the #VE handler dispatches on it as Linux does on user_mode().
   */
  userMode = false;
  private readonly saved = new BigUint64Array(16);
  /** Separate from `saved`: a CPUID #VE runs TDCALLs inside `cpuid`. */
  private readonly cpuidSaved = new BigUint64Array(16);

  constructor(
    readonly guest: TdxGuest,
    readonly cpu: TdCpu,
  ) {}

  /**
   * TDCALL `leaf` with `args` (RAX ignored); outputs replace `args`. Returns the TDCALL status.
   * Linux `__tdcall_saved_ret()`.
   */
  *tdcall(leaf: number, args: BigUint64Array): GuestOp<bigint> {
    const gpr = this.cpu.regs.gpr;
    this.saved.set(gpr);
    gpr.set(args);
    gpr[Gpr.RAX] = BigInt(leaf);
    const status = yield* this.cpu.tdcall();
    args.set(gpr);
    args[Gpr.RAX] = status;
    gpr.set(this.saved);
    return status;
  }

  /**
   * `cpuid_count(leaf, subleaf, ...)`: executes CPUID on the vCPU (the TDX module answers it or
   * raises #VE, which this kernel's handler emulates) and puts EAX, EBX, ECX, EDX in out[0..3].
   * Like the TDCALL wrappers it stands for inline asm: the register file shows the calling
   * context again afterwards.
   */
  *cpuid(leaf: number, subleaf: number, out: Uint32Array): GuestOp<void> {
    const regs = this.cpu.regs;
    const gpr = regs.gpr;
    this.cpuidSaved.set(gpr);
    const rip = regs.rip;
    yield* this.cpu.cpuid(leaf, subleaf);
    out[0] = Number(gpr[Gpr.RAX]! & LOW32);
    out[1] = Number(gpr[Gpr.RBX]! & LOW32);
    out[2] = Number(gpr[Gpr.RCX]! & LOW32);
    out[3] = Number(gpr[Gpr.RDX]! & LOW32);
    gpr.set(this.cpuidSaved);
    regs.rip = rip;
  }

  /** TDCALL that must not fail (Linux `tdcall()`): a failure panics the guest. */
  *tdcallOrPanic(leaf: number, args: BigUint64Array): GuestOp<void> {
    const st = yield* this.tdcall(leaf, args);
    if (st !== 0n) yield* this.panic(`TDCALL ${leaf} failed (Buggy TDX module!)`);
  }

  /**
   * A GHCI-standard TDG.VP.VMCALL: R10 = 0, R11 = `fn`, R12-R15 from the arguments, every other
   * argument register zero (as Linux's zero-initialised args). Returns R10 (the VMM's status);
   * outputs are in `args`. A failing TDCALL panics ("TDVMCALL failed. TDX module bug?").
   */
  *hypercall(args: BigUint64Array, fn: number, r12 = 0n, r13 = 0n, r14 = 0n, r15 = 0n): GuestOp<bigint> {
    args.fill(0n);
    args[Gpr.R10] = TDX_HYPERCALL_STANDARD;
    args[Gpr.R11] = BigInt(fn);
    args[Gpr.R12] = BigInt.asUintN(64, r12);
    args[Gpr.R13] = BigInt.asUintN(64, r13);
    args[Gpr.R14] = BigInt.asUintN(64, r14);
    args[Gpr.R15] = BigInt.asUintN(64, r15);
    return yield* this.hypercallArgs(args);
  }

  /** `__tdx_hypercall(args)` with the arguments already in place (RCX is set here). */
  *hypercallArgs(args: BigUint64Array): GuestOp<bigint> {
    args[Gpr.RCX] = TDVMCALL_EXPOSE_REGS_MASK;
    this.guest.stats.vmcalls++;
    const st = yield* this.tdcall(TdcallLeaf.VP_VMCALL, args);
    if (st !== 0n) yield* this.panic("TDVMCALL failed. TDX module bug?");
    return args[Gpr.R10]!;
  }

  /**
   * panic(): record the message and report it to the VMM with TDG.VP.VMCALL<ReportFatalError>
   * (error code 0, the message in R14, R15, RBX, RDI, RSI, R8, R9, RDX), forever, as Linux's
   * tdx_panic() does. Linux's generic panic() instead spins where the host sees nothing; the
   * model reports every panic so a run ends observably.
   */
  *panic(message: string): GuestOp<never> {
    this.guest.panicMessage ??= message;
    this.guest.log.push(`Kernel panic - not syncing: ${message}`);
    const args = new BigUint64Array(16);
    const bytes = new Uint8Array(64);
    const text = new TextEncoder().encode(message);
    bytes.set(text.subarray(0, 64));
    const view = new DataView(bytes.buffer);
    for (;;) {
      args.fill(0n);
      args[Gpr.R10] = TDX_HYPERCALL_STANDARD;
      args[Gpr.R11] = BigInt(TdVmcall.REPORT_FATAL_ERROR);
      args[Gpr.R12] = 0n;
      FATAL_MESSAGE_REGS.forEach((r, i) => {
        args[r] = view.getBigUint64(i * 8, true);
      });
      args[Gpr.RCX] = TDVMCALL_EXPOSE_REGS_MASK;
      const st = yield* this.tdcall(TdcallLeaf.VP_VMCALL, args);
      if (st !== 0n) {
        throw new TdxSimError(
          "E_TDX_GUEST_DEAD",
          `the guest panicked ("${message}") and the TDX module refused TDG.VP.VMCALL (status 0x${st.toString(16)}): it can report nothing and would spin forever`,
        );
      }
    }
  }
}

/** Decode the ReportFatalError message from the registers a VMM received (for hosts and tests). */
export function fatalErrorMessage(regs: BigUint64Array): string {
  const bytes = new Uint8Array(64);
  const view = new DataView(bytes.buffer);
  FATAL_MESSAGE_REGS.forEach((r, i) => {
    view.setBigUint64(i * 8, regs[r] ?? 0n, true);
  });
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(end < 0 ? bytes : bytes.subarray(0, end));
}
