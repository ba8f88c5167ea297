/**
 * Guest memory access (flat, and through the TD's view of @tdx/hw-cpu-seam's PhysicalMemory with
 * private and shared KeyIDs), the page allocator and memblock.
 */
import { Initiator, MemStatus, PhysicalMemory } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { DmaDevice } from "../device";
import { DmaDirection } from "../dma/constants";
import { createLinuxPolicy } from "../policy/linux";
import { RecordingEncryptionOps } from "./conversion";
import { FlatGuestMemory, TranslatedGuestMemory } from "./guest-memory";
import { TopDownMemblock } from "./memblock";
import { atomicPoolDefaultBytes, RangePageAllocator } from "./page-allocator";

const MiB = 1024 * 1024;

describe("FlatGuestMemory", () => {
  it("copies, reads, writes and fills inside its range and reports Hole outside", () => {
    const m = new FlatGuestMemory(8192, 0x1000);
    expect(m.write(0x1000, Uint8Array.of(1, 2, 3))).toBe(MemStatus.Ok);
    expect(m.copy(0x2000, 0x1000, 3)).toBe(MemStatus.Ok);
    const out = new Uint8Array(3);
    expect(m.read(0x2000, out)).toBe(MemStatus.Ok);
    expect(Array.from(out)).toEqual([1, 2, 3]);
    expect(m.copy(0x2ffe, 0x1000, 3)).toBe(MemStatus.Hole);
    expect(m.read(0, out)).toBe(MemStatus.Hole);
    expect(m.fill(0x1000, 2, 0x1ff)).toBe(MemStatus.Ok);
    expect(m.bytes[0]).toBe(0xff);
    expect(() => new FlatGuestMemory(0)).toThrow(/not allowed/);
  });
});

describe("TranslatedGuestMemory over PhysicalMemory (a TD's private and shared KeyIDs)", () => {
  it("bounces between a private original and the shared pool; the host sees only the shared copy", () => {
    const phys = PhysicalMemory.sparseAll({ physAddrBits: 46, keyIdBits: 6 });
    const PRIVATE = 32; // a TDX private KeyID of the default partition ([16, 64) for 6 bits)
    const conv = new RecordingEncryptionOps();
    const POOL = 0x4000_0000;
    const policy = createLinuxPolicy({
      nslabs: 128,
      nareas: 1,
      poolBase: POOL,
      memory: null,
      conversions: conv,
    });
    // The TD's view: pages converted to shared use KeyID 0, the rest the TD's private KeyID.
    const isShared = (gpa: number) =>
      conv.records.some(
        (r) => r.kind === "decrypt" && r.status === 0 && gpa >= r.gpa && gpa < r.gpa + r.pages * 4096,
      );
    const memory = new TranslatedGuestMemory(phys, (g) => (isShared(g) ? g : phys.withKeyId(g, PRIVATE)));
    const s = createLinuxPolicy({ nslabs: 128, nareas: 1, poolBase: POOL, memory, conversions: conv });
    expect(policy.mem.nslabs).toBe(128);
    const orig = 0x10_0800; // spans two private pages
    for (const page of [0x10_0000, 0x10_1000])
      expect(phys.initPage(phys.withKeyId(page, PRIVATE), Initiator.Td)).toBe(MemStatus.Ok);
    const data = Uint8Array.from({ length: 3000 }, (_, i) => (i * 13) & 0xff);
    expect(memory.write(orig, data)).toBe(MemStatus.Ok);
    const dev = new DmaDevice({ name: "0000:00:03.0" });
    const tlb = s.mapSingle(dev, orig, 3000, 0, DmaDirection.ToDevice, 0, 0);
    const host = new Uint8Array(3000);
    expect(phys.read(tlb, host, Initiator.Host)).toBe(MemStatus.Ok);
    expect(host).toEqual(data);
    expect(phys.read(phys.withKeyId(orig, PRIVATE), host, Initiator.Host)).toBe(MemStatus.KeyIdNotAllowed);
  });

  it("reports a page without translation as a Hole", () => {
    const phys = PhysicalMemory.sparseAll({ physAddrBits: 46, keyIdBits: 6 });
    const m = new TranslatedGuestMemory(phys, (g) => (g < 0x1000 ? g : -1));
    expect(m.fill(0, 4096, 1)).toBe(MemStatus.Ok);
    expect(m.fill(0, 4097, 1)).toBe(MemStatus.Hole);
    expect(m.copy(0x800, 0, 0x900)).toBe(MemStatus.Hole);
  });
});

describe("RangePageAllocator", () => {
  it("aligns buddy blocks to their order, honours the limit, coalesces on free", () => {
    const a = new RangePageAllocator(0x1000, 16 * MiB - 0x1000);
    const x = a.alloc(4096, Number.MAX_SAFE_INTEGER);
    expect(x).toBe(0x1000);
    const y = a.alloc(4 * MiB, Number.MAX_SAFE_INTEGER);
    expect(y % (4 * MiB)).toBe(0);
    expect(a.alloc(4 * MiB, 6 * MiB)).toBe(-1); // the only 4 MiB-aligned holes below 6 MiB are taken
    a.free(y, 4 * MiB);
    a.free(x, 4096);
    expect(a.allocatedBytes()).toBe(0);
    expect(a.alloc(16 * MiB - 0x1000, Number.MAX_SAFE_INTEGER)).toBe(-1); // buddy alignment of a 16 MiB block
    const g = new RangePageAllocator(0x1000, 16 * MiB - 0x1000, { buddyAligned: false });
    expect(g.alloc(16 * MiB - 0x1000, Number.MAX_SAFE_INTEGER)).toBe(0x1000);
    expect(() => g.free(0x2000, 4096)).toThrow(/no live allocation/);
  });

  it("sizes the atomic pool at 128 KiB per GiB, 128 KiB to 4 MiB", () => {
    expect(atomicPoolDefaultBytes(512 * MiB)).toBe(128 * 1024);
    expect(atomicPoolDefaultBytes(4 * 1024 * MiB)).toBe(512 * 1024);
    expect(atomicPoolDefaultBytes(64 * 1024 * MiB)).toBe(4 * MiB);
  });
});

describe("TopDownMemblock", () => {
  it("takes the highest fitting block below 4 GiB, never above", () => {
    const mb = new TopDownMemblock([
      [0, 0x1000_0000],
      [0x1_0000_0000, 0x2_0000_0000],
    ]);
    expect(mb.allocLow(MiB)).toBe(0x1000_0000 - MiB);
    expect(mb.allocLow(0x1000_0000)).toBe(-1);
    expect(() => new TopDownMemblock([[5, 5]])).toThrow(/invalid/);
  });
});
