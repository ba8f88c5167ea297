/**
 * TD-owner bit, poison and machine checks: the per-line integrity rules of PhysicalMemory for
 * host, SEAM, TD and device accesses, both integrity modes and the partial-write erratum.
 */
import { describe, expect, it } from "vitest";
import { PhysicalMemory, type PhysicalMemoryConfig } from "./physical-memory";
import { Initiator, MemStatus } from "./types";

const TD_KEY = 20;
const OTHER_KEY = 21;
const PAGE = 0x10_0000;

function mem(extra: Partial<Omit<PhysicalMemoryConfig, "ram">> = {}): PhysicalMemory {
  return PhysicalMemory.sparseAll({
    physAddrBits: 46,
    keyIdBits: 6,
    tdxKeyIds: { first: 16, count: 48 },
    ...extra,
  });
}

/** A TD page initialised by the module (MOVDIR64B with the TD's KeyID) holding `fill`. */
function tdPage(m: PhysicalMemory, fill = 0xa5): number {
  const pa = m.withKeyId(PAGE, TD_KEY);
  expect(m.initPage(pa, Initiator.Seam)).toBe(MemStatus.Ok);
  expect(m.fill(pa, 4096, fill, Initiator.Td)).toBe(MemStatus.Ok);
  return pa;
}

const bytes = (n: number) => new Uint8Array(n);

describe("TD-owner bit", () => {
  it("a host read of a TD-owned line sees zeros, the TD sees its data", () => {
    const m = mem();
    const pa = tdPage(m);
    const b = bytes(100);
    expect(m.read(PAGE + 10, b, Initiator.Host)).toBe(MemStatus.Ok);
    expect(b).toEqual(bytes(100));
    expect(m.read(pa + 10, b, Initiator.Td)).toBe(MemStatus.Ok);
    expect(b.every((x) => x === 0xa5)).toBe(true);
    const out = new Uint32Array(2);
    expect(m.read64(PAGE, Initiator.Host, out)).toBe(MemStatus.Ok);
    expect([out[0], out[1]]).toEqual([0, 0]);
    expect(m.read64(pa, Initiator.Seam, out)).toBe(MemStatus.Ok);
    expect(out[0]).toBe(0xa5a5a5a5);
  });

  it("with hostReadOfTdOwned 'ciphertext' the host sees bytes that are not the plaintext", () => {
    const m = mem({ hostReadOfTdOwned: "ciphertext" });
    tdPage(m, 0);
    const b = bytes(4096);
    expect(m.read(PAGE, b, Initiator.Host)).toBe(MemStatus.Ok);
    expect(b.filter((x) => x === 0).length).toBeLessThan(64);
  });

  it("a host write clears ownership of the lines it covers; the TD's next read of one is a machine check", () => {
    const m = mem();
    const pa = tdPage(m);
    expect(m.write(PAGE + 64, new Uint8Array(64).fill(1), Initiator.Host)).toBe(MemStatus.Ok);
    expect(m.lineIntegrity(PAGE + 64)).toEqual({ owned: false, poisoned: false, ownerKeyId: undefined });
    // the host can read back what it wrote (the line is now an ordinary shared line)
    const b = bytes(64);
    expect(m.read(PAGE + 64, b, Initiator.Host)).toBe(MemStatus.Ok);
    expect(b.every((x) => x === 1)).toBe(true);
    // the TD reads it with its private KeyID: TD-bit check fails -> poison -> #MC
    expect(m.read(pa + 70, bytes(4), Initiator.Td)).toBe(MemStatus.MachineCheck);
    expect(m.lastFault()).toMatchObject({
      kind: "machine-check",
      pa: pa + 70,
      keyId: TD_KEY,
      initiator: Initiator.Td,
    });
    expect(m.lineIntegrity(PAGE + 64).poisoned).toBe(true);
    // poison is consumed by any later reader, the host included
    expect(m.read(PAGE + 64, b, Initiator.Host)).toBe(MemStatus.MachineCheck);
    // neighbouring lines are intact for the TD
    expect(m.read(pa, b, Initiator.Td)).toBe(MemStatus.Ok);
    expect(m.read(pa + 128, b, Initiator.Td)).toBe(MemStatus.Ok);
    expect(m.pageIntegrity(PAGE)).toEqual({ ownedLines: 63, poisonedLines: 1, ownerKeyIds: [TD_KEY] });
  });

  it("a partial host write without the erratum merges into the host's (zero) view and drops ownership", () => {
    const m = mem();
    const pa = tdPage(m);
    expect(m.write32(PAGE + 4, 0xcafef00d, Initiator.Host)).toBe(MemStatus.Ok);
    expect(m.lineIntegrity(PAGE)).toMatchObject({ owned: false, poisoned: false });
    const b = bytes(64);
    expect(m.read(PAGE, b, Initiator.Host)).toBe(MemStatus.Ok);
    const want = bytes(64);
    want.set([0x0d, 0xf0, 0xfe, 0xca], 4);
    expect(b).toEqual(want);
    expect(m.read(pa, b, Initiator.Td)).toBe(MemStatus.MachineCheck);
  });

  it("with the partial-write erratum a partial host write poisons the line; even the host then gets #MC", () => {
    const m = mem({ partialWriteErratum: true });
    const pa = tdPage(m);
    expect(m.write32(PAGE + 4, 1, Initiator.Host)).toBe(MemStatus.Ok);
    expect(m.lineIntegrity(PAGE)).toMatchObject({ owned: false, poisoned: true });
    const out = new Uint32Array(1);
    expect(m.read32(PAGE + 4, Initiator.Host, out)).toBe(MemStatus.MachineCheck);
    expect(m.read32(pa + 8, Initiator.Td, out)).toBe(MemStatus.MachineCheck);
    // a full-line write from the host is not partial: no poison, just loss of ownership
    expect(m.write(PAGE + 64, bytes(64), Initiator.Host)).toBe(MemStatus.Ok);
    expect(m.lineIntegrity(PAGE + 64)).toMatchObject({ owned: false, poisoned: false });
    // partial device DMA to a private line poisons too
    expect(m.write(PAGE + 130, bytes(2), Initiator.Device)).toBe(MemStatus.Ok);
    expect(m.lineIntegrity(PAGE + 128).poisoned).toBe(true);
  });

  it("the erratum does not affect partial writes to ordinary shared memory", () => {
    const m = mem({ partialWriteErratum: true });
    expect(m.write32(PAGE + 4, 7, Initiator.Host)).toBe(MemStatus.Ok);
    const out = new Uint32Array(1);
    expect(m.read32(PAGE + 4, Initiator.Host, out)).toBe(MemStatus.Ok);
    expect(out[0]).toBe(7);
  });

  it("initPage with KeyID 0 (host MOVDIR64B reset after reclaim) clears ownership and poison", () => {
    const m = mem({ partialWriteErratum: true });
    tdPage(m);
    m.write32(PAGE, 1, Initiator.Host);
    expect(m.pageIntegrity(PAGE).poisonedLines).toBe(1);
    expect(m.initPage(PAGE, Initiator.Host)).toBe(MemStatus.Ok);
    expect(m.pageIntegrity(PAGE)).toEqual({ ownedLines: 0, poisonedLines: 0, ownerKeyIds: [] });
    const b = bytes(4096).fill(1);
    expect(m.read(PAGE, b, Initiator.Host)).toBe(MemStatus.Ok);
    expect(b).toEqual(bytes(4096));
    expect(() => m.initPage(PAGE + 64, Initiator.Host)).toThrow(/4 KiB aligned/);
    expect(m.initPage(m.withKeyId(PAGE, TD_KEY), Initiator.Host)).toBe(MemStatus.KeyIdNotAllowed);
  });
});

describe("private KeyIDs", () => {
  it("a TD read of memory never initialised with its KeyID is a machine check (TD bit clear)", () => {
    const m = mem();
    const pa = m.withKeyId(PAGE, TD_KEY);
    expect(m.read(pa, bytes(8), Initiator.Td)).toBe(MemStatus.MachineCheck);
    expect(m.lastFault()?.message).toMatch(/not TD-owned/);
  });

  it("full-line private writes make lines TD-owned; partial private writes to non-owned lines poison them", () => {
    const m = mem();
    const pa = m.withKeyId(PAGE, TD_KEY);
    expect(m.write(pa, new Uint8Array(128).fill(3), Initiator.Seam)).toBe(MemStatus.Ok);
    expect(m.lineIntegrity(PAGE + 64)).toEqual({ owned: true, poisoned: false, ownerKeyId: TD_KEY });
    const b = bytes(128);
    expect(m.read(pa, b, Initiator.Td)).toBe(MemStatus.Ok);
    expect(b.every((x) => x === 3)).toBe(true);
    expect(m.write32(pa + 256, 1, Initiator.Td)).toBe(MemStatus.Ok);
    expect(m.lineIntegrity(PAGE + 256)).toMatchObject({ owned: false, poisoned: true });
    expect(m.read32(pa + 256, Initiator.Td, new Uint32Array(1))).toBe(MemStatus.MachineCheck);
  });

  it("cryptographic integrity: reading another KeyID's line fails the MAC check", () => {
    const m = mem({ integrity: "cryptographic" });
    tdPage(m);
    const other = m.withKeyId(PAGE, OTHER_KEY);
    expect(m.read(other, bytes(8), Initiator.Seam)).toBe(MemStatus.MachineCheck);
    expect(m.lastFault()?.message).toMatch(/MAC/);
    expect(m.lineIntegrity(PAGE).poisoned).toBe(true);
  });

  it("logical integrity: reading another KeyID's line decrypts to garbage, no machine check", () => {
    const m = mem({ integrity: "logical" });
    tdPage(m, 0x00);
    const b = bytes(64);
    expect(m.read(m.withKeyId(PAGE, OTHER_KEY), b, Initiator.Seam)).toBe(MemStatus.Ok);
    expect(b.filter((x) => x === 0).length).toBeLessThan(8);
    expect(m.lineIntegrity(PAGE)).toMatchObject({ owned: true, poisoned: false, ownerKeyId: TD_KEY });
  });

  it("devices can never use a private KeyID, and see TD-owned lines only as zeros", () => {
    const m = mem();
    const pa = tdPage(m);
    const out = new Uint32Array(2);
    expect(m.read64(pa, Initiator.Device, out)).toBe(MemStatus.KeyIdNotAllowed);
    expect(m.lastFault()).toMatchObject({ kind: "keyid-not-allowed", initiator: Initiator.Device });
    expect(m.write64(pa, 1, 2, Initiator.Device)).toBe(MemStatus.KeyIdNotAllowed);
    expect(m.read64(PAGE, Initiator.Device, out)).toBe(MemStatus.Ok);
    expect([out[0], out[1]]).toEqual([0, 0]);
    // the refused write changed nothing
    expect(m.read64(pa, Initiator.Td, out)).toBe(MemStatus.Ok);
    expect(out[0]).toBe(0xa5a5a5a5);
  });

  it("a bounce copy private -> shared -> private moves the TD's bytes and leaves the shared slot plain", () => {
    const m = mem();
    const pa = tdPage(m);
    const secret = new Uint8Array(3000).map((_, i) => (i * 5) & 0xff);
    expect(m.write(pa + 500, secret, Initiator.Td)).toBe(MemStatus.Ok);
    const slot = 0x20_0000 + 2048;
    expect(m.copy(slot, pa + 500, 3000, Initiator.Td)).toBe(MemStatus.Ok);
    const b = bytes(3000);
    expect(m.read(slot, b, Initiator.Device)).toBe(MemStatus.Ok);
    expect(b).toEqual(secret);
    expect(m.pageIntegrity(slot).ownedLines).toBe(0);
    b.reverse();
    expect(m.write(slot, b, Initiator.Device)).toBe(MemStatus.Ok);
    expect(m.copy(pa + 1000, slot, 3000, Initiator.Td)).toBe(MemStatus.Ok);
    const back = bytes(3000);
    expect(m.read(pa + 1000, back, Initiator.Td)).toBe(MemStatus.Ok);
    expect(back).toEqual(b);
  });

  it("a copy from a poisoned source line faults before writing anything", () => {
    const m = mem({ partialWriteErratum: true });
    const pa = tdPage(m);
    m.write32(PAGE + 1024, 0, Initiator.Host); // poisons line 16
    const slot = 0x20_0000;
    m.fill(slot, 4096, 0x77, Initiator.Host);
    expect(m.copy(slot, pa, 4096, Initiator.Td)).toBe(MemStatus.MachineCheck);
    expect(m.lastFault()?.pa).toBe(pa + 1024);
    const b = bytes(4096);
    m.read(slot, b, Initiator.Host);
    expect(b.every((x) => x === 0x77)).toBe(true);
  });
});
