/**
 * Event recording: the 32-byte record layout, the recording rules (CD.R / STE.S2R for
 * translation faults, C_* always, C_BAD_STREAMID only with CR2.RECINVSID), queue overflow with
 * the OVFLG / OVACKFLG handshake, global bypass while SMMUEN = 0, and the event interrupt MSI.
 */
import { Initiator, Perm } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { decodeEvent, EventId, encodeEvent, FaultClass, FaultInfo } from "./events";
import { Cr0, Cr2, Gbpa, Q_OVERFLOW_FLAG, Reg } from "./regs";
import { installStage1Stream, makeRig, makeStage1 } from "./testing/rig";

describe("event record", () => {
  it("places every field where the architecture puts it", () => {
    const f = new FaultInfo();
    f.reset(0xabcd1234, 0x5a5a5, 0x0000_7fff_1234_5678, false, true, false);
    f.id = EventId.F_PERMISSION;
    f.stall = true;
    f.stag = 0xbeef;
    f.s2 = true;
    f.cls = FaultClass.TT;
    f.addr2 = 0x0000_0123_4567_8abc;
    const w = new Uint32Array(8);
    encodeEvent(f, w);
    expect(w[0]).toBe((0x13 | (1 << 11) | (0x5a5a5 << 12)) >>> 0);
    expect(w[1]).toBe(0xabcd1234);
    expect(w[2]).toBe((0xbeef | 0x80000000) >>> 0); // STAG[15:0], Stall[31]
    expect(w[3]).toBe((1 << 1) | (0 << 3) | (1 << 7) | (1 << 8) | (1 << 12)); // PnU, RnW=0, S2, CLASS=TT, TTRnW
    expect([w[4], w[5]]).toEqual([0x12345678, 0x7fff]);
    expect([w[6], w[7]]).toEqual([0x45678000, 0x123]); // IPA[51:12]
    expect(decodeEvent(w)).toMatchObject({
      id: 0x13,
      name: "F_PERMISSION",
      sid: 0xabcd1234,
      ssid: 0x5a5a5,
      stag: 0xbeef,
      stall: true,
      pnu: true,
      rnw: false,
      s2: true,
      cls: FaultClass.TT,
      inputAddr: 0x7fff_1234_5678,
    });
  });

  it("keeps fetch addresses to [51:3] and config events to their SubstreamID fields", () => {
    const f = new FaultInfo();
    f.reset(1, -1, 0x1000, true, false, false);
    f.id = EventId.F_STE_FETCH;
    f.addr2 = 0x8000_0047;
    const w = new Uint32Array(8);
    encodeEvent(f, w);
    expect([w[0], w[2], w[3], w[4], w[6]]).toEqual([0x03, 0, 0, 0, 0x8000_0040]);
  });
});

describe("recording rules", () => {
  it("suppresses stage-1 translation faults when CD.R = 0 but always records C_BAD_STE", () => {
    const rig = makeRig();
    installStage1Stream(rig, 1, makeStage1(rig.host, 1, 12, 48, { r: false }));
    expect(rig.smmu.translate({ sid: 1, pasid: -1 }, 0x1000, Perm.Read).ok).toBe(false);
    expect(rig.smmu.translate({ sid: 2, pasid: -1 }, 0x1000, Perm.Read).ok).toBe(false);
    expect(rig.driver.readEvents().map((e) => e.name)).toEqual(["C_BAD_STE"]);
  });

  it("records C_BAD_STREAMID only when CR2.RECINVSID is set", () => {
    const rig = makeRig({ driver: { recordInvalidSid: false } });
    const beyond = { sid: 1 << 9, pasid: -1 };
    expect(rig.smmu.translate(beyond, 0, Perm.Read).ok).toBe(false);
    expect(rig.driver.readEvents()).toEqual([]);
    rig.smmu.write32(Reg.CR2, Cr2.RECINVSID);
    expect(rig.smmu.translate(beyond, 0, Perm.Read).ok).toBe(false);
    expect(rig.driver.readEvents()).toMatchObject([{ name: "C_BAD_STREAMID", sid: 1 << 9 }]);
  });

  it("loses events on a full queue, toggles EVENTQ_PROD.OVFLG once, and takes the acknowledgement", () => {
    const rig = makeRig({ driver: { eventqLog2: 1 } }); // two entries
    const bad = (n: number) => {
      for (let i = 0; i < n; i++) rig.smmu.translate({ sid: 100 + i, pasid: -1 }, 0, Perm.Read);
    };
    bad(4);
    const prod = rig.smmu.read32(Reg.EVENTQ_PROD);
    expect((prod & Q_OVERFLOW_FLAG) >>> 0).toBe(Q_OVERFLOW_FLAG);
    expect(rig.smmu.counters.eventsLost).toBe(2);
    const evs = rig.driver.readEvents();
    expect(evs.map((e) => e.sid)).toEqual([100, 101]);
    expect(rig.driver.overflows).toBe(1);
    expect((rig.smmu.read32(Reg.EVENTQ_CONS) & Q_OVERFLOW_FLAG) >>> 0).toBe(Q_OVERFLOW_FLAG); // acknowledged
    bad(3);
    expect(rig.smmu.read32(Reg.EVENTQ_PROD) & Q_OVERFLOW_FLAG).toBe(0); // toggled back by the new overflow
  });

  it("writes the event-queue MSI when the interrupt is enabled and an address is set", () => {
    const rig = makeRig();
    const doorbell = rig.host.alloc(8, 8);
    rig.smmu.write64(Reg.EVENTQ_IRQ_CFG0, doorbell, 0);
    rig.smmu.write32(Reg.EVENTQ_IRQ_CFG1, 0x1234);
    rig.smmu.translate({ sid: 1, pasid: -1 }, 0, Perm.Read);
    const w = new Uint32Array(1);
    rig.mem.read32(doorbell, Initiator.Host, w);
    expect(w[0]).toBe(0x1234);
  });
});

describe("global bypass", () => {
  it("follows GBPA while SMMUEN = 0: bypass by default, abort once GBPA.ABORT is updated in", () => {
    const rig = makeRig();
    rig.smmu.write32(Reg.CR0, Cr0.CMDQEN | Cr0.EVENTQEN);
    expect(rig.smmu.translate({ sid: 1, pasid: -1 }, 0x9000, Perm.Write)).toMatchObject({
      ok: true,
      entry: { translatedAddr: 0x9000 },
    });
    rig.smmu.write32(Reg.GBPA, Gbpa.ABORT); // no UPDATE: ignored
    expect(rig.smmu.translate({ sid: 1, pasid: -1 }, 0x9000, Perm.Write).ok).toBe(true);
    rig.smmu.write32(Reg.GBPA, (Gbpa.ABORT | Gbpa.UPDATE) >>> 0);
    expect(rig.smmu.read32(Reg.GBPA)).toBe(Gbpa.ABORT);
    expect(rig.smmu.translate({ sid: 1, pasid: -1 }, 0x9000, Perm.Write)).toMatchObject({
      ok: false,
      fault: { name: "GBPA_ABORT" },
    });
    expect(rig.driver.readEvents()).toEqual([]);
  });
});
