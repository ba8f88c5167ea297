/**
 * Secure EPT: entry encodings, walk failures with the entry details in RCX/RDX, AUG -> PENDING ->
 * ACCEPT at 4K and 2M (zeroing, size mismatch, already accepted, ACCEPT before AUG exiting with
 * EEQ ACCEPT, 1G per option), BLOCK/TRACK/REMOVE and UNBLOCK with the TLB-epoch rule,
 * DEMOTE/PROMOTE, a private <-> shared conversion, and a 5-level (GPAW 52) TD.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { Initiator } from "../memory/types";
import { TdVmcall, tdgMemPageAccept, tdgVpVmcall } from "./guest-calls";
import { GuestMem } from "./guest-interface";
import { type TdHandle, TdxHostDriver } from "./host-driver";
import { SeamcallLeaf } from "./leaves";
import { Gpr } from "./regs";
import {
  freeEntry,
  leafEntry,
  nonLeafEntry,
  publicSeptState,
  SeptState,
  septPa,
  septStateOf,
} from "./sept-entry";
import { makeSimTdxPlatform, type SimTdxPlatform } from "./sim-platform";
import { PageType } from "./states";
import { OperandId, withOperand } from "./status";
import { TdxStatus } from "./status-codes";
import { acceptEeqInfo, EeqType } from "./td-exit";
import { ConfigFlags, eptpControlsFor, TdAttributes } from "./td-params";

const MIB2 = 2 * 1024 * 1024;
let p: SimTdxPlatform;
let h: TdxHostDriver;

function setup(accept1G = false) {
  p = makeSimTdxPlatform({ options: { accept1G } });
  h = new TdxHostDriver(p);
  h.bringUp();
}
beforeEach(() => setup());

function runningTd(opts: Parameters<TdxHostDriver["createTd"]>[0] = {}): TdHandle {
  const td = h.createTd(opts);
  td.addPage(0, new Uint8Array(16));
  td.finalize();
  return td;
}

describe("SEPT entries", () => {
  it("encode the module's states in D, TDEX..TDP, IPAT and PS with SVE set", () => {
    const [flo, fhi] = freeEntry();
    expect(septStateOf(flo, fhi)).toBe(SeptState.FREE);
    expect(fhi >>> 31).toBe(1);
    const pa = 0x1234_5678_9000;
    const [llo, lhi] = leafEntry(pa, SeptState.MAPPED);
    expect(septStateOf(llo, lhi)).toBe(SeptState.MAPPED);
    expect(septPa(llo, lhi)).toBe(pa);
    expect(llo & 7).toBe(7);
    const [plo, phi] = leafEntry(pa, SeptState.PENDING);
    expect([septStateOf(plo, phi), plo & 7, (phi >>> 24) & 1]).toEqual([SeptState.PENDING, 0, 1]);
    const [nlo, nhi] = nonLeafEntry(pa);
    expect([septStateOf(nlo, nhi), nlo & 7]).toEqual([SeptState.NL_MAPPED, 7]);
    expect([0x0e, 0x00, 0x08, 0x60, 0x68, 0x70, 0x78].map(publicSeptState)).toEqual([
      0, 0x84, 0x81, 4, 1, 2, 3,
    ]);
  });
});

describe("Secure EPT leaves", () => {
  it("reports a missing parent table as EPT_WALK_FAILED with the stopping entry in RCX/RDX", () => {
    const td = h.createTd();
    const r = h.call(0, SeamcallLeaf.MEM_SEPT_ADD, { rcx: 0x4000_0000 + 1, rdx: td.tdr, r8: h.allocPage() });
    expect(r.status).toBe(TdxStatus.EPT_WALK_FAILED);
    expect(r.regs[Gpr.RCX]).toBe(1n << 63n);
    expect(r.regs[Gpr.RDX]).toBe(3n); // level 3 (PML4 entry), public state FREE (0)
    expect(
      h.call(0, SeamcallLeaf.MEM_SEPT_ADD, { rcx: 0x1000 + 1, rdx: td.tdr, r8: h.allocPage() }).status,
    ).toBe(withOperand(TdxStatus.OPERAND_INVALID, OperandId.RCX));
    expect(
      h.call(0, SeamcallLeaf.MEM_SEPT_ADD, { rcx: td.sharedBit + 1, rdx: td.tdr, r8: h.allocPage() }).status,
    ).toBe(withOperand(TdxStatus.OPERAND_INVALID, OperandId.RCX));
  });

  it("AUGs a page PENDING (no permissions), readable with TDH.MEM.SEPT.RD", () => {
    const td = runningTd();
    const pg = td.augPage(0x8000);
    const r = h.must(0, SeamcallLeaf.MEM_SEPT_RD, { rcx: 0x8000, rdx: td.tdr });
    expect(Number(r.regs[Gpr.RDX]! >> 8n)).toBe(2);
    expect(Number(r.regs[Gpr.RCX]! & 7n)).toBe(0);
    expect(p.module.pageMetadata(pg)).toEqual({ pageType: PageType.PT_REG, owner: td.tdr, level: 0 });
    expect(h.call(0, SeamcallLeaf.MEM_PAGE_AUG, { rcx: 0x8000, rdx: td.tdr, r8: h.allocPage() }).status).toBe(
      TdxStatus.EPT_ENTRY_STATE_INCORRECT,
    );
    expect(h.call(0, SeamcallLeaf.MEM_PAGE_AUG, { rcx: 0x9000, rdx: td.tdr, r8: pg }).status).toBe(
      withOperand(TdxStatus.PAGE_METADATA_INCORRECT, OperandId.R8),
    );
  });

  it("ACCEPTs at 4K and 2M: zeroes what the host left, maps RWX; size mismatch and already-accepted are reported", () => {
    const td = runningTd();
    const pg = td.augPage(0x8000);
    p.memory.write(pg, new Uint8Array(4096).fill(0xee), Initiator.Host);
    const big = td.augPage(0x40_0000, 1);
    const out: unknown[] = [];
    td.loadGuestCode(function* (ctx) {
      out.push(ctx.read(0x8000, new Uint8Array(1)));
      out.push(yield* tdgMemPageAccept(ctx, 0x8000));
      const b = new Uint8Array(4096);
      ctx.read(0x8000, b);
      out.push(b.every((x) => x === 0));
      out.push(yield* tdgMemPageAccept(ctx, 0x8000));
      out.push(yield* tdgMemPageAccept(ctx, 0, 1)); // the first 2M is mapped with 4K pages
      out.push(yield* tdgMemPageAccept(ctx, 0x40_0000, 1));
      out.push(ctx.write(0x40_0000 + MIB2 - 8, Uint8Array.of(9)));
      out.push(yield* tdgMemPageAccept(ctx, 0x40_1000));
      out.push(yield* tdgMemPageAccept(ctx, 0x4000_0000, 2));
      yield* tdgVpVmcall(ctx, TdVmcall.HLT);
    });
    td.enter();
    expect(out).toEqual([
      GuestMem.Ve,
      0n,
      true,
      TdxStatus.PAGE_ALREADY_ACCEPTED,
      withOperand(TdxStatus.PAGE_SIZE_MISMATCH, 1),
      0n,
      GuestMem.Ok,
      withOperand(TdxStatus.PAGE_ALREADY_ACCEPTED, 1),
      withOperand(TdxStatus.OPERAND_INVALID, OperandId.RCX),
    ]);
    expect(p.module.pageMetadata(big + 4096)).toEqual({ pageType: PageType.PT_REG, owner: td.tdr, level: 1 });
  });

  it("exits with EEQ ACCEPT when the guest accepts a page the VMM has not AUGed, and retries the TDCALL", () => {
    const td = runningTd();
    const st: bigint[] = [];
    td.loadGuestCode(function* (ctx) {
      st.push(yield* tdgMemPageAccept(ctx, 0x20_0000));
      yield* tdgVpVmcall(ctx, TdVmcall.HLT);
    });
    const e = td.enter();
    expect(e.outcome).toMatchObject({
      kind: "exit",
      exit: {
        kind: "ept-violation",
        gpa: 0x20_0000,
        eeqType: EeqType.ACCEPT,
        eeqInfo: acceptEeqInfo(0, 1, 0, false),
      },
    });
    expect(st).toEqual([]);
    td.augPage(0x20_0000);
    td.enter();
    expect(st).toEqual([0n]);
  });

  it("accepts 1 GiB only when the module option allows it", () => {
    setup(true);
    const td = runningTd();
    const st: bigint[] = [];
    td.loadGuestCode(function* (ctx) {
      st.push(yield* tdgMemPageAccept(ctx, 0x4000_0000, 2));
      yield* tdgVpVmcall(ctx, TdVmcall.HLT);
    });
    const e = td.enter();
    expect(e.outcome).toMatchObject({
      exit: { eeqType: EeqType.ACCEPT, eeqInfo: acceptEeqInfo(2, 2, 0, false) },
    });
  });

  it("requires BLOCK, then TRACK, before REMOVE or UNBLOCK of a RUNNABLE TD's page", () => {
    const td = runningTd();
    const pg = td.augPage(0x8000);
    const gpa = { rcx: 0x8000, rdx: td.tdr };
    expect(h.call(0, SeamcallLeaf.MEM_PAGE_REMOVE, gpa).status).toBe(TdxStatus.GPA_RANGE_NOT_BLOCKED);
    h.must(0, SeamcallLeaf.MEM_RANGE_BLOCK, gpa);
    expect(h.call(0, SeamcallLeaf.MEM_RANGE_BLOCK, gpa).status).toBe(TdxStatus.GPA_RANGE_ALREADY_BLOCKED);
    expect(h.call(0, SeamcallLeaf.MEM_PAGE_REMOVE, gpa).status).toBe(TdxStatus.TLB_TRACKING_NOT_DONE);
    expect(h.call(0, SeamcallLeaf.MEM_RANGE_UNBLOCK, gpa).status).toBe(TdxStatus.TLB_TRACKING_NOT_DONE);
    const epoch = p.module.td(td.tdr)!.epoch;
    h.must(0, SeamcallLeaf.MEM_TRACK, { rcx: td.tdr });
    expect(p.module.td(td.tdr)!.epoch).toBe(epoch + 1);
    h.must(0, SeamcallLeaf.MEM_RANGE_UNBLOCK, gpa);
    expect(Number(h.must(0, SeamcallLeaf.MEM_SEPT_RD, gpa).regs[Gpr.RDX]! >> 8n)).toBe(2); // PENDING again
    h.must(0, SeamcallLeaf.MEM_RANGE_BLOCK, gpa);
    h.must(0, SeamcallLeaf.MEM_TRACK, { rcx: td.tdr });
    const r = h.must(0, SeamcallLeaf.MEM_PAGE_REMOVE, gpa);
    expect(Number(r.regs[Gpr.RDX]! >> 8n)).toBe(3); // it was PENDING_BLOCKED
    expect(p.module.pageMetadata(pg).pageType).toBe(PageType.PT_NDA);
    expect(Number(h.must(0, SeamcallLeaf.MEM_SEPT_RD, gpa).regs[Gpr.RDX]! >> 8n)).toBe(0);
  });

  it("keeps a range untracked while an LP that entered in the blocking epoch is still in the guest", () => {
    const td = runningTd();
    td.augPage(0x8000);
    const gpa = { rcx: 0x8000, rdx: td.tdr };
    const seen: bigint[] = [];
    // LP 1 acts while the vCPU is in guest mode on LP 0 (REFCOUNT of its entry epoch is 1)
    td.loadGuestCode(function* (ctx) {
      h.must(1, SeamcallLeaf.MEM_RANGE_BLOCK, gpa);
      h.must(1, SeamcallLeaf.MEM_TRACK, { rcx: td.tdr });
      seen.push(h.call(1, SeamcallLeaf.MEM_PAGE_REMOVE, gpa).status);
      seen.push(h.call(1, SeamcallLeaf.MEM_TRACK, { rcx: td.tdr }).status);
      yield* tdgVpVmcall(ctx, TdVmcall.HLT);
    });
    expect(td.enter(0, 0).outcome.kind).toBe("exit");
    expect(seen).toEqual([TdxStatus.TLB_TRACKING_NOT_DONE, TdxStatus.PREVIOUS_TLB_EPOCH_BUSY]);
    // the vCPU has left the guest: the blocking epoch's REFCOUNT is 0, the range is tracked
    h.must(0, SeamcallLeaf.MEM_PAGE_REMOVE, gpa);
  });

  it("removes pages of an INITIALIZED TD without tracking (no TLB tracking before FINALIZE)", () => {
    const td = h.createTd();
    const pg = td.addPage(0x3000, new Uint8Array(1));
    h.must(0, SeamcallLeaf.MEM_PAGE_REMOVE, { rcx: 0x3000, rdx: td.tdr });
    expect(p.module.pageMetadata(pg).pageType).toBe(PageType.PT_NDA);
  });

  it("DEMOTEs a 2M page into 512 4K pages and PROMOTEs them back", () => {
    const td = runningTd();
    const big = td.augPage(0x60_0000, 1);
    const g2 = { rcx: 0x60_0000 + 1, rdx: td.tdr };
    const table = h.allocPage();
    expect(h.call(0, SeamcallLeaf.MEM_PAGE_DEMOTE, { ...g2, r8: table }).status).toBe(
      TdxStatus.GPA_RANGE_NOT_BLOCKED,
    );
    h.must(0, SeamcallLeaf.MEM_RANGE_BLOCK, g2);
    h.must(0, SeamcallLeaf.MEM_TRACK, { rcx: td.tdr });
    h.must(0, SeamcallLeaf.MEM_PAGE_DEMOTE, { ...g2, r8: table });
    expect(p.module.pageMetadata(big + 5 * 4096)).toEqual({
      pageType: PageType.PT_REG,
      owner: td.tdr,
      level: 0,
    });
    expect(p.module.pageMetadata(table).pageType).toBe(PageType.PT_EPT);
    const sub = h.must(0, SeamcallLeaf.MEM_SEPT_RD, { rcx: 0x60_5000, rdx: td.tdr });
    expect(sub.regs[Gpr.RDX]).toBe(2n << 8n); // level 0, PENDING
    h.must(0, SeamcallLeaf.MEM_RANGE_BLOCK, g2);
    h.must(0, SeamcallLeaf.MEM_TRACK, { rcx: td.tdr });
    const r = h.must(0, SeamcallLeaf.MEM_PAGE_PROMOTE, g2);
    expect(Number(r.regs[Gpr.RCX])).toBe(table);
    expect(p.module.pageMetadata(big + 5 * 4096)).toEqual({
      pageType: PageType.PT_REG,
      owner: td.tdr,
      level: 1,
    });
    expect(p.module.pageMetadata(table).pageType).toBe(PageType.PT_NDA);
  });

  it("converts private -> shared -> private the way MapGPA flows do", () => {
    const td = runningTd();
    const gpa = 0x9000;
    td.augPage(gpa);
    const seen: unknown[] = [];
    td.loadGuestCode(function* (ctx) {
      yield* tdgMemPageAccept(ctx, gpa);
      ctx.write(gpa, Uint8Array.of(1, 2, 3));
      yield* tdgVpVmcall(ctx, TdVmcall.MAP_GPA, { r12: td.sharedBit + gpa, r13: 4096 });
      seen.push(yield* ctx.store(td.sharedBit + gpa, Uint8Array.of(4, 5, 6)));
      yield* tdgVpVmcall(ctx, TdVmcall.MAP_GPA, { r12: gpa, r13: 4096 });
      seen.push(yield* tdgMemPageAccept(ctx, gpa));
      const b = new Uint8Array(3);
      ctx.read(gpa, b);
      seen.push([...b]);
      yield* tdgVpVmcall(ctx, TdVmcall.HLT);
    });
    let e = td.enter();
    expect(
      e.outcome.kind === "exit" && e.outcome.exit.kind === "tdvmcall" && e.outcome.exit.regs[Gpr.R11],
    ).toBe(BigInt(TdVmcall.MAP_GPA));
    // host: remove the private page, back the shared alias with host memory
    td.removePrivate(gpa);
    const host = h.allocShared(4096);
    td.sharedEptFor(0).map(td.sharedBit + gpa, host);
    e = td.enter(0, 0, { r10: 0 });
    const b = new Uint8Array(3);
    p.memory.read(host, b, Initiator.Host);
    expect([...b]).toEqual([4, 5, 6]);
    // host: back to private — unmap the shared alias, AUG a fresh page; the guest accepts it
    td.sharedEptFor(0).unmap(td.sharedBit + gpa);
    td.augPage(gpa);
    e = td.enter(0, 0, { r10: 0 });
    expect(seen).toEqual(["done", 0n, [0, 0, 0]]);
  });

  it("runs a 5-level, GPAW 52 TD with the shared bit at 51", () => {
    const td = runningTd({
      eptpControls: eptpControlsFor(5),
      configFlags: ConfigFlags.GPAW | ConfigFlags.NO_RBP_MOD,
      attributes: TdAttributes.SEPT_VE_DISABLE,
    });
    expect(td.sharedBit).toBe(2 ** 51);
    const high = 2 ** 50 + 0x1000;
    td.augPage(high);
    const st: bigint[] = [];
    td.loadGuestCode(function* (ctx) {
      st.push(yield* tdgMemPageAccept(ctx, high));
      yield* tdgVpVmcall(ctx, TdVmcall.HLT);
    });
    td.enter();
    expect(st).toEqual([0n]);
    expect(
      h.call(0, SeamcallLeaf.MEM_SEPT_ADD, { rcx: 2 ** 51 + 4, rdx: td.tdr, r8: h.allocPage() }).status,
    ).toBe(withOperand(TdxStatus.OPERAND_INVALID, OperandId.RCX));
  });
});
