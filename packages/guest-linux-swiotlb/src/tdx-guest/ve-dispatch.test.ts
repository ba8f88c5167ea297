import { Gpr, TdcallLeaf, TdVmcall, TdVmcallStatus, VmxExitReason } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { TDVMCALL_EXPOSE_REGS_MASK } from "./abi";
import { TdxGuest, type TdxGuestOptions } from "./guest";
import { ScriptedTd, type ScriptedVe } from "./scripted-td";
import { TdxVcpu } from "./vcpu";
import { TdxVeHandler } from "./ve-dispatch";

const SHARED = 2 ** 51;
const RIP = 0x100000;

function setup(opts: TdxGuestOptions = {}) {
  const td = new ScriptedTd();
  const guest = new TdxGuest(opts);
  guest.assumeInit(52);
  const v = new TdxVcpu(guest, td);
  const handler = new TdxVeHandler(v).install();
  td.regs.rip = RIP;
  return { td, guest, v, handler };
}

function deliver(td: ScriptedTd, ve: ScriptedVe) {
  return td.run(td.deliverVe(ve));
}

describe("#VE dispatch: instruction exits", () => {
  it("reads VE_INFO first, then CPUID in the hypervisor range goes to the VMM and RIP advances by the module's length", () => {
    const { td, handler } = setup();
    const g = td.regs.gpr;
    g[Gpr.RAX] = 0x40000001n;
    g[Gpr.RCX] = 0n;
    g[Gpr.RSI] = 0x5151n;
    td.vmm = (r) => {
      r[Gpr.R10] = 0n;
      r[Gpr.R12] = 0x11n;
      r[Gpr.R13] = 0x22n;
      r[Gpr.R14] = 0x33n;
      r[Gpr.R15] = 0x44n;
    };
    expect(deliver(td, { exitReason: VmxExitReason.CPUID, gpa: 0, instrLen: 2 }).done).toBe(true);
    expect(td.tdcalls[0]!.leaf).toBe(TdcallLeaf.VP_VEINFO_GET);
    const call = td.vmcalls(TdVmcall.CPUID)[0]!;
    expect(call.regs[Gpr.RCX]).toBe(TDVMCALL_EXPOSE_REGS_MASK);
    expect(call.regs[Gpr.R10]).toBe(0n);
    expect(call.regs[Gpr.R12]).toBe(0x40000001n);
    expect([g[Gpr.RAX], g[Gpr.RBX], g[Gpr.RCX], g[Gpr.RDX]]).toEqual([0x11n, 0x22n, 0x33n, 0x44n]);
    expect(g[Gpr.RSI]).toBe(0x5151n); // the interrupted context is restored around the TDCALLs
    expect(td.regs.rip).toBe(RIP + 2);
    expect(handler.last.kind).toBe("emulated");
    expect(td.exits).toBe(1);
  });

  it("CPUID outside 0x40000000-0x4FFFFFFF reads as zeros without asking the VMM", () => {
    const { td, guest } = setup();
    td.regs.gpr.fill(7n);
    td.regs.gpr[Gpr.RAX] = 0x2n;
    deliver(td, { exitReason: VmxExitReason.CPUID, gpa: 0, instrLen: 2 });
    expect(td.vmcalls(TdVmcall.CPUID)).toHaveLength(0);
    expect([...td.regs.gpr.subarray(0, 4)]).toEqual([0n, 0n, 0n, 0n]);
    expect(td.regs.gpr[Gpr.RSI]).toBe(7n);
    expect(td.regs.rip).toBe(RIP + 2);
    expect(guest.stats.veByReason[VmxExitReason.CPUID]).toBe(1);
  });

  it("HLT with interrupts disabled asks the VMM with R12 = 1; with them enabled it is refused (2025 fix) or emulated by option", () => {
    const { td } = setup();
    td.regs.rflags = 0x2n;
    deliver(td, { exitReason: VmxExitReason.HLT, gpa: 0, instrLen: 1 });
    expect(td.vmcalls(TdVmcall.HLT)[0]!.regs[Gpr.R12]).toBe(1n);
    expect(td.regs.rip).toBe(RIP + 1);

    const refused = setup();
    refused.td.regs.rflags = 0x202n;
    refused.guest.exceptionFixups.set(RIP, 0x200000);
    deliver(refused.td, { exitReason: VmxExitReason.HLT, gpa: 0, instrLen: 1 });
    expect(refused.td.vmcalls(TdVmcall.HLT)).toHaveLength(0);
    expect(refused.handler.last).toMatchObject({ kind: "fixup", failure: "hlt-irqs-enabled", errno: 5 });
    expect(refused.guest.log).toContain("WARNING: HLT emulation with IRQs enabled");

    const old = setup({ hltWithIrqsEnabled: "emulate" });
    old.td.regs.rflags = 0x202n;
    deliver(old.td, { exitReason: VmxExitReason.HLT, gpa: 0, instrLen: 1 });
    expect(old.td.vmcalls(TdVmcall.HLT)[0]!.regs[Gpr.R12]).toBe(0n);
  });

  it("RDMSR splits R11 into EDX:EAX; WRMSR sends RDX << 32 | RAX", () => {
    const { td } = setup();
    const g = td.regs.gpr;
    g[Gpr.RCX] = 0x6e0n;
    g[Gpr.RAX] = 0xffffffffffffffffn;
    td.vmm = (r) => {
      r[Gpr.R10] = 0n;
      r[Gpr.R11] = 0x0123456789abcdefn;
    };
    deliver(td, { exitReason: VmxExitReason.MSR_READ, gpa: 0, instrLen: 2 });
    expect(td.vmcalls(TdVmcall.RDMSR)[0]!.regs[Gpr.R12]).toBe(0x6e0n);
    expect(g[Gpr.RAX]).toBe(0x89abcdefn);
    expect(g[Gpr.RDX]).toBe(0x01234567n);
    g[Gpr.RAX] = 0x9abcdef0n;
    g[Gpr.RDX] = 0x12345678n;
    deliver(td, { exitReason: VmxExitReason.MSR_WRITE, gpa: 0, instrLen: 2 });
    const w = td.vmcalls(TdVmcall.WRMSR)[0]!;
    expect(w.regs[Gpr.R12]).toBe(0x6e0n);
    expect(w.regs[Gpr.R13]).toBe(0x123456789abcdef0n);
    expect(td.regs.rip).toBe(RIP + 4);
  });

  it("a VMM error status is a fault; without a fixup a kernel fault oopses and the guest reports a panic", () => {
    const { td, guest, handler } = setup();
    td.vmm = (r) => {
      r[Gpr.R10] = TdVmcallStatus.INVALID_OPERAND;
    };
    td.regs.gpr[Gpr.RCX] = 0x1bn;
    const r = deliver(td, { exitReason: VmxExitReason.MSR_READ, gpa: 0, instrLen: 2 });
    expect(r).toEqual({ done: false, fatal: "Fatal exception" });
    expect(handler.last).toMatchObject({ kind: "fatal", failure: "vmcall-failed" });
    expect(guest.log.some((l) => l.startsWith("VE fault: 0000 [#1]"))).toBe(true);
    expect(guest.stats.veFailed).toBe(1);
  });

  it("an exit reason the kernel does not handle is refused; a private-GPA EPT violation panics", () => {
    const a = setup();
    a.guest.exceptionFixups.set(RIP, RIP + 0x40);
    deliver(a.td, { exitReason: 54 /* WBINVD */, gpa: 0, instrLen: 2 });
    expect(a.handler.last).toMatchObject({ kind: "fixup", failure: "unexpected-exit-reason" });
    expect(a.td.regs.rip).toBe(RIP + 0x40);
    expect(a.guest.log).toContain("tdx: Unexpected #VE: 54");

    const b = setup();
    const r = deliver(b.td, { exitReason: VmxExitReason.EPT_VIOLATION, gpa: 0x7000 });
    expect(r).toEqual({ done: false, fatal: "Unexpected EPT-violation on private memory." });
    expect(b.guest.panicMessage).toBe("Unexpected EPT-violation on private memory.");
    expect(b.td.vmcalls(TdVmcall.REPORT_FATAL_ERROR)[0]!.regs[Gpr.R12]).toBe(0n);
  });

  it("user mode: only CPUID is handled; anything else is a SIGSEGV, fatal without a handler to resume at", () => {
    const { td, v } = setup();
    v.userMode = true;
    td.regs.gpr[Gpr.RAX] = 0x40000000n;
    deliver(td, { exitReason: VmxExitReason.CPUID, gpa: 0, instrLen: 2 });
    expect(td.regs.rip).toBe(RIP + 2);
    const r = deliver(td, { exitReason: VmxExitReason.HLT, gpa: 0, instrLen: 1 });
    expect(r).toEqual({ done: false, fatal: "Attempted to kill init! exitcode=0x0000000b" });
  });
});

describe("#VE dispatch: port I/O", () => {
  /** Exit qualification: size-1 in 2:0, IN in bit 3, string in bit 4, port in 31:16. */
  function ioQual(size: number, dirIn: boolean, port: number, string = false): bigint {
    return BigInt((size - 1) | (dirIn ? 8 : 0) | (string ? 16 : 0) | (port << 16));
  }

  it("IN of each size merges into RAX with Linux's one-bit-too-wide mask; OUT sends the masked value", () => {
    const { td } = setup();
    const g = td.regs.gpr;
    td.vmm = (r) => {
      r[Gpr.R10] = 0n;
      r[Gpr.R11] = 0xfffffffffffffffen;
    };
    g[Gpr.RAX] = 0x2222222222222222n;
    deliver(td, {
      exitReason: VmxExitReason.IO,
      exitQual: ioQual(1, true, 0x3f8),
      gpa: 0,
      instrLen: 1,
    });
    const call = td.vmcalls(TdVmcall.IO)[0]!;
    expect([call.regs[Gpr.R12], call.regs[Gpr.R13], call.regs[Gpr.R14]]).toEqual([1n, 0n, 0x3f8n]);
    expect(g[Gpr.RAX]).toBe(0x22222222222223fen); // GENMASK(8, 0): bit 8 (AH bit 0) taken from R11 too
    g[Gpr.RAX] = 0x2222222222222222n;
    deliver(td, {
      exitReason: VmxExitReason.IO,
      exitQual: ioQual(4, true, 0xcfc),
      gpa: 0,
      instrLen: 1,
    });
    expect(g[Gpr.RAX]).toBe(0x22222223fffffffen); // upper half kept but bit 32 from R11
    g[Gpr.RAX] = 0xaaaaaaaaaaaaaaaan;
    deliver(td, {
      exitReason: VmxExitReason.IO,
      exitQual: ioQual(2, false, 0x80),
      gpa: 0,
      instrLen: 1,
    });
    const out = td.vmcalls(TdVmcall.IO)[2]!;
    expect([out.regs[Gpr.R12], out.regs[Gpr.R13], out.regs[Gpr.R14], out.regs[Gpr.R15]]).toEqual([
      2n,
      1n,
      0x80n,
      0x0aaaan,
    ]);
    expect(td.regs.rip).toBe(RIP + 3);
  });

  it("with the fixed mask, IN merges exactly size bytes and a 32-bit IN zero-extends", () => {
    const { td } = setup({ portIoMask: "fixed" });
    const g = td.regs.gpr;
    td.vmm = (r) => {
      r[Gpr.R10] = 0n;
      r[Gpr.R11] = 0xfffffffffffffffen;
    };
    g[Gpr.RAX] = 0x1111111111111111n;
    deliver(td, {
      exitReason: VmxExitReason.IO,
      exitQual: ioQual(1, true, 0x60),
      gpa: 0,
      instrLen: 1,
    });
    expect(g[Gpr.RAX]).toBe(0x11111111111111fen);
    deliver(td, {
      exitReason: VmxExitReason.IO,
      exitQual: ioQual(4, true, 0x60),
      gpa: 0,
      instrLen: 1,
    });
    expect(g[Gpr.RAX]).toBe(0xfffffffen);
  });

  it("string I/O is refused; a failed IN still clears the affected bits (Linux)", () => {
    const { td, handler, guest } = setup();
    guest.exceptionFixups.set(RIP, RIP + 8);
    deliver(td, {
      exitReason: VmxExitReason.IO,
      exitQual: ioQual(1, true, 0x60, true),
      gpa: 0,
      instrLen: 1,
    });
    expect(handler.last.failure).toBe("string-io");
    expect(td.vmcalls(TdVmcall.IO)).toHaveLength(0);
    td.regs.rip = RIP;
    td.regs.gpr[Gpr.RAX] = 0xffffn;
    td.vmm = (r) => {
      r[Gpr.R10] = TdVmcallStatus.INVALID_OPERAND;
    };
    deliver(td, {
      exitReason: VmxExitReason.IO,
      exitQual: ioQual(1, true, 0x60),
      gpa: 0,
      instrLen: 1,
    });
    expect(handler.last.failure).toBe("vmcall-failed");
    expect(td.regs.gpr[Gpr.RAX]).toBe(0xfe00n);
  });
});

describe("#VE dispatch: MMIO on a shared GPA", () => {
  const MMIO = SHARED + 0xfed00000;

  function mmioSetup(bytes: number[], opts: TdxGuestOptions = {}) {
    const s = setup(opts);
    s.td.poke(RIP, [...bytes, ...new Array(15).fill(0x90)]);
    s.td.regs.gpr[Gpr.RDI] = BigInt(MMIO);
    return s;
  }

  it("a read issues #VE.RequestMMIO (R12 size, R13 0, R14 the VE_INFO GPA) and advances RIP by the decoded length", () => {
    const { td } = mmioSetup([0x8b, 0x47, 0x10]); // mov eax,[rdi+0x10]
    td.regs.gpr[Gpr.RAX] = 0xffffffff00000000n;
    td.vmm = (r) => {
      r[Gpr.R10] = 0n;
      r[Gpr.R11] = 0xfffffffff00dcafen;
    };
    deliver(td, { exitReason: VmxExitReason.EPT_VIOLATION, gpa: MMIO + 0x10, instrLen: 99 });
    const call = td.vmcalls(TdVmcall.REQUEST_MMIO)[0]!;
    expect([call.regs[Gpr.R12], call.regs[Gpr.R13], call.regs[Gpr.R14]]).toEqual([
      4n,
      0n,
      BigInt(MMIO + 0x10),
    ]);
    expect(td.regs.gpr[Gpr.RAX]).toBe(0xf00dcafen);
    expect(td.regs.rip).toBe(RIP + 3);
  });

  it("writes send the register's low bytes, or the sign-extended immediate, in R15 with R13 = 1", () => {
    const { td } = mmioSetup([0x66, 0x89, 0x37]); // mov [rdi],si
    td.regs.gpr[Gpr.RSI] = 0x123456789abcn;
    deliver(td, { exitReason: VmxExitReason.EPT_VIOLATION, gpa: MMIO });
    const w = td.vmcalls(TdVmcall.REQUEST_MMIO)[0]!;
    expect([w.regs[Gpr.R12], w.regs[Gpr.R13], w.regs[Gpr.R15]]).toEqual([2n, 1n, 0x9abcn]);
    expect(td.regs.rip).toBe(RIP + 3);
    const imm = mmioSetup([0xc6, 0x07, 0x80]); // movb $0x80,[rdi]
    deliver(imm.td, { exitReason: VmxExitReason.EPT_VIOLATION, gpa: MMIO });
    const c = imm.td.vmcalls(TdVmcall.REQUEST_MMIO)[0]!;
    expect([c.regs[Gpr.R12], c.regs[Gpr.R15]]).toEqual([1n, 0xffffffffffffff80n]);
  });

  it("MOVS is refused before any request reaches the VMM", () => {
    const { td, handler, guest } = mmioSetup([0xf3, 0xa5]); // rep movsd
    guest.exceptionFixups.set(RIP, RIP + 2);
    td.regs.gpr[Gpr.RAX] = 0x1000n;
    deliver(td, { exitReason: VmxExitReason.EPT_VIOLATION, gpa: MMIO });
    expect(td.vmcalls(TdVmcall.REQUEST_MMIO)).toHaveLength(0);
    expect(handler.last).toMatchObject({ kind: "fixup", failure: "movs", errno: 22 });
  });

  it("refuses what Linux refuses: user mode, undecodable bytes, unreadable RIP, user GLA, page-splitting access", () => {
    const cases: [number[], (s: ReturnType<typeof mmioSetup>) => void, string][] = [
      // from user mode an EPT violation never reaches handle_mmio(): virt_exception_user() takes CPUID only
      [[0x8b, 0x07], (s) => (s.v.userMode = true), "unexpected-exit-reason"],
      [[0x01, 0x07], () => {}, "decode-failed"], // add [rdi],eax
      [[0x8b, 0x07], (s) => (s.td.regs.rip = 0x900000), "fetch-fault"],
      [[0x8b, 0x07], (s) => (s.td.regs.gpr[Gpr.RDI] = BigInt(MMIO + 0xffe)), "page-split"],
    ];
    for (const [bytes, tweak, reason] of cases) {
      const s = mmioSetup(bytes);
      tweak(s);
      s.guest.exceptionFixups.set(s.td.regs.rip, 0x700000);
      deliver(s.td, { exitReason: VmxExitReason.EPT_VIOLATION, gpa: MMIO });
      expect(s.handler.last.failure, reason).toBe(reason);
      expect(s.td.vmcalls(TdVmcall.REQUEST_MMIO)).toHaveLength(0);
    }
    const u = mmioSetup([0x8b, 0x07], { kernelSpaceStart: 0xffff800000000000n });
    u.guest.exceptionFixups.set(RIP, 0x700000);
    deliver(u.td, { exitReason: VmxExitReason.EPT_VIOLATION, gpa: MMIO, gla: 0x7fff0000n });
    expect(u.handler.last.failure).toBe("user-address");
    expect(u.guest.log).toContain("WARNING: Access to userspace address is not supported");
  });
});
