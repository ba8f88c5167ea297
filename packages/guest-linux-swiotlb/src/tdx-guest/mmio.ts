/**
 * MMIO emulation for an EPT-violation #VE on a shared GPA (`handle_mmio()`): refuse user mode,
 * fetch 15 bytes at RIP, decode them with the x86 MMIO decoder of @tdx/hw-cpu-seam (Linux's
 * insn_decode_mmio() forms), refuse what Linux refuses in Linux's order (undecodable, a
 * non-kernel GLA, a page-straddling access, MOVS), then issue TDG.VP.VMCALL<#VE.RequestMMIO>
 * with size, direction, `ve.gpa` (the module's GPA, shared bit included) and the value, write a
 * read's result back to the register and advance RIP by the decoded length.
 *
 * @spec shared/reference/kvm-guest-qemu.md §3.3 (sequence steps 1-7, per-type handling), §1.6
 *   (R12 size, R13 0 read / 1 write, R14 GPA, R15 value; R11 result); shared/reference/
 *   tdx-module.md §4.3 (#VE.RequestMMIO = 48); torvalds/linux arch/x86/coco/tdx/tdx.c
 *   handle_mmio(), mmio_read(), mmio_write(); arch/x86/lib/insn-eval.c insn_get_addr_ref()
 *   (for MOVS, which has no ModRM, it computes [RAX]); 2024 "x86/tdx: Fix "in-kernel MMIO"
 *   check" (fault_in_kernel_space(ve->gla))
 */

import {
  decodeMmioInstruction,
  Gpr,
  GuestMem,
  type GuestOp,
  MAX_INSN_LENGTH,
  type MmioImmediateWrite,
  mmioEffectiveAddress,
  PAGE_SIZE,
  TdVmcall,
} from "@tdx/hw-cpu-seam";
import { mmioWriteBack, mmioWriteValue } from "./mmio-registers";
import type { TdxVcpu } from "./vcpu";
import type { VeInfo } from "./ve-info";
import { type PtRegs, type VeResult, veAdvance, veFailure } from "./ve-result";

const EPT_READ = 0n;
const EPT_WRITE = 1n;
const MASK64 = 0xffffffffffffffffn;

/** The value Linux passes for MOV imm: insn.immediate.value, a signed int, sign-extended to 64 bits. */
export function immediateAsLinuxPasses(insn: MmioImmediateWrite): bigint {
  const bits = BigInt(8 * Math.min(insn.size, 4));
  const v = BigInt(insn.immLo) & ((1n << bits) - 1n);
  const signed = (v >> (bits - 1n)) & 1n ? v - (1n << bits) : v;
  return BigInt.asUintN(64, signed);
}

/** One vCPU's MMIO emulation state: the instruction buffer is reused by every #VE. */
export class MmioEmulator {
  private readonly insnBytes = new Uint8Array(MAX_INSN_LENGTH);
  /** Registers of the #VE being handled, read by `gprOf` (one closure for all #VEs). */
  private gpr: BigUint64Array = new BigUint64Array(16);
  private readonly gprOf = (i: number): bigint => this.gpr[i]!;

  constructor(private readonly v: TdxVcpu) {}

  *handle(regs: PtRegs, ve: VeInfo, args: BigUint64Array): GuestOp<VeResult> {
    const v = this.v;
    const guest = v.guest;
    if (regs.userMode) {
      guest.warnOnce("mmio-user", "WARNING: handle_mmio: MMIO from user mode");
      return veFailure("user-mode-mmio");
    }
    if (v.cpu.read(regs.ip, this.insnBytes) !== GuestMem.Ok) return veFailure("fetch-fault");
    const insn = decodeMmioInstruction(this.insnBytes);
    if (insn.kind === "unsupported") {
      guest.warnOnce(
        `mmio-decode-${insn.reason}`,
        `WARNING: handle_mmio: insn_decode_mmio failed (${insn.reason})`,
      );
      return veFailure("decode-failed");
    }
    if (ve.gla < guest.kernelSpaceStart) {
      guest.warnOnce("mmio-user-gla", "WARNING: Access to userspace address is not supported");
      return veFailure("user-address");
    }
    const g = regs.gpr;
    let vaddr: bigint;
    if (insn.kind === "movs") {
      vaddr = g[Gpr.RAX]!;
    } else {
      const seg = insn.segment === "fs" ? guest.fsBase : insn.segment === "gs" ? guest.gsBase : 0n;
      this.gpr = g;
      vaddr = mmioEffectiveAddress(insn, this.gprOf, BigInt(regs.ip), seg);
    }
    const page = BigInt(PAGE_SIZE);
    if (vaddr / page !== ((vaddr + BigInt(insn.size) - 1n) & MASK64) / page) return veFailure("page-split");

    const size = BigInt(insn.size);
    switch (insn.kind) {
      case "write": {
        const value = mmioWriteValue(g, insn, guest.mmioRegisters);
        const st = yield* v.hypercall(args, TdVmcall.REQUEST_MMIO, size, EPT_WRITE, BigInt(ve.gpa), value);
        return st === 0n ? veAdvance(insn.length) : veFailure("vmcall-failed");
      }
      case "write-imm": {
        const value = immediateAsLinuxPasses(insn);
        const st = yield* v.hypercall(args, TdVmcall.REQUEST_MMIO, size, EPT_WRITE, BigInt(ve.gpa), value);
        return st === 0n ? veAdvance(insn.length) : veFailure("vmcall-failed");
      }
      case "movs":
        return veFailure("movs");
      default: {
        const st = yield* v.hypercall(args, TdVmcall.REQUEST_MMIO, size, EPT_READ, BigInt(ve.gpa));
        if (st !== 0n) return veFailure("vmcall-failed");
        mmioWriteBack(g, insn, args[Gpr.R11]!, guest.mmioRegisters);
        return veAdvance(insn.length);
      }
    }
  }
}
