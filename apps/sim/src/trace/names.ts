/**
 * Names the trace (and the host's counters) give to TDX values: GHCI TDG.VP.VMCALL sub-functions
 * by their `TdVmcall` key, VMX exit reasons by their `VmxExitReason` key, and a TD exit as the
 * host sees it from TDH.VP.ENTER's outputs.
 *
 * @spec shared/reference/tdx-module.md §4.3 (TD exits, VMCALL: R10 = 0 standard, R11 sub-function);
 *   kvm-guest-qemu.md §1.7 (GHCI dispatch table)
 */
import { Gpr, TdVmcall, VmxExitReason, type VpEnterOutcome } from "@tdx/hw-cpu-seam";

const VMCALL_NAMES = new Map<number, string>(Object.entries(TdVmcall).map(([k, v]) => [v, k]));
const VMX_NAMES = new Map<number, string>(Object.entries(VmxExitReason).map(([k, v]) => [v, k]));

/** A GHCI sub-function's name (`MAP_GPA`, `REQUEST_MMIO`, ...), or its number in hex. */
export function tdvmcallName(fn: number): string {
  return VMCALL_NAMES.get(fn) ?? `0x${fn.toString(16)}`;
}

/** A VMX basic exit reason's name (`EPT_VIOLATION`, `CPUID`, ...), or `reason-N`. */
export function exitReasonName(reason: number): string {
  return VMX_NAMES.get(reason) ?? `reason-${reason}`;
}

/** How a TDH.VP.ENTER ended, as one short label: `TDVMCALL<MAP_GPA>`, `EPT_VIOLATION`, ... */
export function vpEnterLabel(o: VpEnterOutcome): string {
  if (o.kind !== "exit") return `TDH.VP.ENTER ${o.kind}`;
  const x = o.exit;
  switch (x.kind) {
    case "tdvmcall":
      return x.regs[Gpr.R10] === 0n
        ? `TDVMCALL<${tdvmcallName(Number(x.regs[Gpr.R11]))}>`
        : "TDVMCALL<KVM hypercall>";
    case "ept-violation":
      return "EPT_VIOLATION";
    case "ept-misconfig":
      return "EPT_MISCONFIG";
    default:
      return exitReasonName(x.reason);
  }
}

/** Lower-case hex of an address or register value. */
export function hex(v: number | bigint): string {
  return `0x${v.toString(16)}`;
}
