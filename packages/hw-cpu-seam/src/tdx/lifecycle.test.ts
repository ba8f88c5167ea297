/**
 * TD and vCPU lifecycle through the ABI: creation, key configuration, TDCS, TD_PARAMS checks, the
 * OP_STATE matrix, LP association, and the teardown order with KOT states and PAMT left clean.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { tdgVpVmcall } from "./guest-calls";
import { TdxHostDriver } from "./host-driver";
import { SeamcallLeaf } from "./leaves";
import { TdField } from "./metadata";
import { Gpr } from "./regs";
import { makeSimTdxPlatform, type SimTdxPlatform } from "./sim-platform";
import { KotState, OpState, PageType, TdLifecycle, VcpuState } from "./states";
import { OperandId, withOperand } from "./status";
import { TdxStatus } from "./status-codes";
import { encodeTdParams, eptpControlsFor, TdAttributes } from "./td-params";

let p: SimTdxPlatform;
let h: TdxHostDriver;

beforeEach(() => {
  p = makeSimTdxPlatform({ options: { cacheWbSteps: 2 } });
  h = new TdxHostDriver(p);
  h.bringUp();
});

/** A TD up to MNG.INIT done by hand. */
function createdTd(hkid = 40) {
  const tdr = h.allocPage();
  h.must(0, SeamcallLeaf.MNG_CREATE, { rcx: tdr, rdx: hkid });
  return tdr;
}

describe("TD creation and keys", () => {
  it("takes a free NDA page and a free private HKID", () => {
    const page = h.allocPage();
    expect(h.call(0, SeamcallLeaf.MNG_CREATE, { rcx: page, rdx: 5 }).status).toBe(
      withOperand(TdxStatus.OPERAND_INVALID, OperandId.RDX),
    );
    expect(h.call(0, SeamcallLeaf.MNG_CREATE, { rcx: page, rdx: 32 }).status).toBe(TdxStatus.HKID_NOT_FREE);
    expect(h.call(0, SeamcallLeaf.MNG_CREATE, { rcx: h.tdmr.pamt4kBase, rdx: 40 }).status).toBe(
      withOperand(TdxStatus.PAGE_METADATA_INCORRECT, OperandId.RCX),
    );
    expect(h.call(0, SeamcallLeaf.MNG_CREATE, { rcx: 512 * 1024 * 1024, rdx: 40 }).status).toBe(
      withOperand(TdxStatus.OPERAND_ADDR_RANGE_ERROR, OperandId.RCX),
    );
    h.must(0, SeamcallLeaf.MNG_CREATE, { rcx: page, rdx: 40 });
    expect(p.module.kotState(40)).toBe(KotState.HKID_ASSIGNED);
    expect(p.module.pageMetadata(page)).toEqual({ pageType: PageType.PT_TDR, owner: page, level: 0 });
    expect(h.call(0, SeamcallLeaf.MNG_CREATE, { rcx: h.allocPage(), rdx: 40 }).status).toBe(
      TdxStatus.HKID_NOT_FREE,
    );
  });

  it("needs KEY.CONFIG on every package before TDCS pages", () => {
    const tdr = createdTd();
    expect(h.call(0, SeamcallLeaf.MNG_ADDCX, { rcx: h.allocPage(), rdx: tdr }).status).toBe(
      TdxStatus.TD_KEYS_NOT_CONFIGURED,
    );
    h.must(0, SeamcallLeaf.MNG_KEY_CONFIG, { rcx: tdr });
    expect(h.call(1, SeamcallLeaf.MNG_KEY_CONFIG, { rcx: tdr }).status).toBe(TdxStatus.KEY_CONFIGURED);
    expect(p.module.td(tdr)!.lifecycle).toBe(TdLifecycle.TD_HKID_ASSIGNED);
    h.must(3, SeamcallLeaf.MNG_KEY_CONFIG, { rcx: tdr });
    expect(p.module.td(tdr)!.lifecycle).toBe(TdLifecycle.TD_KEYS_CONFIGURED);
    expect(h.call(0, SeamcallLeaf.MNG_KEY_CONFIG, { rcx: tdr }).status).toBe(
      TdxStatus.LIFECYCLE_STATE_INCORRECT,
    );
  });

  it("needs all six TDCS pages before MNG.INIT and rejects a seventh", () => {
    const tdr = createdTd();
    for (const lp of [0, 2]) h.must(lp, SeamcallLeaf.MNG_KEY_CONFIG, { rcx: tdr });
    const params = h.allocShared(1024, 1024);
    h.writeHost(
      params,
      encodeTdParams({
        attributes: 0n,
        xfam: 3n,
        maxVcpus: 1,
        eptpControls: eptpControlsFor(4),
        configFlags: 0n,
        tscFrequency: 100,
      }),
    );
    for (let i = 0; i < 5; i++) h.must(0, SeamcallLeaf.MNG_ADDCX, { rcx: h.allocPage(), rdx: tdr });
    expect(h.call(0, SeamcallLeaf.MNG_INIT, { rcx: tdr, rdx: params }).status).toBe(
      TdxStatus.TDCS_NOT_ALLOCATED,
    );
    const sixth = h.allocPage();
    h.must(0, SeamcallLeaf.MNG_ADDCX, { rcx: sixth, rdx: tdr });
    expect(h.call(0, SeamcallLeaf.MNG_ADDCX, { rcx: h.allocPage(), rdx: tdr }).status).toBe(
      TdxStatus.TDCX_NUM_INCORRECT,
    );
    expect(p.module.pageMetadata(sixth)).toEqual({ pageType: PageType.PT_TDCX, owner: tdr, level: 0 });
    // TD_PARAMS validation, with operand ids
    const bad = (over: object) => {
      const pa = h.allocShared(1024, 1024);
      h.writeHost(
        pa,
        encodeTdParams({
          attributes: 0n,
          xfam: 3n,
          maxVcpus: 1,
          eptpControls: eptpControlsFor(4),
          configFlags: 0n,
          tscFrequency: 100,
          ...over,
        }),
      );
      return h.call(0, SeamcallLeaf.MNG_INIT, { rcx: tdr, rdx: pa }).status;
    };
    expect(bad({ attributes: 1n << 5n })).toBe(withOperand(TdxStatus.OPERAND_INVALID, OperandId.ATTRIBUTES));
    expect(bad({ xfam: 1n })).toBe(withOperand(TdxStatus.OPERAND_INVALID, OperandId.XFAM));
    expect(bad({ maxVcpus: 0 })).toBe(withOperand(TdxStatus.OPERAND_INVALID, OperandId.MAX_VCPUS));
    expect(bad({ configFlags: 1n })).toBe(withOperand(TdxStatus.OPERAND_INVALID, OperandId.EPTP_CONTROLS));
    expect(bad({ tscFrequency: 401 })).toBe(withOperand(TdxStatus.OPERAND_INVALID, OperandId.TSC_FREQUENCY));
    expect(h.call(0, SeamcallLeaf.MNG_INIT, { rcx: tdr, rdx: params + 8 }).status).toBe(
      withOperand(TdxStatus.OPERAND_INVALID, OperandId.RDX),
    );
    h.must(0, SeamcallLeaf.MNG_INIT, { rcx: tdr, rdx: params });
    expect(p.module.td(tdr)!.opState).toBe(OpState.INITIALIZED);
    expect(h.call(0, SeamcallLeaf.MNG_INIT, { rcx: tdr, rdx: params }).status).toBe(
      TdxStatus.OP_STATE_INCORRECT,
    );
  });
});

describe("OP_STATE and vCPU states", () => {
  it("gates leaves by OP_STATE: build leaves before FINALIZE, VP.ENTER after", () => {
    const td = h.createTd({ vcpus: 1 });
    td.addMeasuredPage(0, new Uint8Array(16));
    expect(td.enter(0, 0).status).toBe(TdxStatus.OP_STATE_INCORRECT);
    td.finalize();
    expect(p.module.td(td.tdr)!.opState).toBe(OpState.RUNNABLE);
    expect(
      h.call(0, SeamcallLeaf.MEM_PAGE_ADD, {
        rcx: 0x2000,
        rdx: td.tdr,
        r8: h.allocPage(),
        r9: h.allocShared(4096),
      }).status,
    ).toBe(TdxStatus.OP_STATE_INCORRECT);
    expect(h.call(0, SeamcallLeaf.VP_CREATE, { rcx: h.allocPage(), rdx: td.tdr }).status).toBe(
      TdxStatus.OP_STATE_INCORRECT,
    );
    expect(h.call(0, SeamcallLeaf.MR_FINALIZE, { rcx: td.tdr }).status).toBe(TdxStatus.OP_STATE_INCORRECT);
  });

  it("needs an initialised vCPU to finalize, and limits vCPUs to MAX_VCPUS", () => {
    const td = h.createTd({ vcpus: 0, maxVcpus: 1 });
    expect(h.call(0, SeamcallLeaf.MR_FINALIZE, { rcx: td.tdr }).status).toBe(TdxStatus.NO_VCPUS);
    const mk = () => {
      const tdvpr = h.allocPage();
      h.must(0, SeamcallLeaf.VP_CREATE, { rcx: tdvpr, rdx: td.tdr });
      for (let i = 0; i < 5; i++) h.must(0, SeamcallLeaf.VP_ADDCX, { rcx: h.allocPage(), rdx: tdvpr });
      return tdvpr;
    };
    const v0 = mk();
    const v1 = mk();
    h.must(0, SeamcallLeaf.VP_INIT, { rcx: v0, r8: 0 }, 1);
    expect(h.call(0, SeamcallLeaf.VP_INIT, { rcx: v0, r8: 0 }, 1).status).toBe(
      TdxStatus.VCPU_STATE_INCORRECT,
    );
    expect(h.call(0, SeamcallLeaf.VP_ADDCX, { rcx: h.allocPage(), rdx: v0 }).status).toBe(
      TdxStatus.VCPU_STATE_INCORRECT,
    );
    expect(h.call(0, SeamcallLeaf.VP_INIT, { rcx: v1, r8: 1 }, 1).status).toBe(TdxStatus.MAX_VCPUS_EXCEEDED);
    h.must(0, SeamcallLeaf.MR_FINALIZE, { rcx: td.tdr });
  });

  it("associates a vCPU with the LP it ran on until TDH.VP.FLUSH there", () => {
    const td = h.createTd({ vcpus: 1 });
    td.finalize();
    td.loadGuestCode(function* (ctx) {
      for (;;) yield* tdgVpVmcall(ctx, 12, { r12: 0 });
    });
    expect(td.enter(0, 1).outcome.kind).toBe("exit");
    expect(td.enter(0, 2).status).toBe(TdxStatus.VCPU_ASSOCIATED);
    const tdvpr = td.pages.vcpus[0]!.tdvpr;
    expect(h.call(2, SeamcallLeaf.VP_FLUSH, { rcx: tdvpr }).status).toBe(TdxStatus.VCPU_NOT_ASSOCIATED);
    expect(h.call(0, SeamcallLeaf.MNG_VPFLUSHDONE, { rcx: td.tdr }).status).toBe(TdxStatus.FLUSHVP_NOT_DONE);
    h.must(1, SeamcallLeaf.VP_FLUSH, { rcx: tdvpr });
    expect(td.enter(0, 2).outcome.kind).toBe("exit");
    expect(h.must(0, SeamcallLeaf.MNG_RD, { rcx: td.tdr, rdx: TdField.NUM_ASSOC_VCPUS }).regs[Gpr.R8]).toBe(
      1n,
    );
  });

  it("reads TD metadata with the host's masks", () => {
    const td = h.createTd({ vcpus: 2, attributes: TdAttributes.SEPT_VE_DISABLE });
    const rd = (f: bigint) => h.call(0, SeamcallLeaf.MNG_RD, { rcx: td.tdr, rdx: f });
    expect(rd(TdField.ATTRIBUTES).regs[Gpr.R8]).toBe(TdAttributes.SEPT_VE_DISABLE);
    expect(rd(TdField.NUM_VCPUS).regs[Gpr.R8]).toBe(2n);
    expect(rd(TdField.HKID).regs[Gpr.R8]).toBe(BigInt(td.hkid));
    expect(rd(TdField.NUM_TDCX).regs[Gpr.R8]).toBe(6n);
    expect(rd(TdField.TD_CTLS).status).toBe(TdxStatus.METADATA_FIELD_NOT_READABLE);
    expect(rd(0x1110000300009999n).status).toBe(TdxStatus.METADATA_FIELD_ID_INCORRECT);
  });
});

describe("teardown", () => {
  it("enforces VPFLUSHDONE -> CACHE.WB on every package -> KEY.FREEID -> reclaim, TDR last", () => {
    const td = h.createTd({ vcpus: 1 });
    td.addMeasuredPage(0x1000, new Uint8Array(4096).fill(1));
    td.finalize();
    td.loadGuestCode(function* (ctx) {
      for (;;) yield* tdgVpVmcall(ctx, 12);
    });
    td.enter(0, 3);
    const v = td.pages.vcpus[0]!;
    expect(h.call(0, SeamcallLeaf.PHYMEM_PAGE_RECLAIM, { rcx: td.tdr }).status).toBe(
      TdxStatus.LIFECYCLE_STATE_INCORRECT,
    );
    expect(h.call(0, SeamcallLeaf.MNG_KEY_FREEID, { rcx: td.tdr }).status).toBe(
      TdxStatus.LIFECYCLE_STATE_INCORRECT,
    );
    h.must(3, SeamcallLeaf.VP_FLUSH, { rcx: v.tdvpr });
    h.must(0, SeamcallLeaf.MNG_VPFLUSHDONE, { rcx: td.tdr });
    expect(p.module.kotState(td.hkid)).toBe(KotState.HKID_FLUSHED);
    expect(td.enter(0, 0).status).toBe(TdxStatus.LIFECYCLE_STATE_INCORRECT);
    expect(h.call(0, SeamcallLeaf.PHYMEM_CACHE_WB, { rcx: 1 }).status).toBe(TdxStatus.WBCACHE_RESUME_ERROR);
    expect(h.call(0, SeamcallLeaf.PHYMEM_CACHE_WB, { rcx: 0 }).status).toBe(TdxStatus.INTERRUPTED_RESUMABLE);
    h.must(0, SeamcallLeaf.PHYMEM_CACHE_WB, { rcx: 1 });
    expect(h.call(1, SeamcallLeaf.PHYMEM_CACHE_WB, { rcx: 0 }).status).toBe(
      TdxStatus.NO_HKID_READY_TO_WBCACHE,
    );
    expect(h.call(0, SeamcallLeaf.MNG_KEY_FREEID, { rcx: td.tdr }).status).toBe(
      TdxStatus.WBCACHE_NOT_COMPLETE,
    );
    expect(h.call(2, SeamcallLeaf.PHYMEM_CACHE_WB, { rcx: 0 }).status).toBe(TdxStatus.INTERRUPTED_RESUMABLE);
    h.must(2, SeamcallLeaf.PHYMEM_CACHE_WB, { rcx: 1 });
    h.must(0, SeamcallLeaf.MNG_KEY_FREEID, { rcx: td.tdr });
    expect(p.module.kotState(td.hkid)).toBe(KotState.HKID_FREE);
    expect(p.module.td(td.tdr)!.lifecycle).toBe(TdLifecycle.TD_TEARDOWN);
    expect(h.call(0, SeamcallLeaf.PHYMEM_PAGE_RECLAIM, { rcx: td.tdr }).status).toBe(
      TdxStatus.TD_ASSOCIATED_PAGES_EXIST,
    );
    const r = h.must(0, SeamcallLeaf.PHYMEM_PAGE_RECLAIM, { rcx: v.tdvpr });
    expect(r.regs[Gpr.RCX]).toBe(BigInt(PageType.PT_TDVPR));
    expect(r.regs[Gpr.RDX]).toBe(BigInt(td.tdr));
    expect(h.call(0, SeamcallLeaf.PHYMEM_PAGE_RECLAIM, { rcx: v.tdvpr }).status).toBe(
      withOperand(TdxStatus.PAGE_METADATA_INCORRECT, OperandId.RCX),
    );
  });

  it("leaves the PAMT as after bring-up and the HKID reusable", () => {
    const before = p.module.pamtCensus();
    const td = h.createTd({ vcpus: 2 });
    for (let i = 0; i < 4; i++) td.addMeasuredPage(i * 4096, new Uint8Array(4096).fill(i));
    td.augPage(0x200000, 1);
    td.finalize();
    td.loadGuestCode(function* (ctx) {
      for (;;) yield* tdgVpVmcall(ctx, 12);
    });
    td.enter(0, 0);
    td.enter(1, 2);
    expect(p.module.td(td.tdr)!.vcpuStates).toEqual([VcpuState.READY, VcpuState.READY]);
    expect(p.module.pamtCensus().get(PageType.PT_REG)).toBe(4 + 512);
    td.teardown();
    expect(p.module.td(td.tdr)).toBeUndefined();
    expect(p.module.pamtCensus()).toEqual(before);
    expect(p.module.kotState(td.hkid)).toBe(KotState.HKID_FREE);
    h.createTd({ hkid: td.hkid });
  });
});
