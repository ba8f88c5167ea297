/**
 * The numbers the Linux TDX guest uses beyond those @tdx/hw-cpu-seam exports (exit reasons,
 * TDCALL leaves, GHCI sub-functions and statuses, attributes, TD_CTLS and CONFIG_FLAGS bits,
 * page levels): the GHCI standard marker and register-exposure mask as Linux passes them,
 * TD-scope metadata field ids as Linux encodes them, the CPUID 0x21 signature, RFLAGS.IF, and
 * the errno values the handlers return.
 *
 * @spec shared/reference/kvm-guest-qemu.md §3.1 (CPUID 0x21, TDCS fields, leaf numbers), §3.2
 *   (exit reasons), §1.7 (sub-functions, TDVMCALL status codes); shared/reference/tdx-module.md
 *   §4.1 (TDCALL leaves, TD_CTLS/CONFIG_FLAGS bits), §4.3 (GHCI register protocol, statuses);
 *   torvalds/linux arch/x86/include/asm/shared/tdx.h, arch/x86/coco/tdx/tdx.c,
 *   arch/x86/include/uapi/asm/vmx.h, include/uapi/asm-generic/errno-base.h
 */
import { LINUX_VMCALL_MASK } from "@tdx/hw-cpu-seam";

/** R10 = 0 selects a GHCI-standard TDVMCALL (Linux TDX_HYPERCALL_STANDARD). */
export const TDX_HYPERCALL_STANDARD = 0n;

/**
 * RCX of every Linux TDVMCALL: expose RDX, RBX, RSI, RDI and R8-R15 (bit n = GPR n).
 * @spec tdx-module.md §4.3 "Linux exposes RDX, RBX, RSI, RDI, R8-R15 (mask 0xFFCC)";
 *   asm/shared/tdx.h TDVMCALL_EXPOSE_REGS_MASK
 */
export const TDVMCALL_EXPOSE_REGS_MASK = BigInt(LINUX_VMCALL_MASK);

/** TD-scope metadata field ids for TDG.VM.RD/WR. @spec kvm-guest-qemu.md §3.1 item 9 */
export const TdcsField = {
  CONFIG_FLAGS: 0x1110000300000016n,
  TD_CTLS: 0x1110000300000017n,
  NOTIFY_ENABLES: 0x9100000000000010n,
  TOPOLOGY_ENUM_CONFIGURED: 0x9100000000000019n,
} as const;

/**
 * CPUID 0x21 signature "IntelTDX    " as EBX, EDX, ECX read it (little-endian ASCII).
 * @spec kvm-guest-qemu.md §3.1 item 1
 */
export const TDX_IDENT = { ebx: 0x65746e49, edx: 0x5844546c, ecx: 0x20202020 } as const;

/** Errno values the handlers return (negated). @spec include/uapi/asm-generic/errno-base.h */
export const Errno = {
  EIO: 5,
  EFAULT: 14,
  EINVAL: 22,
} as const;

/** SIGSEGV, the signal a user task gets for an unhandled #VE. @spec include/uapi/asm-generic/signal.h */
export const SIGSEGV = 11;

/** RFLAGS.IF. @spec Intel SDM Vol. 1 §3.4.3 */
export const RFLAGS_IF = 1n << 9n;
