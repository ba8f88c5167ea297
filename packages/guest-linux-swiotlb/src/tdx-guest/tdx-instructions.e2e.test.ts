/**
 * Instruction #VEs end to end against the real TDX module of @tdx/hw-cpu-seam: the test is the
 * host and the VMM (it builds and enters the TD through SEAMCALL and answers each TDG.VP.VMCALL
 * as KVM would); the guest is this package's TDX guest (early init, the #VE handler). The guest
 * program executes CPUID, HLT, RDMSR/WRMSR and IN/OUT on its vCPU; the module answers or raises
 * #VE with the exit reason, qualification and instruction length, and the handler turns the #VE
 * into the GHCI TDVMCALL, writes the result back and advances RIP.
 */
import {
  Gpr,
  type GprValues,
  type GuestOp,
  type InstructionOutcome,
  TdAttributes,
  TdCtls,
  type TdGuestContext,
  TdVmcall,
  TdVmcallStatus,
  TdxFeatures0,
  type TdxModuleOptions,
} from "@tdx/hw-cpu-seam";
import { makeSimTdxPlatform, type TdHandle, TdxHostDriver } from "@tdx/hw-cpu-seam/testing";
import { describe, expect, it } from "vitest";
import { RFLAGS_IF } from "./abi";
import { TdxGuest, type TdxGuestOptions } from "./guest";
import { type TdxInitResult, tdxEarlyInit } from "./init";
import { fatalErrorMessage, TdxVcpu } from "./vcpu";
import { TdxVeHandler } from "./ve-dispatch";

const RIP = 0x100000;
const FILL = 0x1122334455667788n;
const END = "end of the test program";

interface Vmcall {
  readonly fn: number;
  readonly r12: bigint;
  readonly r13: bigint;
  readonly r14: bigint;
  readonly r15: bigint;
}

type Body = (ctx: TdGuestContext, v: TdxVcpu, seen: unknown[]) => GuestOp<void>;

/** A TD whose kernel runs early init, installs the #VE handler, then `body`; it ends by panicking with END. */
function tdRunning(body: Body, guestOptions: TdxGuestOptions = {}, moduleOptions: TdxModuleOptions = {}) {
  const h = new TdxHostDriver(makeSimTdxPlatform({ options: moduleOptions }));
  h.bringUp();
  const td = h.createTd({ attributes: TdAttributes.SEPT_VE_DISABLE });
  td.finalize();
  const seen: unknown[] = [];
  const state: { init?: TdxInitResult; guest?: TdxGuest } = {};
  td.loadGuestCode(function* (ctx) {
    const guest = new TdxGuest(guestOptions);
    const v = new TdxVcpu(guest, ctx);
    new TdxVeHandler(v).install();
    state.guest = guest;
    state.init = yield* tdxEarlyInit(v);
    ctx.regs.rip = RIP;
    yield* body(ctx, v, seen);
    yield* v.panic(END);
  });
  return { td, seen, state };
}

/** The VMM: answer every TDG.VP.VMCALL with `reply` until the guest reports a fatal error. */
function runVmm(td: TdHandle, reply: (call: Vmcall) => GprValues): { calls: Vmcall[]; end: string } {
  const calls: Vmcall[] = [];
  let e = td.enter(0, 0);
  for (let n = 0; n < 200; n++) {
    const o = e.outcome;
    if (o.kind !== "exit" || o.exit.kind !== "tdvmcall") throw new Error(`unexpected TD exit ${o.kind}`);
    const r = o.exit.regs;
    expect(r[Gpr.R10]).toBe(0n);
    const fn = Number(r[Gpr.R11]);
    if (fn === TdVmcall.REPORT_FATAL_ERROR) return { calls, end: fatalErrorMessage(r) };
    const call = { fn, r12: r[Gpr.R12]!, r13: r[Gpr.R13]!, r14: r[Gpr.R14]!, r15: r[Gpr.R15]! };
    calls.push(call);
    e = td.enter(0, 0, reply(call));
  }
  throw new Error("the TD did not finish");
}

const ok = (extra: GprValues = {}): GprValues => ({ r10: TdVmcallStatus.SUCCESS, ...extra });

describe("early init against the TDX module", () => {
  it("detects TDX with the module's CPUID 0x21 (no TD exit) and enables ENUM_TOPOLOGY when REDUCE_VE is refused", () => {
    const { td, state } = tdRunning(function* () {});
    const { calls, end } = runVmm(td, () => ok());
    expect(end).toBe(END);
    expect(calls).toEqual([]);
    expect(state.init).toMatchObject({ kind: "tdx", info: { gpaw: 48 } });
    expect(state.guest!.tdx.tdCtls).toBe(TdCtls.PENDING_VE_DISABLE | TdCtls.ENUM_TOPOLOGY);
    expect(state.guest!.stats.veByReason[10]).toBe(0);
  });

  it("sets REDUCE_VE where the module enumerates VE_REDUCTION", () => {
    const features0 = TdxFeatures0.NO_RBP_MOD | TdxFeatures0.TOPOLOGY_ENUM | TdxFeatures0.VE_REDUCTION;
    const { td, state } = tdRunning(function* () {}, {}, { features0 });
    runVmm(td, () => ok());
    expect(state.guest!.tdx.tdCtls).toBe(TdCtls.PENDING_VE_DISABLE | TdCtls.REDUCE_VE);
  });
});

describe("CPUID", () => {
  it("0x40000000: #VE -> TDVMCALL<CPUID>(R12 leaf, R13 sub-leaf) -> EAX..EDX from R12..R15, RIP + 2", () => {
    const { td, seen, state } = tdRunning(function* (ctx, _v, s) {
      const g = ctx.regs.gpr;
      g.fill(FILL);
      s.push(yield* ctx.cpuid(0x40000000, 0), ctx.regs.rip, [...g.slice(0, 8)]);
    });
    const { calls, end } = runVmm(td, (c) =>
      c.fn === TdVmcall.CPUID ? ok({ r12: 0x40000001, r13: 0x4b4d564b, r14: 0x564b4d56, r15: 0x4d }) : ok(),
    );
    expect(end).toBe(END);
    expect(calls).toEqual([{ fn: TdVmcall.CPUID, r12: 0x40000000n, r13: 0n, r14: 0n, r15: 0n }]);
    expect(seen).toEqual([
      "emulated",
      RIP + 2,
      [0x40000001n, 0x564b4d56n, 0x4dn, 0x4b4d564bn, FILL, FILL, FILL, FILL],
    ]);
    expect(state.guest!.stats.veByReason[10]).toBe(1);
  });

  it("a leaf the module virtualises (1) exits nowhere; a leaf it does not (0x9) raises #VE that Linux answers with zeros", () => {
    const { td, seen, state } = tdRunning(function* (ctx, _v, s) {
      s.push(yield* ctx.cpuid(1, 0), ctx.regs.rip - RIP);
      ctx.regs.gpr.fill(FILL);
      s.push(yield* ctx.cpuid(9, 0), ctx.regs.rip - RIP, [...ctx.regs.gpr.slice(0, 4)]);
    });
    const { calls } = runVmm(td, () => ok());
    expect(calls).toEqual([]);
    expect(seen).toEqual(["done", 2, "emulated", 4, [0n, 0n, 0n, 0n]]);
    expect(state.guest!.stats.veByReason[10]).toBe(1);
  });
});

describe("HLT", () => {
  it("#VE -> TDVMCALL<HLT> with R12 = 1 when interrupts are disabled, 0 when enabled (pre-2025 'emulate'), RIP + 1", () => {
    const { td, seen } = tdRunning(
      function* (ctx, _v, s) {
        ctx.regs.rflags = 0x2n;
        s.push(yield* ctx.hlt(), ctx.regs.rip - RIP);
        ctx.regs.rflags = 0x2n | RFLAGS_IF;
        s.push(yield* ctx.hlt(), ctx.regs.rip - RIP);
      },
      { hltWithIrqsEnabled: "emulate" },
    );
    const { calls } = runVmm(td, () => ok());
    expect(calls.map((c) => [c.fn, c.r12])).toEqual([
      [TdVmcall.HLT, 1n],
      [TdVmcall.HLT, 0n],
    ]);
    expect(seen).toEqual(["emulated", 1, "emulated", 2]);
  });
});

describe("RDMSR/WRMSR of x2APIC MSRs", () => {
  it("RDMSR: TDVMCALL<RDMSR>(R12 = MSR) -> EDX:EAX = R11; WRMSR: TDVMCALL<WRMSR>(R12 = MSR, R13 = EDX:EAX)", () => {
    const { td, seen } = tdRunning(function* (ctx, _v, s) {
      const g = ctx.regs.gpr;
      g.fill(FILL);
      g[Gpr.RCX] = 0x80fn; // spurious-interrupt vector register
      s.push(yield* ctx.rdmsr(), g[Gpr.RAX], g[Gpr.RDX], ctx.regs.rip - RIP);
      g[Gpr.RCX] = 0x830n; // ICR
      g[Gpr.RDX] = 0x3n;
      g[Gpr.RAX] = 0x000400fdn;
      s.push(yield* ctx.wrmsr(), ctx.regs.rip - RIP);
      g[Gpr.RCX] = 0x277n; // PAT: the CPU reads it, no #VE
      s.push(yield* ctx.rdmsr(), ctx.regs.rip - RIP);
    });
    const { calls } = runVmm(td, (c) => (c.fn === TdVmcall.RDMSR ? ok({ r11: 0x0000000a000001ffn }) : ok()));
    expect(calls).toEqual([
      { fn: TdVmcall.RDMSR, r12: 0x80fn, r13: 0n, r14: 0n, r15: 0n },
      { fn: TdVmcall.WRMSR, r12: 0x830n, r13: 0x3000400fdn, r14: 0n, r15: 0n },
    ]);
    expect(seen).toEqual(["emulated", 0x1ffn, 0xan, 2, "emulated", 4, "done", 6]);
  });

  it("a RDMSR the VMM refuses faults like #GP: rdmsr_safe's exception fixup resumes", () => {
    const { td, seen, state } = tdRunning(function* (ctx, v, s) {
      v.guest.exceptionFixups.set(RIP, RIP + 0x40);
      ctx.regs.gpr[Gpr.RCX] = 0x4b564d02n; // MSR_KVM_ASYNC_PF_EN: outside the MSR bitmaps
      s.push(yield* ctx.rdmsr(), ctx.regs.rip - RIP);
    });
    const { calls } = runVmm(td, () => ({ r10: TdVmcallStatus.INVALID_OPERAND }));
    expect(calls.map((c) => [c.fn, c.r12])).toEqual([[TdVmcall.RDMSR, 0x4b564d02n]]);
    expect(seen).toEqual(["emulated", 0x40]);
    expect(state.guest!.stats.veFailed).toBe(1);
  });
});

describe("port I/O", () => {
  const REPLY = 0xfedcba9876553210n;
  /** RAX after IN of 1, 2, 4 bytes from FILL with R11 = REPLY. */
  const IN_RAX = {
    linux: [0x1122334455667610n, 0x1122334455673210n, 0x1122334476553210n],
    fixed: [0x1122334455667710n, 0x1122334455663210n, 0x76553210n],
  } as const;
  /** R15 of OUT of 1, 2, 4 bytes from FILL. */
  const OUT_R15 = { linux: [0x188n, 0x7788n, 0x55667788n], fixed: [0x88n, 0x7788n, 0x55667788n] } as const;

  for (const model of ["linux", "fixed"] as const) {
    it(`${model}: IN/OUT of 1, 2, 4 bytes -> TDVMCALL<IO>(R12 size, R13 direction, R14 port, R15 data); AX merge; RIP by the encoding`, () => {
      const ins = [
        [0x60, 1, {}],
        [0x1f0, 2, {}],
        [0xcfc, 4, {}],
      ] as const;
      const outs = [
        [0x80, 1, { imm8: true }],
        [0x1f0, 2, {}],
        [0xcf8, 4, {}],
      ] as const;
      const { td, seen } = tdRunning(
        function* (ctx, _v, s) {
          for (const [port, size, form] of ins) {
            ctx.regs.gpr.fill(FILL);
            const rip = ctx.regs.rip;
            const o: InstructionOutcome = yield* ctx.in(port, size, form);
            s.push([o, ctx.regs.gpr[Gpr.RAX], ctx.regs.rip - rip]);
          }
          for (const [port, size, form] of outs) {
            ctx.regs.gpr.fill(FILL);
            const rip = ctx.regs.rip;
            const o = yield* ctx.out(port, size, form);
            s.push([o, ctx.regs.rip - rip]);
          }
        },
        { portIoMask: model },
      );
      const { calls } = runVmm(td, (c) => ok(c.r13 === 0n ? { r11: REPLY } : {}));
      expect(calls).toEqual([
        ...ins.map(([port, size]) => ({
          fn: TdVmcall.IO,
          r12: BigInt(size),
          r13: 0n,
          r14: BigInt(port),
          r15: 0n,
        })),
        ...outs.map(([port, size], i) => ({
          fn: TdVmcall.IO,
          r12: BigInt(size),
          r13: 1n,
          r14: BigInt(port),
          r15: OUT_R15[model][i],
        })),
      ]);
      expect(seen).toEqual([
        ["emulated", IN_RAX[model][0], 1], // EC
        ["emulated", IN_RAX[model][1], 2], // 66 ED
        ["emulated", IN_RAX[model][2], 1], // ED
        ["emulated", 2], // E6 ib
        ["emulated", 2], // 66 EF
        ["emulated", 1], // EF
      ]);
    });
  }

  it("OUTS is refused (string I/O): no TDVMCALL, the kernel resumes at its exception fixup", () => {
    const { td, seen } = tdRunning(function* (ctx, v, s) {
      v.guest.exceptionFixups.set(RIP, RIP + 0x10);
      s.push(yield* ctx.out(0x3f8, 1, { string: true }), ctx.regs.rip - RIP, v.guest.stats.veFailed);
    });
    const { calls } = runVmm(td, () => ok());
    expect(calls).toEqual([]);
    expect(seen).toEqual(["emulated", 0x10, 1]);
  });
});
