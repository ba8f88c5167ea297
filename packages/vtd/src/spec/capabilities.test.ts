/** CAP/ECAP composition and decoding against QEMU's published values. */
import { describe, expect, it } from "vitest";
import { composeCapabilities, decodeCap, decodeEcap } from "./capabilities";

describe("CAP/ECAP", () => {
  it("composes QEMU's default intel-iommu (aw-bits 48, no IR) exactly", () => {
    // QEMU vtd_cap_init: FRO 0x22, NFR 0, ND 6, MAMV 18, PSI, SLLPS 2M+1G, MGAW 47, SAGAW 39|48,
    // DRD/DWD; ECAP: QI, IRO 0xF, PT.
    const { cap, ecap } = composeCapabilities();
    expect(cap).toBe(0xd2008c222f0606n);
    expect(ecap).toBe(0xf42n);
  });

  it("decodes every field the model acts on", () => {
    const c = decodeCap(0xd2008c222f0606n);
    expect([c.didBits, c.sagaw, c.mgaw, c.fro, c.nfr, c.sllps, c.psi, c.mamv, c.drd, c.dwd, c.cm]).toEqual([
      16,
      6,
      48,
      0x22,
      1,
      3,
      true,
      18,
      true,
      true,
      false,
    ]);
    const e = decodeEcap(composeCapabilities({ scalable: { nested: true, pasidBits: 20 } }).ecap);
    expect([e.smts, e.fsts, e.ssts, e.nest, e.pasid, e.pss, e.rps, e.iro, e.qi]).toEqual([
      true,
      true,
      true,
      true,
      true,
      19,
      true,
      0xf,
      true,
    ]);
  });

  it("rejects profiles the registers cannot encode", () => {
    expect(() => composeCapabilities({ domainIdBits: 5 })).toThrow(/domainIdBits 5/);
    expect(() => composeCapabilities({ frcdOffset: 0x10000 })).toThrow(/frcdOffset/);
    expect(() => composeCapabilities({ scalable: { pasidBits: 21 } })).toThrow(/pasidBits/);
  });
});
