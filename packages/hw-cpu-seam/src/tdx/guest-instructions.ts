/**
 * The instructions a TD's vCPU cannot execute on its own, as the CPU and the TDX module route
 * them: CPUID (virtualised or #VE), HLT (#VE), RDMSR/WRMSR (native, #VE or #GP), IN/OUT and
 * INS/OUTS (#VE). A completed instruction advances RIP by its length; a #VE carries the VM exit's
 * reason, qualification (non-zero only for I/O), instruction length and, for INS/OUTS, the
 * instruction information, with GLA and GPA 0; the handler advances RIP. A handler that returns
 * without moving RIP makes the instruction execute again, as on hardware.
 *
 * Instruction lengths are the encodings' (the VMCS VM-exit instruction length): CPUID 0F A2 = 2,
 * HLT F4 = 1, RDMSR 0F 32 / WRMSR 0F 30 = 2; IN/OUT with the port in DX (EC/ED/EE/EF) and
 * INS/OUTS (6C-6F) = 1, with an immediate port (E4-E7 ib) = 2; +1 for the 66 prefix of a 16-bit
 * access, +1 for REP.
 *
 * @spec shared/reference/tdx-module.md §4.2 (#VE sources), kvm-guest-qemu.md §3.2 (the lengths
 *   Linux trusts), §3.4 (I/O qualification); Intel SDM Vol. 2 (CPUID, HLT, RDMSR, WRMSR, IN, OUT,
 *   INS, OUTS encodings), Vol. 3C §28.2.4-28.2.5 (exit qualification for I/O, VM-exit
 *   instruction length and information for INS/OUTS: address size 9:7, segment 17:15);
 *   intel/tdx-module src/td_dispatcher/tdx_td_dispatcher.c td_generic_ve_exit(), vm_exits/
 *   td_cpuid.c, td_msr_access.c
 */
import { TdxSimError } from "../errors";
import type { TdControl, VcpuControl } from "./control";
import type { TdxModuleCore } from "./core";
import {
  ExceptionVector,
  type GuestOp,
  type GuestRegisters,
  type InstructionOutcome,
  type PortIoForm,
  type PortIoSize,
} from "./guest-interface";
import { Gpr } from "./regs";
import { virtualCpuid } from "./td-cpuid";
import { ioExitQualification, VmxExitReason } from "./td-exit";
import { MsrAccess, tdRdmsr, tdWrmsr } from "./td-msr";

/** What the instructions need of the vCPU (the execution engine). */
export interface InstructionCpu {
  readonly core: TdxModuleCore;
  readonly td: TdControl;
  readonly vcpu: VcpuControl;
  readonly regs: GuestRegisters;
  raiseVe(
    exitReason: number,
    qualification: bigint,
    gla: number,
    gpa: number,
    instructionLength: number,
    instructionInfo: number,
  ): GuestOp<void>;
  raiseException(vector: number): GuestOp<void>;
}

const LOW32 = 0xffffffffn;
const CPUID_LENGTH = 2;
const HLT_LENGTH = 1;
const MSR_LENGTH = 2;
/** INS/OUTS instruction information: 64-bit address size (bits 9:7 = 2), OUTS from DS (17:15 = 3). */
const STRING_IO_INFO_IN = 2 << 7;
const STRING_IO_INFO_OUT = (2 << 7) | (3 << 15);

const cpuidOut = new Uint32Array(4);
const msrOut = new BigUint64Array(1);

function u32(name: string, v: number): number {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new TdxSimError("E_BAD_OPERAND", `${name} ${v} is not a 32-bit unsigned value`);
  }
  return v;
}

/** After an exception handler: RIP moved means the instruction is finished. */
function moved(c: InstructionCpu, rip: number): boolean {
  return c.regs.rip !== rip;
}

export function* executeCpuid(c: InstructionCpu, leaf: number, subleaf: number): GuestOp<InstructionOutcome> {
  const g = c.regs.gpr;
  g[Gpr.RAX] = BigInt(u32("CPUID leaf", leaf));
  g[Gpr.RCX] = BigInt(u32("CPUID sub-leaf", subleaf));
  for (;;) {
    const rip = c.regs.rip;
    const eax = Number(g[Gpr.RAX]! & LOW32);
    const ecx = Number(g[Gpr.RCX]! & LOW32);
    if (virtualCpuid(c.td, c.vcpu, eax, ecx, cpuidOut)) {
      g[Gpr.RAX] = BigInt(cpuidOut[0]!);
      g[Gpr.RBX] = BigInt(cpuidOut[1]!);
      g[Gpr.RCX] = BigInt(cpuidOut[2]!);
      g[Gpr.RDX] = BigInt(cpuidOut[3]!);
      c.regs.rip = rip + CPUID_LENGTH;
      return "done";
    }
    yield* c.raiseVe(VmxExitReason.CPUID, 0n, 0, 0, CPUID_LENGTH, 0);
    if (moved(c, rip)) return "emulated";
  }
}

export function* executeHlt(c: InstructionCpu): GuestOp<InstructionOutcome> {
  for (;;) {
    const rip = c.regs.rip;
    yield* c.raiseVe(VmxExitReason.HLT, 0n, 0, 0, HLT_LENGTH, 0);
    if (moved(c, rip)) return "emulated";
  }
}

export function* executeMsr(c: InstructionCpu, write: boolean): GuestOp<InstructionOutcome> {
  const g = c.regs.gpr;
  for (;;) {
    const rip = c.regs.rip;
    const msr = Number(g[Gpr.RCX]! & LOW32);
    const r = write
      ? tdWrmsr(c.core, c.td, c.vcpu, msr, ((g[Gpr.RDX]! & LOW32) << 32n) | (g[Gpr.RAX]! & LOW32))
      : tdRdmsr(c.core, c.td, c.vcpu, msr, msrOut);
    if (r === MsrAccess.DONE) {
      if (!write) {
        g[Gpr.RAX] = msrOut[0]! & LOW32;
        g[Gpr.RDX] = msrOut[0]! >> 32n;
      }
      c.regs.rip = rip + MSR_LENGTH;
      return "done";
    }
    if (r === MsrAccess.GP) {
      yield* c.raiseException(ExceptionVector.GP);
      if (moved(c, rip)) return "faulted";
      continue;
    }
    const reason = write ? VmxExitReason.MSR_WRITE : VmxExitReason.MSR_READ;
    yield* c.raiseVe(reason, 0n, 0, 0, MSR_LENGTH, 0);
    if (moved(c, rip)) return "emulated";
  }
}

/** The VM-exit instruction length of an IN/OUT/INS/OUTS of `size` bytes in `form`. */
export function ioInstructionLength(size: PortIoSize, form: PortIoForm = {}): number {
  return (form.imm8 ? 2 : 1) + (size === 2 ? 1 : 0) + (form.rep ? 1 : 0);
}

function checkIo(port: number, size: number, form: PortIoForm): void {
  if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
    throw new TdxSimError("E_BAD_OPERAND", `I/O port ${port} is not in 0..0xFFFF`);
  }
  if (size !== 1 && size !== 2 && size !== 4) {
    throw new TdxSimError("E_BAD_OPERAND", `I/O size ${size} is not 1, 2 or 4 bytes`);
  }
  if (form.imm8 && (form.string || port > 0xff)) {
    throw new TdxSimError(
      "E_BAD_OPERAND",
      `an immediate-port IN/OUT names ports 0..0xFF and has no string form (port 0x${port.toString(16)})`,
    );
  }
  if (form.rep && !form.string) {
    throw new TdxSimError("E_BAD_OPERAND", "a REP prefix applies only to INS/OUTS (form.string)");
  }
}

export function* executeIo(
  c: InstructionCpu,
  port: number,
  size: PortIoSize,
  isIn: boolean,
  form: PortIoForm = {},
): GuestOp<InstructionOutcome> {
  checkIo(port, size, form);
  const qual = BigInt(ioExitQualification(port, size, isIn, form));
  const length = ioInstructionLength(size, form);
  const info = form.string ? (isIn ? STRING_IO_INFO_IN : STRING_IO_INFO_OUT) : 0;
  for (;;) {
    const rip = c.regs.rip;
    yield* c.raiseVe(VmxExitReason.IO, qual, 0, 0, length, info);
    if (moved(c, rip)) return "emulated";
  }
}
