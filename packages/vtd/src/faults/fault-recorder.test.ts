/**
 * Primary fault logging at the register level: FRCD layout (source-id, page address, reason,
 * type, address type, 20-bit PASID), FRI, overflow, FPD qualification, collapse policies, and the
 * fault-event interrupt with its mask.
 */
import { describe, expect, it } from "vitest";
import { computeLayout, defineRegisters } from "../registers/layout";
import { RegisterFile } from "../registers/register-file";
import { composeCapabilities, decodeCap, decodeEcap } from "../spec/capabilities";
import { EventCtl, Fsts, Reg } from "../spec/registers";
import { EventUnit, type VtdMsi } from "./events";
import { AddressType, type FaultCollapse, type FaultInput, FaultRecorder } from "./fault-recorder";

function setup(collapse: FaultCollapse = "none", records = 3) {
  const { cap, ecap } = composeCapabilities({ faultRecords: records });
  const c = decodeCap(cap);
  const e = decodeEcap(ecap);
  const layout = computeLayout(c, e);
  const regs = new RegisterFile(layout.size);
  defineRegisters(regs, layout, c, e, 0x10);
  const sent: VtdMsi[] = [];
  const events = new EventUnit(regs, (m) => sent.push(m));
  const rec = new FaultRecorder(regs, layout, events, collapse);
  const frcd = (i: number) => [0, 4, 8, 12].map((o) => regs.read32(layout.frcd + 16 * i + o));
  return { regs, rec, frcd, sent, layout };
}

const base: FaultInput = {
  code: 0x06,
  sid: 0x1234,
  pasid: -1,
  iova: 0x1_2345_6789,
  write: false,
  execute: false,
  privileged: false,
  addressType: AddressType.Untranslated,
  fpd: false,
};

describe("fault recording registers", () => {
  it("writes page address, source-id, reason, type, AT and a 20-bit PASID, and sets F, PPF, FRI", () => {
    const { rec, frcd, regs } = setup();
    const f = rec.report({
      ...base,
      code: 0x85,
      pasid: 0xfffff,
      write: true,
      addressType: AddressType.TranslationRequest,
    });
    expect(f).toMatchObject({
      disposition: "recorded",
      frcdIndex: 0,
      name: "SM: No write permission for Write/AtomicOp request",
    });
    const [lo, hi, d2, d3] = frcd(0);
    expect([lo, hi]).toEqual([0x2345_6000, 0x1]);
    expect(d2! & 0xffff).toBe(0x1234);
    expect(d2! >>> 31).toBe(1); // PP
    expect(d3! & 0xff).toBe(0x85);
    expect((d3! >>> 8) & 0xfffff).toBe(0xfffff); // all 20 PASID bits (QEMU keeps only 16)
    expect((d3! >>> 28) & 3).toBe(AddressType.TranslationRequest);
    expect((d3! >>> 30) & 1).toBe(0); // T: write
    expect(d3! >>> 31).toBe(1); // F
    expect(regs.read32(Reg.FSTS)).toBe(Fsts.PPF);
  });

  it("points FRI at the record that set PPF and wraps around the records", () => {
    const { rec, regs, layout } = setup();
    rec.report(base);
    rec.report({ ...base, sid: 2 });
    regs.write32(layout.frcd + 12, 0x8000_0000); // clear F of record 0
    rec.updatePpf();
    expect(regs.read32(Reg.FSTS) & Fsts.PPF).toBe(Fsts.PPF); // record 1 still pending
    regs.write32(layout.frcd + 16 + 12, 0x8000_0000);
    rec.updatePpf();
    expect(regs.read32(Reg.FSTS)).toBe(0);
    const f = rec.report({ ...base, sid: 3 });
    expect(f.frcdIndex).toBe(2);
    expect((regs.read32(Reg.FSTS) >>> 8) & 0xff).toBe(2);
    expect(rec.report({ ...base, sid: 4 }).frcdIndex).toBe(0);
  });

  it("sets PFO when the next record is still pending and drops later faults until software clears it", () => {
    const { rec, regs } = setup("none", 1);
    expect(rec.report(base).disposition).toBe("recorded");
    expect(rec.report({ ...base, sid: 9 }).disposition).toBe("overflow");
    expect(regs.read32(Reg.FSTS) & (Fsts.PFO | Fsts.PPF)).toBe(Fsts.PFO | Fsts.PPF);
    expect(rec.report({ ...base, sid: 10 }).disposition).toBe("overflow");
    expect(rec.counts.overflow).toBe(2);
  });

  it("suppresses qualified faults under FPD but never non-qualified ones", () => {
    const { rec } = setup();
    expect(rec.report({ ...base, code: 0x05, fpd: true }).disposition).toBe("suppressed");
    expect(rec.report({ ...base, code: 0x01, fpd: true }).disposition).toBe("recorded");
    expect(rec.report({ ...base, code: 0x58, fpd: true }).disposition).toBe("recorded");
    expect(rec.report({ ...base, code: 0xf0, fpd: true }).disposition).toBe("recorded");
  });

  it("collapses per policy: same requester (QEMU) or identical faults only", () => {
    const q = setup("same-sid");
    q.rec.report(base);
    expect(q.rec.report({ ...base, iova: 0x9000 }).disposition).toBe("collapsed");
    expect(q.rec.report({ ...base, sid: 0x99 }).disposition).toBe("recorded");
    const i = setup("identical");
    i.rec.report(base);
    expect(i.rec.report({ ...base, iova: base.iova + 8 }).disposition).toBe("collapsed");
    expect(i.rec.report({ ...base, iova: 0x9000 }).disposition).toBe("recorded");
    const n = setup("none");
    n.rec.report(base);
    expect(n.rec.report(base).disposition).toBe("recorded");
  });

  it("does not log model outcomes that are not remapping faults", () => {
    const { rec, regs } = setup();
    expect(rec.report({ ...base, code: 0xf9 }).disposition).toBe("not-logged");
    expect(regs.read32(Reg.FSTS)).toBe(0);
  });
});

describe("fault event", () => {
  it("sends the MSI at once when unmasked, only for the first pending condition", () => {
    const { rec, regs, sent } = setup();
    regs.write32(Reg.FEDATA, 0x4021);
    regs.write32(Reg.FEADDR, 0xfee0_f00c);
    regs.write32(Reg.FECTL, 0);
    rec.report(base);
    rec.report({ ...base, sid: 7 });
    expect(sent).toEqual([{ event: "fault", address: 0xfee0_f00c, data: 0x4021 }]);
    expect(regs.read32(Reg.FECTL)).toBe(0);
  });

  it("holds IP while masked and delivers when software clears IM", () => {
    const { rec, regs, sent } = setup();
    const events = new EventUnit(regs, (m) => sent.push(m));
    rec.report(base);
    expect(regs.read32(Reg.FECTL)).toBe((EventCtl.IM | EventCtl.IP) >>> 0);
    regs.write32(Reg.FECTL, 0);
    events.onFectlWrite();
    expect(sent).toHaveLength(1);
    expect(regs.read32(Reg.FECTL)).toBe(0);
  });
});
