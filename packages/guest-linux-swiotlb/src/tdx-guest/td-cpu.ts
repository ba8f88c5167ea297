/**
 * What the TDX guest code needs of a vCPU: the subset of @tdx/hw-cpu-seam's TD guest execution
 * interface (`TdGuestContext`: registers, synchronous reads, TDCALL, exception handlers) it
 * programs against, the TDCALL leaf numbers it issues and the GPR indices of the register file.
 * Any `TdGuestContext` satisfies `TdCpu` structurally.
 *
 * @spec packages/hw-cpu-seam/src/tdx/guest-interface.ts (the execution model: generators,
 *   `yield*` for operations that may exit); shared/reference/tdx-module.md §4.1 (TDCALL leaf
 *   numbers), §0.2 (RAX = leaf); Intel SDM Vol. 2 §2.1.5 (GPR encoding order)
 */

/** Opaque token a guest operation yields when it gives the CPU to the host (a TD exit). */
export interface TdExitSignal {
  readonly __tdExitSignal: true;
}

/** A step of guest code that may exit to the host; compose with `yield*`. */
export type GuestOp<T> = Generator<TdExitSignal, T, undefined>;

/** A guest exception handler (an IDT entry); returning is IRET. */
export type TdExceptionHandler = (cpu: TdCpu, vector: number) => GuestOp<void>;

export interface TdCpuRegisters {
  /** RAX..R15 in x86 encoding order (see `Gpr`). */
  readonly gpr: BigUint64Array;
  /** Instruction pointer (a GPA: the execution model has no guest paging). */
  rip: number;
  rflags: bigint;
}

/** The vCPU as the guest kernel sees it. */
export interface TdCpu {
  readonly regs: TdCpuRegisters;
  /** Synchronous read that never exits; 0 (GuestMem.Ok) when it succeeded. */
  read(gpa: number, dst: Uint8Array): number;
  /** TDCALL: leaf in RAX, inputs/outputs in `regs.gpr`; returns the completion status (RAX). */
  tdcall(): GuestOp<bigint>;
  setExceptionHandler(vector: number, handler: TdExceptionHandler | undefined): void;
}

/** GuestMem.Ok of the execution interface. */
export const GUEST_MEM_OK = 0;

/** #VE, the virtualization exception. @spec Intel SDM Vol. 3 §6.3.1 */
export const VE_VECTOR = 20;

/** GPR indices in x86 encoding order. */
export const Gpr = {
  RAX: 0,
  RCX: 1,
  RDX: 2,
  RBX: 3,
  RSP: 4,
  RBP: 5,
  RSI: 6,
  RDI: 7,
  R8: 8,
  R9: 9,
  R10: 10,
  R11: 11,
  R12: 12,
  R13: 13,
  R14: 14,
  R15: 15,
} as const;

/** The TDCALL leaves the guest kernel issues. @spec tdx-module.md §4.1 */
export const TdcallLeaf = {
  VP_VMCALL: 0,
  VP_INFO: 1,
  VP_VEINFO_GET: 3,
  MEM_PAGE_ACCEPT: 6,
  VM_RD: 7,
  VM_WR: 8,
} as const;
