/**
 * vSVA end to end: a guest binds a process page table to a PASID through its vSMMU (its own
 * SMMUv3 driver, CD table in guest RAM); the host composes a nested STE whose stage 2 it owns;
 * the device DMAs by process VA; a missing page stalls, the fault reaches the guest's event queue
 * with the guest's StreamID, the guest fixes its table and resumes; guest TLB invalidations reach
 * the physical SMMU with the host's VMID; and the stage-2 invalidation trap.
 */
import { Initiator } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { encodeCd } from "../cd";
import { CError, ResumeAction } from "../commands";
import { SmmuDriver } from "../driver";
import { EventId } from "../events";
import { PageTable } from "../pgtable";
import { Cr0, Gerror, Reg } from "../regs";
import type { CompletedTransaction } from "../stall";
import { encodeSte, S1Dss, SteConfigKind } from "../ste";
import { makeRig, s1CdFields } from "../testing/rig";
import { VsvaHost } from "./host";
import { VirtualSmmu, virtualIdRegisters } from "./vsmmu";

const PSID = 0x21;
const VSID = 3;
const PASID = 5;
const ASID = 42;
const HOST_VMID = 17;
const VA = 0x7fff_0000_0000;

function boot() {
  const rig = makeRig();
  const host = new VsvaHost(rig.driver, rig.host);
  const parent = host.createNestingParent(HOST_VMID, 0x8000_0000, 0x100_0000);
  const viommu = host.allocViommu(parent);
  expect(host.vdeviceAlloc(viommu, PSID, VSID)).toEqual({ ok: true });
  const vsmmu = new VirtualSmmu(host, viommu, virtualIdRegisters(rig.smmu.idr));
  const guest = parent.guest;
  const gdrv = new SmmuDriver(vsmmu, guest);
  gdrv.reset();
  // the guest process: its page table and PASID table (a linear CD table of 16 CDs) in guest RAM
  const pt = new PageTable(guest, { stage: 1, g: 12, inputBits: 48 });
  const cdTable = guest.alloc(16 * 64, 1024);
  guest.write(
    cdTable + PASID * 64,
    new Uint8Array(encodeCd(s1CdFields(pt.root, ASID, 12, 48, { s: true })).buffer),
  );
  gdrv.installSte(
    VSID,
    encodeSte({
      v: true,
      config: SteConfigKind.S1_TRANS,
      s1ContextPtr: cdTable,
      s1CdMax: 4,
      s1Dss: S1Dss.TERMINATE,
    }),
  );
  const done: CompletedTransaction[] = [];
  rig.smmu.onTransactionComplete((c) => done.push(c));
  const dev = { sid: PSID, pasid: PASID };
  return { rig, host, parent, viommu, vsmmu, guest, gdrv, pt, cdTable, done, dev };
}

describe("vSVA through a vSMMU and host nesting", () => {
  it("composes a physical nested STE: guest stage-1 fields, the host's stage 2 and VMID, MEV", () => {
    const { rig, parent, cdTable } = boot();
    const ste = rig.driver.readSte(PSID);
    expect((ste[0]! >>> 1) & 7).toBe(SteConfigKind.NESTED);
    expect((ste[0]! & 0xffffffc0) >>> 0).toBe(cdTable); // S1ContextPtr: the guest's IPA
    expect(ste[1]! >>> 27).toBe(4); // S1CDMax
    expect((ste[2]! >>> 19) & 1).toBe(1); // MEV
    expect(ste[4]! & 0xffff).toBe(HOST_VMID);
    expect([ste[6], ste[7]]).toEqual([parent.s2.root >>> 0, Math.floor(parent.s2.root / 2 ** 32)]);
  });

  it("lets the device DMA by process VA into guest memory", () => {
    const { rig, guest, pt, dev } = boot();
    const ipa = guest.alloc(4096, 4096);
    pt.map(VA, ipa, 12);
    expect(rig.smmu.dmaWrite(dev, VA + 8, Uint8Array.of(1, 2, 3, 4))).toEqual({ ok: true });
    const b = new Uint8Array(4);
    guest.read(ipa + 8, b);
    expect([...b]).toEqual([1, 2, 3, 4]);
    expect(rig.smmu.dmaWrite({ sid: PSID, pasid: -1 }, VA, Uint8Array.of(1))).toMatchObject({
      ok: false,
      fault: { name: "F_STREAM_DISABLED" },
    });
  });

  it("delivers a stage-1 fault to the guest with its StreamID; the guest fixes its table and resumes the DMA", () => {
    const { rig, vsmmu, guest, gdrv, pt, done, dev } = boot();
    const data = Uint8Array.from({ length: 64 }, (_, i) => 0x80 + i);
    expect(rig.smmu.dmaWrite(dev, VA + 0x40, data)).toMatchObject({ ok: false, stalled: true });
    expect(vsmmu.deliverEvents()).toBe(1);
    const [ev] = gdrv.readEvents();
    expect(ev).toMatchObject({
      id: EventId.F_TRANSLATION,
      sid: VSID,
      ssv: true,
      ssid: PASID,
      stall: true,
      rnw: false,
      s2: false,
    });
    expect(ev!.inputAddr).toBe(VA + 0x40);
    // the guest's fault handler: populate the PTE, then CMD_RESUME(vSID, STAG, retry)
    const ipa = guest.alloc(4096, 4096);
    pt.map(VA, ipa, 12);
    expect(gdrv.submit([{ op: "RESUME", sid: VSID, stag: ev!.stag, action: ResumeAction.RETRY }])).toEqual({
      ok: true,
    });
    expect(done).toMatchObject([{ kind: "write", how: "retry", result: { ok: true } }]);
    const back = new Uint8Array(64);
    guest.read(ipa + 0x40, back);
    expect([...back]).toEqual([...data]);
  });

  it("fails the DMA when the guest resumes with abort", () => {
    const { rig, vsmmu, gdrv, done, dev } = boot();
    expect(rig.smmu.dmaRead(dev, VA, new Uint8Array(8))).toMatchObject({ stalled: true });
    vsmmu.deliverEvents();
    const [ev] = gdrv.readEvents();
    gdrv.mustSubmit([{ op: "RESUME", sid: VSID, stag: ev!.stag, action: ResumeAction.ABORT }]);
    expect(done).toMatchObject([{ how: "abort", result: { ok: false } }]);
    expect(rig.smmu.stalled()).toHaveLength(0);
  });

  it("forwards guest TLB invalidations with the host's VMID (and NSNH_ALL as NH_ALL of it)", () => {
    const { rig, host, guest, gdrv, pt, dev } = boot();
    const a = guest.alloc(4096, 4096);
    const b = guest.alloc(4096, 4096);
    guest.write(a, Uint8Array.of(0xaa));
    guest.write(b, Uint8Array.of(0xbb));
    pt.map(VA, a, 12);
    const one = new Uint8Array(1);
    rig.smmu.dmaRead(dev, VA, one);
    expect(one[0]).toBe(0xaa);
    // the guest repoints the page; without an invalidation the device still sees the old one
    pt.map(VA, b, 12);
    rig.smmu.dmaRead(dev, VA, one);
    expect(one[0]).toBe(0xaa);
    gdrv.mustSubmit([{ op: "TLBI_NH_VA", vmid: 0, asid: ASID, addr: VA, leaf: true }]);
    rig.smmu.dmaRead(dev, VA, one);
    expect(one[0]).toBe(0xbb);
    expect(host.forwardLog).toContainEqual(
      expect.objectContaining({ op: "TLBI_NH_VA", vmid: HOST_VMID, asid: ASID, addr: VA }),
    );
    gdrv.mustSubmit([{ op: "TLBI_NSNH_ALL" }, { op: "CFGI_CD", sid: VSID, ssid: PASID }]);
    expect(host.forwardLog.slice(-2)).toEqual([
      { op: "TLBI_NH_ALL", vmid: HOST_VMID },
      { op: "CFGI_CD", sid: PSID, ssid: PASID, leaf: false },
    ]);
  });

  it("refuses guest stage-2 invalidations: the vSMMU has no stage 2, so the guest's queue stops with ILL", () => {
    const { gdrv, host } = boot();
    const n = host.forwardLog.length;
    expect(gdrv.submit([{ op: "TLBI_S2_IPA", vmid: 0, addr: 0x8000_0000 }])).toMatchObject({
      ok: false,
      cerror: CError.ILL,
    });
    expect(gdrv.handleGerror()).toMatchObject({ cerror: CError.ILL });
    expect(host.forwardLog.length).toBe(n);
  });

  it("stops the guest's queue with CERROR_ABT when its command queue lies outside guest RAM", () => {
    const { vsmmu, host } = boot();
    const n = host.forwardLog.length;
    vsmmu.write32(Reg.CR0, vsmmu.read32(Reg.CR0) & ~Cr0.CMDQEN);
    vsmmu.write32(Reg.CMDQ_BASE, 4); // 16 entries at IPA 0, below the guest's RAM window
    vsmmu.write32(Reg.CMDQ_BASE + 4, 0);
    vsmmu.write32(Reg.CMDQ_PROD, 0);
    vsmmu.write32(Reg.CMDQ_CONS, 0);
    vsmmu.write32(Reg.CR0, vsmmu.read32(Reg.CR0) | Cr0.CMDQEN);
    vsmmu.write32(Reg.CMDQ_PROD, 1);
    const cons = vsmmu.read32(Reg.CMDQ_CONS);
    expect(cons & 0x1f).toBe(0);
    expect((cons >>> 24) & 0x7f).toBe(CError.ABT);
    expect((vsmmu.read32(Reg.GERROR) ^ vsmmu.read32(Reg.GERRORN)) & Gerror.CMDQ_ERR).toBe(Gerror.CMDQ_ERR);
    expect(host.forwardLog.length).toBe(n);
  });

  it("keeps stage-2 faults with the host and forwards non-stalled stage-1 faults to the vEVENTQ", () => {
    const { rig, vsmmu, guest, gdrv, pt, host, parent, cdTable } = boot();
    // a second PASID without stall: its faults are informational (vEVENTQ)
    const pt2 = new PageTable(guest, { stage: 1, g: 12, inputBits: 48 });
    guest.write(cdTable + 6 * 64, new Uint8Array(encodeCd(s1CdFields(pt2.root, 43)).buffer));
    gdrv.mustSubmit([{ op: "CFGI_CD", sid: VSID, ssid: 6 }]);
    expect(rig.smmu.dmaRead({ sid: PSID, pasid: 6 }, VA, new Uint8Array(4)).ok).toBe(false);
    // an IPA outside guest RAM: stage-2 fault on the final IPA
    pt.map(VA + 0x1000, 0x4000_0000, 12);
    expect(rig.smmu.dmaRead({ sid: PSID, pasid: PASID }, VA + 0x1000, new Uint8Array(4)).ok).toBe(false);
    expect(vsmmu.deliverEvents()).toBe(1);
    expect(gdrv.readEvents()).toMatchObject([
      { id: EventId.F_TRANSLATION, sid: VSID, ssid: 6, stall: false },
    ]);
    expect(host.hostLog).toMatchObject([{ id: EventId.F_TRANSLATION, sid: PSID, s2: true }]);
    expect(parent.vmid).toBe(HOST_VMID);
  });

  it("shows the stage-2 invalidation trap: TLBI_S2_IPA alone leaves the device on the old page", () => {
    const { rig, host, parent, guest, pt, dev } = boot();
    const ipa = guest.alloc(4096, 4096);
    pt.map(VA, ipa, 12);
    const one = Uint8Array.of(0x11);
    rig.smmu.dmaWrite(dev, VA, one);
    const oldPa = guest.ipaToPa(ipa);
    const moved = rig.host.alloc(4096, 4096);
    host.remapStage2(parent, ipa, moved, false);
    rig.smmu.dmaWrite(dev, VA, Uint8Array.of(0x22));
    const at = (pa: number) => {
      const b = new Uint8Array(1);
      rig.mem.read(pa, b, Initiator.Host);
      return b[0];
    };
    expect([at(oldPa), at(moved)]).toEqual([0x22, 0]); // the write went to the page the host gave up
    host.remapStage2(parent, ipa, moved, true);
    rig.smmu.dmaWrite(dev, VA, Uint8Array.of(0x33));
    expect(at(moved)).toBe(0x33);
  });

  it("turns an unacceptable vSTE into a zero physical STE, so the guest sees C_BAD_STE", () => {
    const { rig, vsmmu, gdrv, dev, viommu, host } = boot();
    expect(host.attachNested(viommu, VSID, [1 | (SteConfigKind.S2_TRANS << 1), 0, 0, 0])).toMatchObject({
      ok: false,
      errno: "EIO",
    });
    gdrv.installSte(VSID, encodeSte({ v: true, config: SteConfigKind.NESTED }));
    expect(vsmmu.refused).toHaveLength(1);
    expect(rig.smmu.dmaRead(dev, VA, new Uint8Array(1)).ok).toBe(false);
    vsmmu.deliverEvents();
    expect(gdrv.readEvents()).toMatchObject([{ name: "C_BAD_STE", sid: VSID }]);
  });
});
