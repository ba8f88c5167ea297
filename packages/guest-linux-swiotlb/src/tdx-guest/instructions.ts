/**
 * #VE handlers for instructions the TDX module does not execute for the TD and reports as a
 * #VE: CPUID (only the hypervisor range 0x40000000-0x4FFFFFFF goes to the VMM; other leaves read
 * as zeros), HLT (TDVMCALL with the "interrupts blocked" flag), RDMSR and WRMSR. Each advances RIP
 * by the module's instruction length.
 *
 * @spec shared/reference/kvm-guest-qemu.md §3.2 (dispatch table), §1.7 (sub-function registers:
 *   CPUID R12=EAX, R13=ECX -> R12-R15 = EAX, EBX, ECX, EDX; HLT R12; RDMSR R12 -> R11; WRMSR R12,
 *   R13); shared/reference/tdx-module.md §4.3; torvalds/linux arch/x86/coco/tdx/tdx.c
 *   handle_cpuid(), handle_halt() (+ 2025 "HLT emulation with IRQs enabled" check), read_msr(),
 *   write_msr()
 */
import { Gpr, type GuestOp, TdVmcall } from "@tdx/hw-cpu-seam";
import { RFLAGS_IF } from "./abi";
import type { TdxVcpu } from "./vcpu";
import type { VeInfo } from "./ve-info";
import { type PtRegs, type VeResult, veAdvance, veFailure, veInstrLen } from "./ve-result";

const LOW32 = 0xffffffffn;

/** handle_cpuid(). */
export function* handleCpuid(v: TdxVcpu, regs: PtRegs, ve: VeInfo, args: BigUint64Array): GuestOp<VeResult> {
  const g = regs.gpr;
  const leaf = g[Gpr.RAX]!;
  if (leaf < 0x40000000n || leaf > 0x4fffffffn) {
    g[Gpr.RAX] = 0n;
    g[Gpr.RBX] = 0n;
    g[Gpr.RCX] = 0n;
    g[Gpr.RDX] = 0n;
    return veAdvance(veInstrLen(v.guest, ve));
  }
  const st = yield* v.hypercall(args, TdVmcall.CPUID, leaf, g[Gpr.RCX]!);
  if (st !== 0n) return veFailure("vmcall-failed");
  g[Gpr.RAX] = args[Gpr.R12]!;
  g[Gpr.RBX] = args[Gpr.R13]!;
  g[Gpr.RCX] = args[Gpr.R14]!;
  g[Gpr.RDX] = args[Gpr.R15]!;
  return veAdvance(veInstrLen(v.guest, ve));
}

/** Whether interrupts are disabled in the interrupted context (RFLAGS.IF clear). */
export function irqsDisabled(regs: PtRegs): boolean {
  return (regs.flags & RFLAGS_IF) === 0n;
}

/** handle_halt(). */
export function* handleHalt(v: TdxVcpu, regs: PtRegs, ve: VeInfo, args: BigUint64Array): GuestOp<VeResult> {
  const disabled = irqsDisabled(regs);
  if (!disabled && v.guest.hltWithIrqsEnabled === "reject") {
    v.guest.warnOnce("hlt-irq", "WARNING: HLT emulation with IRQs enabled");
    return veFailure("hlt-irqs-enabled");
  }
  const st = yield* v.hypercall(args, TdVmcall.HLT, disabled ? 1n : 0n);
  if (st !== 0n) return veFailure("vmcall-failed");
  return veAdvance(veInstrLen(v.guest, ve));
}

/** read_msr(): EDX:EAX <- R11 (each half zero-extended into its 64-bit register). */
export function* handleRdmsr(v: TdxVcpu, regs: PtRegs, ve: VeInfo, args: BigUint64Array): GuestOp<VeResult> {
  const g = regs.gpr;
  const st = yield* v.hypercall(args, TdVmcall.RDMSR, g[Gpr.RCX]!);
  if (st !== 0n) return veFailure("vmcall-failed");
  const value = args[Gpr.R11]!;
  g[Gpr.RAX] = value & LOW32;
  g[Gpr.RDX] = value >> 32n;
  return veAdvance(veInstrLen(v.guest, ve));
}

/**
 * write_msr(): R13 = (u64)RDX << 32 | RAX, with RAX used whole as Linux does (WRMSR itself
 * ignores RAX[63:32]; io.h-style callers have it clear).
 */
export function* handleWrmsr(v: TdxVcpu, regs: PtRegs, ve: VeInfo, args: BigUint64Array): GuestOp<VeResult> {
  const g = regs.gpr;
  const value = BigInt.asUintN(64, (g[Gpr.RDX]! << 32n) | g[Gpr.RAX]!);
  const st = yield* v.hypercall(args, TdVmcall.WRMSR, g[Gpr.RCX]!, value);
  if (st !== 0n) return veFailure("vmcall-failed");
  return veAdvance(veInstrLen(v.guest, ve));
}
