/**
 * The guest driver's MMIO accessors (Linux io.h writeq / writel / readl) as guest code: each sets
 * up the registers the compiled instruction uses (RDI = the register's address, RAX = the value),
 * points RIP at that instruction in the kernel text and performs the access. The device window is
 * shared memory whose EPT entry has suppress-#VE clear, so the access raises #VE; the guest's #VE
 * handler decodes the instruction at RIP and asks the host with TDG.VP.VMCALL<#VE.RequestMMIO>,
 * then writes a read's result to RAX and advances RIP. An access the handler could not emulate
 * panics the guest (the host sees ReportFatalError), as an oops in a driver would end the run.
 *
 * @spec shared/reference/kvm-guest-qemu.md §3.2-§3.3 (#VE dispatch, MMIO emulation: decode at
 *   RIP, RequestMMIO, write-back, RIP += length); ARCHITECTURE.md "The paths data takes" 2
 */

import type { TdxVcpu } from "@tdx/guest-linux-swiotlb";
import { Gpr, type GuestOp, type TdGuestContext } from "@tdx/hw-cpu-seam";
import { MmioInsn, TdLayout } from "./layout";

export class MmioAccessors {
  private readonly b8 = new Uint8Array(8);
  private readonly b4 = new Uint8Array(4);

  constructor(
    private readonly ctx: TdGuestContext,
    private readonly vcpu: TdxVcpu,
    /** The device window's GPA, shared bit included (the driver's ioremap). */
    private readonly base: number,
  ) {}

  *writeq(reg: number, value: bigint): GuestOp<void> {
    yield* this.access(reg, MmioInsn.WRITEQ.offset, value, this.b8, true);
  }

  *writel(reg: number, value: number): GuestOp<void> {
    yield* this.access(reg, MmioInsn.WRITEL.offset, BigInt(value >>> 0), this.b4, true);
  }

  *readl(reg: number): GuestOp<number> {
    yield* this.access(reg, MmioInsn.READL.offset, 0n, this.b4, false);
    return Number(this.ctx.regs.gpr[Gpr.RAX]! & 0xffff_ffffn);
  }

  private *access(reg: number, slot: number, value: bigint, buf: Uint8Array, write: boolean): GuestOp<void> {
    const addr = this.base + reg;
    const g = this.ctx.regs.gpr;
    g[Gpr.RDI] = BigInt(addr);
    g[Gpr.RAX] = value;
    this.ctx.regs.rip = TdLayout.CODE + slot;
    const outcome = write ? yield* this.ctx.store(addr, buf) : yield* this.ctx.load(addr, buf);
    if (outcome !== "emulated") {
      yield* this.vcpu.panic(
        `MMIO ${write ? "write" : "read"} at 0x${addr.toString(16)} was not emulated (${outcome})`,
      );
    }
  }
}
