/**
 * Configuration structures: the ILLEGAL-STE and ILLEGAL-CD rules (table-driven), the TG0/TG1 and
 * S2TG encoding traps, linear and two-level stream tables (C_BAD_STREAMID, F_STE_FETCH), and the
 * SubstreamID rules of S1CDMax x S1DSS with linear and two-level CD tables.
 */
import { Perm, PhysicalMemory } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { Acc } from "./access";
import { BumpAllocator, hostTableMemory } from "./alloc";
import { CdConfig, decodeCd, encodeCd, encodeL1Cd } from "./cd";
import { SmmuDriver } from "./driver";
import { EventId } from "./events";
import { decodeFeatures, encodeIdRegisters, StallModel, TtEndian } from "./idr";
import { Reg } from "./regs";
import { Outcome, SmmuV3 } from "./smmu";
import { decodeSte, encodeSte, S1Dss, S1Fmt, SteConfig, SteConfigKind, type SteFields } from "./ste";
import { makeRig, makeStage1, makeStage2, s1CdFields, s2SteFields } from "./testing/rig";

const F = decodeFeatures(encodeIdRegisters());
const S2 = {
  v: true,
  config: SteConfigKind.S2_TRANS,
  s2T0sz: 24,
  s2Sl0: 1,
  s2Tg: 0,
  s2Ps: 5,
  s2Aa64: true,
  s2Ttb: 0x10_0000,
} as const;

function steIllegal(fields: SteFields, features = F): string {
  const s = new SteConfig();
  decodeSte(encodeSte(fields), features, s, "bad-ste");
  return s.illegal;
}

describe("STE validity (C_BAD_STE)", () => {
  it("accepts a well-formed stage-2 STE and derives its walk geometry", () => {
    const s = new SteConfig();
    decodeSte(encodeSte(S2), F, s, "bad-ste");
    expect(s).toMatchObject({
      illegal: "",
      s2Enabled: true,
      s2G: 12,
      s2Ias: 40,
      s2StartLevel: 1,
      s2Concat: 2,
      s2PsBits: 48,
    });
  });

  it.each<[string, SteFields, Partial<Parameters<typeof encodeIdRegisters>[0]>?]>([
    ["V = 0", { ...S2, v: false }],
    ["a reserved Config (0b010)", { v: true, config: 0b010 }],
    ["stage 1 without S1P", { v: true, config: SteConfigKind.S1_TRANS }, { s1p: false }],
    ["stage 2 without S2P", S2, { s2p: false }],
    ["S2AA64 = 0", { ...S2, s2Aa64: false }],
    ["S2TG reserved (3)", { ...S2, s2Tg: 3 }],
    ["a granule IDR5 lacks", { ...S2, s2Tg: 2 }, { gran16k: false }],
    ["S2ENDI on a little-endian-only unit", { ...S2, s2Endi: true }],
    ["S2S on a unit that cannot stall", { ...S2, s2S: true }, { stallModel: StallModel.TERMINATE_ONLY }],
    ["S2HA without HTTU", { ...S2, s2Ha: true }],
    ["S2T0SZ above 39", { ...S2, s2T0sz: 40 }],
    ["S2T0SZ below 64 - IAS", { ...S2, s2T0sz: 15 }],
    ["S2SL0 = 3 without TTST", { ...S2, s2Sl0: 3 }],
    ["SL0/T0SZ needing more than 16 tables", { ...S2, s2T0sz: 16, s2Sl0: 1 }],
    ["S2TTB beyond S2PS", { ...S2, s2Ps: 0, s2Ttb: 2 ** 33 }],
    ["S1CDMax beyond SSIDSIZE", { v: true, config: SteConfigKind.S1_TRANS, s1CdMax: 6 }, { ssidBits: 5 }],
    [
      "a two-level CD table without CD2L",
      { v: true, config: SteConfigKind.S1_TRANS, s1CdMax: 4, s1Fmt: 1 },
      { cd2l: false },
    ],
    ["S1Fmt 0b11", { v: true, config: SteConfigKind.S1_TRANS, s1CdMax: 4, s1Fmt: 3 }],
  ])("rejects %s", (_, fields, features) => {
    expect(steIllegal(fields, features ? decodeFeatures(encodeIdRegisters(features)) : F)).not.toBe("");
  });

  it("treats reserved Config as a silent abort under the QEMU policy", () => {
    const s = new SteConfig();
    decodeSte(encodeSte({ v: true, config: 0b011 }), F, s, "abort");
    expect([s.illegal, s.abort]).toEqual(["", true]);
  });

  it("decodes S2TG with the TG0 encoding: 1 = 64 KiB, 2 = 16 KiB", () => {
    const s = new SteConfig();
    decodeSte(encodeSte({ ...S2, s2Tg: 1, s2T0sz: 22, s2Sl0: 1 }), F, s, "bad-ste");
    expect(s.s2G).toBe(16);
    decodeSte(encodeSte({ ...S2, s2Tg: 2, s2T0sz: 24, s2Sl0: 1 }), F, s, "bad-ste");
    expect(s.s2G).toBe(14);
  });
});

describe("CD validity (C_BAD_CD) and the TG1 trap", () => {
  const ok = s1CdFields(0x10_0000, 1);
  function cdIllegal(extra: Parameters<typeof encodeCd>[0], features = F): string {
    const c = new CdConfig();
    decodeCd(encodeCd({ ...ok, ...extra }), features, c);
    return c.illegal;
  }

  it("decodes TG0 and TG1 with their different encodings", () => {
    const c = new CdConfig();
    decodeCd(encodeCd({ ...ok, tg0: 2, epd1: false, t1sz: 25, tg1: 1 }), F, c);
    expect([c.tt0.g, c.tt1.g, c.illegal]).toEqual([14, 14, ""]);
    decodeCd(encodeCd({ ...ok, tg0: 1, epd1: false, t1sz: 25, tg1: 3 }), F, c);
    expect([c.tt0.g, c.tt1.g]).toEqual([16, 16]);
    decodeCd(encodeCd({ ...ok, epd1: false, t1sz: 25, tg1: 2 }), F, c);
    expect(c.tt1.g).toBe(12);
  });

  it.each<[string, Parameters<typeof encodeCd>[0], Parameters<typeof encodeIdRegisters>[0]?]>([
    ["V = 0", { v: false }],
    ["AA64 = 0", { aa64: false }],
    ["A = 0 under TERM_MODEL", { a: false }, { termModel: true }],
    ["S = 1 on a unit that cannot stall", { s: true }, { stallModel: StallModel.TERMINATE_ONLY }],
    ["HA without HTTU", { ha: true }],
    ["HD with HTTU = access flag only", { hd: true, ha: true }, { httu: 1 }],
    ["ENDI on a little-endian-only unit", { endi: true }],
    ["ENDI = 0 on a big-endian-only unit", {}, { ttEndian: TtEndian.BE }],
    ["T0SZ below 16", { t0sz: 15 }],
    ["T0SZ above 39", { t0sz: 40 }],
    ["TG1 reserved (0) with TTB1 enabled", { epd1: false, t1sz: 25, tg1: 0 }],
    ["a TG0 granule IDR5 lacks", { tg0: 1 }, { gran64k: false }],
    ["TTB0 beyond IPS", { ips: 0, ttb0: 2 ** 32 }],
  ])("rejects %s", (_, extra, features) => {
    expect(cdIllegal(extra, features ? decodeFeatures(encodeIdRegisters(features)) : F)).not.toBe("");
  });

  it("ignores the fields of a disabled half", () => {
    expect(cdIllegal({ epd1: true, t1sz: 0, tg1: 0 })).toBe("");
  });
});

describe("stream tables", () => {
  it("gives C_BAD_STREAMID beyond a linear table and agrees with a two-level table on valid SIDs", () => {
    for (const format of ["linear", "2lvl"] as const) {
      const rig = makeRig({ driver: { streamTable: { format, log2Size: 10, split: 6 } } });
      rig.driver.installSte(700, encodeSte({ v: true, config: SteConfigKind.BYPASS }));
      expect(rig.smmu.translateAccess(700, -1, 0x1234, Acc.READ)).toBe(Outcome.OK);
      expect(rig.smmu.translateAccess(1024, -1, 0x1234, Acc.READ)).toBe(Outcome.ABORT);
      expect(rig.driver.readEvents()).toMatchObject([{ name: "C_BAD_STREAMID", sid: 1024 }]);
    }
  });

  it("treats L1STD.Span = 0 as C_BAD_STREAMID, and SIDs beyond the span per the configured event", () => {
    const rig = makeRig({ driver: { streamTable: { format: "2lvl", log2Size: 12, split: 8 } } });
    expect(rig.smmu.translateAccess(0x300, -1, 0, Acc.READ)).toBe(Outcome.ABORT); // no L2 table yet
    expect(rig.driver.readEvents()).toMatchObject([{ name: "C_BAD_STREAMID" }]);
    rig.driver.installSte(0x300, encodeSte({ v: true, config: SteConfigKind.BYPASS }));
    // shrink the span to 2^(2-1) = 2 STEs: SID 0x3ff is now beyond it
    const w = new Uint32Array(2);
    rig.host.read64(rig.driver.strtabBase + 3 * 8, w);
    rig.host.write64(rig.driver.strtabBase + 3 * 8, ((w[0]! & ~0x1f) | 2) >>> 0, w[1]!);
    rig.driver.mustSubmit([{ op: "CFGI_ALL" }]);
    expect(rig.smmu.translateAccess(0x300, -1, 0, Acc.READ)).toBe(Outcome.OK);
    expect(rig.smmu.translateAccess(0x3ff, -1, 0, Acc.READ)).toBe(Outcome.ABORT);
    expect(rig.driver.readEvents()).toMatchObject([{ name: "C_BAD_STREAMID" }]);
  });

  it("reports F_STE_FETCH with the fetch address when the STE lies in a hole", () => {
    const mem = new PhysicalMemory({ physAddrBits: 48, ram: [{ base: 0x1000_0000, size: 0x1000_0000 }] });
    const smmu = new SmmuV3(mem);
    const drv = new SmmuDriver(smmu, hostTableMemory(mem, new BumpAllocator(0x1000_0000, 0x2000_0000)));
    drv.reset();
    smmu.write64(Reg.STRTAB_BASE, 0, 0x100); // 2^40: a hole
    expect(smmu.translateAccess(3, -1, 0, Acc.READ)).toBe(Outcome.ABORT);
    expect(drv.readEvents()).toMatchObject([{ name: "F_STE_FETCH", addr2: 2 ** 40 + 3 * 64 }]);
  });
});

describe("SubstreamIDs (S1CDMax x S1DSS)", () => {
  function pasidRig(s1Dss: number, s1Fmt: number = S1Fmt.LINEAR) {
    const rig = makeRig();
    const cdMax = 8;
    const pages: number[] = [];
    let ctxPtr: number;
    const ctxs = [0, 1, 200].map((ssid) => {
      const c = makeStage1(rig.host, 100 + ssid);
      const pa = rig.host.alloc(4096, 4096);
      c.pt.map(0x5000, pa, 12);
      pages.push(pa);
      return { ssid, c };
    });
    if (s1Fmt === S1Fmt.LINEAR) {
      ctxPtr = rig.host.alloc(64 * 2 ** cdMax, 64 * 2 ** cdMax);
      for (const { ssid, c } of ctxs) rig.host.write(ctxPtr + ssid * 64, new Uint8Array(c.cd.buffer));
    } else {
      const split = s1Fmt === S1Fmt.L2_4K ? 6 : 10;
      ctxPtr = rig.host.alloc(64, 64);
      const leaf = rig.host.alloc(64 * 2 ** split, 4096);
      const [lo, hi] = encodeL1Cd(leaf);
      rig.host.write64(ctxPtr, lo, hi); // L1CD 0 only: SSIDs beyond the first leaf have V = 0
      for (const { ssid, c } of ctxs)
        if (ssid < 2 ** split) rig.host.write(leaf + ssid * 64, new Uint8Array(c.cd.buffer));
    }
    rig.driver.installSte(
      1,
      encodeSte({
        v: true,
        config: SteConfigKind.S1_TRANS,
        s1ContextPtr: ctxPtr,
        s1CdMax: cdMax,
        s1Dss,
        s1Fmt,
      }),
    );
    const go = (ssid: number) => {
      const o = rig.smmu.translateAccess(1, ssid, 0x5000, Acc.READ);
      return o === Outcome.OK ? rig.smmu.engine.outAddr : rig.driver.readEvents()[0]?.name;
    };
    return { go, pages };
  }

  it("S1DSS = terminate: traffic without a SubstreamID gets F_STREAM_DISABLED; SSIDs pick their CD", () => {
    const { go, pages } = pasidRig(S1Dss.TERMINATE);
    expect(go(-1)).toBe("F_STREAM_DISABLED");
    expect(go(0)).toBe(pages[0]);
    expect(go(200)).toBe(pages[2]);
    expect(go(256)).toBe("C_BAD_SUBSTREAMID");
  });

  it("S1DSS = bypass: traffic without a SubstreamID bypasses stage 1", () => {
    expect(pasidRig(S1Dss.BYPASS).go(-1)).toBe(0x5000);
  });

  it("S1DSS = CD 0: traffic without a SubstreamID uses CD 0 and SubstreamID 0 is illegal", () => {
    const { go, pages } = pasidRig(S1Dss.SSID0);
    expect(go(-1)).toBe(pages[0]);
    expect(go(0)).toBe("C_BAD_SUBSTREAMID");
    expect(go(1)).toBe(pages[1]);
  });

  it("walks two-level CD tables (4 KiB and 64 KiB leaves); an invalid L1CD is C_BAD_SUBSTREAMID", () => {
    const a = pasidRig(S1Dss.TERMINATE, S1Fmt.L2_4K);
    expect(a.go(1)).toBe(a.pages[1]);
    expect(a.go(200)).toBe("C_BAD_SUBSTREAMID"); // L1 index 3: V = 0
    const b = pasidRig(S1Dss.TERMINATE, S1Fmt.L2_64K);
    expect(b.go(200)).toBe(b.pages[2]);
  });

  it("rejects a SubstreamID when S1CDMax = 0", () => {
    const rig = makeRig();
    const c = makeStage1(rig.host, 1);
    const cdAddr = rig.host.alloc(64, 64);
    rig.host.write(cdAddr, new Uint8Array(c.cd.buffer));
    rig.driver.installSte(1, encodeSte({ v: true, config: SteConfigKind.S1_TRANS, s1ContextPtr: cdAddr }));
    expect(rig.smmu.translate({ sid: 1, pasid: 3 }, 0, Perm.Read)).toMatchObject({
      fault: { name: "C_BAD_SUBSTREAMID" },
    });
  });

  it("fetches the CD of a nested stream through stage 2", () => {
    const rig = makeRig();
    const s2 = makeStage2(rig.host, 12, 40);
    const c = makeStage1(rig.host, 1);
    const cdPa = rig.host.alloc(4096, 4096);
    rig.host.write(cdPa, new Uint8Array(c.cd.buffer));
    s2.map(0x8000, cdPa, 12);
    for (const pa of [c.pt.root]) s2.map(pa, pa, 12); // identity for the stage-1 root
    rig.driver.installSte(
      1,
      encodeSte({ ...s2SteFields(s2, 1), config: SteConfigKind.NESTED, s1ContextPtr: 0x8000 }),
    );
    expect(rig.smmu.translateAccess(1, -1, 0, Acc.READ)).toBe(Outcome.ABORT);
    expect(rig.driver.readEvents()[0]).toMatchObject({ id: EventId.F_TRANSLATION, s2: false }); // reached stage 1
  });
});
