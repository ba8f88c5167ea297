/**
 * Host bring-up of the TDX module through the SEAMCALL ABI: the Linux order succeeds, every
 * out-of-order call gets the module's real status, TDMR.INIT advances 4 MiB per call, and the
 * PAMT costs what hardware charges (about 1/256 of TDMR memory) and types every page.
 */
import { describe, expect, it } from "vitest";
import { TdxHostDriver } from "./host-driver";
import { SeamcallLeaf } from "./leaves";
import { SysField } from "./metadata";
import { Gpr } from "./regs";
import { makeSimTdxPlatform } from "./sim-platform";
import { KotState, PageType, SysState } from "./states";
import { withOperand } from "./status";
import { TdxStatus } from "./status-codes";

const GIB = 1024 * 1024 * 1024;

function setup() {
  const p = makeSimTdxPlatform();
  return { p, h: new TdxHostDriver(p) };
}

describe("TDX module bring-up through the ABI", () => {
  it("rejects every leaf but the system ones before SYS_READY, and LP.INIT before SYS.INIT", () => {
    const { h } = setup();
    expect(h.call(0, SeamcallLeaf.SYS_LP_INIT).status).toBe(TdxStatus.SYS_LP_INIT_NOT_PENDING);
    expect(h.call(0, SeamcallLeaf.SYS_CONFIG).status).toBe(TdxStatus.SYS_CONFIG_NOT_PENDING);
    expect(h.call(0, SeamcallLeaf.SYS_KEY_CONFIG).status).toBe(TdxStatus.SYS_KEY_CONFIG_NOT_PENDING);
    expect(h.call(0, SeamcallLeaf.SYS_TDMR_INIT, { rcx: GIB }).status).toBe(TdxStatus.SYS_NOT_READY);
    expect(h.call(0, SeamcallLeaf.MNG_CREATE).status).toBe(TdxStatus.SYS_NOT_READY);
    expect(h.call(0, SeamcallLeaf.SYS_RD, { rdx: SysField.MAX_TDMRS }).status).toBe(
      TdxStatus.SYS_LP_INIT_NOT_DONE,
    );
  });

  it("checks the RAX format: reserved bits and unsupported leaf versions are OPERAND_INVALID|RAX", () => {
    const { h } = setup();
    expect(h.call(0, SeamcallLeaf.SYS_INIT, {}, 1).status).toBe(withOperand(TdxStatus.OPERAND_INVALID, 0));
    expect(h.call(0, 42).status).toBe(withOperand(TdxStatus.OPERAND_INVALID, 0));
    expect(h.call(0, SeamcallLeaf.SYS_INIT, { rcx: 1 }).status).toBe(
      withOperand(TdxStatus.OPERAND_INVALID, 1),
    );
  });

  it("follows the state machine SYSINIT_PENDING -> SYSINIT_DONE -> SYSCONFIG_DONE -> SYS_READY", () => {
    const { p, h } = setup();
    expect(p.module.sysState).toBe(SysState.SYSINIT_PENDING);
    h.must(0, SeamcallLeaf.SYS_INIT);
    expect(p.module.sysState).toBe(SysState.SYSINIT_DONE);
    expect(p.module.privateHkids).toEqual({ first: 32, last: 63 });
    expect(h.call(1, SeamcallLeaf.SYS_INIT).status).toBe(TdxStatus.SYS_INIT_NOT_PENDING);
    h.must(0, SeamcallLeaf.SYS_LP_INIT);
    expect(h.call(0, SeamcallLeaf.SYS_LP_INIT).status).toBe(TdxStatus.SYS_LP_INIT_DONE);
    const arr = h.writeTdmrList();
    // CONFIG needs LP.INIT on every LP
    expect(h.call(0, SeamcallLeaf.SYS_CONFIG, { rcx: arr, rdx: 1, r8: 32 }).status).toBe(
      TdxStatus.SYS_CONFIG_NOT_PENDING,
    );
    for (const lp of [1, 2, 3]) h.must(lp, SeamcallLeaf.SYS_LP_INIT);
    expect(h.call(0, SeamcallLeaf.SYS_CONFIG, { rcx: arr, rdx: 65, r8: 32 }).status).toBe(
      withOperand(TdxStatus.OPERAND_INVALID, 2),
    );
    expect(h.call(0, SeamcallLeaf.SYS_CONFIG, { rcx: arr, rdx: 1, r8: 5 }).status).toBe(
      withOperand(TdxStatus.OPERAND_INVALID, 8),
    );
    h.must(0, SeamcallLeaf.SYS_CONFIG, { rcx: arr, rdx: 1, r8: 32 });
    expect(p.module.sysState).toBe(SysState.SYSCONFIG_DONE);
    expect(p.module.kotState(32)).toBe(KotState.HKID_RESERVED);
    expect(h.call(0, SeamcallLeaf.SYS_CONFIG, { rcx: arr, rdx: 1, r8: 32 }).status).toBe(
      TdxStatus.SYS_CONFIG_NOT_PENDING,
    );
    // KEY.CONFIG once per package; the second call on a package is informational
    h.must(0, SeamcallLeaf.SYS_KEY_CONFIG);
    expect(h.call(1, SeamcallLeaf.SYS_KEY_CONFIG).status).toBe(TdxStatus.KEY_CONFIGURED);
    expect(p.module.sysState).toBe(SysState.SYSCONFIG_DONE);
    expect(h.call(0, SeamcallLeaf.SYS_TDMR_INIT, { rcx: GIB }).status).toBe(TdxStatus.SYS_NOT_READY);
    h.must(2, SeamcallLeaf.SYS_KEY_CONFIG);
    expect(p.module.sysState).toBe(SysState.SYS_READY);
    expect(h.call(3, SeamcallLeaf.SYS_KEY_CONFIG).status).toBe(TdxStatus.SYS_KEY_CONFIG_NOT_PENDING);
  });

  it("initialises a 1 GiB TDMR in 256 bounded calls, RDX rounded down to 1 GiB", () => {
    const { h } = setup();
    h.must(0, SeamcallLeaf.SYS_INIT);
    for (let lp = 0; lp < 4; lp++) h.must(lp, SeamcallLeaf.SYS_LP_INIT);
    h.must(0, SeamcallLeaf.SYS_CONFIG, { rcx: h.writeTdmrList(), rdx: 1, r8: 32 });
    h.must(0, SeamcallLeaf.SYS_KEY_CONFIG);
    h.must(2, SeamcallLeaf.SYS_KEY_CONFIG);
    expect(h.call(0, SeamcallLeaf.SYS_TDMR_INIT, { rcx: 2 * GIB }).status).toBe(
      withOperand(TdxStatus.OPERAND_INVALID, 1),
    );
    expect(h.call(0, SeamcallLeaf.SYS_TDMR_INIT, { rcx: GIB + 4096 }).status).toBe(
      withOperand(TdxStatus.OPERAND_INVALID, 1),
    );
    const rdx: number[] = [];
    for (let i = 0; i < 255; i++)
      rdx.push(Number(h.must(0, SeamcallLeaf.SYS_TDMR_INIT, { rcx: GIB }).regs[Gpr.RDX]));
    expect(new Set(rdx)).toEqual(new Set([GIB]));
    // pages of the block are not usable until its PAMT is complete
    const page = h.allocPage();
    expect(h.call(0, SeamcallLeaf.MNG_CREATE, { rcx: page, rdx: 33 }).status).toBe(
      withOperand(TdxStatus.OPERAND_ADDR_RANGE_ERROR, 1),
    );
    expect(Number(h.must(0, SeamcallLeaf.SYS_TDMR_INIT, { rcx: GIB }).regs[Gpr.RDX])).toBe(2 * GIB);
    expect(h.call(0, SeamcallLeaf.SYS_TDMR_INIT, { rcx: GIB }).status).toBe(
      TdxStatus.TDMR_ALREADY_INITIALIZED,
    );
    h.must(0, SeamcallLeaf.MNG_CREATE, { rcx: page, rdx: 33 });
  });

  it("costs about 1/256 of TDMR memory for the PAMT and types every page (reserved PAMT pages PT_RSVD)", () => {
    const { p, h } = setup();
    expect(h.bringUp()).toBe(256);
    const pamt = p.module.pamtBytes();
    expect(pamt).toBe(4 * 1024 * 1024 + 8192 + 4096);
    expect(pamt / GIB).toBeCloseTo(1 / 256, 4);
    const census = p.module.pamtCensus();
    expect(census.get(PageType.PT_RSVD)).toBe(pamt / 4096);
    expect(census.get(PageType.PT_NDA)).toBe(GIB / 4096 - pamt / 4096);
    // the PAMT lives in memory encrypted with the global KeyID: the host reads zeros there
    const probe = new Uint8Array(64);
    p.memory.read(h.tdmr.pamt4kBase + (pamt / 4096 - 1) * 16, probe, 0);
    expect(probe.every((b) => b === 0)).toBe(true);
    expect(p.memory.pageIntegrity(h.tdmr.pamt4kBase).ownerKeyIds).toEqual([32]);
  });

  it("reports global metadata with TDH.SYS.RD and the CMRs", () => {
    const { p, h } = setup();
    h.bringUp();
    const rd = (f: bigint) => h.must(0, SeamcallLeaf.SYS_RD, { rdx: f }).regs[Gpr.R8];
    expect(rd(SysField.MAX_TDMRS)).toBe(64n);
    expect(rd(SysField.MAX_RESERVED_PER_TDMR)).toBe(16n);
    expect(rd(SysField.PAMT_4K_ENTRY_SIZE)).toBe(16n);
    expect(rd(SysField.NUM_CMRS)).toBe(1n);
    expect(rd(SysField.CMR_BASE0)).toBe(BigInt(p.cmrs[0]!.base));
    expect(rd(SysField.CMR_SIZE0)).toBe(BigInt(p.cmrs[0]!.size));
    expect((rd(SysField.TDX_FEATURES0)! >> 18n) & 1n).toBe(1n);
    const next = h.must(0, SeamcallLeaf.SYS_RD, { rdx: SysField.MINOR_VERSION }).regs[Gpr.RDX];
    expect(next).toBe(SysField.MAJOR_VERSION);
    expect(h.call(0, SeamcallLeaf.SYS_RD, { rdx: 0x0800000100000077n }).status).toBe(
      withOperand(TdxStatus.METADATA_FIELD_ID_INCORRECT, 2),
    );
  });

  it("reports TDSYSINFO_STRUCT and the CMR_INFO array with TDH.SYS.INFO", () => {
    const { p, h } = setup();
    h.must(0, SeamcallLeaf.SYS_INIT);
    const info = h.allocShared(1024, 1024);
    const cmr = h.allocShared(512, 512);
    expect(h.call(0, SeamcallLeaf.SYS_INFO, { rcx: info, rdx: 1024, r8: cmr, r9: 32 }).status).toBe(
      TdxStatus.SYS_LP_INIT_NOT_DONE,
    );
    h.must(0, SeamcallLeaf.SYS_LP_INIT);
    expect(h.call(0, SeamcallLeaf.SYS_INFO, { rcx: info, rdx: 512, r8: cmr, r9: 32 }).status).toBe(
      withOperand(TdxStatus.OPERAND_INVALID, 2),
    );
    expect(h.call(0, SeamcallLeaf.SYS_INFO, { rcx: info, rdx: 1024, r8: cmr + 8, r9: 32 }).status).toBe(
      withOperand(TdxStatus.OPERAND_INVALID, 8),
    );
    const r = h.must(0, SeamcallLeaf.SYS_INFO, { rcx: info, rdx: 1024, r8: cmr, r9: 32 });
    expect([r.regs[Gpr.RDX], r.regs[Gpr.R9]]).toEqual([1024n, 32n]);
    const b = new Uint8Array(1024);
    p.memory.read(info, b, 0);
    const dv = new DataView(b.buffer);
    expect([
      dv.getUint32(4, true),
      dv.getUint16(32, true),
      dv.getUint16(34, true),
      dv.getUint16(36, true),
    ]).toEqual([0x8086, 64, 16, 16]);
    const c = new Uint8Array(32);
    p.memory.read(cmr, c, 0);
    const cv = new DataView(c.buffer);
    expect([
      Number(cv.getBigUint64(0, true)),
      Number(cv.getBigUint64(8, true)),
      cv.getBigUint64(24, true),
    ]).toEqual([p.cmrs[0]!.base, p.cmrs[0]!.size, 0n]);
  });
});
