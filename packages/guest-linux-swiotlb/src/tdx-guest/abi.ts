/**
 * The numbers the Linux TDX guest uses to talk to the TDX module and the VMM: VMX exit reasons
 * as #VE reports them, TDG.VP.VMCALL (GHCI) sub-functions and statuses, the register-exposure
 * mask Linux passes, TD-scope metadata field ids and bits, TD attributes, the CPUID 0x21
 * identity, TDG.MEM.PAGE.ACCEPT page-size codes, and the errno values the handlers return.
 *
 * @spec shared/reference/kvm-guest-qemu.md §3.1 (CPUID 0x21, TDCS fields, leaf numbers), §3.2
 *   (exit reasons), §1.7 (sub-functions, TDVMCALL status codes); shared/reference/tdx-module.md
 *   §4.1 (TDCALL leaves, TD_CTLS/CONFIG_FLAGS bits), §4.3 (GHCI register protocol, statuses);
 *   torvalds/linux arch/x86/include/asm/shared/tdx.h, arch/x86/coco/tdx/tdx.c,
 *   arch/x86/include/uapi/asm/vmx.h, include/uapi/asm-generic/errno-base.h
 */

/** VMX basic exit reasons a #VE reports in VE_INFO.EXIT_REASON. @spec Intel SDM Vol. 3 App. C */
export const ExitReason = {
  CPUID: 10,
  HLT: 12,
  IO_INSTRUCTION: 30,
  MSR_READ: 31,
  MSR_WRITE: 32,
  EPT_VIOLATION: 48,
} as const;
export type ExitReason = (typeof ExitReason)[keyof typeof ExitReason];

/**
 * TDG.VP.VMCALL sub-functions (R11 with R10 = 0). Instruction emulation requests reuse the exit
 * reason number (Linux `hcall_func(exit_reason)`); the GHCI-specific ones start at 0x10000.
 * @spec kvm-guest-qemu.md §1.7 table; tdx-module.md §4.3 table; asm/shared/tdx.h TDVMCALL_*
 */
export const TdVmCallFn = {
  CPUID: ExitReason.CPUID,
  HLT: ExitReason.HLT,
  IO: ExitReason.IO_INSTRUCTION,
  RDMSR: ExitReason.MSR_READ,
  WRMSR: ExitReason.MSR_WRITE,
  /** #VE.RequestMMIO. */
  MMIO: ExitReason.EPT_VIOLATION,
  GET_TD_VM_CALL_INFO: 0x10000,
  MAP_GPA: 0x10001,
  GET_QUOTE: 0x10002,
  REPORT_FATAL_ERROR: 0x10003,
  SETUP_EVENT_NOTIFY_INTERRUPT: 0x10004,
} as const;

/** R10 = 0 selects a GHCI-standard TDVMCALL (Linux TDX_HYPERCALL_STANDARD). */
export const TDX_HYPERCALL_STANDARD = 0n;

/**
 * TDG.VP.VMCALL completion statuses returned in R10. GPA_INUSE is listed by the GHCI only.
 * @spec kvm-guest-qemu.md §1.7 "TDVMCALL status codes"; tdx-module.md §4.3
 */
export const TdVmCallStatus = {
  SUCCESS: 0n,
  RETRY: 1n,
  INVALID_OPERAND: 0x8000000000000000n,
  GPA_INUSE: 0x8000000000000001n,
  ALIGN_ERROR: 0x8000000000000002n,
  SUBFUNC_UNSUPPORTED: 0x8000000000000003n,
} as const;

/**
 * RCX of every Linux TDVMCALL: expose RDX, RBX, RSI, RDI and R8-R15 (bit n = GPR n).
 * @spec tdx-module.md §4.3 "Linux exposes RDX, RBX, RSI, RDI, R8-R15 (mask 0xFFCC)";
 *   asm/shared/tdx.h TDVMCALL_EXPOSE_REGS_MASK
 */
export const TDVMCALL_EXPOSE_REGS_MASK = 0xffccn;

/** TD-scope metadata field ids for TDG.VM.RD/WR. @spec kvm-guest-qemu.md §3.1 item 9 */
export const TdcsField = {
  CONFIG_FLAGS: 0x1110000300000016n,
  TD_CTLS: 0x1110000300000017n,
  NOTIFY_ENABLES: 0x9100000000000010n,
  TOPOLOGY_ENUM_CONFIGURED: 0x9100000000000019n,
} as const;

/** TDCS.CONFIG_FLAGS bits. @spec tdx-module.md §4.1 (TDG.VM.RD/WR row); asm/shared/tdx.h */
export const TDCS_CONFIG_FLEXIBLE_PENDING_VE = 1n << 1n;

/** TDCS.TD_CTLS bits. @spec tdx-module.md §4.1; kvm-guest-qemu.md §3.1 item 5 */
export const TdCtls = {
  PENDING_VE_DISABLE: 1n << 0n,
  ENUM_TOPOLOGY: 1n << 1n,
  REDUCE_VE: 1n << 3n,
} as const;

/** TD ATTRIBUTES bits Linux checks. @spec tdx.c ATTR_DEBUG, ATTR_SEPT_VE_DISABLE; tdx-module.md §6.4 */
export const TdAttr = {
  DEBUG: 1n << 0n,
  SEPT_VE_DISABLE: 1n << 28n,
} as const;

/** CPUID leaf that identifies a TDX guest and its signature "IntelTDX    " in EBX, EDX, ECX. */
export const TDX_CPUID_LEAF_ID = 0x21;
/** The signature as the three registers read it (little-endian ASCII). @spec kvm-guest-qemu.md §3.1 item 1 */
export const TDX_IDENT = { ebx: 0x65746e49, edx: 0x5844546c, ecx: 0x20202020 } as const;

/** TDG.MEM.PAGE.ACCEPT page-size codes in RCX[2:0]. @spec kvm-guest-qemu.md §3.5; tdx-shared.c TDX_PS_* */
export const AcceptLevel = { L4K: 0, L2M: 1, L1G: 2 } as const;
export type AcceptLevel = (typeof AcceptLevel)[keyof typeof AcceptLevel];
export const ACCEPT_LEVEL_BYTES: readonly [number, number, number] = [
  4096,
  2 * 1024 * 1024,
  1024 * 1024 * 1024,
];

/** Errno values the handlers return (negated). @spec include/uapi/asm-generic/errno-base.h */
export const Errno = {
  EIO: 5,
  EFAULT: 14,
  EINVAL: 22,
} as const;

/** SIGSEGV, the signal a user task gets for an unhandled #VE. @spec include/uapi/asm-generic/signal.h */
export const SIGSEGV = 11;

/** Bytes the #VE handler fetches at RIP. @spec arch/x86/include/asm/insn.h MAX_INSN_SIZE */
export const MAX_INSN_SIZE = 15;

/** RFLAGS.IF. @spec Intel SDM Vol. 1 §3.4.3 */
export const RFLAGS_IF = 1n << 9n;

/** The x86 page size the guest kernel works in. */
export const PAGE_SIZE = 4096;
