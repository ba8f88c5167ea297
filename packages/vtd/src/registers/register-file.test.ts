/** Register bit semantics (writable, write-1-to-clear, write-only, read-only) and window layout checks. */
import { describe, expect, it } from "vitest";
import { composeCapabilities, decodeCap, decodeEcap } from "../spec/capabilities";
import { computeLayout } from "./layout";
import { RegisterFile } from "./register-file";

describe("RegisterFile", () => {
  it("merges software writes through the writable mask and clears write-1-to-clear bits", () => {
    const r = new RegisterFile(0x1000);
    r.define32(0x34, 0, 0x0000_00e0, 0x0000_0011);
    r.setRaw32(0x34, 0x0000_0013); // hardware set bits 0, 1, 4
    r.write32(0x34, 0x0000_00a1); // 1 to bit 0 clears it (W1C), 0 to bit 4 keeps it (W1C), bits 5/7 writable, bit 1 read-only
    expect(r.read32(0x34)).toBe(0x0000_00b2);
  });

  it("reads write-only bits as zero while keeping them for the hardware", () => {
    const r = new RegisterFile(0x1000);
    r.define32(0x18, 0, 0xff80_0000, 0, 0xffff_ffff);
    r.write32(0x18, 0x8000_0000);
    expect(r.read32(0x18)).toBe(0);
    expect(r.raw32(0x18)).toBe(0x8000_0000);
  });
});

describe("register window layout", () => {
  const layout = (p: Parameters<typeof composeCapabilities>[0]) => {
    const { cap, ecap } = composeCapabilities(p);
    return computeLayout(decodeCap(cap), decodeEcap(ecap));
  };

  it("places the IOTLB registers at ECAP.IRO*16 and the records at CAP.FRO*16 in a 4 KiB-multiple window", () => {
    expect(layout({})).toEqual({ iva: 0xf0, iotlb: 0xf8, frcd: 0x220, nfr: 1, size: 0x1000 });
    expect(layout({ frcdOffset: 0x1000, faultRecords: 8 }).size).toBe(0x2000);
  });

  it("rejects capability values that put registers inside the fixed block or on top of each other", () => {
    expect(() => layout({ iotlbOffset: 0x80 })).toThrow(/inside the fixed registers/);
    expect(() => layout({ frcdOffset: 0x200, iotlbOffset: 0x210, faultRecords: 2 })).toThrow(/overlap/);
  });
});
