/**
 * PhysicalMemory: the memory contract, plus its own rules — address map (RAM, holes, MMIO),
 * sparse backing, KeyID handling and configuration checks.
 */
import { describe, expect, it } from "vitest";
import { TdxSimError } from "../errors";
import { describeMemoryContract, seededRandom } from "../testing/memory-contract";
import { PhysicalMemory } from "./physical-memory";
import { Initiator, MemStatus } from "./types";

const GiB = 2 ** 30;

function platform(): PhysicalMemory {
  return new PhysicalMemory({
    physAddrBits: 46,
    keyIdBits: 6,
    tdxKeyIds: { first: 16, count: 48 },
    ram: [
      { base: 0, size: 0xa0000 },
      { base: 0x100000, size: 2 * GiB - 0x100000 },
      { base: 4 * GiB, size: 4 * GiB },
    ],
    mmio: [{ base: 0xfed00000, size: 0x1000, name: "hpet" }],
  });
}

describeMemoryContract("PhysicalMemory (RAM list, holes, MMIO)", () => {
  const mem = platform();
  return {
    mem,
    ram: { base: 0x200000, size: 0x100000 },
    hole: 2 * GiB,
    mmio: 0xfed00040,
    privateKeyId: 20,
    initPage: (pa, who) => mem.initPage(pa, who),
  };
});

describeMemoryContract("PhysicalMemory.sparseAll (52-bit, high addresses)", () => {
  const mem = PhysicalMemory.sparseAll({ physAddrBits: 52, keyIdBits: 6 });
  return {
    mem,
    ram: { base: 0xfff_f000_0000, size: 0x100000 },
    privateKeyId: 63,
    initPage: (pa, w) => mem.initPage(pa, w),
  };
});

describe("PhysicalMemory address map", () => {
  it("reads untouched RAM as zeros without backing it", () => {
    const m = platform();
    const b = new Uint8Array(32).fill(9);
    expect(m.read(5 * GiB + 123, b, Initiator.Host)).toBe(MemStatus.Ok);
    expect(b).toEqual(new Uint8Array(32));
    expect(m.stats().allocatedFrames).toBe(0);
  });

  it("faults at the first hole byte of an access that runs from RAM into a hole, reading nothing", () => {
    const m = platform();
    expect(m.write(0x9f000, new Uint8Array(4096).fill(1), Initiator.Host)).toBe(MemStatus.Ok);
    const b = new Uint8Array(0x2000).fill(7);
    expect(m.read(0x9f800, b, Initiator.Host)).toBe(MemStatus.Hole);
    expect(m.lastFault()).toMatchObject({ kind: "hole", pa: 0xa0000, keyId: 0 });
    expect(m.regionOf(0xa0000)).toBe("hole");
    expect(m.regionOf(0xfed00000)).toBe("mmio");
  });

  it("names the MMIO range in the fault, and keeps the KeyID in the faulting address", () => {
    const m = platform();
    const pa = m.withKeyId(0xfed00008, 3);
    expect(m.write32(pa, 5, Initiator.Host)).toBe(MemStatus.Mmio);
    const f = m.lastFault();
    expect(f).toMatchObject({ kind: "mmio", pa, keyId: 3 });
    expect(f?.message).toContain("hpet");
  });

  it("treats shared MKTME KeyIDs as plain RAM aliases of the same bytes", () => {
    const m = platform();
    expect(m.write32(m.withKeyId(0x300000, 5), 0x11223344, Initiator.Host)).toBe(MemStatus.Ok);
    const out = new Uint32Array(1);
    expect(m.read32(0x300000, Initiator.Device, out)).toBe(MemStatus.Ok);
    expect(out[0]).toBe(0x11223344);
  });

  it("rejects KeyIDs above the configured ones for every initiator", () => {
    const m = new PhysicalMemory({
      physAddrBits: 46,
      keyIdBits: 6,
      tdxKeyIds: { first: 16, count: 8 },
      ram: "all",
    });
    const b = new Uint8Array(1);
    for (const who of [Initiator.Host, Initiator.Seam, Initiator.Td, Initiator.Device]) {
      expect(m.read(m.withKeyId(0x1000, 24), b, who)).toBe(MemStatus.KeyIdInvalid);
    }
    expect(m.lastFault()?.kind).toBe("keyid-invalid");
    expect(m.read(m.withKeyId(0x1000, 23), b, Initiator.Seam)).toBe(MemStatus.MachineCheck); // uninitialised
  });

  it("splits and joins KeyIDs in the upper address bits", () => {
    const m = PhysicalMemory.sparseAll({ physAddrBits: 52, keyIdBits: 6 });
    expect(m.hostAddrBits).toBe(46);
    const pa = m.withKeyId(0x1234_5678_9000, 33);
    expect(pa).toBe(33 * 2 ** 46 + 0x1234_5678_9000);
    expect(m.keyIdOf(pa)).toBe(33);
    expect(m.stripKeyId(pa)).toBe(0x1234_5678_9000);
    expect(m.isPrivateKeyId(33)).toBe(true);
    expect(m.isPrivateKeyId(15)).toBe(false);
    expect(() => m.withKeyId(0, 64)).toThrow(TdxSimError);
  });
});

describe("PhysicalMemory bad input", () => {
  it("throws TdxSimError for addresses outside [0, 2^physAddrBits) and accesses crossing into KeyID bits", () => {
    const m = PhysicalMemory.sparseAll({ physAddrBits: 46, keyIdBits: 6 });
    const b = new Uint8Array(8);
    expect(() => m.read(2 ** 46, b, Initiator.Host)).toThrow(/physAddrBits/);
    expect(() => m.read(-1, b, Initiator.Host)).toThrow(TdxSimError);
    expect(() => m.read(1.5, b, Initiator.Host)).toThrow(TdxSimError);
    expect(() => m.read(2 ** 40 - 4, b, Initiator.Host)).toThrow(/KeyID bits/);
    expect(() => m.fill(0, -1, 0, Initiator.Host)).toThrow(/length/);
    expect(() => m.read(0, b, 9 as Initiator)).toThrow(/initiator/);
  });

  it("validates the configuration with messages that say what is allowed", () => {
    expect(() => new PhysicalMemory({ physAddrBits: 60, ram: "all" })).toThrow(/36\.\.52/);
    expect(() => new PhysicalMemory({ physAddrBits: 46, keyIdBits: 16, ram: "all" })).toThrow(/0\.\.15/);
    expect(
      () =>
        new PhysicalMemory({
          physAddrBits: 46,
          keyIdBits: 6,
          tdxKeyIds: { first: 10, count: 60 },
          ram: "all",
        }),
    ).toThrow(/does not fit/);
    expect(() => new PhysicalMemory({ physAddrBits: 46, ram: [{ base: 0x800, size: 0x1000 }] })).toThrow(
      /4 KiB-aligned/,
    );
    expect(
      () =>
        new PhysicalMemory({
          physAddrBits: 46,
          ram: [
            { base: 0, size: 0x2000 },
            { base: 0x1000, size: 0x1000 },
          ],
        }),
    ).toThrow(/overlap/);
  });
});

describe("PhysicalMemory backing", () => {
  it("keeps frames found through the table across many chunks byte-exact", () => {
    const m = PhysicalMemory.sparseAll({
      physAddrBits: 52,
      keyIdBits: 0,
      backing: { initialChunkFrames: 1, maxChunkFrames: 4 },
    });
    const rnd = seededRandom(3);
    const addrs: number[] = [];
    for (let i = 0; i < 300; i++) addrs.push(Math.floor(rnd() * 2 ** 40) * 4096 + Math.floor(rnd() * 4000));
    for (const [i, a] of addrs.entries())
      expect(m.write32(a, i * 2654435761, Initiator.Host)).toBe(MemStatus.Ok);
    const out = new Uint32Array(1);
    addrs.forEach((a, i) => {
      expect(m.read32(a, Initiator.Host, out)).toBe(MemStatus.Ok);
      expect(out[0]).toBe((i * 2654435761) >>> 0);
    });
    expect(m.stats().chunks).toBeGreaterThan(50);
  });

  it("keeps frames apart that share low frame-number bits at every radix level", () => {
    const m = PhysicalMemory.sparseAll({ physAddrBits: 52, keyIdBits: 0 });
    // strides of 1, 512 (a leaf), 2^22 (a mid node) and 2^31 frames from a common base
    const frames = [0, 1, 511, 512, 513, 4096, 2 ** 22, 2 ** 22 + 512, 2 ** 31, 2 ** 31 + 2 ** 22 + 1];
    const base = 0x123;
    for (const [i, f] of frames.entries()) {
      expect(m.write32((base + f) * 4096 + 8, 0x1000 + i, Initiator.Host)).toBe(0);
    }
    const out = new Uint32Array(1);
    frames.forEach((f, i) => {
      expect(m.read32((base + f) * 4096 + 8, Initiator.Host, out)).toBe(0);
      expect(out[0]).toBe(0x1000 + i);
    });
    expect(m.stats().allocatedFrames).toBe(frames.length);
  });

  it("copies across chunk boundaries and between non-adjacent frames byte-exactly", () => {
    const m = PhysicalMemory.sparseAll({
      physAddrBits: 46,
      backing: { initialChunkFrames: 2, maxChunkFrames: 2 },
    });
    const data = new Uint8Array(5 * 4096).map((_, i) => (i * 13) & 0xff);
    // touch destination frames in scrambled order so they land in different chunks
    for (const f of [3, 0, 4, 1, 2]) m.fill(0x40000000 + f * 4096, 1, 0, Initiator.Host);
    expect(m.write(0x1000, data, Initiator.Host)).toBe(MemStatus.Ok);
    expect(m.copy(0x40000000 + 100, 0x1000, data.length - 200, Initiator.Host)).toBe(MemStatus.Ok);
    const b = new Uint8Array(data.length - 200);
    expect(m.read(0x40000000 + 100, b, Initiator.Host)).toBe(MemStatus.Ok);
    expect(b).toEqual(data.subarray(0, data.length - 200));
  });
});
