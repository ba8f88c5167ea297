/**
 * The Linux policies end to end: boot (sizing, placement, decryption, log) and the kernel's
 * free-run invariant after every operation of a reference trace and of a random multi-area
 * workload with a small segment boundary.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { SeededRandom } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { DmaDevice } from "../device";
import { DmaDirection } from "../dma/constants";
import { RecordingEncryptionOps } from "../memory/conversion";
import { TopDownMemblock } from "../memory/memblock";
import { RangePageAllocator } from "../memory/page-allocator";
import { runGuestOp, ScriptedEncryptionGuestOps } from "../td/scripted-encryption-ops";
import { parseTrace } from "../trace/format";
import { bootLinuxSwiotlb, bootLinuxSwiotlbOp, createLinuxPolicy } from "./linux";
import { BOUNCE_MAP_ERROR, BounceStatus } from "./types";

const GiB = 1024 * 1024 * 1024;
const dev = new DmaDevice({ name: "0000:00:03.0" });

describe("bootLinuxSwiotlb", () => {
  it("sizes, places below 4 GiB, decrypts the pool once and logs the boot lines first", () => {
    const conv = new RecordingEncryptionOps();
    const { sizing, policy } = bootLinuxSwiotlb({
      sizing: {
        ramBytes: 4 * GiB,
        possibleCpus: 8,
        memblock: new TopDownMemblock([[0x10_0000, 0x8000_0000]]),
      },
      memory: null,
      conversions: conv,
    });
    expect(sizing.base).toBe(0x7000_0000);
    expect(policy.mem.defpool).toMatchObject({ start: 0x7000_0000, nslabs: 131072, nareas: 8 });
    expect(conv.records).toEqual([{ kind: "decrypt", gpa: 0x7000_0000, pages: 65536, status: 0 }]);
    expect(policy.log.text()[0]).toBe("software IO TLB: SWIOTLB bounce buffer size adjusted to 245MB");
    expect(policy.forceBounce).toBe(true);
    expect(policy.mapSingle(dev, 0x1000, 100, 0, 1, 0, 3) - 0x7000_0000).toBe(3 * 16384 * 2048);
  });

  it("with swiotlb=noforce there is no pool and every map fails", () => {
    const { sizing, policy } = bootLinuxSwiotlb({
      sizing: {
        ramBytes: 4 * GiB,
        possibleCpus: 8,
        cmdline: "noforce",
        memblock: new TopDownMemblock([[0, 0x8000_0000]]),
      },
      memory: null,
    });
    expect(sizing.enabled).toBe(false);
    expect(policy.mapSingle(dev, 0, 10, 0, 1, 0, 0)).toBe(BOUNCE_MAP_ERROR);
    expect(policy.lastFailure?.kind).toBe("no-pool");
  });

  it("with dynamic pools grows at the requested default size", () => {
    const { policy } = bootLinuxSwiotlb({
      sizing: {
        ramBytes: GiB,
        possibleCpus: 1,
        cmdline: "1024",
        memblock: new TopDownMemblock([[0, 0x4000_0000]]),
      },
      memory: null,
      dynamic: {
        pageAllocator: new RangePageAllocator(0x8000_0000, 64 * 1024 * 1024),
        atomicPool: new RangePageAllocator(0x9000_0000, 1024 * 1024, { buddyAligned: false }),
        workDelayOps: 0,
      },
    });
    expect(policy.kind).toBe("linux-dynamic");
    for (let i = 0; i < 8; i++) policy.mapSingle(dev, 0, 262144, 0, 1, 0, 0);
    expect(policy.mapSingle(dev, 0, 100, 0, 1, 0, 0)).not.toBe(BOUNCE_MAP_ERROR);
    policy.runBackground(true);
    expect(policy.mem.pools[0]!.nslabs).toBe(1024);
  });
});

describe("the free-run counters stay the kernel's after every operation", () => {
  it("03-align-nvme (padding, min_align, two areas)", () => {
    const trace = parseTrace(
      readFileSync(join(import.meta.dirname, "../../fixtures/swiotlb-traces/03-align-nvme.in.jsonl"), "utf8"),
    );
    const s = createLinuxPolicy({
      nslabs: trace.header.nslabs,
      nareas: trace.header.nareas,
      poolBase: 0x20_0000,
      memory: null,
    });
    const devs = new Map<number, DmaDevice>();
    const live = new Map<string, { tlb: number; d: DmaDevice; size: number }>();
    const pool = s.mem.defpool!;
    for (const op of trace.ops) {
      if (op.op === "map") {
        let d = devs.get(op.minAlignMask);
        if (!d) {
          d = new DmaDevice({ name: `m${op.minAlignMask}`, minAlignMask: op.minAlignMask });
          devs.set(op.minAlignMask, d);
        }
        const tlb = s.mapSingle(d, op.orig, op.size, op.allocAlignMask, 0, 0, op.cpu);
        if (tlb !== BOUNCE_MAP_ERROR) live.set(op.id, { tlb, d, size: op.size });
      } else {
        const m = live.get(op.id)!;
        expect(s.unmapSingle(m.d, m.tlb, m.size, 0, 0)).toBe(BounceStatus.Ok);
      }
      const bad = pool.checkInvariant();
      if (bad !== undefined) expect(`line ${op.line}: ${bad}`).toBe("consistent");
    }
  });

  it("a random workload on 8 areas with a 64 KiB segment boundary", () => {
    const small = new DmaDevice({ name: "small", segBoundaryMask: 0xffff, minAlignMask: 0x3ff });
    const s = createLinuxPolicy({ nslabs: 2048, nareas: 8, poolBase: 0x40_0000, memory: null });
    const random = new SeededRandom(12345);
    const rnd = () => random.next();
    const live: Array<{ tlb: number; size: number }> = [];
    for (let i = 0; i < 3000; i++) {
      if (live.length > 0 && rnd() < 0.5) {
        const m = live.splice(Math.floor(rnd() * live.length), 1)[0]!;
        expect(s.unmapSingle(small, m.tlb, m.size, DmaDirection.ToDevice, 0)).toBe(BounceStatus.Ok);
      } else {
        const size = 1 + Math.floor(rnd() * 40000);
        const tlb = s.mapSingle(small, Math.floor(rnd() * 2 ** 40), size, rnd() < 0.2 ? 0xfff : 0, 1, 0, i);
        if (tlb !== BOUNCE_MAP_ERROR) {
          // No run crosses a 64 KiB boundary.
          const first = Math.floor((tlb - 0x40_0000) / 2048);
          expect(Math.floor(first / 32)).toBe(Math.floor((first + Math.ceil(size / 2048) - 1) / 32));
          live.push({ tlb, size });
        }
      }
      const bad = s.mem.defpool!.checkInvariant();
      if (bad !== undefined) expect(`op ${i}: ${bad}`).toBe("consistent");
    }
  });
});

describe("bootLinuxSwiotlbOp (the same boot as guest code)", () => {
  const sizing = { ramBytes: GiB, possibleCpus: 2, cmdline: "1024" };

  it("exits to the VMM once, for the pool's set_memory_decrypted, and counts it in the policy's stats", () => {
    const conv = new ScriptedEncryptionGuestOps();
    const run = runGuestOp(
      bootLinuxSwiotlbOp({
        sizing: { ...sizing, memblock: new TopDownMemblock([[0x10_0000, 0x4000_0000]]) },
        memory: null,
        conversions: conv,
      }),
    );
    expect(run.exits).toBe(1);
    expect(conv.records).toEqual([
      { kind: "decrypt", gpa: 0x4000_0000 - 2 * 1024 * 1024, pages: 512, status: 0 },
    ]);
    expect(run.value.policy.stats()).toMatchObject({ conversions: 1, convertedPages: 512 });
  });

  it("the synchronous boot refuses conversions that exit", () => {
    expect(() =>
      bootLinuxSwiotlb({
        sizing: { ...sizing, memblock: new TopDownMemblock([[0x10_0000, 0x4000_0000]]) },
        memory: null,
        conversions: new ScriptedEncryptionGuestOps(),
      }),
    ).toThrow(/swiotlb_update_mem_attributes .* needs a TD exit/);
  });
});
