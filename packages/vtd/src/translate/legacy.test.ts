/**
 * Legacy-mode behaviours beyond the contract: context-cache staleness, caching mode (negative
 * entries), device-TLB (TT=01) with translation/translated requests and device-TLB invalidation,
 * TT blocking (0xD), domain-id width, ESRTPS, multi-command GCMD policy, protected memory.
 */
import { Initiator } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { DeviceTlb } from "../dma/device-tlb";
import { AddressType } from "../faults/fault-recorder";
import { composeCapabilities, type VtdProfile } from "../spec/capabilities";
import { DescType } from "../spec/descriptors";
import { Gcmd, Reg } from "../spec/registers";
import { LegacyContextTables, makeVtdBench, SecondStagePageTable } from "../testing";
import type { VtdPolicy } from "../unit/options";

const DEV = { sid: 0x0120, pasid: -1 };

function setup(profile: VtdProfile = {}, policy: Partial<VtdPolicy> = {}, tt: 0 | 1 | 2 = 0) {
  const b = makeVtdBench(profile, { policy });
  const ctx = new LegacyContextTables(b.mem, b.alloc);
  const pt = new SecondStagePageTable(b.mem, b.alloc, 4);
  ctx.setContext(DEV.sid, { slptptr: pt.root, aw: 2, did: 4, tt });
  b.driver.setRootTable(ctx.root);
  b.driver.contextGlobal();
  b.driver.iotlbGlobal();
  b.driver.enableTranslation();
  const page = b.alloc.alloc(4096);
  b.mem.write(page, Uint8Array.of(0x11, 0x22), Initiator.Host);
  return { ...b, ctx, pt, page };
}

describe("legacy mode: caches", () => {
  it("uses a cached context entry until a context-cache invalidation covers it", () => {
    const { unit, ctx, pt, page, driver } = setup();
    pt.map(0x1000, page, 4096, { read: true, write: true });
    expect(unit.port.dmaRead(DEV, 0x1000, new Uint8Array(1)).ok).toBe(true);
    ctx.clearContext(DEV.sid); // not present in memory
    driver.iotlbGlobal();
    expect(unit.port.dmaRead(DEV, 0x1000, new Uint8Array(1)).ok).toBe(true); // stale context entry
    driver.contextDevice(DEV.sid ^ 1, 0, 0); // another function: no effect
    expect(unit.port.dmaRead(DEV, 0x1000, new Uint8Array(1)).ok).toBe(true);
    driver.contextDevice(DEV.sid ^ 1, 0, 1); // FM=1 masks devfn bit 2 ... not bit 0: still no effect
    expect(unit.port.dmaRead(DEV, 0x1000, new Uint8Array(1)).ok).toBe(true);
    driver.contextDevice(DEV.sid ^ 7, 0, 3); // FM=3 masks bits 2:0: covers DEV
    const r = unit.port.dmaRead(DEV, 0x1000, new Uint8Array(1));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.fault?.code).toBe(0x02);
  });

  it("in caching mode keeps a not-present translation invisible until invalidated", () => {
    const { unit, pt, page, driver } = setup({ cachingMode: true });
    expect(unit.port.dmaRead(DEV, 0x2000, new Uint8Array(1)).ok).toBe(false); // cached as not present
    pt.map(0x2000, page, 4096, { read: true, write: true });
    const again = unit.port.dmaRead(DEV, 0x2000, new Uint8Array(1));
    expect(again.ok).toBe(false);
    if (!again.ok) expect(again.fault?.code).toBe(0x06);
    driver.iotlbPages(4, 0x2000, 0); // what Linux does after every map with CM=1
    expect(unit.port.dmaRead(DEV, 0x2000, new Uint8Array(1)).ok).toBe(true);
  });

  it("in caching mode caches a not-present context entry under domain-id 0", () => {
    const { unit, ctx, pt, page, driver } = setup({ cachingMode: true });
    const late = { sid: 0x0130, pasid: -1 };
    pt.map(0x3000, page, 4096, { read: true, write: true });
    expect(unit.port.dmaRead(late, 0x3000, new Uint8Array(1)).ok).toBe(false);
    ctx.setContext(late.sid, { slptptr: pt.root, aw: 2, did: 4 });
    expect(unit.port.dmaRead(late, 0x3000, new Uint8Array(1)).ok).toBe(false); // negative entry
    driver.contextDevice(0x0131, 9); // another device and domain: not covered
    expect(unit.port.dmaRead(late, 0x3000, new Uint8Array(1)).ok).toBe(false);
    // Linux context_present_cache_flush: device-selective with DID 0.
    driver.contextDevice(late.sid, 0);
    expect(unit.port.dmaRead(late, 0x3000, new Uint8Array(1)).ok).toBe(true);
  });

  it("without caching mode does not cache faults: a new mapping is seen at once", () => {
    const { unit, pt, page } = setup();
    expect(unit.port.dmaRead(DEV, 0x4000, new Uint8Array(1)).ok).toBe(false);
    pt.map(0x4000, page, 4096, { read: true, write: true });
    expect(unit.port.dmaRead(DEV, 0x4000, new Uint8Array(1)).ok).toBe(true);
  });

  it("with CAP.ESRTPS a new root-table pointer drops the cached translations", () => {
    const { unit, pt, page, driver, ctx } = setup({ esrtps: true });
    pt.map(0x5000, page, 4096, { read: true, write: true });
    expect(unit.port.dmaRead(DEV, 0x5000, new Uint8Array(1)).ok).toBe(true);
    pt.unmap(0x5000, 4096);
    expect(unit.port.dmaRead(DEV, 0x5000, new Uint8Array(1)).ok).toBe(true); // stale
    driver.setRootTable(ctx.root);
    expect(unit.port.dmaRead(DEV, 0x5000, new Uint8Array(1)).ok).toBe(false);
  });
});

describe("legacy mode: translation types", () => {
  it("blocks translation requests and translated requests when TT=00 (0xD)", () => {
    const { unit, pt, page } = setup();
    pt.map(0x6000, page, 4096, { read: true, write: true });
    const t = unit.translateRequest({ sid: DEV.sid, addressType: AddressType.TranslationRequest }, 0x6000);
    expect(t.kind === "fault" && t.fault.code).toBe(0x0d);
    const d = unit.translateRequest({ sid: DEV.sid, addressType: AddressType.Translated }, page);
    expect(d.kind === "fault" && d.fault.code).toBe(0x0d);
    expect(d.kind === "fault" && d.fault.addressType).toBe(AddressType.Translated);
  });

  it("with TT=01 serves a device-TLB: translation requests, translated DMA, stale until a device-TLB invalidation", () => {
    const { unit, mem, pt, page, alloc, driver } = setup({ deviceTlb: true }, {}, 1);
    pt.map(0x7000, page, 4096, { read: true, write: true });
    const atc = new DeviceTlb(unit, mem, DEV.sid);
    const buf = new Uint8Array(2);
    expect(atc.dmaRead(-1, 0x7000, buf)).toEqual({ ok: true });
    expect([...buf]).toEqual([0x11, 0x22]);
    expect(atc.translationRequests).toBe(1);
    // Remap and invalidate the IOTLB only: the device keeps using its cached HPA.
    const other = alloc.alloc(4096);
    mem.write(other, Uint8Array.of(0x99), Initiator.Host);
    pt.map(0x7000, other, 4096, { read: true, write: true });
    driver.iotlbPages(4, 0x7000, 0);
    expect(atc.dmaRead(-1, 0x7000, buf).ok).toBe(true);
    expect(buf[0]).toBe(0x11);
    expect(atc.translationRequests).toBe(1);
    // Device-TLB invalidation (descriptor 0x3, SID, S=0): the next access asks again.
    expect(driver.submit([[BigInt(DescType.DeviceTlb) | (BigInt(DEV.sid) << 32n), 0x7000n]])).toBe("done");
    expect(atc.invalidations).toBe(1);
    expect(atc.dmaRead(-1, 0x7000, buf).ok).toBe(true);
    expect(buf[0]).toBe(0x99);
    expect(atc.translationRequests).toBe(2);
  });

  it("reports a not-present condition of a translation request in the completion, not in FRCD", () => {
    const { unit, driver } = setup({ deviceTlb: true }, {}, 1);
    const t = unit.translateRequest({ sid: DEV.sid, addressType: AddressType.TranslationRequest }, 0x8000);
    expect(t.kind === "fault" && t.fault.disposition).toBe("not-logged");
    expect(driver.pendingFaults()).toEqual([]);
  });

  it("treats domain-id bits above CAP.ND as reserved (0xB)", () => {
    const { unit, ctx, pt } = setup({ domainIdBits: 8 });
    const d = { sid: 0x0140, pasid: -1 };
    ctx.setContext(d.sid, { slptptr: pt.root, aw: 2, did: 0x100 });
    const r = unit.translateRequest(d, 0x1000);
    expect(r.kind === "fault" && r.fault.code).toBe(0x0b);
  });
});

describe("legacy mode: register programming policies", () => {
  it("acts on every command of a multi-command GCMD write by default, and on none with the ignore policy", () => {
    const a = makeVtdBench();
    a.unit.writeRegister(Reg.GCMD, 4, BigInt((Gcmd.TE | Gcmd.SRTP) >>> 0));
    expect(Number(a.unit.readRegister(Reg.GSTS, 4)) >>> 30).toBe(3);
    const b = makeVtdBench({}, { policy: { multiCommandGcmd: "ignore" } });
    b.unit.writeRegister(Reg.GCMD, 4, BigInt((Gcmd.QIE | Gcmd.TE | Gcmd.SRTP) >>> 0));
    expect(Number(b.unit.readRegister(Reg.GSTS, 4))).toBe(Gcmd.QIE);
  });

  it("blocks untranslated DMA to a protected low-memory region while EPM is set", () => {
    const plain = makeVtdBench({});
    plain.unit.writeRegister(Reg.PMEN, 4, 0x8000_0000n); // PLMR/PHMR absent: read-only zero
    expect(plain.unit.readRegister(Reg.PMEN, 4)).toBe(0n);
    const caps = composeCapabilities();
    const b = makeVtdBench({}, { cap: caps.cap | (1n << 5n), ecap: caps.ecap }); // CAP.PLMR
    b.unit.writeRegister(Reg.PLMBASE, 4, 0x20_0000n);
    b.unit.writeRegister(Reg.PLMLIMIT, 4, 0x20_0000n); // [2 MiB, 4 MiB)
    b.unit.writeRegister(Reg.PMEN, 4, 0x8000_0000n);
    expect(b.unit.readRegister(Reg.PMEN, 4)).toBe(0x8000_0001n); // EPM and PRS
    const r = b.unit.port.dmaRead(DEV, 0x3f_ff00, new Uint8Array(1));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.fault?.code).toBe(0xfa);
    expect(b.driver.pendingFaults()).toEqual([]);
    expect(b.unit.port.dmaRead(DEV, 0x40_0000, new Uint8Array(1)).ok).toBe(true);
    b.unit.writeRegister(Reg.PMEN, 4, 0n);
    expect(b.unit.port.dmaRead(DEV, 0x3f_ff00, new Uint8Array(1)).ok).toBe(true);
  });
});
