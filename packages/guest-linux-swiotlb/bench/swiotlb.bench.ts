/**
 * SWIOTLB hot paths against same-run baselines: map+unmap pairs of 4 KiB with both data copies
 * (vs two Buffer.copy of 4 KiB), slot allocation alone (find + release, vs a typed-array free-list
 * pop/push), copy bandwidth of a 64 KiB sync (vs Buffer.copy of 64 KiB), the other two policies,
 * the DMA API on top, and copies through hw-cpu-seam's PhysicalMemory with private and shared
 * KeyIDs. Every case keeps 64 mappings in flight (a ring), so searches see a partly used pool.
 *
 * The 4 KiB baseline copies between the same addresses the Linux pool touches: originals at
 * random pages of a driver's 4 MiB buffer pool, bounce slots marching through a 64 MiB pool (the
 * area cursors move forward), which is memory-bandwidth bound on its own; the ratio is then the
 * model's overhead over the bare copies.
 */
import { Initiator, PhysicalMemory, seededOffsets } from "@tdx/hw-cpu-seam";
import type { BenchSuite } from "../../../tooling/bench/types";
import {
  createPolicy,
  DmaApi,
  DmaDevice,
  DmaDirection,
  FlatGuestMemory,
  type PolicyLayout,
  RangePageAllocator,
  RecordingEncryptionOps,
  TranslatedGuestMemory,
} from "../src/index";

const MiB = 1024 * 1024;
const RING = 64;
const BATCH = 256;
const ORIG_BYTES = 32 * MiB;
const LAYOUT: PolicyLayout = {
  atomicBase: 32 * MiB,
  atomicBytes: 4 * MiB,
  poolBase: 64 * MiB,
  dynamicBase: 128 * MiB,
  dynamicEnd: 192 * MiB,
  ccBase: 192 * MiB,
  ccBytes: 256 * MiB,
};

/** Deterministic aligned offsets, so every run measures the same access pattern. */
const offsets = seededOffsets;

/** Original buffers: a driver's 4 MiB pool of pages (as a NIC page pool or block request pool), in random order. */
const origs = offsets(4096, 4 * MiB, 4096, 7);
const dev = new DmaDevice({ name: "0000:00:04.0", driver: "virtio-blk" });
const memory = new FlatGuestMemory(448 * MiB);
// Touch every page once so that no case pays the OS's first-touch page faults of a fresh
// ArrayBuffer (otherwise the first case to walk the 64 MiB pool is measured cold).
memory.bytes.fill(0);

function policy(kind: "linux" | "linux-dynamic" | "cc-swiotlb", withMemory: boolean) {
  return createPolicy({
    kind,
    nslabs: 32768,
    nareas: 8,
    memory: withMemory ? memory : null,
    layout: LAYOUT,
    ccWatermarks: [256, 4096, 2048, 256, 32],
  }).policy;
}

/** A map+unmap driver with RING mappings in flight. */
function ringDriver(
  p: ReturnType<typeof policy>,
  size: number,
  dir: (typeof DmaDirection)[keyof typeof DmaDirection],
) {
  const ring = new Float64Array(RING).fill(-1);
  let k = 0;
  return () => {
    for (let i = 0; i < BATCH; i++) {
      const slot = k & (RING - 1);
      const old = ring[slot]!;
      if (old >= 0) p.unmapSingle(dev, old, size, dir, 0);
      ring[slot] = p.mapSingle(dev, origs[k & 4095]!, size, 0, dir, 0, k & 7);
      k++;
    }
  };
}

const linuxCopy = ringDriver(policy("linux", true), 4096, DmaDirection.FromDevice);
const linuxSlots = ringDriver(policy("linux", false), 4096, DmaDirection.FromDevice);
const dynamicCopy = ringDriver(policy("linux-dynamic", true), 4096, DmaDirection.FromDevice);
const ccCopy = ringDriver(policy("cc-swiotlb", true), 4096, DmaDirection.FromDevice);

// The DMA API on top of the Linux policy.
const api = new DmaApi({
  bounce: policy("linux", true),
  memory,
  pageAllocator: new RangePageAllocator(128 * MiB, 64 * MiB),
  conversions: new RecordingEncryptionOps(),
});
const apiRing = new Float64Array(RING).fill(-1);
let apiK = 0;

// Copies through PhysicalMemory: private originals (KeyID 20), shared pool (KeyID 0).
const phys = PhysicalMemory.sparseAll({ physAddrBits: 52, keyIdBits: 6, backing: { maxChunkFrames: 65536 } });
const PRIVATE = 20;
for (let p = 0; p < ORIG_BYTES; p += 4096) phys.initPage(phys.withKeyId(p, PRIVATE), Initiator.Td);
const POOL = 64 * MiB;
const physMemory = new TranslatedGuestMemory(phys, (g) => (g >= POOL ? g : phys.withKeyId(g, PRIVATE)));
const physPolicy = createPolicy({
  kind: "linux",
  nslabs: 32768,
  nareas: 8,
  memory: physMemory,
  layout: LAYOUT,
}).policy;
const physCopy = ringDriver(physPolicy, 4096, DmaDirection.FromDevice);

// Bandwidth: a 64 KiB mapping synced for the device repeatedly.
const bwPolicy = policy("linux", true);
const bwTlb = bwPolicy.mapSingle(dev, 0x10_0000, 65536, 0, DmaDirection.ToDevice, 0, 0);

// Baselines: originals and a pool-sized destination, as the policies use them.
const bufA = Buffer.alloc(ORIG_BYTES, 1);
const bufB = Buffer.alloc(64 * MiB).fill(0);
const free = new Int32Array(32768);
for (let i = 0; i < free.length; i++) free[i] = i;
let top = free.length;
let sink = 0;
let kb = 0;

const suite: BenchSuite = {
  name: "guest-linux-swiotlb",
  cases: [
    {
      name: "2 x Buffer.copy 4 KiB (baseline)",
      opsPerCall: BATCH,
      bytesPerOp: 8192,
      fn: () => {
        for (let i = 0; i < BATCH; i++) {
          const j = kb++;
          const s = origs[j & 4095]!;
          const d = (j * 4096) % (64 * MiB);
          bufA.copy(bufB, d, s, s + 4096);
          bufB.copy(bufA, s, d, d + 4096);
        }
      },
    },
    {
      name: "linux map+unmap 4 KiB from-device, 2 copies",
      opsPerCall: BATCH,
      bytesPerOp: 8192,
      baseline: "2 x Buffer.copy 4 KiB (baseline)",
      target: { minOpsPerSec: 1_000_000 },
      fn: linuxCopy,
    },
    {
      name: "typed-array free-list pop+push (baseline)",
      opsPerCall: BATCH,
      fn: () => {
        for (let i = 0; i < BATCH; i++) {
          const s = free[--top]!;
          sink += s;
          free[top++] = s;
        }
      },
    },
    {
      name: "linux slot allocation: find + release 4 KiB, no data",
      opsPerCall: BATCH,
      baseline: "typed-array free-list pop+push (baseline)",
      target: { minOpsPerSec: 5_000_000 },
      fn: linuxSlots,
    },
    {
      name: "Buffer.copy 64 KiB (baseline)",
      bytesPerOp: 65536,
      opsPerCall: 16,
      fn: () => {
        // The same two 64 KiB ranges every time, as the sync case below copies them.
        for (let i = 0; i < 16; i++) bufA.copy(bufB, 0x20_0000, 0x10_0000, 0x10_0000 + 65536);
      },
    },
    {
      name: "linux bounce copy 64 KiB (sync for device)",
      bytesPerOp: 65536,
      opsPerCall: 16,
      baseline: "Buffer.copy 64 KiB (baseline)",
      fn: () => {
        for (let i = 0; i < 16; i++)
          sink += bwPolicy.syncSingleForDevice(dev, bwTlb, 65536, DmaDirection.ToDevice);
      },
    },
    {
      name: "linux-dynamic map+unmap 4 KiB, 2 copies",
      opsPerCall: BATCH,
      bytesPerOp: 8192,
      baseline: "2 x Buffer.copy 4 KiB (baseline)",
      fn: dynamicCopy,
    },
    {
      name: "cc-swiotlb map+unmap 4 KiB, 2 copies",
      opsPerCall: BATCH,
      bytesPerOp: 8192,
      baseline: "2 x Buffer.copy 4 KiB (baseline)",
      fn: ccCopy,
    },
    {
      name: "DMA API dma_map_single+dma_unmap_single 4 KiB (linux)",
      opsPerCall: BATCH,
      bytesPerOp: 8192,
      baseline: "2 x Buffer.copy 4 KiB (baseline)",
      fn: () => {
        for (let i = 0; i < BATCH; i++) {
          const slot = apiK & (RING - 1);
          const old = apiRing[slot]!;
          if (old >= 0) api.unmapSingle(dev, old, 4096, DmaDirection.FromDevice);
          api.cpu = apiK & 7;
          const r = api.mapSingle(dev, origs[apiK & 4095]!, 4096, DmaDirection.FromDevice);
          apiRing[slot] = r.ok ? r.dmaAddr : -1;
          apiK++;
        }
      },
    },
    {
      name: "linux map+unmap 4 KiB through PhysicalMemory (private -> shared KeyIDs)",
      opsPerCall: BATCH,
      bytesPerOp: 8192,
      baseline: "2 x Buffer.copy 4 KiB (baseline)",
      fn: physCopy,
    },
  ],
};

export default suite;
export { sink };
