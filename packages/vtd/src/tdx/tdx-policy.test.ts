/**
 * The TDX rules for untrusted DMA: an output HPA with a private KeyID is blocked with the
 * model-specific fault 0xF0 and the TD's memory is untouched; writes through a shared-KeyID alias
 * to TD-owned lines are blocked (0xF2) and reads of them return no TD data; the optional shared-bit
 * input rule (0xF1).
 */
import { Initiator, PhysicalMemory } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { FaultReason } from "../spec/fault-reasons";
import { BumpAllocator, LegacyContextTables, SecondStagePageTable, VtdDriver } from "../testing";
import { VtdUnit } from "../unit/vtd-unit";
import type { TdxDmaOptions } from "./tdx-policy";

const DEV = { sid: 0x0200, pasid: -1 };
const TD_PAGE = 0x8000_0000;
const TD_KEYID = 20; // private: the default partition of 6 KeyID bits is [16, 64)

function setup(tdx?: TdxDmaOptions | false) {
  const mem = PhysicalMemory.sparseAll({ physAddrBits: 52, keyIdBits: 6 });
  const unit = new VtdUnit({ mem, profile: { faultRecords: 4 }, tdx });
  const alloc = new BumpAllocator(mem, 0x100_0000, 0x4000_0000);
  const driver = new VtdDriver(unit, mem, alloc);
  driver.enableQueue();
  const ctx = new LegacyContextTables(mem, alloc);
  const pt = new SecondStagePageTable(mem, alloc, 4);
  ctx.setContext(DEV.sid, { slptptr: pt.root, aw: 2, did: 1 });
  driver.setRootTable(ctx.root);
  driver.enableTranslation();
  // The TD's private page: initialised by the TDX module with the TD's KeyID, then written.
  const priv = mem.withKeyId(TD_PAGE, TD_KEYID);
  expect(mem.initPage(priv, Initiator.Seam)).toBe(0);
  const secret = new TextEncoder().encode("TD private secret");
  expect(mem.write(priv, secret, Initiator.Td)).toBe(0);
  return { mem, unit, pt, driver, priv, secret };
}

function tdView(mem: PhysicalMemory, priv: number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  expect(mem.read(priv, b, Initiator.Td)).toBe(0);
  return b;
}

describe("TDX: untrusted DMA and private memory", () => {
  it("blocks a DMA whose output carries a private KeyID, records 0xF0, and leaves the TD's memory untouched", () => {
    const { mem, unit, pt, driver, priv, secret } = setup();
    pt.map(0x1000_0000, priv, 4096, { read: true, write: true });
    const w = unit.port.dmaWrite(DEV, 0x1000_0000, new Uint8Array(64).fill(0xee));
    expect(w.ok).toBe(false);
    if (!w.ok) {
      expect(w.fault?.code).toBe(FaultReason.TdxPrivateKeyId);
      expect(w.fault?.name).toMatch(/MODEL-SPECIFIC/);
    }
    const r = unit.port.dmaRead(DEV, 0x1000_0000, new Uint8Array(16));
    expect(r.ok).toBe(false);
    expect(unit.port.translate(DEV, 0x1000_0000, 1).ok).toBe(false);
    expect(tdView(mem, priv, secret.length)).toEqual(secret);
    expect(mem.pageIntegrity(priv).ownedLines).toBe(64);
    const recs = driver.pendingFaults();
    expect(recs[0]).toMatchObject({ reason: 0xf0, sid: DEV.sid, address: 0x1000_0000, read: false });
  });

  it("blocks writes through a shared-KeyID alias to TD-owned lines (0xF2) and reads return no TD data", () => {
    const { mem, unit, pt, priv, secret } = setup();
    pt.map(0x2000_0000, TD_PAGE, 4096, { read: true, write: true }); // KeyID 0 alias of the TD page
    const w = unit.port.dmaWrite(DEV, 0x2000_0010, Uint8Array.of(1, 2, 3, 4));
    expect(w.ok).toBe(false);
    if (!w.ok) expect(w.fault?.code).toBe(FaultReason.TdxOwnedLines);
    expect(tdView(mem, priv, secret.length)).toEqual(secret);
    expect(mem.pageIntegrity(priv).ownedLines).toBe(64);
    const buf = new Uint8Array(secret.length).fill(0x77);
    expect(unit.port.dmaRead(DEV, 0x2000_0000, buf).ok).toBe(true);
    expect(buf).not.toEqual(secret);
    expect([...buf].every((x) => x === 0)).toBe(true);
  });

  it("with both rules off the memory still refuses the device (not a remapping fault, not logged)", () => {
    const { mem, unit, pt, driver, priv, secret } = setup({
      blockPrivateKeyId: false,
      guardTdOwnedLines: false,
    });
    pt.map(0x1000_0000, priv, 4096, { read: true, write: true });
    const w = unit.port.dmaWrite(DEV, 0x1000_0000, new Uint8Array(8).fill(1));
    expect(w.ok).toBe(false);
    if (!w.ok) expect(w.fault?.code).toBe(FaultReason.MemoryError);
    expect(driver.pendingFaults()).toHaveLength(0);
    expect(tdView(mem, priv, secret.length)).toEqual(secret);
  });

  it("guards TD-owned lines one by one: writes to lines the host took back pass, a write reaching an owned line faults (0xF2)", () => {
    const { mem, unit, pt } = setup();
    // The host reclaims lines 0 and 1 with full-line writes (MOVDIR64B-style): no longer TD-owned.
    expect(mem.write(TD_PAGE, new Uint8Array(128), Initiator.Host)).toBe(0);
    pt.map(0x2000_0000, TD_PAGE, 4096, { read: true, write: true });
    expect(unit.port.dmaWrite(DEV, 0x2000_0000, new Uint8Array(128).fill(0x11)).ok).toBe(true);
    const w = unit.port.dmaWrite(DEV, 0x2000_0040, new Uint8Array(65).fill(0x22));
    expect(w.ok).toBe(false);
    if (!w.ok) expect(w.fault?.code).toBe(FaultReason.TdxOwnedLines);
    expect(mem.lineIntegrity(TD_PAGE + 128).owned).toBe(true);
    const host = new Uint8Array(128);
    expect(mem.read(TD_PAGE, host, Initiator.Host)).toBe(0);
    expect(host.every((x) => x === 0x11)).toBe(true); // nothing of the faulting write landed
  });

  it("takes the private KeyIDs from the tdx.privateKeyIds option instead of the memory when given", () => {
    const { unit, pt, driver } = setup({ privateKeyIds: { first: 40, count: 4 } });
    const policy = unit.tdx;
    expect(policy.blocksOutput(TD_PAGE + 41 * 2 ** 46)).toBe(true);
    expect(policy.blocksOutput(TD_PAGE + TD_KEYID * 2 ** 46)).toBe(false);
    // KeyID 20 is not private to the IOMMU now: a read is not blocked as 0xF0 (nor logged), but the
    // memory still refuses the device; a write still meets the TD-owned-line guard (0xF2).
    pt.map(0x1000_0000, TD_PAGE + TD_KEYID * 2 ** 46, 4096, { read: true, write: true });
    const r = unit.port.dmaRead(DEV, 0x1000_0000, new Uint8Array(8));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.fault?.code).toBe(FaultReason.MemoryError);
    expect(driver.pendingFaults()).toHaveLength(0);
    const w = unit.port.dmaWrite(DEV, 0x1000_0000, new Uint8Array(8));
    expect(w.ok).toBe(false);
    if (!w.ok) expect(w.fault?.code).toBe(FaultReason.TdxOwnedLines);
    expect(() => setup({ privateKeyIds: { first: 60, count: 8 } })).toThrow(
      /do not fit the memory's 6 KeyID bits/,
    );
  });

  it("optionally rejects inputs without the TD shared bit (0xF1)", () => {
    const { unit, pt, mem } = setup({ requireSharedBit: { gpaw: 48 } });
    const shared = 2 ** 47;
    const page = 0x9000_0000;
    mem.write(page, Uint8Array.of(9), Initiator.Host);
    pt.map(shared + 0x3000_0000, page, 4096, { read: true, write: true });
    pt.map(0x3000_0000, page, 4096, { read: true, write: true });
    expect(unit.port.dmaRead(DEV, shared + 0x3000_0000, new Uint8Array(1)).ok).toBe(true);
    const r = unit.port.dmaRead(DEV, 0x3000_0000, new Uint8Array(1));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.fault?.code).toBe(FaultReason.TdxInputNotShared);
  });
});
