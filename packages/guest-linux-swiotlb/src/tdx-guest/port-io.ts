/**
 * Port I/O #VEs (`handle_io()`): the exit qualification gives size (bits 2:0, +1), direction
 * (bit 3: IN), string (bit 4: refused) and port (bits 31:16); IN/OUT go to the VMM as
 * TDG.VP.VMCALL<Instruction.IO> and AL/AX/EAX is updated with Linux's mask, or with the exact
 * width under the `portIoMask: "fixed"` option.
 *
 * @spec shared/reference/kvm-guest-qemu.md §3.4 (qualification layout, GENMASK(8*size, 0) one
 *   bit too wide, 32-bit IN not zeroing 63:32, the 2026 fix); §1.7 (Instruction.IO: R12 size,
 *   R13 0 read / 1 write, R14 port, R15 data; R11 result); Intel SDM Vol. 3 Table 28-5 (exit
 *   qualification for I/O instructions); torvalds/linux arch/x86/coco/tdx/tdx.c handle_io(),
 *   handle_in(), handle_out()
 */
import { Gpr, type GuestOp, IoQual, TdVmcall } from "@tdx/hw-cpu-seam";
import type { PortIoMaskModel } from "./guest";
import type { TdxVcpu } from "./vcpu";
import type { VeInfo } from "./ve-info";
import { type PtRegs, type VeResult, veAdvance, veFailure, veInstrLen } from "./ve-result";

const PORT_READ = 0n;
const PORT_WRITE = 1n;

/** The fields of an I/O exit qualification. */
export interface IoQualification {
  readonly size: number;
  readonly in: boolean;
  readonly string: boolean;
  readonly port: number;
}

export function decodeIoQualification(exitQual: bigint): IoQualification {
  const q = Number(exitQual & 0xffffffffn);
  return {
    size: (q & 7) + 1,
    in: (q & IoQual.IN) !== 0,
    string: (q & IoQual.STRING) !== 0,
    port: q >>> IoQual.PORT_SHIFT,
  };
}

/** Bits of RAX an access of `size` bytes touches: Linux GENMASK(8*size, 0), or exactly 8*size bits. */
export function portIoMask(size: number, model: PortIoMaskModel): bigint {
  const bits = BigInt(8 * size);
  return model === "linux" ? (1n << (bits + 1n)) - 1n : (1n << bits) - 1n;
}

/** handle_io(). */
export function* handleIo(v: TdxVcpu, regs: PtRegs, ve: VeInfo, args: BigUint64Array): GuestOp<VeResult> {
  const q = decodeIoQualification(ve.exitQual);
  if (q.string) return veFailure("string-io");
  const model = v.guest.portIoMask;
  const mask = portIoMask(q.size, model);
  const g = regs.gpr;
  if (q.in) {
    const st = yield* v.hypercall(args, TdVmcall.IO, BigInt(q.size), PORT_READ, BigInt(q.port));
    const ok = st === 0n;
    if (model === "fixed" && q.size === 4) {
      // a 32-bit destination zero-extends (ISA; the fixed helper assigns the whole register)
      if (ok) g[Gpr.RAX] = args[Gpr.R11]! & mask;
    } else {
      // Linux clears the affected bits even when the VMM fails the request
      g[Gpr.RAX] = g[Gpr.RAX]! & ~mask & 0xffffffffffffffffn;
      if (ok) g[Gpr.RAX] = g[Gpr.RAX]! | (args[Gpr.R11]! & mask);
    }
    if (!ok) return veFailure("vmcall-failed");
  } else {
    const st = yield* v.hypercall(
      args,
      TdVmcall.IO,
      BigInt(q.size),
      PORT_WRITE,
      BigInt(q.port),
      g[Gpr.RAX]! & mask,
    );
    if (st !== 0n) return veFailure("vmcall-failed");
  }
  return veAdvance(veInstrLen(v.guest, ve));
}
