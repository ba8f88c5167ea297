/**
 * TD entry and exit: a guest program runs inside TDH.VP.ENTER; private EPT violations become TD
 * exits, pending pages raise #VE (or exit with SEPT_VE_DISABLE), MMIO through the shared EPT
 * raises #VE that the guest handler turns into #VE.RequestMMIO, TDG.VP.VMCALL exposes only the
 * selected registers, a second #VE before VEINFO.GET is a #DF, and the host never sees RIP.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { Initiator } from "../memory/types";
import {
  LINUX_VMCALL_MASK,
  TdVmcall,
  tdgMemPageAccept,
  tdgVeInfoGet,
  tdgVmRd,
  tdgVpInfo,
  tdgVpVmcall,
} from "./guest-calls";
import { ExceptionVector, GuestMem, type GuestOp, type TdGuestContext } from "./guest-interface";
import { type TdHandle, TdxHostDriver } from "./host-driver";
import { TdcallLeaf } from "./leaves";
import { TdField } from "./metadata";
import { Gpr } from "./regs";
import { makeSimTdxPlatform, type SimTdxPlatform } from "./sim-platform";
import { VcpuState } from "./states";
import { TdxStatus } from "./status-codes";
import { EeqType, VmxExitReason, type VpEnterOutcome } from "./td-exit";
import { TdAttributes } from "./td-params";

const CODE_GPA = 0x1000;
const DATA_GPA = 0x10000;
const MMIO_GPA_LOW = 0xfeb00000;

let p: SimTdxPlatform;
let h: TdxHostDriver;
let mmioLog: { hpa: number; write: boolean; bytes: number[] }[];

beforeEach(() => {
  mmioLog = [];
  p = makeSimTdxPlatform({
    memory: { mmio: [{ base: 0xb0000000, size: 0x100000, name: "bar0" }] },
    mmio: {
      mmioRead(hpa, dst) {
        mmioLog.push({ hpa, write: false, bytes: [] });
        dst.fill(0xa5);
        return true;
      },
      mmioWrite(hpa, src) {
        mmioLog.push({ hpa, write: true, bytes: [...src] });
        return true;
      },
    },
  });
  h = new TdxHostDriver(p);
  h.bringUp();
});

/** A finalized TD whose code page holds `mov eax, [rdi]` (8b 07) at CODE_GPA. */
function buildTd(opts: Parameters<TdxHostDriver["createTd"]>[0] = {}): TdHandle {
  const td = h.createTd(opts);
  const code = new Uint8Array(4096);
  code.set([0x8b, 0x07], 0);
  td.addMeasuredPage(CODE_GPA, code);
  td.finalize();
  return td;
}

function expectVmcall(o: VpEnterOutcome, subFunction: number) {
  expect(o.kind).toBe("exit");
  if (o.kind !== "exit" || o.exit.kind !== "tdvmcall")
    throw new Error(
      `expected a TDVMCALL exit, got ${JSON.stringify(o, (_, v) => (typeof v === "bigint" ? v.toString(16) : v))}`,
    );
  expect(o.exit.regs[Gpr.R11]).toBe(BigInt(subFunction));
  return o.exit;
}

/**
 * A #VE handler as a guest kernel would write it: VEINFO.GET first; for an EPT violation on a
 * private GPA, accept the page (retry the access); on a shared GPA, decode `mov eax, [rdi]` at RIP
 * and emulate it with #VE.RequestMMIO, then advance RIP.
 */
function* veHandler(ctx: TdGuestContext, sharedBit: number): GuestOp<void> {
  const ve = yield* tdgVeInfoGet(ctx);
  if (ve.status !== 0n || ve.exitReason !== VmxExitReason.EPT_VIOLATION) throw new Error("unexpected #VE");
  const gpa = Number(ve.gpa);
  if (gpa < sharedBit) {
    const st = yield* tdgMemPageAccept(ctx, gpa - (gpa % 4096));
    if (st !== 0n) throw new Error(`accept failed ${st.toString(16)}`);
    return;
  }
  const insn = new Uint8Array(2);
  if (ctx.read(ctx.regs.rip, insn) !== GuestMem.Ok || insn[0] !== 0x8b || insn[1] !== 0x07) {
    throw new Error("cannot decode the faulting instruction");
  }
  const r = yield* tdgVpVmcall(ctx, TdVmcall.REQUEST_MMIO, { r12: 4, r13: 0, r14: gpa });
  if (r.r10 !== 0n) throw new Error("MMIO emulation failed");
  ctx.regs.gpr[Gpr.RAX] = r.r11 & 0xffffffffn;
  ctx.regs.rip += 2;
}

describe("TD entry and exit", () => {
  it("exits on a private EPT violation, takes #VE on the pending page, emulates MMIO and exits on TDVMCALL", () => {
    const td = buildTd();
    const sharedBit = td.sharedBit;
    const mmioGpa = sharedBit + MMIO_GPA_LOW;
    td.sharedEptFor(0).mmioVe(mmioGpa);
    const seen: unknown[] = [];
    td.loadGuestCode(function* (ctx) {
      ctx.setExceptionHandler(ExceptionVector.VE, (c) => veHandler(c, sharedBit));
      const buf = new Uint8Array(8);
      seen.push(yield* ctx.load(DATA_GPA, buf));
      seen.push([...buf]);
      ctx.regs.rip = CODE_GPA;
      ctx.regs.gpr[Gpr.RDI] = BigInt(mmioGpa);
      seen.push(yield* ctx.load(mmioGpa, new Uint8Array(4)));
      seen.push(ctx.regs.rip);
      yield* tdgVpVmcall(ctx, TdVmcall.HLT, { r12: ctx.regs.gpr[Gpr.RAX]! });
    });
    // 1: the private page is not mapped: EPT-violation TD exit with the GPA, RIP not exposed
    let e = td.enter(0, 0);
    expect(e.outcome).toMatchObject({
      kind: "exit",
      exit: { kind: "ept-violation", gpa: DATA_GPA, eeqType: EeqType.NONE },
    });
    expect(e.regs[Gpr.RCX]! & 0x1f80n).toBe(0n);
    expect(
      [...e.regs].filter((_, i) => i !== Gpr.RAX && i !== Gpr.RCX && i !== Gpr.RDX && i !== Gpr.R8),
    ).toEqual(new Array(12).fill(0n));
    // 2: the host AUGs; the guest gets #VE on the PENDING page, accepts, retries; then MMIO #VE
    td.augPage(DATA_GPA);
    e = td.enter(0, 0);
    const mmio = expectVmcall(e.outcome, TdVmcall.REQUEST_MMIO);
    expect(mmio.regs[Gpr.R12]).toBe(4n);
    expect(mmio.regs[Gpr.R13]).toBe(0n);
    expect(mmio.regs[Gpr.R14]).toBe(BigInt(mmioGpa));
    expect(seen).toEqual(["done", [0, 0, 0, 0, 0, 0, 0, 0]]);
    // 3: the VMM returns the MMIO value in R11; the handler writes EAX and advances RIP
    e = td.enter(0, 0, { r10: 0, r11: 0xdeadbeef });
    const hlt = expectVmcall(e.outcome, TdVmcall.HLT);
    expect(hlt.regs[Gpr.R12]).toBe(0xdeadbeefn);
    expect(seen.slice(2)).toEqual(["emulated", CODE_GPA + 2]);
  });

  it("exposes only the selected GPRs on TDG.VP.VMCALL and copies the same ones back", () => {
    const td = buildTd();
    let back: bigint[] = [];
    td.loadGuestCode(function* (ctx) {
      const g = ctx.regs.gpr;
      g.set([
        BigInt(TdcallLeaf.VP_VMCALL),
        0x3000n,
        2n,
        3n,
        4n,
        5n,
        6n,
        7n,
        8n,
        9n,
        10n,
        11n,
        12n,
        13n,
        14n,
        15n,
      ]);
      const st = yield* ctx.tdcall();
      back = [st, g[Gpr.RDX]!, g[Gpr.R12]!, g[Gpr.R13]!];
      yield* tdgVpVmcall(ctx, TdVmcall.HLT);
    });
    const e = td.enter(0, 0);
    expect(e.outcome.kind === "exit" && e.outcome.exit.kind === "tdvmcall" && e.outcome.exit.gprMask).toBe(
      0x3000,
    );
    expect(e.regs[Gpr.RAX]).toBe(BigInt(VmxExitReason.TDCALL));
    expect(e.regs[Gpr.RCX]).toBe(0x3000n);
    expect(e.regs[Gpr.R12]).toBe(12n);
    expect(e.regs[Gpr.R13]).toBe(13n);
    for (const r of [
      Gpr.RDX,
      Gpr.RBX,
      Gpr.RSI,
      Gpr.RDI,
      Gpr.R8,
      Gpr.R9,
      Gpr.R10,
      Gpr.R11,
      Gpr.R14,
      Gpr.R15,
    ]) {
      expect(e.regs[r]).toBe(0n);
    }
    td.enter(0, 0, { rdx: 0x99, r12: 0x1212, r13: 0x1313 });
    expect(back).toEqual([0n, 2n, 0x1212n, 0x1313n]);
  });

  it("rejects a VMCALL selecting RAX, RCX or RSP (or RBP with NO_RBP_MOD) without exiting", () => {
    const td = buildTd();
    const st: bigint[] = [];
    td.loadGuestCode(function* (ctx) {
      for (const mask of [0x1, 0x2, 0x10, 0x20, 0x1_0000_0000]) {
        ctx.regs.gpr[Gpr.RAX] = 0n;
        ctx.regs.gpr[Gpr.RCX] = BigInt(mask);
        st.push(yield* ctx.tdcall());
      }
      yield* tdgVpVmcall(ctx, TdVmcall.HLT);
    });
    expectVmcall(td.enter(0, 0).outcome, TdVmcall.HLT);
    expect(st).toEqual(new Array(5).fill(TdxStatus.OPERAND_INVALID | 1n));
  });

  it("with SEPT_VE_DISABLE, a pending page exits to the VMM (EEQ PENDING_EPT_VIOLATION) instead of #VE", () => {
    const td = buildTd({ attributes: TdAttributes.SEPT_VE_DISABLE });
    td.augPage(DATA_GPA);
    let ves = 0;
    td.loadGuestCode(function* (ctx) {
      ctx.setExceptionHandler(ExceptionVector.VE, () => {
        ves++;
        return undefined;
      });
      expect(ctx.read(DATA_GPA, new Uint8Array(1))).toBe(GuestMem.Exit);
      yield* ctx.load(DATA_GPA, new Uint8Array(1));
    });
    const e = td.enter(0, 0);
    expect(e.outcome).toMatchObject({
      kind: "exit",
      exit: { kind: "ept-violation", gpa: DATA_GPA, eeqType: EeqType.PENDING_EPT_VIOLATION },
    });
    expect(ves).toBe(0);
  });

  it("turns a #VE before VEINFO.GET into #DF, and an unhandled fault into a vCPU shutdown", () => {
    const td = buildTd();
    td.augPage(DATA_GPA);
    td.augPage(DATA_GPA + 0x1000);
    const vectors: number[] = [];
    td.loadGuestCode(function* (ctx) {
      ctx.setExceptionHandler(ExceptionVector.VE, function* (c, v) {
        vectors.push(v);
        yield* c.load(DATA_GPA + 0x1000, new Uint8Array(1)); // touches a pending page before VEINFO.GET
      });
      ctx.setExceptionHandler(ExceptionVector.DF, (_c, v) => {
        vectors.push(v);
        return undefined;
      });
      yield* ctx.load(DATA_GPA, new Uint8Array(1));
    });
    const e = td.enter(0, 0);
    expect(vectors).toEqual([ExceptionVector.VE, ExceptionVector.DF]);
    expect(e.outcome).toEqual({
      kind: "vcpu-shutdown",
      status: TdxStatus.NON_RECOVERABLE_VCPU | BigInt(VmxExitReason.TRIPLE_FAULT),
      reason: VmxExitReason.TRIPLE_FAULT,
    });
    expect(p.module.td(td.tdr)!.vcpuStates).toEqual([VcpuState.DISABLED]);
    expect(td.enter(0, 0).status).toBe(TdxStatus.VCPU_STATE_INCORRECT);
  });

  it("shuts the vCPU down when the guest program runs out of code or a #VE has no handler", () => {
    const td = buildTd({ vcpus: 2 });
    td.augPage(DATA_GPA);
    td.loadGuestCode(function* (ctx) {
      const info = yield* tdgVpInfo(ctx);
      if (info.vcpuIndex === 1) yield* ctx.load(DATA_GPA, new Uint8Array(1));
    });
    expect(td.enter(0, 0).outcome.kind).toBe("vcpu-shutdown");
    expect(td.enter(1, 1).outcome.kind).toBe("vcpu-shutdown");
  });

  it("reaches passthrough MMIO through the shared EPT without any exit", () => {
    const td = buildTd();
    const gpa = td.sharedBit + 0xc0000000;
    td.sharedEptFor(0).map(gpa, 0xb0000000);
    const got: unknown[] = [];
    td.loadGuestCode(function* (ctx) {
      expect(ctx.read(gpa, new Uint8Array(4))).toBe(GuestMem.Mmio);
      const b = new Uint8Array(4);
      got.push(yield* ctx.load(gpa + 0x10, b), [...b]);
      got.push(yield* ctx.store(gpa + 0x20, Uint8Array.of(1, 2)));
      yield* tdgVpVmcall(ctx, TdVmcall.HLT);
    });
    expectVmcall(td.enter(0, 0).outcome, TdVmcall.HLT);
    expect(got).toEqual(["done", [0xa5, 0xa5, 0xa5, 0xa5], "done"]);
    expect(mmioLog).toEqual([
      { hpa: 0xb0000010, write: false, bytes: [] },
      { hpa: 0xb0000020, write: true, bytes: [1, 2] },
    ]);
  });

  it("exits to the VMM for a shared GPA the VMM has not mapped (suppress-#VE set)", () => {
    const td = buildTd();
    const gpa = td.sharedBit + 0x5000;
    td.sharedEptFor(0);
    td.loadGuestCode(function* (ctx) {
      yield* ctx.store(gpa, Uint8Array.of(7));
    });
    const e = td.enter(0, 0);
    expect(e.outcome).toMatchObject({ kind: "exit", exit: { kind: "ept-violation", gpa } });
    expect(e.regs[Gpr.RCX]! & 2n).toBe(2n);
    const host = h.allocShared(4096);
    td.sharedEptFor(0).map(gpa, host);
    expect(td.enter(0, 0).outcome.kind).toBe("vcpu-shutdown");
    const b = new Uint8Array(1);
    p.memory.read(host, b, Initiator.Host);
    expect(b[0]).toBe(7);
  });

  it("answers TDG.VP.INFO, TDG.VM.RD (Linux's field ids) and NO_VALID_VE_INFO", () => {
    const td = buildTd({ vcpus: 2, attributes: TdAttributes.SEPT_VE_DISABLE });
    const out: unknown[] = [];
    td.loadGuestCode(function* (ctx) {
      out.push(yield* tdgVpInfo(ctx));
      out.push((yield* tdgVeInfoGet(ctx)).status);
      out.push(yield* tdgVmRd(ctx, TdField.ATTRIBUTES));
      out.push(yield* tdgVmRd(ctx, 0x9100000000000010n));
      out.push(yield* tdgVmRd(ctx, TdField.TD_EPOCH));
      yield* tdgVpVmcall(ctx, TdVmcall.HLT, {}, LINUX_VMCALL_MASK);
    });
    td.enter(1, 0);
    expect(out).toEqual([
      {
        status: 0n,
        gpaw: 48,
        attributes: TdAttributes.SEPT_VE_DISABLE,
        numVcpus: 2,
        maxVcpus: 2,
        vcpuIndex: 1,
      },
      TdxStatus.NO_VALID_VE_INFO,
      { status: 0n, value: TdAttributes.SEPT_VE_DISABLE },
      { status: 0n, value: 0n },
      { status: TdxStatus.METADATA_FIELD_NOT_READABLE, value: expect.any(BigInt) },
    ]);
  });

  it("makes the TD fatal when it consumes a line the host corrupted", () => {
    const td = buildTd();
    const hpa = td.pages.data.get(CODE_GPA)!.pa;
    const peek = new Uint8Array(2);
    p.memory.read(hpa, peek, Initiator.Host);
    expect([...peek]).toEqual([0, 0]);
    p.memory.write(hpa, new Uint8Array(64).fill(0x90), Initiator.Host);
    td.loadGuestCode(function* (ctx) {
      expect(ctx.read(CODE_GPA, new Uint8Array(2))).toBe(GuestMem.MachineCheck);
      yield* ctx.load(CODE_GPA, new Uint8Array(2));
    });
    const e = td.enter(0, 0);
    expect(e.outcome).toEqual({ kind: "td-fatal", status: TdxStatus.NON_RECOVERABLE_TD_NON_ACCESSIBLE });
    expect(p.module.td(td.tdr)!.fatal).toBe(true);
    expect(td.enter(0, 0).status).toBe(TdxStatus.TD_FATAL);
  });
});
