import { Gpr, TdVmcall } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { TdxGuest } from "./guest";
import { ScriptedTd } from "./scripted-td";
import { TdxVcpu } from "./vcpu";
import { TdxVeHandler } from "./ve-dispatch";

function setup() {
  const td = new ScriptedTd();
  const guest = new TdxGuest();
  guest.assumeInit(52);
  const v = new TdxVcpu(guest, td);
  new TdxVeHandler(v).install();
  return { td, guest, v };
}

describe("cpuid_count() in the kernel", () => {
  it("a module-answered leaf fills the output without a TDVMCALL and restores the caller's registers and RIP", () => {
    const { td, v } = setup();
    td.cpuidTable = (leaf, sub) => ({ eax: leaf, ebx: sub, ecx: 0xfffffffe, edx: 0x80000000 });
    td.regs.gpr.fill(0x33n);
    td.regs.rip = 0x5000;
    const out = new Uint32Array(4);
    expect(td.run(v.cpuid(0x7, 1, out)).done).toBe(true);
    expect([...out]).toEqual([0x7, 1, 0xfffffffe, 0x80000000]);
    expect([...td.regs.gpr]).toEqual(new Array(16).fill(0x33n));
    expect(td.regs.rip).toBe(0x5000);
    expect(td.tdcalls).toHaveLength(0);
  });

  it("a hypervisor leaf goes #VE -> TDVMCALL<CPUID> -> output; the caller's RAX/RCX come back, not the CPUID inputs", () => {
    const { td, guest, v } = setup();
    td.vmm = (r) => {
      r[Gpr.R10] = 0n;
      r[Gpr.R12] = 0x40000001n;
      r[Gpr.R13] = 0x4b4d564bn;
      r[Gpr.R14] = 0x564b4d56n;
      r[Gpr.R15] = 0x4dn;
    };
    td.regs.gpr.fill(0x33n);
    const out = new Uint32Array(4);
    expect(td.run(v.cpuid(0x40000000, 0, out)).done).toBe(true);
    expect([...out]).toEqual([0x40000001, 0x4b4d564b, 0x564b4d56, 0x4d]);
    expect(td.vmcalls(TdVmcall.CPUID).map((c) => c.regs[Gpr.R12])).toEqual([0x40000000n]);
    expect([...td.regs.gpr]).toEqual(new Array(16).fill(0x33n));
    expect(guest.stats.veByReason[10]).toBe(1);
  });
});
