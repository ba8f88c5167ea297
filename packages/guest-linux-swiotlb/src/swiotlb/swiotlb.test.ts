/**
 * The Linux bounce layer: the reference's worked examples (§c.7), release merging (§c.6), the full
 * message (§c.5), debugfs (§c.8), max mapping size (§d.3), the segment boundary (§c.3.4) and
 * partial syncs (§d.2).
 */
import { describe, expect, it } from "vitest";
import { DmaDevice } from "../device";
import { DmaAttr, DmaDirection } from "../dma/constants";
import { RecordingEncryptionOps } from "../memory/conversion";
import { FlatGuestMemory } from "../memory/guest-memory";
import { createLinuxPolicy } from "../policy/linux";
import { BOUNCE_MAP_ERROR, BounceStatus } from "../policy/types";
import type { Swiotlb } from "./swiotlb";
import { swiotlbMaxMappingSize } from "./swiotlb";

const BASE = 0x20_0000; // 2 MiB aligned
const plain = new DmaDevice({ name: "0000:00:03.0" });
const nvme = new DmaDevice({ name: "0000:00:04.0", driver: "nvme", minAlignMask: 0xfff });

function linux(
  nslabs = 1024,
  nareas = 1,
  memory: FlatGuestMemory | null = new FlatGuestMemory(8 * 1024 * 1024),
): Swiotlb {
  return createLinuxPolicy({ nslabs, nareas, poolBase: BASE, memory });
}

function takenSlots(s: Swiotlb): number[] {
  const pool = s.mem.defpool!;
  const out: number[] = [];
  for (let i = 0; i < pool.nslabs; i++) if (pool.listAt(i) === 0) out.push(i);
  return out;
}

describe("worked examples (§c.7): empty 1024-slot pool, one area", () => {
  it("rows 1-4 in order on one pool", () => {
    const s = linux();
    const bi = DmaDirection.Bidirectional;
    expect(s.mapSingle(plain, 0x1000, 1500, 0, bi, 0, 0) - BASE).toBe(0);
    expect(takenSlots(s)).toEqual([0]);
    expect(s.mapSingle(plain, 0x2000, 4096, 0, bi, 0, 0) - BASE).toBe(4096);
    expect(takenSlots(s)).toEqual([0, 2, 3]);
    expect(s.mapSingle(nvme, 0x4321, 4096, 0, bi, 0, 0) - BASE).toBe(8993);
    expect(takenSlots(s)).toEqual([0, 2, 3, 4, 5, 6]);
    expect(s.mapSingle(nvme, 0x4321, 4096, 0xfff, bi, 0, 0) - BASE).toBe(17185);
    expect(takenSlots(s)).toEqual([0, 2, 3, 4, 5, 6, 8, 9, 10, 11]);
    // Row 5 applied after row 4 takes slots 12-15 and returns 27169.
    expect(s.mapSingle(nvme, 0x4a21, 4096, 0xfff, bi, 0, 0) - BASE).toBe(27169);
    expect(s.mem.defpool!.checkInvariant()).toBeUndefined();
  });

  it("row 5 on a fresh pool: one padding slot before the data", () => {
    const s = linux();
    const tlb = s.mapSingle(nvme, 0x4a21, 4096, 0xfff, DmaDirection.ToDevice, 0, 0);
    expect(tlb - BASE).toBe(2593);
    expect(takenSlots(s)).toEqual([0, 1, 2, 3]);
    const pool = s.mem.defpool!;
    expect(pool.padSlots[1]).toBe(1);
    expect(pool.origAddr[0]).toBe(-1); // the padding slot has no original
    expect(pool.origAddr[1]).toBe(0x4a21);
    expect(pool.origAddr[2]).toBe(0x4a21 + 2048);
    // Unmapping frees all four slots (release steps back over the padding).
    expect(s.unmapSingle(nvme, tlb, 4096, DmaDirection.ToDevice, 0)).toBe(BounceStatus.Ok);
    expect(takenSlots(s)).toEqual([]);
    expect(pool.listAt(0)).toBe(128);
  });
});

describe("release (§c.6)", () => {
  it("merges with the free slots after and before the run inside the segment", () => {
    const s = linux();
    const to = DmaDirection.ToDevice;
    const a = s.mapSingle(plain, 0x1000, 100, 0, to, 0, 0);
    const b = s.mapSingle(plain, 0x1000, 100, 0, to, 0, 0);
    const c = s.mapSingle(plain, 0x1000, 100, 0, to, 0, 0);
    const pool = s.mem.defpool!;
    const list = (): number[] => [0, 1, 2, 3].map((i) => pool.listAt(i));
    expect(list()).toEqual([0, 0, 0, 125]);
    s.unmapSingle(plain, b, 100, to, 0);
    expect(list().slice(0, 3)).toEqual([0, 1, 0]);
    s.unmapSingle(plain, a, 100, to, 0);
    expect(list().slice(0, 3)).toEqual([2, 1, 0]);
    s.unmapSingle(plain, c, 100, to, 0);
    expect(list()).toEqual([128, 127, 126, 125]);
    expect(s.mem.defpool!.checkInvariant()).toBeUndefined();
    expect(s.mem.totalUsed).toBe(0);
  });

  it("refuses an address that is not a live mapping, changing nothing", () => {
    const s = linux();
    const t = s.mapSingle(plain, 0x1000, 5000, 0, DmaDirection.ToDevice, 0, 0);
    expect(s.unmapSingle(plain, t + 2048, 100, DmaDirection.ToDevice, 0)).toBe(BounceStatus.NotMapped);
    expect(s.unmapSingle(plain, BASE + 100 * 2048, 100, DmaDirection.ToDevice, 0)).toBe(
      BounceStatus.NotMapped,
    );
    expect(s.unmapSingle(plain, 0x1000, 100, DmaDirection.ToDevice, 0)).toBe(BounceStatus.NotMapped);
    expect(s.mem.totalUsed).toBe(3);
    expect(s.unmapSingle(plain, t, 5000, DmaDirection.ToDevice, 0)).toBe(BounceStatus.Ok);
    expect(s.unmapSingle(plain, t, 5000, DmaDirection.ToDevice, 0)).toBe(BounceStatus.NotMapped);
  });
});

describe("failure (§c.5) and debugfs (§c.8)", () => {
  it("prints sz with the alignment offset, total and used slots", () => {
    const s = linux(1024, 1, null);
    for (let i = 0; i < 8; i++)
      expect(s.mapSingle(plain, 0x10_0000 * i, 262144, 0, 1, 0, 0)).not.toBe(BOUNCE_MAP_ERROR);
    expect(s.mapSingle(nvme, 0x123, 100, 0, DmaDirection.FromDevice, 0, 0)).toBe(BOUNCE_MAP_ERROR);
    const f = s.lastFailure!;
    expect(f).toEqual({
      kind: "full",
      size: 391,
      totalSlots: 1024,
      usedSlots: 1024,
      message:
        "nvme 0000:00:04.0: swiotlb buffer is full (sz: 391 bytes), total 1024 (slots), used 1024 (slots)",
    });
    expect(s.log.text()).toContain(f.message);
  });

  it("DMA_ATTR_NO_WARN suppresses the message but not the failure", () => {
    const s = linux(128, 1, null);
    expect(s.mapSingle(plain, 0, 262144, 0, 1, 0, 0)).not.toBe(BOUNCE_MAP_ERROR);
    const before = s.log.lines.length;
    expect(s.mapSingle(plain, 0, 10, 0, 1, DmaAttr.NoWarn, 0)).toBe(BOUNCE_MAP_ERROR);
    expect(s.log.lines.length).toBe(before);
    expect(s.stats().mapFailures).toBe(1);
  });

  it("a request over 256 KiB fails even on an empty pool", () => {
    const s = linux(1024, 1, null);
    expect(s.mapSingle(plain, 0, 262145, 0, 1, 0, 0)).toBe(BOUNCE_MAP_ERROR);
    expect(s.lastFailure).toMatchObject({ kind: "full", size: 262145, usedSlots: 0 });
  });

  it("debugfs: nslabs, used, hiwater (only 0 may be written)", () => {
    const s = linux(1024, 1, null);
    const a = s.mapSingle(plain, 0, 10000, 0, 1, 0, 0);
    s.mapSingle(plain, 0, 3000, 0, 1, 0, 0);
    expect(s.mem.debugfs()).toEqual({ io_tlb_nslabs: 1024, io_tlb_used: 7, io_tlb_used_hiwater: 7 });
    s.unmapSingle(plain, a, 10000, 1, 0);
    expect(s.mem.debugfs()).toEqual({ io_tlb_nslabs: 1024, io_tlb_used: 2, io_tlb_used_hiwater: 7 });
    expect(s.mem.writeHiwater(5)).toBe(-22);
    expect(s.mem.writeHiwater(0)).toBe(0);
    expect(s.mem.debugfs().io_tlb_used_hiwater).toBe(0);
    expect(s.stats().peakInUseBytes).toBe(7 * 2048);
  });

  it("with no pool every map fails with the boot-time message", () => {
    const s = createLinuxPolicy({ nslabs: 0, nareas: 1, poolBase: 0, memory: null });
    expect(s.mapSingle(plain, 0, 10, 0, 1, 0, 0)).toBe(BOUNCE_MAP_ERROR);
    expect(s.lastFailure?.kind).toBe("no-pool");
    expect(s.lastFailure?.message).toContain("Can not allocate SWIOTLB buffer earlier");
  });

  it("decrypts the whole pool once at init and prints the encryption notice once", () => {
    const conv = new RecordingEncryptionOps();
    const s = createLinuxPolicy({ nslabs: 1024, nareas: 1, poolBase: BASE, memory: null, conversions: conv });
    expect(conv.records).toEqual([{ kind: "decrypt", gpa: BASE, pages: 512, status: 0 }]);
    s.mapSingle(plain, 0, 10, 0, 1, 0, 0);
    s.mapSingle(plain, 0, 10, 0, 1, 0, 0);
    expect(s.log.text().filter((l) => l.includes("Memory encryption is active")).length).toBe(1);
    expect(s.stats()).toMatchObject({ conversions: 1, convertedPages: 512 });
  });
});

describe("max mapping size (§d.3)", () => {
  it("is 256 KiB, 252 KiB for NVMe's 0xFFF mask, 254 KiB for 0x7FF", () => {
    expect(swiotlbMaxMappingSize(0)).toBe(262144);
    expect(swiotlbMaxMappingSize(0xfff)).toBe(258048);
    expect(swiotlbMaxMappingSize(0x7ff)).toBe(260096);
    expect(linux().maxMappingSize(nvme)).toBe(258048);
  });

  it("252 KiB always fits an empty pool for NVMe; 256 KiB does not when bit 11 of orig is set", () => {
    const s = linux(1024, 1, null);
    expect(s.mapSingle(nvme, 0x1fff, 258048, 0, 1, 0, 0)).not.toBe(BOUNCE_MAP_ERROR);
    expect(s.mapSingle(nvme, 0x1fff, 262144, 0, 1, 0, 0)).toBe(BOUNCE_MAP_ERROR);
  });
});

describe("alignment rules (§c.3)", () => {
  it("maps of a page or more without masks are page aligned; smaller ones are not", () => {
    const s = linux(1024, 1, null);
    expect(s.mapSingle(plain, 0, 100, 0, 1, 0, 0) - BASE).toBe(0);
    expect(s.mapSingle(plain, 0, 4096, 0, 1, 0, 0) - BASE).toBe(4096);
    // The cursor moved past slot 3, so the next small map takes slot 4; slot 1 stays free.
    expect(s.mapSingle(plain, 0, 100, 0, 1, 0, 0) - BASE).toBe(8192);
    expect(s.mem.defpool!.listAt(1)).toBe(1);
  });

  it("keeps the min_align_mask bits of the original in the bounce address", () => {
    const s = linux(1024, 1, null);
    for (const orig of [0x1234, 0xabcdef, 0x7ff, 0x800, 0xfff, 123456789012]) {
      const t = s.mapSingle(nvme, orig, 512, 0, 1, 0, 0);
      expect(t % 4096).toBe(orig % 4096);
    }
  });

  it("a run never crosses the device's segment boundary", () => {
    const small = new DmaDevice({ name: "small-boundary", segBoundaryMask: 0xffff }); // 32-slot windows
    const s = linux(1024, 1, null);
    expect(s.mapSingle(small, 0, 30 * 2048, 0, 1, 0, 0) - BASE).toBe(0);
    // Slots 30-33 would cross the 64 KiB boundary at slot 32: the run starts at 32 instead.
    expect(s.mapSingle(small, 0, 4 * 2048, 0, 1, 0, 0) - BASE).toBe(32 * 2048);
    const s2 = linux(1024, 1, null);
    s2.mapSingle(plain, 0, 30 * 2048, 0, 1, 0, 0);
    expect(s2.mapSingle(plain, 0, 4 * 2048, 0, 1, 0, 0) - BASE).toBe(30 * 2048);
  });

  it("starts the search in area cpu AND (nareas - 1)", () => {
    const s = linux(1024, 4, null);
    expect(s.mapSingle(plain, 0, 100, 0, 1, 0, 6) - BASE).toBe(2 * 256 * 2048);
    expect(s.mapSingle(plain, 0, 100, 0, 1, 0, 7) - BASE).toBe(3 * 256 * 2048);
  });
});

describe("copies (§d.2)", () => {
  function fill(mem: FlatGuestMemory, at: number, len: number, seed: number): void {
    for (let i = 0; i < len; i++) mem.bytes[at + i] = (i * 7 + seed) & 0xff;
  }

  it("a partial sync finds its source through the slot's original, even before the in-slot offset", () => {
    const mem = new FlatGuestMemory(8 * 1024 * 1024);
    const s = linux(1024, 1, mem);
    const orig = 0x10_0123;
    fill(mem, orig, 10000, 1);
    const tlb = s.mapSingle(nvme, orig, 10000, 0, DmaDirection.ToDevice, 0, 0);
    expect(mem.bytes.subarray(tlb, tlb + 10000)).toEqual(mem.bytes.subarray(orig, orig + 10000));
    // The driver rewrites [3905, 4205) of the buffer and syncs just that range: the range starts
    // in slot 2 at in-slot offset 100, below the mapping's in-slot offset 0x123.
    fill(mem, orig + 3905, 300, 99);
    expect(s.syncSingleForDevice(nvme, tlb + 3905, 300, DmaDirection.ToDevice)).toBe(BounceStatus.Ok);
    expect(mem.bytes.subarray(tlb, tlb + 10000)).toEqual(mem.bytes.subarray(orig, orig + 10000));
    expect(s.stats()).toMatchObject({ copies: 2, copiedBytes: 10300 });
  });

  it("truncates a copy past the allocation with the overflow warning", () => {
    const mem = new FlatGuestMemory(8 * 1024 * 1024);
    const s = linux(1024, 1, mem);
    const tlb = s.mapSingle(plain, 0x1000, 3000, 0, DmaDirection.FromDevice, 0, 0);
    expect(s.syncSingleForCpu(plain, tlb, 5000, DmaDirection.FromDevice)).toBe(BounceStatus.Ok);
    expect(s.stats().copiedBytes).toBe(3000 + 3000);
    expect(
      s.log
        .text()
        .some((l) => l.includes("Buffer overflow detected. Allocation size: 3000. Mapping size: 5000.")),
    ).toBe(true);
  });

  it("refuses a zero size, a bad alloc mask and an address outside [0, 2^52) with typed errors", () => {
    const s = linux(1024, 1, null);
    expect(() => s.mapSingle(plain, 0, 0, 0, 1, 0, 0)).toThrow(/mapping size 0/);
    expect(() => s.mapSingle(plain, 0, 10, 6, 1, 0, 0)).toThrow(/alloc_align_mask/);
    expect(() => s.mapSingle(plain, -1, 10, 0, 1, 0, 0)).toThrow(/not inside/);
    expect(() => s.mapSingle(plain, 2 ** 52 - 5, 10, 0, 1, 0, 0)).toThrow(/not inside/);
    expect(s.stats().maps).toBe(0);
  });

  it("DMA_NONE on a sync is a kernel BUG_ON: a typed error", () => {
    const s = linux(1024, 1, null);
    const tlb = s.mapSingle(plain, 0, 100, 0, 1, 0, 0);
    expect(() => s.syncSingleForCpu(plain, tlb, 100, DmaDirection.None)).toThrow(/BUG_ON/);
  });
});
