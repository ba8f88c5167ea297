/**
 * What the TDX guest code needs of a vCPU: the slice of @tdx/hw-cpu-seam's `TdGuestContext`
 * (registers, synchronous reads, TDCALL, CPUID, exception handlers) it programs against. Any
 * `TdGuestContext` is a `TdCpu`; so is the scripted vCPU the unit tests use.
 *
 * @spec packages/hw-cpu-seam/src/tdx/guest-interface.ts (the execution model: generators,
 *   `yield*` for operations that may exit; CPUID intercepted by the TDX module)
 */
import type { GuestMem, GuestOp, GuestRegisters, InstructionOutcome } from "@tdx/hw-cpu-seam";

/** A guest exception handler (an IDT entry) over a `TdCpu`; returning is IRET. */
export type TdExceptionHandler = (cpu: TdCpu, vector: number) => GuestOp<void>;

/** The vCPU as the guest kernel sees it. */
export interface TdCpu {
  readonly regs: GuestRegisters;
  /** Synchronous read that never exits; `GuestMem.Ok` when it succeeded. */
  read(gpa: number, dst: Uint8Array): GuestMem;
  /** TDCALL: leaf in RAX, inputs/outputs in `regs.gpr`; returns the completion status (RAX). */
  tdcall(): GuestOp<bigint>;
  /** CPUID with EAX = leaf, ECX = subleaf; results in EAX..EDX (may raise #VE). */
  cpuid(leaf: number, subleaf: number): GuestOp<InstructionOutcome>;
  setExceptionHandler(vector: number, handler: TdExceptionHandler | undefined): void;
}
