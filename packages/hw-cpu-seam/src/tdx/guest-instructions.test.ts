/**
 * Instructions the module intercepts, through the real SEAMCALL/TDCALL ABI: CPUID leaves the
 * module virtualises complete without an exit, the others (and HLT, port I/O, #VE-class MSRs)
 * raise #VE with the VM exit's reason, qualification and instruction length in VE_INFO; MSRs the
 * CPU accesses natively keep per-vCPU values; forbidden MSRs raise #GP; TD_CTLS.ENUM_TOPOLOGY and
 * REDUCE_VE change the routing; a #VE while VE_INFO is valid is a #DF.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { PAT_POWER_UP } from "../cpu/msrs";
import { TdxSimError } from "../errors";
import type { TdxModuleOptions } from "./core";
import { TdVmcall, tdgVeInfoGet, tdgVmRd, tdgVmWr, tdgVpVmcall, type VeInfoRegs } from "./guest-calls";
import { ExceptionVector, type GuestOp, type TdGuestContext } from "./guest-interface";
import { type TdHandle, TdxHostDriver } from "./host-driver";
import { TdField } from "./metadata";
import { Gpr } from "./regs";
import { makeSimTdxPlatform } from "./sim-platform";
import { TdxStatus } from "./status-codes";
import { VmxExitReason } from "./td-exit";
import { TdCtls, TdxFeatures0 } from "./td-params";

const RIP = 0x200000;
const INTEL_TDX = { ebx: 0x65746e49n, edx: 0x5844546cn, ecx: 0x20202020n };

type Body = (ctx: TdGuestContext, seen: unknown[]) => GuestOp<void>;

let driver: TdxHostDriver;
function setup(options: TdxModuleOptions = {}) {
  driver = new TdxHostDriver(makeSimTdxPlatform({ options }));
  driver.bringUp();
}
beforeEach(() => setup());

/** A finalized TD running `body` on vCPU `v` after a #VE handler is installed that records VE_INFO. */
function tdRunning(
  body: Body,
  opts: { vcpus?: number; vpInitVersion?: 0 | 1; x2apicIds?: readonly number[] } = {},
  v = 0,
) {
  const td = driver.createTd({ vcpus: opts.vcpus ?? 1, ...opts });
  td.finalize();
  const seen: unknown[] = [];
  const ves: VeInfoRegs[] = [];
  td.loadGuestCode(function* (ctx) {
    ctx.setExceptionHandler(ExceptionVector.VE, function* (c) {
      const ve = yield* tdgVeInfoGet(c);
      ves.push(ve);
      c.regs.rip += ve.instructionLength;
    });
    ctx.regs.rip = RIP;
    yield* body(ctx, seen);
    for (;;) yield* tdgVpVmcall(ctx, TdVmcall.REPORT_FATAL_ERROR, { r12: 0 });
  });
  return { td, seen, ves, first: td.enter(v, 0) };
}

function vmcallOf(e: ReturnType<TdHandle["enter"]>): BigUint64Array {
  const o = e.outcome;
  if (o.kind !== "exit" || o.exit.kind !== "tdvmcall")
    throw new Error(`expected a TDVMCALL exit, got ${o.kind}`);
  return o.exit.regs;
}

/** The program ran to its end (it reports "fatal error" 0 as an end marker). */
function expectEnd(e: ReturnType<TdHandle["enter"]>) {
  expect(vmcallOf(e)[Gpr.R11]).toBe(BigInt(TdVmcall.REPORT_FATAL_ERROR));
}

function* enableCtls(ctx: TdGuestContext, bits: bigint): GuestOp<bigint> {
  return (yield* tdgVmWr(ctx, TdField.TD_CTLS, bits, bits)).status;
}

describe("CPUID in a TD", () => {
  it("answers a leaf the module virtualises without an exit: 0x21 = IntelTDX, RIP + 2, upper halves zeroed", () => {
    const { seen, ves, first } = tdRunning(function* (ctx, s) {
      ctx.regs.gpr.fill(0xffffffffffffffffn);
      s.push(yield* ctx.cpuid(0x21, 0), ctx.regs.rip, [...ctx.regs.gpr.slice(0, 4)]);
    });
    expectEnd(first);
    expect(ves).toHaveLength(0);
    expect(seen).toEqual(["done", RIP + 2, [0n, INTEL_TDX.ecx, INTEL_TDX.edx, INTEL_TDX.ebx]]);
  });

  it("raises #VE for 0x40000000 with exit reason 10, qualification 0 and length 2; the handler's RIP advance ends it", () => {
    const { seen, ves, first } = tdRunning(function* (ctx, s) {
      s.push(yield* ctx.cpuid(0x40000000, 0), ctx.regs.rip);
    });
    expectEnd(first);
    expect(ves).toEqual([
      {
        status: 0n,
        exitReason: VmxExitReason.CPUID,
        exitQualification: 0n,
        gla: 0n,
        gpa: 0n,
        instructionLength: 2,
        instructionInfo: 0,
      },
    ]);
    expect(seen).toEqual(["emulated", RIP + 2]);
  });

  it("treats a leaf above the last base or extended leaf as the last base leaf (0x21 here)", () => {
    const { seen, first } = tdRunning(function* (ctx, s) {
      for (const leaf of [0x30, 0x80000009]) {
        yield* ctx.cpuid(leaf, 0);
        s.push(ctx.regs.gpr[Gpr.RBX]);
      }
    });
    expectEnd(first);
    expect(seen).toEqual([INTEL_TDX.ebx, INTEL_TDX.ebx]);
  });

  it("0xB raises #VE until the guest sets ENUM_TOPOLOGY; then EDX and CPUID(1).EBX[31:24] give the x2APIC id", () => {
    const { seen, ves, first } = tdRunning(
      function* (ctx, s) {
        yield* ctx.cpuid(1, 0);
        s.push(Number(ctx.regs.gpr[Gpr.RBX]! >> 24n));
        s.push(yield* ctx.cpuid(0xb, 0));
        s.push((yield* tdgVmRd(ctx, TdField.TOPOLOGY_ENUM_CONFIGURED)).value);
        s.push(yield* enableCtls(ctx, TdCtls.ENUM_TOPOLOGY));
        s.push(yield* ctx.cpuid(0xb, 0), ctx.regs.gpr[Gpr.RDX]);
        yield* ctx.cpuid(1, 0);
        s.push(Number(ctx.regs.gpr[Gpr.RBX]! >> 24n));
      },
      { vcpus: 2, x2apicIds: [4, 6] },
      1,
    );
    expectEnd(first);
    // VCPU_INDEX 1 before; the x2APIC id TDH.VP.INIT v1 gave vCPU 1 (6) after
    expect(seen).toEqual([1, "emulated", 1n, 0n, "done", 6n, 6]);
    expect(ves.map((v) => v.exitReason)).toEqual([VmxExitReason.CPUID]);
  });

  it("refuses ENUM_TOPOLOGY when a vCPU was initialised with TDH.VP.INIT version 0", () => {
    const { seen, first } = tdRunning(
      function* (ctx, s) {
        s.push((yield* tdgVmRd(ctx, TdField.TOPOLOGY_ENUM_CONFIGURED)).value);
        s.push(yield* enableCtls(ctx, TdCtls.ENUM_TOPOLOGY));
      },
      { vpInitVersion: 0 },
    );
    expectEnd(first);
    expect(seen).toEqual([0n, TdxStatus.METADATA_FIELD_VALUE_NOT_VALID]);
  });

  it("a leaf outside the module's table (0x9) raises #VE; under REDUCE_VE it reads as zeros", () => {
    setup({ features0: TdxFeatures0.NO_RBP_MOD | TdxFeatures0.TOPOLOGY_ENUM | TdxFeatures0.VE_REDUCTION });
    const { seen, first } = tdRunning(function* (ctx, s) {
      s.push(yield* ctx.cpuid(0x9, 0));
      s.push(yield* enableCtls(ctx, TdCtls.REDUCE_VE));
      ctx.regs.gpr.fill(7n);
      s.push(yield* ctx.cpuid(0x9, 0), [...ctx.regs.gpr.slice(0, 4)]);
      s.push(yield* ctx.cpuid(0x40000001, 0)); // the hypervisor range always raises #VE
    });
    expectEnd(first);
    expect(seen).toEqual(["emulated", 0n, "done", [0n, 0n, 0n, 0n], "emulated"]);
  });

  it("REDUCE_VE is not guest-writable unless the module enumerates VE_REDUCTION", () => {
    const { seen, first } = tdRunning(function* (ctx, s) {
      s.push(yield* enableCtls(ctx, TdCtls.REDUCE_VE));
      s.push((yield* tdgVmRd(ctx, TdField.TD_CTLS)).value);
    });
    expectEnd(first);
    expect(seen).toEqual([TdxStatus.METADATA_FIELD_NOT_WRITABLE, 0n]);
  });

  it("a #VE while VE_INFO is still valid is a #DF; without a #DF handler the vCPU shuts down", () => {
    const td = driver.createTd();
    td.finalize();
    td.loadGuestCode(function* (ctx) {
      // a handler that executes CPUID before reading VE_INFO
      ctx.setExceptionHandler(ExceptionVector.VE, function* (c) {
        yield* c.cpuid(0x40000000, 0);
      });
      yield* ctx.cpuid(0x40000000, 0);
    });
    const e = td.enter(0, 0);
    expect(e.outcome).toMatchObject({ kind: "vcpu-shutdown", reason: VmxExitReason.TRIPLE_FAULT });
  });
});

describe("HLT and port I/O", () => {
  it("HLT raises #VE reason 12, length 1; the handler's TDVMCALL<HLT> reaches the host", () => {
    const td = driver.createTd();
    td.finalize();
    const seen: unknown[] = [];
    td.loadGuestCode(function* (ctx) {
      ctx.setExceptionHandler(ExceptionVector.VE, function* (c) {
        const ve = yield* tdgVeInfoGet(c);
        seen.push(ve.exitReason, ve.instructionLength);
        yield* tdgVpVmcall(c, TdVmcall.HLT, { r12: 1 });
        c.regs.rip += ve.instructionLength;
      });
      ctx.regs.rip = RIP;
      seen.push(yield* ctx.hlt(), ctx.regs.rip);
      for (;;) yield* tdgVpVmcall(ctx, TdVmcall.REPORT_FATAL_ERROR, { r12: 0 });
    });
    const r = vmcallOf(td.enter(0, 0));
    expect([r[Gpr.R11], r[Gpr.R12]]).toEqual([BigInt(TdVmcall.HLT), 1n]);
    expectEnd(td.enter(0, 0, { r10: 0 }));
    expect(seen).toEqual([VmxExitReason.HLT, 1, "emulated", RIP + 1]);
  });

  it("IN/OUT raise #VE reason 30 with the VMX I/O qualification and the encoding's length", () => {
    const { ves, first } = tdRunning(function* (ctx) {
      yield* ctx.in(0x3f8, 1); // EC
      yield* ctx.out(0x80, 2, { imm8: true }); // 66 E7 ib
      yield* ctx.in(0xcfc, 4); // ED
      yield* ctx.out(0x3f8, 1, { string: true, rep: true }); // F3 6E
    });
    expectEnd(first);
    expect(
      ves.map((v) => [v.exitReason, v.exitQualification, v.instructionLength, v.instructionInfo]),
    ).toEqual([
      [VmxExitReason.IO, (0x3f8n << 16n) | 8n, 1, 0],
      [VmxExitReason.IO, (0x80n << 16n) | 64n | 1n, 3, 0],
      [VmxExitReason.IO, (0xcfcn << 16n) | 8n | 3n, 1, 0],
      [VmxExitReason.IO, (0x3f8n << 16n) | 32n | 16n, 2, (2 << 7) | (3 << 15)],
    ]);
  });

  it("rejects forms no encoding has", () => {
    const td = driver.createTd();
    td.finalize();
    const errors: unknown[] = [];
    td.loadGuestCode(function* (ctx) {
      for (const op of [
        () => ctx.in(0x3f8, 1, { imm8: true }),
        () => ctx.out(0x10000, 1),
        () => ctx.in(0x60, 3 as 1),
        () => ctx.out(0x60, 1, { rep: true }),
      ]) {
        try {
          yield* op();
        } catch (err) {
          errors.push(err instanceof TdxSimError ? err.code : err);
        }
      }
      for (;;) yield* tdgVpVmcall(ctx, TdVmcall.REPORT_FATAL_ERROR, { r12: 0 });
    });
    expectEnd(td.enter(0, 0));
    expect(errors).toEqual(["E_BAD_OPERAND", "E_BAD_OPERAND", "E_BAD_OPERAND", "E_BAD_OPERAND"]);
  });
});

describe("RDMSR/WRMSR in a TD", () => {
  function* msr(ctx: TdGuestContext, index: number, write?: bigint) {
    const g = ctx.regs.gpr;
    g[Gpr.RCX] = BigInt(index);
    if (write !== undefined) {
      g[Gpr.RAX] = write & 0xffffffffn;
      g[Gpr.RDX] = write >> 32n;
      return yield* ctx.wrmsr();
    }
    const o = yield* ctx.rdmsr();
    return [o, (g[Gpr.RDX]! << 32n) | g[Gpr.RAX]!] as const;
  }

  it("x2APIC MSRs the VMM emulates raise #VE (31 read, 32 write) with length 2", () => {
    const { seen, ves, first } = tdRunning(function* (ctx, s) {
      s.push(yield* msr(ctx, 0x830, 0x4000n)); // ICR
      s.push((yield* msr(ctx, 0x803))[0]); // version
      s.push((yield* msr(ctx, 0x4b564d00))[0]); // KVM paravirtual: outside the MSR bitmaps
    });
    expectEnd(first);
    expect(seen).toEqual(["emulated", "emulated", "emulated"]);
    expect(ves.map((v) => [v.exitReason, v.instructionLength])).toEqual([
      [VmxExitReason.MSR_WRITE, 2],
      [VmxExitReason.MSR_READ, 2],
      [VmxExitReason.MSR_READ, 2],
    ]);
  });

  it("natively accessed MSRs keep per-vCPU values: PAT from power-up, EFER may change only SCE", () => {
    const { seen, ves, first } = tdRunning(function* (ctx, s) {
      s.push(yield* msr(ctx, 0x277));
      s.push(yield* msr(ctx, 0x277, 0x0606060606060606n), yield* msr(ctx, 0x277), ctx.regs.rip);
      s.push(yield* msr(ctx, 0xc0000080));
      s.push(yield* msr(ctx, 0xc0000080, 0x900n), yield* msr(ctx, 0xc0000080));
      s.push(yield* msr(ctx, 0xc0000080, 0x100n)); // clears NXE: #VE
    });
    expectEnd(first);
    expect(seen).toEqual([
      ["done", PAT_POWER_UP],
      "done",
      ["done", 0x0606060606060606n],
      RIP + 6,
      ["done", 0x901n],
      "done",
      ["done", 0x900n],
      "emulated",
    ]);
    expect(ves.map((v) => v.exitReason)).toEqual([VmxExitReason.MSR_WRITE]);
  });

  it("the x2APIC id MSR raises #VE unless ENUM_TOPOLOGY, then reads the virtual x2APIC id", () => {
    const { seen, first } = tdRunning(
      function* (ctx, s) {
        s.push((yield* msr(ctx, 0x802))[0]);
        yield* enableCtls(ctx, TdCtls.ENUM_TOPOLOGY);
        s.push(yield* msr(ctx, 0x802));
      },
      { vcpus: 2, x2apicIds: [4, 6] },
      1,
    );
    expectEnd(first);
    expect(seen).toEqual(["emulated", ["done", 6n]]);
  });

  it("forbidden MSRs raise #GP: a fixup handler resumes elsewhere; without a handler the vCPU shuts down", () => {
    const { seen, ves, first } = tdRunning(function* (ctx, s) {
      ctx.setExceptionHandler(ExceptionVector.GP, (c) => {
        c.regs.rip += 0x100; // exception-table fixup
        return undefined;
      });
      s.push((yield* msr(ctx, 0x8c))[0], ctx.regs.rip); // SGX launch-enclave hash
      s.push((yield* msr(ctx, 0xc1))[0]); // PMC0 without ATTRIBUTES.PERFMON
      s.push((yield* msr(ctx, 0x6e0))[0]); // TSC_DEADLINE: CPUID(1).ECX[24] is 0 here
      ctx.setExceptionHandler(ExceptionVector.GP, undefined);
      yield* msr(ctx, 0x9e);
    });
    expect(first.outcome).toMatchObject({ kind: "vcpu-shutdown" });
    expect(seen).toEqual(["faulted", RIP + 0x100, "faulted", "faulted"]);
    expect(ves).toHaveLength(0);
  });

  it("an unlisted MSR under REDUCE_VE raises #VE by default and #GP with unlistedMsrWithReduceVe: gp", () => {
    const features0 = TdxFeatures0.NO_RBP_MOD | TdxFeatures0.TOPOLOGY_ENUM | TdxFeatures0.VE_REDUCTION;
    for (const [mode, want] of [
      ["ve", "emulated"],
      ["gp", "faulted"],
    ] as const) {
      setup({ features0, unlistedMsrWithReduceVe: mode });
      const { seen, first } = tdRunning(function* (ctx, s) {
        ctx.setExceptionHandler(ExceptionVector.GP, (c) => {
          c.regs.rip += 2;
          return undefined;
        });
        yield* enableCtls(ctx, TdCtls.REDUCE_VE);
        s.push((yield* msr(ctx, 0x1b))[0]); // IA32_APIC_BASE
        s.push((yield* msr(ctx, 0x3a))[1]); // FEATURE_CONTROL reads 1 (locked) under REDUCE_VE
      });
      expectEnd(first);
      expect(seen).toEqual([want, 1n]);
    }
  });
});
