/**
 * The vCPU-side services the module's TDCALL leaves use: registers, the TD and vCPU control
 * structures, the Secure EPT, guest-physical checks and preparing a TD exit. The guest execution
 * engine implements it; the leaves depend only on this interface.
 *
 * @spec shared/reference/tdx-module.md §4 (TDCALL leaves run on the calling vCPU), §4.3 (TD exits)
 */
import type { TdControl, VcpuControl } from "./control";
import type { TdxModuleCore } from "./core";
import type { GuestRegisters } from "./guest-interface";
import type { SecureEpt } from "./sept";

/**
 * What the module's TDCALL leaves need from the vCPU they run on (implemented by the guest
 * execution engine).
 */
export interface GuestCpu {
  readonly core: TdxModuleCore;
  readonly td: TdControl;
  readonly vcpu: VcpuControl;
  readonly regs: GuestRegisters;
  readonly sept: SecureEpt;
  isSharedGpa(gpa: number): boolean;
  /** HPA (with HKID) of a mapped private GPA the module accesses for the guest, or -1. */
  privateHpa(gpa: number, write: boolean): number;
  /** Prepare the TD exit TDH.VP.ENTER will return (RAX, RCX, RDX, R8 = GPA page). */
  prepareExit(status: bigint, rcx: bigint, rdx: bigint, gpa: number): void;
}
