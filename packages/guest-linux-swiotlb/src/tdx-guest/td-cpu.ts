/**
 * What the TDX guest code needs of a vCPU: the slice of @tdx/hw-cpu-seam's `TdGuestContext`
 * (registers, synchronous reads, TDCALL, exception handlers) it programs against. Any
 * `TdGuestContext` is a `TdCpu`; so is the scripted vCPU the unit tests use.
 *
 * @spec packages/hw-cpu-seam/src/tdx/guest-interface.ts (the execution model: generators,
 *   `yield*` for operations that may exit)
 */
import type { GuestOp } from "@tdx/hw-cpu-seam";

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
  /** Synchronous read that never exits; `GuestMem.Ok` when it succeeded. */
  read(gpa: number, dst: Uint8Array): number;
  /** TDCALL: leaf in RAX, inputs/outputs in `regs.gpr`; returns the completion status (RAX). */
  tdcall(): GuestOp<bigint>;
  setExceptionHandler(vector: number, handler: TdExceptionHandler | undefined): void;
}
