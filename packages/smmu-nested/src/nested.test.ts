/**
 * Nested translation: PA = S2(S1(VA)), the memory-reference count of a cold walk
 * ((n+1)(m+1)-1 = 24 for 4+4 levels, plus the STE and the CD fetched through stage 2), the same
 * translation served from the TLB afterwards, and fault attribution to stage and class.
 */
import { Initiator, Perm } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { EventId, FaultClass } from "./events";
import { installNestedStream, makeRig } from "./testing/rig";

const DEV = { sid: 9, pasid: -1 };
const VA = 0x7f12_3456_7000;

function setup() {
  const rig = makeRig();
  const n = installNestedStream(rig, DEV.sid);
  const dataIpa = n.guest.alloc(4096, 4096);
  n.s1.pt.map(VA, dataIpa, 12);
  return { rig, n, dataIpa, dataPa: n.guest.ipaToPa(dataIpa) };
}

describe("nested translation", () => {
  it("lands on S2(S1(VA)) and moves the device's data there", () => {
    const { rig, dataPa } = setup();
    const r = rig.smmu.translate(DEV, VA + 0x10, Perm.Write);
    expect(r).toMatchObject({ ok: true, entry: { iova: VA, translatedAddr: dataPa, addrMask: 0xfff } });
    expect(rig.smmu.dmaWrite(DEV, VA + 0x10, Uint8Array.of(0xde, 0xad))).toEqual({ ok: true });
    const b = new Uint8Array(2);
    rig.mem.read(dataPa + 0x10, b, Initiator.Host);
    expect([...b]).toEqual([0xde, 0xad]);
  });

  it("makes (n+1)(m+1)-1 = 24 walk references for 4+4 levels cold, plus STE and CD (1 + 4 + 1), then hits the TLB", () => {
    const { rig, dataPa } = setup();
    const e = rig.smmu.engine;
    expect(rig.smmu.translateAccess(DEV.sid, -1, VA, 1)).toBe(0);
    expect(e.outAddr).toBe(dataPa);
    expect(e.fromTlb).toBe(false);
    expect(e.lastWalkRefs).toBe(24);
    expect(e.lastConfigRefs).toBe(1 + 4 + 1);
    expect(rig.smmu.translateAccess(DEV.sid, -1, VA + 8, 1)).toBe(0);
    expect(e.fromTlb).toBe(true);
    expect(e.outAddr).toBe(dataPa + 8);
    expect(e.lastWalkRefs).toBe(0);
    expect(e.lastConfigRefs).toBe(0);
  });

  it("walks without any cache on request (cost model): 24 references every time, nothing cached", () => {
    const { rig, dataPa } = setup();
    const e = rig.smmu.engine;
    for (let i = 0; i < 3; i++) {
      expect(rig.smmu.walkUncached(DEV.sid, -1, VA, 1)).toBe(0);
      expect(e.lastWalkRefs).toBe(24);
      expect(e.outAddr).toBe(dataPa);
    }
    expect(e.tlb.occupancy).toBe(1); // only the stage-2 translation of the CD's page, from the config fetch
  });

  it("reuses cached stage-2 translations of table pages for a neighbouring page's walk", () => {
    const { rig, n } = setup();
    const ipa2 = n.guest.alloc(4096, 4096);
    n.s1.pt.map(VA + 0x1000, ipa2, 12);
    expect(rig.smmu.translateAccess(DEV.sid, -1, VA, 1)).toBe(0);
    expect(rig.smmu.translateAccess(DEV.sid, -1, VA + 0x1000, 1)).toBe(0);
    // 4 stage-1 descriptor reads (table IPAs hit the stage-2 cache) + a 4-level walk of the new final IPA
    expect(rig.smmu.engine.lastWalkRefs).toBe(4 + 4);
  });

  it("counts 19 references when stage 2 starts at L1 with 2 concatenated tables (40-bit IPA)", () => {
    const rig = makeRig();
    const n = installNestedStream(rig, DEV.sid, { s2Bits: 40 });
    expect(n.s2.startLevel).toBe(1);
    expect(n.s2.concat).toBe(2);
    const ipa = n.guest.alloc(4096, 4096);
    n.s1.pt.map(VA, ipa, 12);
    expect(rig.smmu.translateAccess(DEV.sid, -1, VA, 1)).toBe(0);
    expect(rig.smmu.engine.lastWalkRefs).toBe(19);
    expect(rig.smmu.engine.outAddr).toBe(n.guest.ipaToPa(ipa));
  });

  describe("fault attribution", () => {
    function fault(rig: ReturnType<typeof makeRig>, addr: number, write = false) {
      const r = rig.smmu.translate(DEV, addr, write ? Perm.Write : Perm.Read);
      expect(r.ok).toBe(false);
      const ev = rig.driver.readEvents();
      expect(ev).toHaveLength(1);
      return ev[0]!;
    }

    it("stage-1 invalid descriptor: F_TRANSLATION, S2 = 0, InputAddr = VA", () => {
      const { rig } = setup();
      const ev = fault(rig, VA + 0x20_0000);
      expect(ev).toMatchObject({
        id: EventId.F_TRANSLATION,
        s2: false,
        inputAddr: VA + 0x20_0000,
        sid: DEV.sid,
        rnw: true,
      });
    });

    it("stage-2 fault on the CD fetch: S2 = 1, CLASS = CD, IPA = the CD's", () => {
      const { rig, n } = setup();
      n.s2.unmap(n.cdIpa - (n.cdIpa % 4096), 12);
      rig.driver.mustSubmit([{ op: "TLBI_S12_VMALL", vmid: n.vmid }, { op: "CFGI_ALL" }]);
      const ev = fault(rig, VA);
      expect(ev).toMatchObject({ id: EventId.F_TRANSLATION, s2: true, cls: FaultClass.CD, inputAddr: VA });
      expect(ev.addr2).toBe(n.cdIpa - (n.cdIpa % 4096));
    });

    it("stage-2 fault on a stage-1 table fetch: S2 = 1, CLASS = TT, IPA = that table's", () => {
      const { rig, n } = setup();
      const leafIpa = n.s1.pt.leafAddress(VA, 12);
      n.s2.unmap(leafIpa - (leafIpa % 4096), 12);
      const ev = fault(rig, VA);
      expect(ev).toMatchObject({ id: EventId.F_TRANSLATION, s2: true, cls: FaultClass.TT, inputAddr: VA });
      expect(ev.addr2).toBe(leafIpa - (leafIpa % 4096));
    });

    it("stage-2 fault on the final IPA: S2 = 1, CLASS = IN, IPA = the output of stage 1", () => {
      const { rig, n, dataIpa } = setup();
      n.s2.unmap(dataIpa, 12);
      const ev = fault(rig, VA + 0x44, true);
      expect(ev).toMatchObject({
        id: EventId.F_TRANSLATION,
        s2: true,
        cls: FaultClass.IN,
        inputAddr: VA + 0x44,
        rnw: false,
      });
      expect(ev.addr2).toBe(dataIpa);
    });

    it("permissions: stage-1 read-only refuses a write at stage 1, stage-2 read-only at stage 2", () => {
      const { rig, n } = setup();
      const a = n.guest.alloc(4096, 4096);
      n.s1.pt.map(VA + 0x1000, a, 12, { write: false });
      expect(fault(rig, VA + 0x1000, true)).toMatchObject({ id: EventId.F_PERMISSION, s2: false });
      const b = n.guest.alloc(4096, 4096);
      n.s1.pt.map(VA + 0x2000, b, 12);
      n.s2.map(b, n.guest.ipaToPa(b), 12, { write: false }); // same page, stage 2 read-only
      expect(fault(rig, VA + 0x2000, true)).toMatchObject({
        id: EventId.F_PERMISSION,
        s2: true,
        cls: FaultClass.IN,
      });
      expect(rig.smmu.translate(DEV, VA + 0x2000, Perm.Read).ok).toBe(true);
    });

    it("the access flag beats permission; address size is checked on the output", () => {
      const { rig, n } = setup();
      const a = n.guest.alloc(4096, 4096);
      n.s1.pt.map(VA + 0x1000, a, 12, { write: false, af: false });
      expect(fault(rig, VA + 0x1000, true)).toMatchObject({ id: EventId.F_ACCESS, s2: false });
      // stage-1 output beyond IPS (CD.IPS = 48 bits) cannot be expressed; stage-2 output beyond S2PS 40 bits:
      const rig2 = makeRig();
      const n2 = installNestedStream(rig2, DEV.sid, { ste: { s2Ps: 2 } });
      const c = n2.guest.alloc(4096, 4096);
      n2.s1.pt.map(VA, c, 12);
      n2.s2.map(c, 2 ** 41, 12);
      expect(fault(rig2, VA)).toMatchObject({ id: EventId.F_ADDR_SIZE, s2: true, cls: FaultClass.IN });
    });

    it("an IPA beyond the stage-2 input size is a stage-2 translation fault", () => {
      const rig = makeRig();
      const n = installNestedStream(rig, DEV.sid, { s2Bits: 40 });
      n.s1.pt.map(VA, 2 ** 41, 12);
      const ev = fault(rig, VA);
      expect(ev).toMatchObject({ id: EventId.F_TRANSLATION, s2: true, cls: FaultClass.IN });
      expect(ev.addr2).toBe(2 ** 41);
    });
  });
});
