/**
 * The DMA API in a TD (§d.1): forced bouncing through the policy with the tracepoint, single and
 * scatter-gather maps with their unwinding, coherent allocations that are decrypted (or atomic),
 * the DMA-capable check, max mapping size, and a guest without encryption mapping directly.
 */
import { describe, expect, it } from "vitest";
import { DmaDevice } from "../device";
import { EIO, RecordingEncryptionOps } from "../memory/conversion";
import { FlatGuestMemory } from "../memory/guest-memory";
import { RangePageAllocator } from "../memory/page-allocator";
import { CcSwiotlb } from "../policy/cc-swiotlb";
import { createLinuxPolicy } from "../policy/linux";
import type { BouncePolicy } from "../policy/types";
import { runGuestOp, ScriptedEncryptionGuestOps } from "../td/scripted-encryption-ops";
import { DmaAttr, DmaDirection } from "./constants";
import { DmaApi, type SwiotlbBouncedEvent } from "./dma-api";

const MiB = 1024 * 1024;
const POOL = 16 * MiB;
const nic = new DmaDevice({ name: "0000:00:03.0", driver: "virtio-pci" });
const nvme = new DmaDevice({ name: "0000:00:04.0", driver: "nvme", minAlignMask: 0xfff });

function td(opts: { memEncrypted?: boolean; bounce?: (m: FlatGuestMemory) => BouncePolicy | null } = {}) {
  const memory = new FlatGuestMemory(32 * MiB);
  const conv = new RecordingEncryptionOps();
  const enc = opts.memEncrypted ?? true;
  const bounce = opts.bounce
    ? opts.bounce(memory)
    : createLinuxPolicy({ nslabs: 1024, nareas: 2, poolBase: POOL, memory, memEncrypted: enc });
  const pages = new RangePageAllocator(20 * MiB, 8 * MiB);
  const atomic = new RangePageAllocator(28 * MiB, MiB, { buddyAligned: false });
  const events: SwiotlbBouncedEvent[] = [];
  const api = new DmaApi({
    bounce,
    memory,
    pageAllocator: pages,
    atomicPool: atomic,
    conversions: conv,
    memEncrypted: enc,
    onBounced: (e) => events.push(e),
  });
  return { api, memory, conv, pages, atomic, events, bounce };
}

describe("streaming maps in a TD", () => {
  it("bounces through the pool, traces the original address, copies in at map and back at unmap exactly once", () => {
    const { api, memory, events, bounce } = td();
    api.cpu = 1;
    const orig = 0x10_0000;
    memory.bytes.fill(7, orig, orig + 1500);
    const r = api.mapSingle(nic, orig, 1500, DmaDirection.FromDevice);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.dmaAddr).toBe(POOL + 512 * 2048); // CPU 1 starts in area 1
    expect(events).toEqual([
      { devName: "0000:00:03.0", dmaMaskBits: 64, devAddr: orig, size: 1500, force: true, cpu: 1 },
    ]);
    memory.bytes.fill(9, r.dmaAddr, r.dmaAddr + 1500); // the device writes the packet
    expect(api.unmapSingle(nic, r.dmaAddr, 1500, DmaDirection.FromDevice)).toEqual({ ok: true });
    expect(memory.bytes[orig]).toBe(9);
    expect(bounce!.stats()).toMatchObject({ copies: 2, copiedBytes: 3000, liveMappings: 0 });
    expect(api.unmapSingle(nic, r.dmaAddr, 1500, DmaDirection.FromDevice)).toEqual({
      ok: false,
      error: "not-mapped",
    });
  });

  it("a failed bounce is a value naming the kernel's message", () => {
    const { api } = td();
    const r = api.mapSingle(nvme, 0x1fff, 262144, DmaDirection.ToDevice);
    expect(r.ok).toBe(false);
    if (r.ok || r.error.kind !== "bounce") throw new Error("expected a bounce failure");
    expect(r.error.failure.message).toContain("swiotlb buffer is full (sz: 264191 bytes)");
  });

  it("dma_map_sg unwinds the entries already mapped when one fails", () => {
    const { api, bounce } = td();
    const r = api.mapSg(
      nic,
      [
        { addr: 0x10_0000, length: 4096 },
        { addr: 0x20_0000, length: 8192 },
        { addr: 0x30_0000, length: 300000 },
      ],
      DmaDirection.ToDevice,
    );
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.index).toBe(2);
    expect(bounce!.stats().liveMappings).toBe(0);
    expect(bounce!.stats().inUseBytes).toBe(0);
  });

  it("dma_map_sg, sync and unmap of a list", () => {
    const { api, memory } = td();
    memory.bytes.fill(1, 0x10_0000, 0x10_0000 + 4096);
    const r = api.mapSg(
      nic,
      [
        { addr: 0x10_0000, length: 4096 },
        { addr: 0x20_0000, length: 100 },
      ],
      DmaDirection.Bidirectional,
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    memory.bytes.fill(5, r.segments[0]!.dmaAddr, r.segments[0]!.dmaAddr + 4096);
    expect(api.syncSgForCpu(nic, r.segments, DmaDirection.Bidirectional)).toEqual({ ok: true });
    expect(memory.bytes[0x10_0000 + 4095]).toBe(5);
    expect(api.syncSgForDevice(nic, r.segments, DmaDirection.Bidirectional)).toEqual({ ok: true });
    expect(api.unmapSg(nic, r.segments, DmaDirection.Bidirectional, DmaAttr.SkipCpuSync)).toEqual({
      ok: true,
    });
  });

  it("refuses a bounce buffer the device cannot reach (swiotlb addr overflow)", () => {
    const dev32 = new DmaDevice({ name: "0000:00:06.0", dmaMaskBits: 32 });
    const { api } = td({
      bounce: () =>
        new CcSwiotlb({
          memory: null,
          pageAllocator: new RangePageAllocator(8 * 1024 * MiB, 64 * MiB),
          watermarks: [4, 4, 4, 4, 4],
        }),
    });
    const r = api.mapSingle(dev32, 0x1000, 100, DmaDirection.ToDevice);
    expect(r.ok).toBe(false);
    if (!r.ok && r.error.kind === "not-dma-capable") {
      expect(r.error.message).toMatch(
        /^pci 0000:00:06\.0: swiotlb addr 0x0000000200[0-9a-f]+\+100 overflow \(mask ffffffff, bus limit 0\)\.$/,
      );
    } else {
      throw new Error("expected not-dma-capable");
    }
  });

  it("reports the SWIOTLB max mapping size (252 KiB for NVMe)", () => {
    const { api } = td();
    expect(api.maxMappingSize(nic)).toBe(262144);
    expect(api.maxMappingSize(nvme)).toBe(258048);
    expect(api.optMappingSize(nvme)).toBe(258048);
  });

  it("rejects DMA_NONE", () => {
    const { api } = td();
    expect(() => api.mapSingle(nic, 0, 10, 3)).toThrow(/not valid for a mapping/);
  });
});

describe("a guest without memory encryption", () => {
  it("maps reachable buffers directly and bounces only beyond the DMA mask", () => {
    const dev25 = new DmaDevice({ name: "0000:00:07.0", dmaMaskBits: 25 }); // 32 MiB
    const memory = new FlatGuestMemory(64 * MiB);
    const bounce = createLinuxPolicy({
      nslabs: 1024,
      nareas: 1,
      poolBase: 4 * MiB,
      memory,
      memEncrypted: false,
    });
    const api = new DmaApi({
      bounce,
      memory,
      pageAllocator: new RangePageAllocator(8 * MiB, 8 * MiB),
      conversions: new RecordingEncryptionOps(),
      memEncrypted: false,
    });
    expect(bounce.forceBounce).toBe(false);
    expect(api.mapSingle(dev25, 0x10_0000, 4096, DmaDirection.ToDevice)).toEqual({
      ok: true,
      dmaAddr: 0x10_0000,
    });
    expect(api.unmapSingle(dev25, 0x10_0000, 4096, DmaDirection.ToDevice)).toEqual({ ok: true });
    memory.bytes.fill(3, 40 * MiB, 40 * MiB + 100);
    const high = api.mapSingle(dev25, 40 * MiB, 100, DmaDirection.ToDevice);
    expect(high).toEqual({ ok: true, dmaAddr: 4 * MiB });
    expect(memory.bytes[4 * MiB]).toBe(3);
    expect(api.maxMappingSize(dev25)).toBe(262144); // address-limited device with SWIOTLB active
    expect(api.maxMappingSize(nic)).toBe(Number.MAX_SAFE_INTEGER);
  });

  it("without any SWIOTLB an unreachable buffer fails with the overflow warning", () => {
    const dev32 = new DmaDevice({ name: "0000:00:08.0", dmaMaskBits: 32 });
    const { api } = td({ memEncrypted: false, bounce: () => null });
    const r = api.mapSingle(dev32, 0x1_0000_0000, 100, DmaDirection.ToDevice);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.kind).toBe("not-dma-capable");
  });
});

describe("coherent allocations (force_dma_unencrypted)", () => {
  it("allocates page-rounded, decrypted, zeroed memory and re-encrypts it on free", () => {
    const { api, memory, conv, pages } = td();
    memory.bytes.fill(0xaa, 20 * MiB, 21 * MiB);
    const r = api.allocCoherent(nic, 5000);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const b = r.buffer;
    expect(b.size).toBe(8192);
    expect(b.dmaAddr).toBe(b.cpuAddr);
    expect(memory.bytes.subarray(b.cpuAddr, b.cpuAddr + 8192).every((x) => x === 0)).toBe(true);
    expect(conv.records.at(-1)).toEqual({ kind: "decrypt", gpa: b.cpuAddr, pages: 2, status: 0 });
    expect(api.freeCoherent(nic, b)).toEqual({ ok: true, leaked: false });
    expect(conv.records.at(-1)).toEqual({ kind: "encrypt", gpa: b.cpuAddr, pages: 2, status: 0 });
    expect(pages.allocatedBytes()).toBe(0);
    expect(api.freeCoherent(nic, b)).toEqual({ ok: false, error: "not-allocated" });
  });

  it("takes atomic allocations from the pre-decrypted pool without a conversion", () => {
    const { api, conv, atomic } = td();
    const before = conv.records.length;
    const r = api.allocCoherent(nic, 100, { atomic: true });
    expect(r.ok && r.buffer.atomic).toBe(true);
    expect(conv.records.length).toBe(before);
    expect(atomic.allocatedBytes()).toBe(4096);
    if (r.ok) api.freeCoherent(nic, r.buffer);
    expect(atomic.allocatedBytes()).toBe(0);
  });

  it("leaks pages whose conversion fails, as the kernel does", () => {
    const { api, conv } = td();
    conv.failNext();
    expect(api.allocCoherent(nic, 4096)).toEqual({ ok: false, error: "decrypt-failed" });
    expect(api.leakedPages).toBe(1);
    const r = api.allocCoherent(nic, 4096);
    if (!r.ok) throw new Error("allocation failed");
    conv.failNext();
    expect(api.freeCoherent(nic, r.buffer)).toEqual({ ok: true, leaked: true });
    expect(api.leakedPages).toBe(2);
  });

  it("fails with no-memory when nothing fits below the coherent mask", () => {
    const dev24 = new DmaDevice({ name: "0000:00:09.0", dmaMaskBits: 24 });
    const { api } = td();
    expect(api.allocCoherent(dev24, 4096)).toEqual({ ok: false, error: "no-memory" });
  });
});

describe("coherent allocations as guest code (inside a TD every conversion exits)", () => {
  function tdApi(vmm?: ConstructorParameters<typeof ScriptedEncryptionGuestOps>[0]) {
    const memory = new FlatGuestMemory(32 * MiB);
    const conv = new ScriptedEncryptionGuestOps(vmm);
    const pages = new RangePageAllocator(20 * MiB, 8 * MiB);
    const api = new DmaApi({ bounce: null, memory, pageAllocator: pages, conversions: conv });
    return { api, memory, conv, pages };
  }

  it("alloc: one MapGPA exit for the page-aligned buffer, then zeroed; free: one exit back to private", () => {
    const { api, memory, conv, pages } = tdApi();
    memory.bytes.fill(0x5a, 20 * MiB, 20 * MiB + 8192);
    const a = runGuestOp(api.allocCoherentOp(nic, 5000));
    expect(a.exits).toBe(1);
    expect(a.value).toEqual({
      ok: true,
      buffer: { cpuAddr: 20 * MiB, dmaAddr: 20 * MiB, size: 8192, atomic: false },
    });
    expect(memory.bytes.subarray(20 * MiB, 20 * MiB + 8192).every((b) => b === 0)).toBe(true);
    if (!a.value.ok) return;
    const f = runGuestOp(api.freeCoherentOp(nic, a.value.buffer));
    expect(f).toEqual({ value: { ok: true, leaked: false }, exits: 1 });
    expect(conv.records.map((r) => [r.kind, r.gpa, r.pages])).toEqual([
      ["decrypt", 20 * MiB, 2],
      ["encrypt", 20 * MiB, 2],
    ]);
    expect(pages.allocatedBytes()).toBe(0);
  });

  it("a refused decryption leaks the pages; a refused re-encryption leaks them at free", () => {
    let next = EIO;
    const { api, pages } = tdApi(() => {
      const st = next;
      next = 0;
      return st;
    });
    expect(runGuestOp(api.allocCoherentOp(nic, 4096)).value).toEqual({ ok: false, error: "decrypt-failed" });
    expect(api.leakedPages).toBe(1);
    const r = runGuestOp(api.allocCoherentOp(nic, 4096)).value;
    if (!r.ok) throw new Error("allocation failed");
    next = EIO;
    expect(runGuestOp(api.freeCoherentOp(nic, r.buffer)).value).toEqual({ ok: true, leaked: true });
    expect([api.leakedPages, pages.allocatedBytes()]).toEqual([2, 8192]);
  });

  it("the synchronous form refuses conversions that would exit the TD", () => {
    const { api } = tdApi();
    expect(() => api.allocCoherent(nic, 4096)).toThrow(
      expect.objectContaining({ code: "E_TD_EXIT_IN_SYNC_CALL" }),
    );
  });
});
