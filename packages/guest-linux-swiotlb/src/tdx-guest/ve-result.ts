/**
 * What one #VE sub-handler returns (Linux: the number of bytes to advance RIP, or -errno), with
 * the reason for a refusal named, and the register frame the handler works on (pt_regs: the
 * interrupted context, saved on entry and restored on IRET). Also `ve_instr_len()`: the
 * module's instruction length is trusted only for instruction-caused #VEs.
 *
 * @spec shared/reference/kvm-guest-qemu.md §3.2 (ve_instr_len rules), §3.3 (MMIO refusals and
 *   their errnos), §3.4 (string I/O -EIO); torvalds/linux arch/x86/coco/tdx/tdx.c
 */
import { VmxExitReason } from "@tdx/hw-cpu-seam";
import { Errno } from "./abi";
import type { TdxGuest } from "./guest";
import type { VeInfo } from "./ve-info";

/** Why the handler did not emulate an instruction. */
export type VeFailureReason =
  /** MMIO #VE taken in user mode (-EFAULT). */
  | "user-mode-mmio"
  /** The 15 bytes at RIP could not be read (-EFAULT). */
  | "fetch-fault"
  /** Not an instruction insn_decode_mmio() handles (-EINVAL). */
  | "decode-failed"
  /** The GLA is not in kernel space (-EINVAL). */
  | "user-address"
  /** The access straddles a 4 KiB page (-EFAULT). */
  | "page-split"
  /** MOVS to or from MMIO (-EINVAL). */
  | "movs"
  /** The VMM's TDVMCALL status was not SUCCESS (-EIO). */
  | "vmcall-failed"
  /** INS/OUTS (-EIO). */
  | "string-io"
  /** HLT with interrupts enabled (-EIO, with the 2025 fix). */
  | "hlt-irqs-enabled"
  /** An exit reason this mode does not handle (-EIO). */
  | "unexpected-exit-reason";

export type VeResult =
  | { readonly ok: true; readonly length: number }
  | { readonly ok: false; readonly errno: number; readonly reason: VeFailureReason };

const ERRNO_OF: { readonly [R in VeFailureReason]: number } = {
  "user-mode-mmio": Errno.EFAULT,
  "fetch-fault": Errno.EFAULT,
  "decode-failed": Errno.EINVAL,
  "user-address": Errno.EINVAL,
  "page-split": Errno.EFAULT,
  movs: Errno.EINVAL,
  "vmcall-failed": Errno.EIO,
  "string-io": Errno.EIO,
  "hlt-irqs-enabled": Errno.EIO,
  "unexpected-exit-reason": Errno.EIO,
};

const FAILURES = Object.fromEntries(
  Object.entries(ERRNO_OF).map(([reason, errno]) => [reason, Object.freeze({ ok: false, errno, reason })]),
) as unknown as { readonly [R in VeFailureReason]: VeResult & { ok: false } };

const LENGTHS: readonly VeResult[] = Array.from({ length: 16 }, (_, n) =>
  Object.freeze({ ok: true, length: n }),
);

export function veFailure(reason: VeFailureReason): VeResult & { ok: false } {
  return FAILURES[reason];
}

export function veAdvance(length: number): VeResult {
  return LENGTHS[length] ?? { ok: true, length };
}

/** The interrupted context (Linux pt_regs) the handler reads and writes. */
export interface PtRegs {
  /** RAX..R15 in x86 encoding order. */
  readonly gpr: BigUint64Array;
  ip: number;
  flags: bigint;
  /** CPL 3 at the time of the #VE. */
  userMode: boolean;
}

/** ve_instr_len(): the module's length for instruction #VEs; 0 (with a WARN) for EPT violations. */
export function veInstrLen(guest: TdxGuest, ve: VeInfo): number {
  switch (ve.exitReason) {
    case VmxExitReason.HLT:
    case VmxExitReason.MSR_READ:
    case VmxExitReason.MSR_WRITE:
    case VmxExitReason.CPUID:
    case VmxExitReason.IO:
      return ve.instrLen;
    case VmxExitReason.EPT_VIOLATION:
      guest.warnOnce("ve-len-ept", "WARNING: ve->instr_len is not defined for EPT violations");
      return 0;
    default:
      guest.warnOnce(`ve-len-${ve.exitReason}`, `WARNING: Unexpected #VE-type: ${ve.exitReason}`);
      return ve.instrLen;
  }
}
