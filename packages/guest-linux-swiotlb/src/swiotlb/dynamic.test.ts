/**
 * CONFIG_SWIOTLB_DYNAMIC (§e): a failing map schedules growth and takes a transient pool from the
 * atomic pool; the work item adds a pool of the default size (capped at 4 MiB) at the head of the
 * list; transient pools go away at unmap; debugfs counts transient slots.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { DmaDevice } from "../device";
import { DmaDirection } from "../dma/constants";
import { RecordingEncryptionOps } from "../memory/conversion";
import { RangePageAllocator } from "../memory/page-allocator";
import { createLinuxDynamicPolicy, createLinuxDynamicPolicyOp } from "../policy/linux";
import { BOUNCE_MAP_ERROR, BounceStatus } from "../policy/types";
import { runGuestOp, ScriptedEncryptionGuestOps } from "../td/scripted-encryption-ops";
import { DynamicPoolGrower } from "./dynamic";

const MiB = 1024 * 1024;
const dev = new DmaDevice({ name: "0000:00:05.0", driver: "virtio-pci" });
const BI = DmaDirection.Bidirectional;

function setup(
  opts: {
    nslabs?: number;
    nareas?: number;
    dynBytes?: number;
    atomicBytes?: number;
    delay?: number;
    defaultNslabs?: number;
  } = {},
) {
  const conv = new RecordingEncryptionOps();
  const pages = new RangePageAllocator(64 * MiB, opts.dynBytes ?? 32 * MiB);
  const atomic = new RangePageAllocator(8 * MiB, opts.atomicBytes ?? MiB, { buddyAligned: false });
  const s = createLinuxDynamicPolicy({
    nslabs: opts.nslabs ?? 128,
    nareas: opts.nareas ?? 1,
    poolBase: 16 * MiB,
    memory: null,
    conversions: conv,
    pageAllocator: pages,
    atomicPool: atomic,
    workDelayOps: opts.delay ?? 4,
    ...(opts.defaultNslabs !== undefined ? { defaultNslabs: opts.defaultNslabs } : {}),
  });
  return { s, conv, pages, atomic, grower: s.mem.grower as DynamicPoolGrower };
}

describe("dynamic pools", () => {
  it("serves a map the default pool cannot with a transient pool from the atomic pool", () => {
    const { s, atomic, grower } = setup();
    const full = s.mapSingle(dev, 0, 262144, 0, BI, 0, 0);
    expect(full - 16 * MiB).toBe(0);
    const t = s.mapSingle(dev, 0x1000, 4096, 0, BI, 0, 0);
    expect(t).not.toBe(BOUNCE_MAP_ERROR);
    expect(t >= 8 * MiB && t < 9 * MiB).toBe(true);
    expect(atomic.allocatedBytes()).toBe(4096);
    expect(dev.transientPools.length).toBe(1);
    expect(s.mem.debugfs()).toEqual({
      io_tlb_nslabs: 128,
      io_tlb_used: 130,
      io_tlb_used_hiwater: 130,
      io_tlb_transient_nslabs: 2,
    });
    expect(grower.pending).toBe(true);
    // Unmapping deletes the transient pool and gives the memory back to the atomic pool.
    expect(s.unmapSingle(dev, t, 4096, BI, 0)).toBe(BounceStatus.Ok);
    expect(dev.transientPools.length).toBe(0);
    expect(atomic.allocatedBytes()).toBe(0);
    expect(s.mem.debugfs()).toMatchObject({ io_tlb_used: 128, io_tlb_transient_nslabs: 0 });
  });

  it("runs the growth work item after its delay: a decrypted pool of the default size at the head of the list", () => {
    const { s, conv, grower } = setup({ delay: 4 });
    s.mapSingle(dev, 0, 262144, 0, BI, 0, 0); // op 1
    const t = s.mapSingle(dev, 0, 100, 0, BI, 0, 0); // op 2: schedules the work for op 6
    s.unmapSingle(dev, t, 100, BI, 0); // op 3
    expect(s.mem.pools.length).toBe(1);
    s.runBackground(); // op count 3 < 6: not yet
    expect(s.mem.pools.length).toBe(1);
    const a = s.mapSingle(dev, 0, 100, 0, BI, 0, 0); // op 4: transient again
    const b = s.mapSingle(dev, 0, 100, 0, BI, 0, 0); // op 5
    s.unmapSingle(dev, a, 100, BI, 0); // op 6: the work runs first
    expect(s.mem.pools.length).toBe(2);
    expect(s.mem.nslabs).toBe(256);
    expect(grower.poolsGrown).toBe(1);
    const grown = s.mem.pools[0]!;
    expect(grown.kind).toBe("dynamic");
    expect(grown.nslabs).toBe(128);
    expect(conv.records.at(-1)).toEqual({ kind: "decrypt", gpa: grown.start, pages: 64, status: 0 });
    // New maps go to the newest pool first.
    const c = s.mapSingle(dev, 0, 100, 0, BI, 0, 0);
    expect(grown.contains(c)).toBe(true);
    s.unmapSingle(dev, b, 100, BI, 0);
    expect(s.stats().pools).toBe(2);
  });

  it("caps a grown pool at 2048 slots (4 MiB) and limits its areas to 2048 / 128 = 16", () => {
    const { s } = setup({ nslabs: 4096, nareas: 32, defaultNslabs: 65536, delay: 0 });
    for (let cpu = 0; cpu < 32; cpu++)
      expect(s.mapSingle(dev, 0, 262144, 0, BI, 0, cpu)).not.toBe(BOUNCE_MAP_ERROR);
    s.mapSingle(dev, 0, 100, 0, BI, 0, 0); // full: schedules growth
    s.runBackground(true);
    const grown = s.mem.pools[0]!;
    expect(grown.nslabs).toBe(2048);
    expect(grown.nareas).toBe(16);
    expect(s.mem.defaultNareas).toBe(32);
  });

  it("halves a grown pool when the page allocator has less, and re-encrypts pages whose decryption failed", () => {
    const { s, conv } = setup({ defaultNslabs: 2048, dynBytes: 2 * MiB, delay: 0 });
    s.mapSingle(dev, 0, 262144, 0, BI, 0, 0);
    s.mapSingle(dev, 0, 100, 0, BI, 0, 0);
    conv.failNext();
    s.runBackground(true);
    // 4 MiB does not fit a 2 MiB region; 2 MiB fits but its decryption fails (re-encrypted, freed);
    // 1 MiB is then taken and decrypted.
    expect(s.mem.pools[0]!.nslabs).toBe(512);
    expect(conv.records.slice(1).map((r) => [r.kind, r.pages, r.status])).toEqual([
      ["decrypt", 512, -5],
      ["encrypt", 512, 0],
      ["decrypt", 256, 0],
    ]);
  });

  it('warns "Failed to allocate new pool" when no memory is left', () => {
    const { s, grower } = setup({ dynBytes: 4096, delay: 0 });
    s.mapSingle(dev, 0, 262144, 0, BI, 0, 0);
    s.mapSingle(dev, 0, 100, 0, BI, 0, 0);
    s.runBackground(true);
    expect(grower.growFailures).toBe(1);
    expect(s.log.text()).toContain("software IO TLB: Failed to allocate new pool");
  });

  it("fails the map when the atomic pool cannot hold a transient pool either", () => {
    const { s } = setup({ atomicBytes: 4096 });
    s.mapSingle(dev, 0, 262144, 0, BI, 0, 0);
    expect(s.mapSingle(dev, 0, 8192, 0, BI, 0, 0)).toBe(BOUNCE_MAP_ERROR);
    expect(s.lastFailure).toMatchObject({ kind: "full", size: 8192, totalSlots: 128, usedSlots: 128 });
  });

  it("rejects requests over 256 KiB up front, without scheduling growth", () => {
    const { s, grower } = setup();
    expect(s.mapSingle(dev, 0, 262145, 0, BI, 0, 0)).toBe(BOUNCE_MAP_ERROR);
    expect(grower.pending).toBe(false);
  });

  it("checks its delay option", () => {
    expect(
      () =>
        new DynamicPoolGrower({
          pageAllocator: new RangePageAllocator(0, 4096),
          atomicPool: new RangePageAllocator(4096, 4096),
          conversions: new RecordingEncryptionOps(),
          log: setup().s.log,
          defaultNslabs: 128,
          workDelayOps: -1,
        }),
    ).toThrow(/workDelayOps/);
  });
});

describe("dynamic pools inside a TD (growth decrypts, so the work item is guest code)", () => {
  // A device of its own per test: transient pools hang off the device.
  let dev = new DmaDevice({ name: "0000:00:06.0" });
  beforeEach(() => {
    dev = new DmaDevice({ name: "0000:00:06.0" });
  });

  function tdSetup(workItems: "inline" | "deferred") {
    const conv = new ScriptedEncryptionGuestOps();
    const atomic = new RangePageAllocator(8 * MiB, MiB, { buddyAligned: false });
    const boot = runGuestOp(
      createLinuxDynamicPolicyOp({
        nslabs: 128,
        nareas: 1,
        poolBase: 16 * MiB,
        memory: null,
        conversions: conv,
        pageAllocator: new RangePageAllocator(64 * MiB, 32 * MiB),
        atomicPool: atomic,
        workDelayOps: 2,
        workItems,
      }),
    );
    return { s: boot.value, bootExits: boot.exits, conv, grower: boot.value.mem.grower as DynamicPoolGrower };
  }

  it("deferred: maps and unmaps never run it; runBackgroundOp does, with one MapGPA exit", () => {
    const { s, bootExits, conv, grower } = tdSetup("deferred");
    expect(bootExits).toBe(1); // swiotlb_update_mem_attributes
    s.mapSingle(dev, 0, 262144, 0, BI, 0, 0);
    const t = s.mapSingle(dev, 0, 100, 0, BI, 0, 0); // transient pool (atomic pool: no exit)
    expect(dev.transientPools.length).toBe(1);
    for (let i = 0; i < 6; i++) s.syncSingleForCpu(dev, t, 100, BI); // well past the delay
    expect([grower.pending, s.mem.pools.length]).toEqual([true, 1]);
    const run = runGuestOp(s.runBackgroundOp());
    expect(run.exits).toBe(1);
    expect([grower.pending, s.mem.pools.length, grower.poolsGrown]).toEqual([false, 2, 1]);
    expect(conv.records.at(-1)).toEqual({
      kind: "decrypt",
      gpa: s.mem.pools[0]!.start,
      pages: 64,
      status: 0,
    });
    expect(s.unmapSingle(dev, t, 100, BI, 0)).toBe(BounceStatus.Ok);
    expect(grower.liveTransientPools).toBe(0);
  });

  it("deferred: before its delay the work waits unless drained; the synchronous call refuses the exit", () => {
    const { s, grower } = tdSetup("deferred");
    s.mapSingle(dev, 0, 262144, 0, BI, 0, 0);
    s.mapSingle(dev, 0, 100, 0, BI, 0, 0);
    expect(runGuestOp(s.runBackgroundOp()).exits).toBe(0);
    expect(grower.pending).toBe(true);
    expect(() => s.runBackground(true)).toThrow(expect.objectContaining({ code: "E_TD_EXIT_IN_SYNC_CALL" }));
  });

  it("inline: the operation at which the work falls due would have to exit, which a map cannot", () => {
    const { s } = tdSetup("inline");
    s.mapSingle(dev, 0, 262144, 0, BI, 0, 0);
    const t = s.mapSingle(dev, 0, 100, 0, BI, 0, 0);
    s.syncSingleForCpu(dev, t, 100, BI);
    expect(() => s.syncSingleForCpu(dev, t, 100, BI)).toThrow(/dyn_alloc work item needs a TD exit/);
  });

  it("checks its work-item mode", () => {
    expect(
      () =>
        new DynamicPoolGrower({
          pageAllocator: new RangePageAllocator(0, 4096),
          atomicPool: new RangePageAllocator(4096, 4096),
          conversions: new RecordingEncryptionOps(),
          log: setup().s.log,
          defaultNslabs: 128,
          workItems: "later" as "inline",
        }),
    ).toThrow(/use "inline" or "deferred"/);
  });
});
