/**
 * The cc-swiotlb proposal as posted (§f; the RFC's cc-swiotlb.c): class choice, the boot refill,
 * kccd's watermark rule and delay, LIFO reuse, running out, the 512 KiB limit and the partial-sync
 * behaviour.
 */
import { describe, expect, it } from "vitest";
import { DmaDevice } from "../device";
import { DmaDirection } from "../dma/constants";
import { RecordingEncryptionOps } from "../memory/conversion";
import { FlatGuestMemory } from "../memory/guest-memory";
import { RangePageAllocator } from "../memory/page-allocator";
import { CC_SLOT_SIZES } from "./cc-buffers";
import { CC_DEFAULT_WATERMARKS, CcSwiotlb } from "./cc-swiotlb";
import { BOUNCE_MAP_ERROR, BounceStatus } from "./types";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;
const plain = new DmaDevice({ name: "0000:00:03.0", driver: "virtio-pci" });
const nvme = new DmaDevice({ name: "0000:00:04.0", driver: "nvme", minAlignMask: 0xfff });

describe("size classes (tr_index)", () => {
  it("takes the smallest class that fits and is not a bit of the alignment mask", () => {
    expect(CC_SLOT_SIZES).toEqual([512, 2048, 4096, 16384, 524288]);
    expect(CcSwiotlb.classFor(100, 0)).toBe(0);
    expect(CcSwiotlb.classFor(512, 0)).toBe(0);
    expect(CcSwiotlb.classFor(513, 0)).toBe(1);
    expect(CcSwiotlb.classFor(2049, 0)).toBe(2);
    expect(CcSwiotlb.classFor(4097, 0)).toBe(3);
    expect(CcSwiotlb.classFor(16385, 0)).toBe(4);
    expect(CcSwiotlb.classFor(524289, 0)).toBe(-1);
    expect(CcSwiotlb.classFor(100, 0x7ff)).toBe(1);
    expect(CcSwiotlb.classFor(100, 0xfff)).toBe(2);
  });
});

describe("cc-swiotlb", () => {
  it("fills every class to its watermark at boot: 96.125 MiB in 25 decrypted chunks of at most 4 MiB", () => {
    const conv = new RecordingEncryptionOps();
    const cc = new CcSwiotlb({
      memory: null,
      pageAllocator: new RangePageAllocator(4 * GiB, 4 * GiB),
      conversions: conv,
    });
    expect(Array.from(cc.freeCount)).toEqual([...CC_DEFAULT_WATERMARKS]);
    expect(cc.stats().reservedBytes).toBe(
      256 * 512 + 16384 * 2048 + 8192 * 4096 + 1024 * 16384 + 32 * 524288,
    );
    expect(conv.records.length).toBe(25);
    expect(Math.max(...conv.records.map((r) => r.pages))).toBe(1024);
  });

  it("puts the original's min_align_mask bits in the bounce address, choosing a class large enough", () => {
    const cc = new CcSwiotlb({
      memory: null,
      pageAllocator: new RangePageAllocator(4 * GiB, GiB),
      watermarks: [4, 4, 4, 4, 4],
    });
    const t = cc.mapSingle(nvme, 0x1_2f00, 512, 0, DmaDirection.ToDevice, 0, 0);
    expect(t % 4096).toBe(0xf00);
    expect(cc.stats().inUseBytes).toBe(16384); // 512 + 0xF00 > 4 KiB: the 16 KiB class
  });

  it("wakes kccd below half a watermark, refills after the delay every class at or below its watermark", () => {
    const cc = new CcSwiotlb({
      memory: null,
      pageAllocator: new RangePageAllocator(4 * GiB, GiB),
      watermarks: [4, 4, 4, 4, 4],
      kccdDelayOps: 3,
    });
    const t: number[] = [];
    for (let i = 0; i < 4; i++) t.push(cc.mapSingle(plain, 0x1000, 100, 0, DmaDirection.ToDevice, 0, 0));
    expect(t.every((x) => x !== BOUNCE_MAP_ERROR)).toBe(true);
    // The third take left 1 < 4/2 free and woke kccd (due three operations later); the class is empty now.
    expect(cc.mapSingle(plain, 0x1000, 100, 0, DmaDirection.ToDevice, 0, 0)).toBe(BOUNCE_MAP_ERROR);
    expect(cc.lastFailure).toEqual({
      kind: "no-buffer",
      size: 100,
      tooLarge: false,
      message: "virtio-pci 0000:00:03.0: No memory for cc-swiotlb buffer (sz: 100 bytes)",
    });
    expect(cc.log.text()).toContain("virtio-pci 0000:00:03.0: Fail to alloc cc swiotlb slot");
    expect(cc.mapSingle(plain, 0x1000, 100, 0, DmaDirection.ToDevice, 0, 0)).not.toBe(BOUNCE_MAP_ERROR);
    // kccd added one watermark to every class at or below its watermark (all five).
    expect(Array.from(cc.totalCount)).toEqual([8, 8, 8, 8, 8]);
    expect(cc.kccdRuns).toBe(2);
  });

  it("reuses the most recently freed buffer first (list_add at the head)", () => {
    const cc = new CcSwiotlb({
      memory: null,
      pageAllocator: new RangePageAllocator(4 * GiB, GiB),
      watermarks: [8, 8, 8, 8, 8],
    });
    const a = cc.mapSingle(plain, 0, 1000, 0, DmaDirection.ToDevice, 0, 0);
    const b = cc.mapSingle(plain, 0, 1000, 0, DmaDirection.ToDevice, 0, 0);
    expect(cc.unmapSingle(plain, a, 1000, DmaDirection.ToDevice, 0)).toBe(BounceStatus.Ok);
    expect(cc.mapSingle(plain, 0, 1000, 0, DmaDirection.ToDevice, 0, 0)).toBe(a);
    expect(b).not.toBe(a);
  });

  it("refuses more than 512 KiB (with the NVMe offset too) and reports 512 KiB as the max mapping size", () => {
    const cc = new CcSwiotlb({
      memory: null,
      pageAllocator: new RangePageAllocator(4 * GiB, GiB),
      watermarks: [4, 4, 4, 4, 4],
    });
    expect(cc.maxMappingSize(nvme)).toBe(524288);
    expect(cc.mapSingle(plain, 0, 524288, 0, 1, 0, 0)).not.toBe(BOUNCE_MAP_ERROR);
    expect(cc.mapSingle(nvme, 0x10, 524288, 0, 1, 0, 0)).toBe(BOUNCE_MAP_ERROR);
    expect(cc.lastFailure).toMatchObject({ kind: "no-buffer", tooLarge: true });
    expect(cc.log.text()).toContain("Try to allocate too large TLB with size 524304 align_mask fff");
  });

  it("reports running out of memory for a refill", () => {
    const cc = new CcSwiotlb({
      memory: null,
      pageAllocator: new RangePageAllocator(4 * GiB, 8 * MiB),
      watermarks: [4, 4, 4, 4, 16],
    });
    expect(cc.refillFailures).toBe(1);
    expect(cc.log.text()).toContain("cc-swiotlb: No memory for cc swiotlb!");
  });

  it("as posted, a partial sync copies from the original's start; with the fix, from the matching offset", () => {
    for (const fix of [false, true]) {
      const mem = new FlatGuestMemory(64 * MiB);
      const cc = new CcSwiotlb({
        memory: mem,
        pageAllocator: new RangePageAllocator(32 * MiB, 32 * MiB),
        watermarks: [4, 4, 4, 4, 4],
        fixPartialSync: fix,
      });
      const orig = 0x10_0000;
      mem.bytes.fill(0x11, orig, orig + 8192);
      const tlb = cc.mapSingle(plain, orig, 8192, 0, DmaDirection.FromDevice, 0, 0);
      mem.bytes.fill(0xee, tlb + 4096, tlb + 5096); // the device writes 1000 bytes at offset 4096
      expect(cc.syncSingleForCpu(plain, tlb + 4096, 1000, DmaDirection.FromDevice)).toBe(BounceStatus.Ok);
      const atStart = mem.bytes[orig]!;
      const atOffset = mem.bytes[orig + 4096]!;
      if (fix) expect([atStart, atOffset]).toEqual([0x11, 0xee]);
      else expect([atStart, atOffset]).toEqual([0xee, 0x11]);
    }
  });

  it("checks its options", () => {
    const pages = new RangePageAllocator(0, 4096);
    expect(() => new CcSwiotlb({ memory: null, pageAllocator: pages, watermarks: [1, 2, 3] })).toThrow(
      /watermarks/,
    );
    expect(() => new CcSwiotlb({ memory: null, pageAllocator: pages, kccdDelayOps: -1 })).toThrow(
      /kccdDelayOps/,
    );
  });
});
