/**
 * The TDX module ABI contract: what any implementation of the module must do, checked only
 * through SEAMCALL (host), the guest execution interface (TDCALL, memory, intercepted
 * instructions, #VE) and host memory — a full host bring-up, a TD build with its MRTD, a run with
 * every kind of exit, instruction #VEs with their VE_INFO, a private <-> shared conversion and a
 * teardown that returns every page. Another implementation adapts itself
 * to `TdxPlatformUnderTest` and calls `describeTdxContract` from its tests.
 *
 * @spec shared/reference/tdx-module.md §2-§4, §6, §8 (statuses, exits, measurement), §3.6, §5.5
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { Initiator } from "../memory/types";
import {
  TdVmcall,
  tdgMemPageAccept,
  tdgMrRtmrExtend,
  tdgVeInfoGet,
  tdgVmRd,
  tdgVpInfo,
  tdgVpVmcall,
} from "../tdx/guest-calls";
import { ExceptionVector, GuestMem, type TdGuestContext } from "../tdx/guest-interface";
import { type TdHandle, TdxHostDriver, type TdxPlatformUnderTest } from "../tdx/host-driver";
import { SeamcallLeaf } from "../tdx/leaves";
import { TdField } from "../tdx/metadata";
import { Gpr } from "../tdx/regs";
import { PageType } from "../tdx/states";
import { TdxStatus } from "../tdx/status-codes";
import { EeqType, VmxExitReason, type VpEnterOutcome } from "../tdx/td-exit";

export { type CallResult, TdHandle, TdxHostDriver, type TdxPlatformUnderTest } from "../tdx/host-driver";
export { makeSimTdxPlatform, type SimTdxPlatform, type SimTdxPlatformOptions } from "../tdx/sim-platform";

/** Independent MRTD of PAGE.ADD + 16 MR.EXTEND per page, in order: one SHA-384 over the stream. */
function expectedMrtd(pages: readonly { gpa: number; data: Uint8Array }[]): string {
  const chunks: Buffer[] = [];
  const rec = (op: string, gpa: number) => {
    const b = Buffer.alloc(128);
    b.write(op, "ascii");
    b.writeBigUInt64LE(BigInt(gpa), 16);
    return b;
  };
  for (const p of pages) {
    chunks.push(rec("MEM.PAGE.ADD", p.gpa));
    for (let off = 0; off < 4096; off += 256) {
      chunks.push(rec("MR.EXTEND", p.gpa + off), Buffer.from(p.data.subarray(off, off + 256)));
    }
  }
  return createHash("sha384").update(Buffer.concat(chunks)).digest("hex");
}

function mrtdOf(h: TdxHostDriver, td: TdHandle): string {
  const b = Buffer.alloc(48);
  for (let i = 0; i < 6; i++) {
    b.writeBigUInt64LE(
      h.must(0, SeamcallLeaf.MNG_RD, { rcx: td.tdr, rdx: TdField.MRTD + BigInt(i) }).regs[Gpr.R8]!,
      i * 8,
    );
  }
  return b.toString("hex");
}

function vmcallOf(o: VpEnterOutcome) {
  if (o.kind !== "exit" || o.exit.kind !== "tdvmcall")
    throw new Error(`expected a TDG.VP.VMCALL exit, got ${o.kind}`);
  return o.exit;
}

const CODE = 0x1000;
const DATA = 0x20000;

/** Register the TDX module ABI contract for one implementation. */
export function describeTdxContract(name: string, make: () => TdxPlatformUnderTest): void {
  describe(`TDX module ABI contract: ${name}`, () => {
    it("brings the module up in Linux's order and rejects out-of-order calls with the module's statuses", () => {
      const p = make();
      const h = new TdxHostDriver(p);
      expect(h.call(0, SeamcallLeaf.SYS_CONFIG).status).toBe(TdxStatus.SYS_CONFIG_NOT_PENDING);
      expect(h.call(0, SeamcallLeaf.MNG_CREATE).status).toBe(TdxStatus.SYS_NOT_READY);
      const calls = h.bringUp();
      expect(calls).toBe(h.tdmr.size / (4 * 1024 * 1024));
      expect(h.call(0, SeamcallLeaf.SYS_INIT).status).toBe(TdxStatus.SYS_INIT_NOT_PENDING);
      expect(h.call(0, SeamcallLeaf.SYS_TDMR_INIT, { rcx: h.tdmr.base }).status).toBe(
        TdxStatus.TDMR_ALREADY_INITIALIZED,
      );
      const rdmd = h.must(0, SeamcallLeaf.PHYMEM_PAGE_RDMD, { rcx: h.tdmr.pamt4kBase });
      expect(rdmd.regs[Gpr.RCX]).toBe(BigInt(PageType.PT_RSVD));
    });

    it("measures a TD build exactly as the published MRTD algorithm", () => {
      const p = make();
      const h = new TdxHostDriver(p);
      h.bringUp();
      const pages = [0, 0x1000, 0x7000].map((gpa, i) => ({ gpa, data: new Uint8Array(4096).fill(i + 1) }));
      const td = h.createTd();
      for (const pg of pages) td.addMeasuredPage(pg.gpa, pg.data);
      td.finalize();
      expect(mrtdOf(h, td)).toBe(expectedMrtd(pages));
    });

    it("runs a TD: EPT-violation exit, pending-page #VE, MMIO #VE and TDG.VP.VMCALL with only the selected GPRs", () => {
      const p = make();
      const h = new TdxHostDriver(p);
      h.bringUp();
      const td = h.createTd();
      const code = new Uint8Array(4096);
      code.set([0x8b, 0x07]); // mov eax, [rdi]
      td.addMeasuredPage(CODE, code);
      td.finalize();
      const mmio = td.sharedBit + 0xfe000000;
      td.sharedEptFor(0).mmioVe(mmio);
      const log: unknown[] = [];
      const handler = function* (ctx: TdGuestContext) {
        const ve = yield* tdgVeInfoGet(ctx);
        log.push(ve.exitReason);
        if (Number(ve.gpa) < td.sharedBit) {
          yield* tdgMemPageAccept(ctx, Number(ve.gpa) & ~0xfff);
          return;
        }
        const r = yield* tdgVpVmcall(ctx, TdVmcall.REQUEST_MMIO, { r12: 4, r13: 0, r14: ve.gpa });
        ctx.regs.gpr[Gpr.RAX] = r.r11;
        ctx.regs.rip += 2;
      };
      td.loadGuestCode(function* (ctx) {
        ctx.setExceptionHandler(ExceptionVector.VE, handler);
        ctx.regs.gpr[Gpr.RBX] = 0x5151n;
        log.push(yield* ctx.load(DATA, new Uint8Array(8)));
        ctx.regs.rip = CODE;
        ctx.regs.gpr[Gpr.RDI] = BigInt(mmio);
        log.push(yield* ctx.load(mmio, new Uint8Array(4)));
        yield* tdgVpVmcall(ctx, TdVmcall.HLT, { r12: ctx.regs.gpr[Gpr.RAX]! }, 0x1000);
      });
      const e1 = td.enter(0, 0).outcome;
      expect(e1).toMatchObject({
        kind: "exit",
        exit: { kind: "ept-violation", gpa: DATA, eeqType: EeqType.NONE },
      });
      td.augPage(DATA);
      const e2 = vmcallOf(td.enter(0, 0).outcome);
      expect(e2.regs[Gpr.R11]).toBe(BigInt(TdVmcall.REQUEST_MMIO));
      expect(e2.regs[Gpr.R14]).toBe(BigInt(mmio));
      expect(e2.regs[Gpr.RBX]).toBe(0x5151n); // Linux's mask 0xFFCC exposes RBX
      const e3 = td.enter(0, 0, { r10: 0, r11: 0x1234 });
      const hlt = vmcallOf(e3.outcome);
      expect(hlt.gprMask).toBe(0x1000);
      expect(e3.regs[Gpr.R12]).toBe(0x1234n);
      expect(e3.regs[Gpr.R11]).toBe(0n);
      expect(e3.regs[Gpr.R10]).toBe(0n);
      expect(e3.regs[Gpr.RBX]).toBe(0n);
      expect(log).toEqual([VmxExitReason.EPT_VIOLATION, "done", VmxExitReason.EPT_VIOLATION, "emulated"]);
    });

    it("converts a page private -> shared -> private and keeps each side's data where it belongs", () => {
      const p = make();
      const h = new TdxHostDriver(p);
      h.bringUp();
      const td = h.createTd();
      td.addPage(0, new Uint8Array(4096));
      td.finalize();
      td.augPage(DATA);
      const seen: unknown[] = [];
      td.loadGuestCode(function* (ctx) {
        yield* tdgMemPageAccept(ctx, DATA);
        ctx.write(DATA, Uint8Array.of(0x11));
        yield* tdgVpVmcall(ctx, TdVmcall.MAP_GPA, { r12: td.sharedBit + DATA, r13: 4096 });
        seen.push(ctx.read(DATA, new Uint8Array(1)));
        yield* ctx.store(td.sharedBit + DATA, Uint8Array.of(0x22));
        yield* tdgVpVmcall(ctx, TdVmcall.MAP_GPA, { r12: DATA, r13: 4096 });
        seen.push(yield* tdgMemPageAccept(ctx, DATA));
        const b = new Uint8Array(1);
        ctx.read(DATA, b);
        seen.push(b[0]);
        yield* tdgVpVmcall(ctx, TdVmcall.HLT);
      });
      vmcallOf(td.enter(0, 0).outcome);
      const priv = td.pages.data.get(DATA)!.pa;
      td.removePrivate(DATA);
      const host = h.allocShared(4096);
      td.sharedEptFor(0).map(td.sharedBit + DATA, host);
      vmcallOf(td.enter(0, 0, { r10: 0 }).outcome);
      const b = new Uint8Array(1);
      p.memory.read(host, b, Initiator.Host);
      expect(b[0]).toBe(0x22);
      expect(h.must(0, SeamcallLeaf.PHYMEM_PAGE_RDMD, { rcx: priv }).regs[Gpr.RCX]).toBe(
        BigInt(PageType.PT_NDA),
      );
      td.sharedEptFor(0).unmap(td.sharedBit + DATA);
      td.augPage(DATA);
      vmcallOf(td.enter(0, 0, { r10: 0 }).outcome);
      expect(seen).toEqual([GuestMem.Exit, 0n, 0]);
    });

    it("reports guest-visible TD facts and extends RTMRs as SHA-384(old || value)", () => {
      const p = make();
      const h = new TdxHostDriver(p);
      h.bringUp();
      const td = h.createTd({ vcpus: 2 });
      td.addMeasuredPage(0x3000, new Uint8Array(4096).fill(0x5a));
      td.finalize();
      const got: unknown[] = [];
      const rtmr3 = Buffer.alloc(48);
      td.loadGuestCode(function* (ctx) {
        const info = yield* tdgVpInfo(ctx);
        got.push(info.gpaw, info.numVcpus, info.vcpuIndex, (yield* tdgVeInfoGet(ctx)).status);
        got.push(yield* tdgMrRtmrExtend(ctx, 0x3000, 3));
        for (let i = 0; i < 6; i++) {
          const r = yield* tdgVmRd(ctx, TdField.RTMR + BigInt(3 * 8 + i));
          rtmr3.writeBigUInt64LE(r.value, i * 8);
        }
        yield* tdgVpVmcall(ctx, TdVmcall.HLT);
      });
      vmcallOf(td.enter(1, 2).outcome);
      expect(got).toEqual([48, 2, 1, TdxStatus.NO_VALID_VE_INFO, 0n]);
      const want = createHash("sha384").update(Buffer.alloc(48)).update(Buffer.alloc(48, 0x5a)).digest("hex");
      expect(rtmr3.toString("hex")).toBe(want);
    });

    it("intercepts instructions: CPUID 0x21 answered in place; CPUID 0x40000000, HLT, IN, WRMSR(ICR) raise #VE with reason, qualification and length", () => {
      const p = make();
      const h = new TdxHostDriver(p);
      h.bringUp();
      const td = h.createTd();
      td.finalize();
      const got: unknown[] = [];
      td.loadGuestCode(function* (ctx) {
        ctx.setExceptionHandler(ExceptionVector.VE, function* (c) {
          const ve = yield* tdgVeInfoGet(c);
          got.push([ve.exitReason, ve.exitQualification, ve.instructionLength]);
          c.regs.rip += ve.instructionLength;
        });
        ctx.regs.rip = CODE;
        got.push(yield* ctx.cpuid(0x21, 0), ctx.regs.gpr[Gpr.RBX], ctx.regs.rip - CODE);
        got.push(yield* ctx.cpuid(0x40000000, 0));
        got.push(yield* ctx.hlt());
        got.push(yield* ctx.in(0x3f8, 1));
        ctx.regs.gpr[Gpr.RCX] = 0x830n;
        got.push(yield* ctx.wrmsr(), ctx.regs.rip - CODE);
        yield* tdgVpVmcall(ctx, TdVmcall.HLT);
      });
      vmcallOf(td.enter(0, 0).outcome);
      expect(got).toEqual([
        "done",
        0x65746e49n, // "Inte"
        2,
        [VmxExitReason.CPUID, 0n, 2],
        "emulated",
        [VmxExitReason.HLT, 0n, 1],
        "emulated",
        [VmxExitReason.IO, (0x3f8n << 16n) | 8n, 1],
        "emulated",
        [VmxExitReason.MSR_WRITE, 0n, 2],
        "emulated",
        8,
      ]);
    });

    it("tears a TD down in KVM's order and gives every page back (PT_NDA)", () => {
      const p = make();
      const h = new TdxHostDriver(p);
      h.bringUp();
      const td = h.createTd({ vcpus: 2 });
      td.addMeasuredPage(0, new Uint8Array(4096));
      td.augPage(0x40_0000, 1);
      td.finalize();
      td.loadGuestCode(function* (ctx) {
        for (;;) yield* tdgVpVmcall(ctx, TdVmcall.HLT);
      });
      td.enter(0, 0);
      td.enter(1, p.lpPackages.length - 1);
      const owned = [
        td.tdr,
        ...td.pages.tdcs,
        ...td.pages.septPages.values(),
        ...td.pages.vcpus.flatMap((v) => [v.tdvpr, ...v.tdcx]),
        ...[...td.pages.data.values()].map((d) => d.pa),
      ];
      td.teardown();
      for (const pa of owned) {
        expect(h.must(0, SeamcallLeaf.PHYMEM_PAGE_RDMD, { rcx: pa }).regs[Gpr.RCX]).toBe(
          BigInt(PageType.PT_NDA),
        );
      }
      expect(h.call(0, SeamcallLeaf.MNG_RD, { rcx: td.tdr, rdx: TdField.HKID }).status).not.toBe(
        TdxStatus.SUCCESS,
      );
      expect(() => h.createTd({ hkid: td.hkid })).not.toThrow();
    });
  });
}
