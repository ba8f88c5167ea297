/**
 * TD exits as the host sees them from TDH.VP.ENTER: the VMX exit reasons and extended exit
 * qualification types the model produces, and a decoder from (status, registers) to a closed
 * union. The VMM never gets guest RIP or registers: only RAX (status + exit reason), RCX (exit
 * qualification, or the VMCALL select masks), RDX (extended qualification), R8 (GPA, bits 11:0
 * cleared), R9 and, for TDG.VP.VMCALL, the registers the guest selected.
 *
 * @spec shared/reference/tdx-module.md §4.3 (TD exits, VMCALL register protocol), §6.3-§6.4;
 *   intel/tdx-module src/td_transitions/td_exit.c, include x86_defs.h (vmx_eeq_type_t,
 *   tdaccept_vmx_eeq_info_t); Intel SDM Vol. 3 Appendix C (exit reasons), Table 28-5 (I/O exit
 *   qualification), Table 28-7 (EPT violation exit qualification)
 */
import { Gpr, type GprFile, newGprFile } from "./regs";
import { isError, statusBase, statusDetailsL2 } from "./status";
import { TdxStatus } from "./status-codes";

/** Basic VMX exit reasons used here. @spec Intel SDM Vol. 3 Appendix C */
export const VmxExitReason = {
  EXCEPTION_NMI: 0,
  EXTERNAL_INTERRUPT: 1,
  TRIPLE_FAULT: 2,
  CPUID: 10,
  HLT: 12,
  IO: 30,
  MSR_READ: 31,
  MSR_WRITE: 32,
  EPT_VIOLATION: 48,
  EPT_MISCONFIG: 49,
  TDCALL: 77,
} as const;

/** Extended exit qualification types (RDX bits 3:0). @spec x86_defs.h vmx_eeq_type_t */
export const EeqType = {
  NONE: 0,
  ACCEPT: 1,
  GPA_DETAILS: 2,
  TD_ENTRY_MSR_LOAD_FAILURE: 3,
  TD_ENTRY_XSTATE_LOAD_FAILURE: 4,
  ATTR_WR: 5,
  PENDING_EPT_VIOLATION: 6,
} as const;

/** EPT-violation exit qualification bits. @spec Intel SDM Vol. 3 Table 28-7 */
export const EptQual = {
  READ: 1n,
  WRITE: 2n,
  FETCH: 4n,
  READABLE: 8n,
  WRITABLE: 16n,
  EXECUTABLE: 32n,
  GLA_VALID: 128n,
  FINAL_TRANSLATION: 256n,
} as const;

/**
 * Exit qualification of an I/O-instruction VM exit: size - 1 in bits 2:0, direction (1 = IN) bit
 * 3, string (INS/OUTS) bit 4, REP prefix bit 5, operand encoding (1 = immediate port) bit 6, port
 * in bits 31:16. @spec Intel SDM Vol. 3C Table 28-5; kvm-guest-qemu.md §3.4
 */
export const IoQual = {
  IN: 8,
  STRING: 16,
  REP: 32,
  IMMEDIATE: 64,
  PORT_SHIFT: 16,
} as const;

/** The I/O exit qualification for an access of `size` bytes (1, 2 or 4) to `port`. */
export function ioExitQualification(
  port: number,
  size: number,
  isIn: boolean,
  form: { readonly imm8?: boolean; readonly string?: boolean; readonly rep?: boolean } = {},
): number {
  return (
    ((size - 1) |
      (isIn ? IoQual.IN : 0) |
      (form.string ? IoQual.STRING : 0) |
      (form.rep ? IoQual.REP : 0) |
      (form.imm8 ? IoQual.IMMEDIATE : 0) |
      (port << IoQual.PORT_SHIFT)) >>>
    0
  );
}

/** Bits 12:7 (GLA-related) the module clears before a TD exit. */
export const QUAL_SANITIZE_MASK = ~0x1f80n;

/** TDG.MEM.PAGE.ACCEPT EEQ info: requested level 2:0, error level 5:3, SEPT state 13:6, leaf 14. */
export function acceptEeqInfo(
  reqLevel: number,
  errLevel: number,
  publicState: number,
  isLeaf: boolean,
): number {
  return (reqLevel & 7) | ((errLevel & 7) << 3) | ((publicState & 0xff) << 6) | (isLeaf ? 1 << 14 : 0);
}

/** A TD exit as decoded from TDH.VP.ENTER's outputs. */
export type TdExit =
  | {
      readonly kind: "tdvmcall";
      /** Bits 15:0 of the guest's RCX: which GPRs it exposed. */
      readonly gprMask: number;
      /** The exposed GPRs (others read as 0). */
      readonly regs: GprFile;
    }
  | {
      readonly kind: "ept-violation";
      readonly gpa: number;
      readonly exitQualification: bigint;
      readonly eeqType: number;
      readonly eeqInfo: number;
    }
  | { readonly kind: "ept-misconfig"; readonly gpa: number }
  | { readonly kind: "other"; readonly reason: number; readonly exitQualification: bigint };

/** What TDH.VP.ENTER returned. */
export type VpEnterOutcome =
  /** The entry itself failed (wrong state, association, fatal TD, ...): nothing ran. */
  | { readonly kind: "error"; readonly status: bigint }
  /** The guest ran and exited normally. */
  | { readonly kind: "exit"; readonly status: bigint; readonly exit: TdExit }
  /** The vCPU is disabled (triple fault / shutdown): TDX_NON_RECOVERABLE_VCPU. */
  | { readonly kind: "vcpu-shutdown"; readonly status: bigint; readonly reason: number }
  /** The TD is now fatal (e.g. a machine check consuming poisoned private memory). */
  | { readonly kind: "td-fatal"; readonly status: bigint };

const TD_FATAL_EXITS: ReadonlySet<bigint> = new Set([
  TdxStatus.NON_RECOVERABLE_TD,
  TdxStatus.NON_RECOVERABLE_TD_NON_ACCESSIBLE,
  TdxStatus.NON_RECOVERABLE_TD_WRONG_APIC_MODE,
  TdxStatus.NON_RECOVERABLE_TD_CORRUPTED_MD,
]);

/** Decode TDH.VP.ENTER's status and output registers. */
export function decodeVpEnter(status: bigint, regs: GprFile): VpEnterOutcome {
  const base = statusBase(status);
  if (base === TdxStatus.NON_RECOVERABLE_VCPU) {
    return { kind: "vcpu-shutdown", status, reason: statusDetailsL2(status) & 0xffff };
  }
  if (TD_FATAL_EXITS.has(base)) return { kind: "td-fatal", status };
  if (isError(status)) return { kind: "error", status };
  const reason = statusDetailsL2(status) & 0xffff;
  const gpa = Number(regs[Gpr.R8]! & ~0xfffn);
  switch (reason) {
    case VmxExitReason.TDCALL: {
      const mask = Number(regs[Gpr.RCX]! & 0xffffn);
      const sel = newGprFile();
      for (let i = 0; i < 16; i++) if ((mask >> i) & 1) sel[i] = regs[i]!;
      return { kind: "exit", status, exit: { kind: "tdvmcall", gprMask: mask, regs: sel } };
    }
    case VmxExitReason.EPT_VIOLATION: {
      const eeq = regs[Gpr.RDX]!;
      return {
        kind: "exit",
        status,
        exit: {
          kind: "ept-violation",
          gpa,
          exitQualification: regs[Gpr.RCX]!,
          eeqType: Number(eeq & 0xfn),
          eeqInfo: Number(eeq >> 32n),
        },
      };
    }
    case VmxExitReason.EPT_MISCONFIG:
      return { kind: "exit", status, exit: { kind: "ept-misconfig", gpa } };
    default:
      return { kind: "exit", status, exit: { kind: "other", reason, exitQualification: regs[Gpr.RCX]! } };
  }
}
