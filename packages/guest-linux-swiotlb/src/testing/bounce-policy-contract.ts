/**
 * The contract every bounce-buffer policy must keep, whatever its allocator: live buffers never
 * overlap each other or the originals; the data round-trips in every direction with the kernel's
 * copy rules (the map always copies in, CVE-2022-0854; unmap and syncs copy only in their
 * directions); the bounce address keeps the min_align_mask bits of the original and the buffer
 * start honours alloc_align_mask; failures and bad addresses are values that change nothing; the
 * accounting adds up. Run it against a policy with `describeBouncePolicyContract`.
 *
 * @spec shared/reference/swiotlb.md §c.4 (alignment guarantees), §c.5, §d.2 (copy directions)
 */
import { MemStatus, SeededRandom } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { DmaDevice } from "../device";
import { DmaAttr, DmaDirection } from "../dma/constants";
import type { GuestMemory } from "../memory/guest-memory";
import { BOUNCE_MAP_ERROR, type BouncePolicy, BounceStatus } from "../policy/types";

/** A fresh policy and the guest memory its copies use. */
export interface BouncePolicyHarness {
  readonly policy: BouncePolicy;
  readonly memory: GuestMemory;
  /** A region for original buffers, disjoint from all bounce memory. */
  readonly origBase: number;
  readonly origBytes: number;
}

export interface BouncePolicyContractOptions {
  /** Whether a sync of a sub-range copies the matching bytes (Linux: yes; cc-swiotlb as posted: no). */
  readonly partialSync: boolean;
  /** PRNG seed for the randomised parts (default 1). */
  readonly seed?: number;
}

/** A deterministic [0, 1) source, seeded, so a failing workload reproduces. */
function rng(seed: number): () => number {
  const r = new SeededRandom(seed);
  return () => r.next();
}

function pattern(len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = (i * 131 + seed * 17 + (i >> 9)) & 0xff;
  return b;
}

function readBytes(mem: GuestMemory, at: number, len: number): Uint8Array {
  const b = new Uint8Array(len);
  expect(mem.read(at, b)).toBe(MemStatus.Ok);
  return b;
}

const DIRS = [DmaDirection.ToDevice, DmaDirection.FromDevice, DmaDirection.Bidirectional] as const;

/** Register the bounce-policy contract tests for one implementation. */
export function describeBouncePolicyContract(
  name: string,
  make: () => BouncePolicyHarness,
  opts: BouncePolicyContractOptions,
): void {
  const plain = new DmaDevice({ name: "contract-plain" });
  const nvme = new DmaDevice({ name: "contract-nvme", driver: "nvme", minAlignMask: 0xfff });

  describe(`bounce-policy contract: ${name}`, () => {
    it("copies the original into the bounce buffer at map time, whatever the direction", () => {
      const h = make();
      for (const dir of DIRS) {
        const orig = h.origBase + 0x1000 + dir * 0x10000 + 0x123;
        const data = pattern(5000, dir);
        h.memory.write(orig, data);
        const tlb = h.policy.mapSingle(plain, orig, 5000, 0, dir, 0, 0);
        expect(tlb).not.toBe(BOUNCE_MAP_ERROR);
        expect(readBytes(h.memory, tlb, 5000)).toEqual(data);
        expect(h.policy.unmapSingle(plain, tlb, 5000, dir, 0)).toBe(BounceStatus.Ok);
      }
    });

    it("from-device: unmap copies the device's bytes back and unwritten bytes keep the original", () => {
      const h = make();
      const orig = h.origBase + 0x2000;
      const data = pattern(8192, 3);
      h.memory.write(orig, data);
      const tlb = h.policy.mapSingle(plain, orig, 8192, 0, DmaDirection.FromDevice, 0, 0);
      const dev = pattern(3000, 200);
      h.memory.write(tlb, dev); // the device writes only the first 3000 bytes
      expect(h.policy.unmapSingle(plain, tlb, 8192, DmaDirection.FromDevice, 0)).toBe(BounceStatus.Ok);
      const after = readBytes(h.memory, orig, 8192);
      expect(after.subarray(0, 3000)).toEqual(dev);
      expect(after.subarray(3000)).toEqual(data.subarray(3000));
    });

    it("to-device: neither unmap nor sync-for-cpu copies back", () => {
      const h = make();
      const orig = h.origBase + 0x4000;
      const data = pattern(4096, 5);
      h.memory.write(orig, data);
      const tlb = h.policy.mapSingle(plain, orig, 4096, 0, DmaDirection.ToDevice, 0, 0);
      h.memory.write(tlb, pattern(4096, 77));
      expect(h.policy.syncSingleForCpu(plain, tlb, 4096, DmaDirection.ToDevice)).toBe(BounceStatus.Ok);
      expect(h.policy.unmapSingle(plain, tlb, 4096, DmaDirection.ToDevice, 0)).toBe(BounceStatus.Ok);
      expect(readBytes(h.memory, orig, 4096)).toEqual(data);
    });

    it("syncs copy only in their directions; bidirectional copies both ways", () => {
      const h = make();
      const orig = h.origBase + 0x8000;
      h.memory.write(orig, pattern(2000, 1));
      const tlb = h.policy.mapSingle(plain, orig, 2000, 0, DmaDirection.Bidirectional, 0, 0);
      // CPU updates the original, syncs for device: the bounce sees it.
      h.memory.write(orig, pattern(2000, 2));
      expect(h.policy.syncSingleForDevice(plain, tlb, 2000, DmaDirection.Bidirectional)).toBe(
        BounceStatus.Ok,
      );
      expect(readBytes(h.memory, tlb, 2000)).toEqual(pattern(2000, 2));
      // Device writes, sync for CPU: the original sees it.
      h.memory.write(tlb, pattern(2000, 3));
      expect(h.policy.syncSingleForCpu(plain, tlb, 2000, DmaDirection.Bidirectional)).toBe(BounceStatus.Ok);
      expect(readBytes(h.memory, orig, 2000)).toEqual(pattern(2000, 3));
      // A from-device sync for device copies nothing.
      h.memory.write(orig, pattern(2000, 4));
      const before = readBytes(h.memory, tlb, 2000);
      expect(h.policy.syncSingleForDevice(plain, tlb, 2000, DmaDirection.FromDevice)).toBe(BounceStatus.Ok);
      expect(readBytes(h.memory, tlb, 2000)).toEqual(before);
      h.policy.unmapSingle(plain, tlb, 2000, DmaDirection.Bidirectional, DmaAttr.SkipCpuSync);
      // SKIP_CPU_SYNC: the unmap did not copy the bounce back over the CPU's new data.
      expect(readBytes(h.memory, orig, 2000)).toEqual(pattern(2000, 4));
    });

    if (opts.partialSync) {
      it("a sync of a sub-range copies exactly the matching bytes", () => {
        const h = make();
        const orig = h.origBase + 0x1_0321;
        h.memory.write(orig, pattern(12000, 9));
        const tlb = h.policy.mapSingle(nvme, orig, 12000, 0, DmaDirection.Bidirectional, 0, 0);
        h.memory.write(tlb + 5000, pattern(1000, 10));
        expect(h.policy.syncSingleForCpu(nvme, tlb + 5000, 1000, DmaDirection.FromDevice)).toBe(
          BounceStatus.Ok,
        );
        const after = readBytes(h.memory, orig, 12000);
        expect(after.subarray(5000, 6000)).toEqual(pattern(1000, 10));
        expect(after.subarray(0, 5000)).toEqual(pattern(12000, 9).subarray(0, 5000));
        expect(after.subarray(6000)).toEqual(pattern(12000, 9).subarray(6000));
      });
    }

    it("keeps min_align_mask bits and aligns the buffer start to alloc_align_mask", () => {
      const h = make();
      const r = rng(opts.seed ?? 1);
      const live: Array<[number, number, DmaDevice]> = [];
      for (let i = 0; i < 200; i++) {
        const dev = r() < 0.5 ? nvme : plain;
        const allocAlign = r() < 0.3 ? 0xfff : 0;
        const orig = h.origBase + Math.floor(r() * (h.origBytes - 70000));
        const size = 1 + Math.floor(r() * 60000);
        const tlb = h.policy.mapSingle(dev, orig, size, allocAlign, DmaDirection.ToDevice, 0, i);
        if (tlb === BOUNCE_MAP_ERROR) continue;
        const m = dev.minAlignMask;
        expect(tlb % (m + 1)).toBe(orig % (m + 1));
        const off = (orig % 4294967296) & m & (allocAlign | 0x7ff);
        expect((tlb - off) % (allocAlign + 1)).toBe(0);
        live.push([tlb, size, dev]);
        if (live.length > 20) {
          const [t, s, d] = live.shift()!;
          expect(h.policy.unmapSingle(d, t, s, DmaDirection.ToDevice, 0)).toBe(BounceStatus.Ok);
        }
      }
    });

    it("live buffers never overlap each other or the originals, under a random workload", () => {
      const h = make();
      const r = rng((opts.seed ?? 1) * 7 + 3);
      const live: Array<{ tlb: number; size: number; dev: DmaDevice }> = [];
      let mapped = 0;
      for (let i = 0; i < 1500; i++) {
        if (live.length > 0 && (r() < 0.45 || live.length > 60)) {
          const k = Math.floor(r() * live.length);
          const m = live.splice(k, 1)[0]!;
          expect(h.policy.unmapSingle(m.dev, m.tlb, m.size, DmaDirection.ToDevice, 0)).toBe(BounceStatus.Ok);
          continue;
        }
        const dev = r() < 0.3 ? nvme : plain;
        const size = r() < 0.7 ? 1 + Math.floor(r() * 2048) : 1 + Math.floor(r() * 65536);
        const orig = h.origBase + Math.floor(r() * (h.origBytes - 70000));
        const tlb = h.policy.mapSingle(dev, orig, size, 0, DmaDirection.ToDevice, 0, Math.floor(r() * 8));
        if (tlb === BOUNCE_MAP_ERROR) continue;
        mapped++;
        expect(tlb + size <= h.origBase || tlb >= h.origBase + h.origBytes).toBe(true);
        for (const o of live) {
          const disjoint = tlb + size <= o.tlb || o.tlb + o.size <= tlb;
          if (!disjoint) expect(`[${tlb}, +${size}) overlaps [${o.tlb}, +${o.size})`).toBe("disjoint");
        }
        expect(h.policy.isBounceBuffer(dev, tlb)).toBe(true);
        live.push({ tlb, size, dev });
      }
      expect(mapped).toBeGreaterThan(500);
      for (const m of live) h.policy.unmapSingle(m.dev, m.tlb, m.size, DmaDirection.ToDevice, 0);
      expect(h.policy.stats().liveMappings).toBe(0);
      expect(h.policy.stats().inUseBytes).toBe(0);
    });

    it("accounts maps, unmaps, failures, copies and bytes exactly", () => {
      const h = make();
      const p = h.policy;
      const base = p.stats();
      const a = p.mapSingle(plain, h.origBase, 1000, 0, DmaDirection.FromDevice, 0, 0);
      const b = p.mapSingle(plain, h.origBase + 0x10000, 3000, 0, DmaDirection.ToDevice, 0, 1);
      const tooBig = p.maxMappingSize(plain) + 1;
      expect(p.mapSingle(plain, h.origBase, tooBig, 0, DmaDirection.ToDevice, 0, 0)).toBe(BOUNCE_MAP_ERROR);
      p.syncSingleForCpu(plain, a, 1000, DmaDirection.FromDevice);
      p.syncSingleForCpu(plain, b, 3000, DmaDirection.ToDevice); // no copy
      p.unmapSingle(plain, a, 1000, DmaDirection.FromDevice, 0);
      p.unmapSingle(plain, b, 3000, DmaDirection.ToDevice, 0);
      const s = p.stats();
      expect(s.maps - base.maps).toBe(3);
      expect(s.mapFailures - base.mapFailures).toBe(1);
      expect(s.unmaps - base.unmaps).toBe(2);
      expect(s.syncs - base.syncs).toBe(2);
      // map a (1000) + map b (3000) + sync a (1000) + unmap a (1000).
      expect(s.copies - base.copies).toBe(4);
      expect(s.copiedBytes - base.copiedBytes).toBe(6000);
      expect(s.liveMappings).toBe(0);
      expect(s.inUseBytes).toBe(base.inUseBytes);
      expect(s.peakInUseBytes).toBeGreaterThanOrEqual(4000);
      expect(s.reservedBytes).toBeGreaterThan(0);
      expect(s.peakReservedBytes).toBeGreaterThanOrEqual(s.reservedBytes);
    });

    it("a failed map is a value with a reason and changes nothing", () => {
      const h = make();
      const before = h.policy.stats();
      const tlb = h.policy.mapSingle(
        nvme,
        h.origBase + 0xfff,
        h.policy.maxMappingSize(nvme) + 4096,
        0,
        1,
        0,
        0,
      );
      expect(tlb).toBe(BOUNCE_MAP_ERROR);
      const f = h.policy.lastFailure;
      expect(f).toBeDefined();
      expect(f!.message.length).toBeGreaterThan(0);
      const after = h.policy.stats();
      expect(after.inUseBytes).toBe(before.inUseBytes);
      expect(after.liveMappings).toBe(before.liveMappings);
      expect(after.copies).toBe(before.copies);
    });

    it("the maximum mapping size succeeds on a fresh policy", () => {
      const h = make();
      for (const dev of [plain, nvme]) {
        const max = h.policy.maxMappingSize(dev);
        const tlb = h.policy.mapSingle(dev, h.origBase, max, 0, DmaDirection.ToDevice, 0, 0);
        expect(tlb).not.toBe(BOUNCE_MAP_ERROR);
        h.policy.unmapSingle(dev, tlb, max, DmaDirection.ToDevice, 0);
      }
    });

    it("unmap and sync of an address that is not a live mapping answer NotMapped", () => {
      const h = make();
      const tlb = h.policy.mapSingle(plain, h.origBase, 100, 0, DmaDirection.ToDevice, 0, 0);
      expect(h.policy.unmapSingle(plain, h.origBase, 100, DmaDirection.ToDevice, 0)).toBe(
        BounceStatus.NotMapped,
      );
      expect(h.policy.isBounceBuffer(plain, h.origBase)).toBe(false);
      expect(h.policy.unmapSingle(plain, tlb, 100, DmaDirection.ToDevice, 0)).toBe(BounceStatus.Ok);
      expect(h.policy.unmapSingle(plain, tlb, 100, DmaDirection.ToDevice, 0)).toBe(BounceStatus.NotMapped);
      expect(h.policy.syncSingleForCpu(plain, tlb, 100, DmaDirection.FromDevice)).toBe(
        BounceStatus.NotMapped,
      );
      expect(h.policy.stats().unmaps).toBe(1);
    });
  });
}
