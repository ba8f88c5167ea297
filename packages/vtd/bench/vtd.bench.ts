/**
 * VT-d translation throughput on one core, each figure beside a same-run baseline:
 * - IOTLB hits (translateFast on 256 mapped pages, all cached) against a plain typed-array hash
 *   lookup of the same shape; target >= 10 M translations/s;
 * - full 4-level second-stage walks (IOTLB and paging-structure caches off, context cached)
 *   against four raw mem.read64 loads of the same table entries; target >= 1 M walks/s;
 * - the allocating DeviceDmaPort.translate and a 64-byte dmaRead, for reference.
 */
import { Initiator, PhysicalMemory } from "@tdx/hw-cpu-seam";
import type { BenchSuite } from "../../../tooling/bench/types";
import { BumpAllocator, LegacyContextTables, SecondStagePageTable, VtdDriver } from "../src/testing";
import { VtdUnit } from "../src/unit/vtd-unit";

const SID = 0x0100;
const PAGES = 256;
const BASE_IOVA = 0x4000_0000;

function build(caches: boolean) {
  const mem = PhysicalMemory.sparseAll({ physAddrBits: 46 });
  const unit = new VtdUnit({
    mem,
    policy: caches ? {} : { iotlb: false, pagingStructureCache: false },
  });
  const alloc = new BumpAllocator(mem, 0x100_0000, 0x4000_0000);
  const driver = new VtdDriver(unit, mem, alloc);
  driver.enableQueue();
  const ctx = new LegacyContextTables(mem, alloc);
  const pt = new SecondStagePageTable(mem, alloc, 4);
  ctx.setContext(SID, { slptptr: pt.root, aw: 2, did: 1 });
  const data = alloc.alloc(PAGES * 4096);
  for (let i = 0; i < PAGES; i++)
    pt.map(BASE_IOVA + i * 4096, data + i * 4096, 4096, { read: true, write: true });
  driver.setRootTable(ctx.root);
  driver.enableTranslation();
  for (let i = 0; i < PAGES; i++) {
    if (unit.translateFast(SID, -1, BASE_IOVA + i * 4096, false) !== 0)
      throw new Error("bench setup: translation failed");
  }
  return { mem, unit, pt };
}

const hit = build(true);
const miss = build(false);

// Baseline 1: an open-addressing typed-array lookup of 256 keys (what an ideal IOTLB hit costs).
const keys = new Float64Array(1024);
const vals = new Float64Array(1024);
for (let i = 0; i < PAGES; i++) {
  const vpn = BASE_IOVA / 4096 + i;
  let h = Math.imul(vpn >>> 0, 0x9e37_79b1) >>> 22;
  while (keys[h] !== 0) h = (h + 1) & 1023;
  keys[h] = vpn;
  vals[h] = 0x100_0000 + i * 4096;
}
function plainLookup(addr: number): number {
  const vpn = Math.floor(addr / 4096);
  let h = Math.imul(vpn >>> 0, 0x9e37_79b1) >>> 22;
  while (keys[h] !== vpn) h = (h + 1) & 1023;
  return vals[h]! + (addr % 4096);
}

// Baseline 2: the four entry loads of a 4-level walk, raw.
const entryAddrs = [4, 3, 2, 1].map((l) => miss.pt.entryAddress(BASE_IOVA, l));
const out2 = new Uint32Array(2);

const N = 1000;
let sink = 0;

const suite: BenchSuite = {
  name: "vtd",
  cases: [
    {
      name: "baseline: typed-array hash lookup",
      opsPerCall: N,
      fn: () => {
        let s = 0;
        for (let i = 0; i < N; i++) s += plainLookup(BASE_IOVA + (i & (PAGES - 1)) * 4096 + 8);
        sink ^= s;
      },
    },
    {
      name: "translate: IOTLB hit (translateFast)",
      opsPerCall: N,
      baseline: "baseline: typed-array hash lookup",
      target: { minOpsPerSec: 10_000_000 },
      fn: () => {
        const u = hit.unit;
        let s = 0;
        for (let i = 0; i < N; i++)
          s += u.translateFast(SID, -1, BASE_IOVA + (i & (PAGES - 1)) * 4096 + 8, false);
        sink ^= s;
      },
    },
    {
      name: "baseline: 4 raw mem.read64 loads",
      opsPerCall: N,
      fn: () => {
        const m = miss.mem;
        let s = 0;
        for (let i = 0; i < N; i++) {
          for (let l = 0; l < 4; l++) {
            m.read64(entryAddrs[l]!, Initiator.Device, out2);
            s += out2[0]!;
          }
        }
        sink ^= s;
      },
    },
    {
      name: "translate: full 4-level walk (IOTLB miss)",
      opsPerCall: N,
      baseline: "baseline: 4 raw mem.read64 loads",
      target: { minOpsPerSec: 1_000_000 },
      fn: () => {
        const u = miss.unit;
        let s = 0;
        for (let i = 0; i < N; i++)
          s += u.translateFast(SID, -1, BASE_IOVA + (i & (PAGES - 1)) * 4096, false);
        sink ^= s;
      },
    },
    {
      name: "port.translate (allocating IotlbEntry), IOTLB hit",
      opsPerCall: N,
      baseline: "translate: IOTLB hit (translateFast)",
      fn: () => {
        const p = hit.unit.port;
        const req = { sid: SID, pasid: -1 };
        let s = 0;
        for (let i = 0; i < N; i++) s += p.translate(req, BASE_IOVA + (i & (PAGES - 1)) * 4096, 1).ok ? 1 : 0;
        sink ^= s;
      },
    },
    {
      name: "port.dmaRead 64 bytes, IOTLB hit",
      opsPerCall: N,
      bytesPerOp: 64,
      fn: () => {
        const p = hit.unit.port;
        const req = { sid: SID, pasid: -1 };
        const buf = new Uint8Array(64);
        let s = 0;
        for (let i = 0; i < N; i++)
          s += p.dmaRead(req, BASE_IOVA + (i & (PAGES - 1)) * 4096 + 64, buf).ok ? 1 : 0;
        sink ^= s;
      },
    },
  ],
};

if (sink === 0.5) console.log(sink);
export default suite;
