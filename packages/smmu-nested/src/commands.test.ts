/**
 * The command queue as software drives it: configuration changes invisible until CFGI, TLB
 * invalidation scopes (VA/ASID/VMID, global entries, range encoding, the stage-2 trap under
 * nesting), CMD_SYNC's MSI completion, and errors that stop the queue (ILL, ABT) recovered as
 * Linux recovers them.
 */
import { Initiator, Perm, PhysicalMemory } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { BumpAllocator, hostTableMemory } from "./alloc";
import { encodeCd } from "./cd";
import { CError, decodeCommand, encodeCommand, Opcode } from "./commands";
import { SmmuDriver } from "./driver";
import { Gerror, Reg } from "./regs";
import { SmmuV3 } from "./smmu";
import { encodeSte, SteConfigKind } from "./ste";
import { installNestedStream, installStage1Stream, makeRig, makeStage1, s1CdFields } from "./testing/rig";

const VA = 0x1234_5000;

describe("command encoding", () => {
  it("round-trips every named command through its 16-byte form", () => {
    const cmds = [
      { op: "CFGI_STE", sid: 0x1234, leaf: true },
      { op: "CFGI_STE_RANGE", sid: 0x40, range: 5 },
      { op: "CFGI_ALL" },
      { op: "CFGI_CD", sid: 9, ssid: 0x7ff, leaf: false },
      {
        op: "TLBI_NH_VA",
        vmid: 3,
        asid: 0x1234,
        addr: 0xfff_ffff_f000,
        leaf: true,
        tg: 1,
        num: 3,
        scale: 2,
        ttl: 3,
      },
      { op: "TLBI_S2_IPA", vmid: 0xffff, addr: 0x8000_0000, leaf: false, tg: 0, num: 0, scale: 0, ttl: 0 },
      { op: "ATC_INV", sid: 5, ssid: 3, global: false, addr: 0x1000, size: 52 },
      { op: "PRI_RESP", sid: 5, ssid: 1, grpid: 0x1ff, resp: 2 },
      { op: "RESUME", sid: 7, stag: 0xbeef, action: 2 },
      { op: "SYNC", cs: 1, msh: 3, msiAttr: 0xf, msiData: 0xdeadbeef, msiAddr: 0x1234_5678 },
    ] as const;
    for (const c of cmds) expect(decodeCommand(encodeCommand(c))).toEqual(c);
    // CMD_CFGI_ALL is CFGI_STE_RANGE with Range 31
    expect([...encodeCommand({ op: "CFGI_ALL" })]).toEqual([Opcode.CFGI_STE_RANGE, 0, 31, 0]);
  });
});

describe("configuration cache", () => {
  it("keeps using the cached STE and CD until CFGI_STE / CFGI_CD", () => {
    const rig = makeRig();
    const a = makeStage1(rig.host, 1);
    const b = makeStage1(rig.host, 2);
    const pa = rig.host.alloc(4096, 4096);
    const pb = rig.host.alloc(4096, 4096);
    a.pt.map(VA, pa, 12);
    b.pt.map(VA, pb, 12);
    const cdAddr = installStage1Stream(rig, 1, a);
    const dev = { sid: 1, pasid: -1 };
    expect(rig.smmu.translate(dev, VA, Perm.Read)).toMatchObject({ entry: { translatedAddr: pa } });
    // rewrite the CD in memory to point at table b (new ASID): invisible until CFGI_CD
    rig.host.write(cdAddr, new Uint8Array(b.cd.buffer));
    rig.driver.mustSubmit([{ op: "TLBI_NH_ALL", vmid: 0 }]);
    expect(rig.smmu.translate(dev, VA, Perm.Read)).toMatchObject({ entry: { translatedAddr: pa } });
    rig.driver.mustSubmit([{ op: "CFGI_CD", sid: 1, ssid: 0 }]);
    expect(rig.smmu.translate(dev, VA, Perm.Read)).toMatchObject({ entry: { translatedAddr: pb } });
    // an STE turned to abort in memory keeps translating until CFGI_STE_RANGE covers it
    rig.driver.writeSte(1, encodeSte({ v: true, config: SteConfigKind.ABORT }));
    expect(rig.smmu.translate(dev, VA, Perm.Read).ok).toBe(true);
    rig.driver.mustSubmit([{ op: "CFGI_STE_RANGE", sid: 2, range: 1 }]); // SIDs 0..3
    expect(rig.smmu.translate(dev, VA, Perm.Read)).toMatchObject({ ok: false, fault: { name: "STE_ABORT" } });
    expect(rig.driver.readEvents()).toEqual([]); // Config = abort records nothing
  });

  it("does not cache an invalid STE: a later valid one is used without CFGI", () => {
    const rig = makeRig();
    const dev = { sid: 3, pasid: -1 };
    expect(rig.smmu.translate(dev, VA, Perm.Read)).toMatchObject({ ok: false, fault: { name: "C_BAD_STE" } });
    rig.driver.writeSte(3, encodeSte({ v: true, config: SteConfigKind.BYPASS }));
    expect(rig.smmu.translate(dev, VA, Perm.Read)).toMatchObject({ ok: true, entry: { translatedAddr: VA } });
  });
});

describe("TLB invalidation", () => {
  function twoContexts() {
    const rig = makeRig();
    const a = makeStage1(rig.host, 10);
    const b = makeStage1(rig.host, 20);
    const pages = Array.from({ length: 8 }, () => rig.host.alloc(4096, 4096));
    for (let i = 0; i < 4; i++) {
      a.pt.map(VA + i * 0x1000, pages[i]!, 12);
      b.pt.map(VA + i * 0x1000, pages[4 + i]!, 12, { global: i === 3 });
    }
    installStage1Stream(rig, 1, a, { s2Vmid: 0 });
    installStage1Stream(rig, 2, b, { s2Vmid: 0 });
    const warm = () => {
      for (const sid of [1, 2])
        for (let i = 0; i < 4; i++) rig.smmu.translateAccess(sid, -1, VA + i * 0x1000, 1);
    };
    const cached = (sid: number, i: number) => {
      rig.smmu.translateAccess(sid, -1, VA + i * 0x1000, 1);
      return rig.smmu.engine.fromTlb;
    };
    return { rig, warm, cached };
  }

  it("NH_VA removes exactly one ASID's page (and global entries); NH_ASID spares global entries", () => {
    const { rig, warm, cached } = twoContexts();
    warm();
    rig.driver.mustSubmit([{ op: "TLBI_NH_VA", vmid: 0, asid: 10, addr: VA + 0x1000 }]);
    expect([0, 1, 2, 3].map((i) => cached(1, i))).toEqual([true, false, true, true]);
    expect([0, 1, 2, 3].map((i) => cached(2, i))).toEqual([true, true, true, true]);
    rig.driver.mustSubmit([{ op: "TLBI_NH_VA", vmid: 0, asid: 10, addr: VA + 0x3000 }]);
    expect(cached(2, 3)).toBe(false); // the global entry of ASID 20 matches any ASID
    warm();
    rig.driver.mustSubmit([{ op: "TLBI_NH_ASID", vmid: 0, asid: 20 }]);
    expect([0, 1, 2, 3].map((i) => cached(2, i))).toEqual([false, false, false, true]);
    expect(cached(1, 0)).toBe(true);
  });

  it("decodes range invalidation: (NUM+1)·2^SCALE granules of 2^(2·TG+10) bytes", () => {
    const { rig, warm, cached } = twoContexts();
    warm();
    // TG=1 (4K), NUM=1, SCALE=0: 2 pages from VA+0x1000
    rig.driver.mustSubmit([{ op: "TLBI_NH_VAA", vmid: 0, addr: VA + 0x1000, tg: 1, num: 1, scale: 0 }]);
    expect([0, 1, 2, 3].map((i) => cached(1, i))).toEqual([true, false, false, true]);
    expect([0, 1, 2, 3].map((i) => cached(2, i))).toEqual([true, false, false, true]);
  });

  it("under nesting, S2_IPA alone leaves the combined entry; NH_ALL(VMID) or S12_VMALL removes it", () => {
    const rig = makeRig();
    const n = installNestedStream(rig, 5, { vmid: 9 });
    const ipa = n.guest.alloc(4096, 4096);
    n.s1.pt.map(VA, ipa, 12);
    const oldPa = n.guest.ipaToPa(ipa);
    const dev = { sid: 5, pasid: -1 };
    expect(rig.smmu.translate(dev, VA, Perm.Read)).toMatchObject({ entry: { translatedAddr: oldPa } });
    // the host moves the guest page: new backing, stage-2 PTE rewritten, only TLBI_S2_IPA issued
    const newPa = rig.host.alloc(4096, 4096);
    n.s2.map(ipa, newPa, 12);
    rig.driver.mustSubmit([{ op: "TLBI_S2_IPA", vmid: 9, addr: ipa }]);
    expect(rig.smmu.translate(dev, VA, Perm.Read)).toMatchObject({ entry: { translatedAddr: oldPa } }); // stale!
    rig.driver.mustSubmit([{ op: "TLBI_NH_ALL", vmid: 8 }]); // another VMID: no effect
    expect(rig.smmu.translate(dev, VA, Perm.Read)).toMatchObject({ entry: { translatedAddr: oldPa } });
    rig.driver.mustSubmit([{ op: "TLBI_NH_ALL", vmid: 9 }]);
    expect(rig.smmu.translate(dev, VA, Perm.Read)).toMatchObject({ entry: { translatedAddr: newPa } });
    n.s2.map(ipa, oldPa, 12);
    rig.driver.mustSubmit([{ op: "TLBI_S12_VMALL", vmid: 9 }]);
    expect(rig.smmu.translate(dev, VA, Perm.Read)).toMatchObject({ entry: { translatedAddr: oldPa } });
  });
});

describe("command queue errors", () => {
  it("stops at an illegal command with CERROR_ILL and GERROR.CMDQ_ERR, and recovers as Linux does", () => {
    const rig = makeRig({ driver: { sync: "poll" } });
    const ctx = makeStage1(rig.host, 1);
    const pa = rig.host.alloc(4096, 4096);
    ctx.pt.map(VA, pa, 12);
    installStage1Stream(rig, 1, ctx);
    const dev = { sid: 1, pasid: -1 };
    expect(rig.smmu.translate(dev, VA, Perm.Read).ok).toBe(true);
    ctx.pt.unmap(VA, 12);
    const before = rig.smmu.read32(Reg.CMDQ_CONS);
    const r = rig.driver.submit([
      { op: "RAW", words: [0x07, 0, 0, 0] }, // 0x07: not an architected CFGI_ALL (CFGI_VMS_PIDM)
      { op: "TLBI_NH_ALL", vmid: 0 },
    ]);
    expect(r).toMatchObject({ ok: false, cerror: CError.ILL });
    const cons = rig.smmu.read32(Reg.CMDQ_CONS);
    expect(cons & 0xff).toBe(before & 0xff); // CONS stays on the failing command
    expect((cons >>> 24) & 0x7f).toBe(CError.ILL);
    expect((rig.smmu.read32(Reg.GERROR) ^ rig.smmu.read32(Reg.GERRORN)) & Gerror.CMDQ_ERR).toBe(
      Gerror.CMDQ_ERR,
    );
    expect(rig.smmu.translate(dev, VA, Perm.Read).ok).toBe(true); // the TLBI behind it did not run
    expect(rig.driver.handleGerror()).toEqual({ active: Gerror.CMDQ_ERR, cerror: CError.ILL });
    expect(rig.smmu.read32(Reg.GERROR)).toBe(rig.smmu.read32(Reg.GERRORN));
    expect(rig.smmu.read32(Reg.CMDQ_PROD)).toBe(rig.smmu.read32(Reg.CMDQ_CONS) & 0xfffff); // drained
    expect(rig.smmu.translate(dev, VA, Perm.Read).ok).toBe(false); // the TLBI ran after recovery
  });

  it.each([
    ["SSec = 1", [Opcode.CFGI_STE | (1 << 10), 0, 0, 0]],
    ["an unknown opcode", [0x99, 0, 0, 0]],
    ["EL3 TLBI from the non-secure queue", [Opcode.TLBI_EL3_ALL, 0, 0, 0]],
    ["EL2 TLBI without IDR0.HYP", [Opcode.TLBI_EL2_ALL, 0, 0, 0]],
    ["SYNC with CS = 3", [Opcode.SYNC | (3 << 12), 0, 0, 0]],
    ["PRI_RESP with Resp = 3", [Opcode.PRI_RESP, 0, 3 << 12, 0]],
  ] as const)("%s is ILL", (_, words) => {
    const rig = makeRig();
    expect(
      rig.driver.submit([{ op: "RAW", words: [...words] as [number, number, number, number] }]),
    ).toMatchObject({
      ok: false,
      cerror: CError.ILL,
    });
  });

  it("refuses stage-1 TLBIs without S1P and stage-2 TLBIs without S2P", () => {
    const s2only = makeRig({ features: { s1p: false } });
    expect(s2only.driver.submit([{ op: "TLBI_NH_ALL", vmid: 1 }])).toMatchObject({ cerror: CError.ILL });
    const s1only = makeRig({ features: { s2p: false } });
    expect(s1only.driver.submit([{ op: "TLBI_S2_IPA", vmid: 1, addr: 0 }])).toMatchObject({
      cerror: CError.ILL,
    });
    expect(s1only.driver.submit([{ op: "TLBI_S12_VMALL", vmid: 1 }])).toMatchObject({ cerror: CError.ILL });
  });

  it("reports CERROR_ABT when the command cannot be fetched", () => {
    const mem = new PhysicalMemory({ physAddrBits: 48, ram: [{ base: 0x1000_0000, size: 0x1000_0000 }] });
    const smmu = new SmmuV3(mem);
    const drv = new SmmuDriver(smmu, hostTableMemory(mem, new BumpAllocator(0x1000_0000, 0x2000_0000)));
    drv.reset();
    smmu.write32(Reg.CR0, 0);
    smmu.write64(Reg.CMDQ_BASE, 0x4, 0x10); // a queue in a hole at 2^44, 16 entries
    smmu.write32(Reg.CMDQ_PROD, 0);
    smmu.write32(Reg.CMDQ_CONS, 0);
    smmu.write32(Reg.CR0, 0b1000);
    smmu.write32(Reg.CMDQ_PROD, 1);
    expect((smmu.read32(Reg.CMDQ_CONS) >>> 24) & 0x7f).toBe(CError.ABT);
    expect(smmu.read32(Reg.GERROR) & Gerror.CMDQ_ERR).toBe(Gerror.CMDQ_ERR);
  });

  it("signals CMD_SYNC completion by writing MSIData to MSIAddr", () => {
    const rig = makeRig({ driver: { sync: "poll" } });
    const slot = rig.host.alloc(8, 8);
    rig.host.write64(slot, 0xffffffff, 0);
    rig.driver.mustSubmit([{ op: "SYNC", cs: 1, msiAddr: slot, msiData: 0x600d }]);
    const w = new Uint32Array(2);
    rig.mem.read64(slot, Initiator.Host, w);
    expect(w[0]).toBe(0x600d);
  });
});

describe("CD validity under a live STE", () => {
  it("raises C_BAD_CD for a CD whose TTB0 is beyond its IPS, recorded with the SubstreamID fields", () => {
    const rig = makeRig();
    const cd = encodeCd(s1CdFields(2 ** 40, 1, 12, 48, { ips: 2 }));
    const cdAddr = rig.host.alloc(64, 64);
    rig.host.write(cdAddr, new Uint8Array(cd.buffer));
    rig.driver.installSte(1, encodeSte({ v: true, config: SteConfigKind.S1_TRANS, s1ContextPtr: cdAddr }));
    expect(rig.smmu.translate({ sid: 1, pasid: -1 }, 0, Perm.Read)).toMatchObject({
      fault: { name: "C_BAD_CD" },
    });
    expect(rig.driver.readEvents()).toMatchObject([{ name: "C_BAD_CD", sid: 1, ssv: false }]);
  });
});
