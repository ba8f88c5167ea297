/**
 * PhysicalMemory hot paths against same-run baselines: a 4 KiB private-to-shared bounce copy
 * (different KeyIDs, random offsets in large pools) vs a plain Buffer.copy of 4 KiB, and an
 * aligned 8-byte read (the page-walk case) vs a plain Uint32Array pair read.
 */
import type { BenchSuite } from "../../../tooling/bench/types";
import { Initiator, PhysicalMemory, seededOffsets } from "../src/index";

const POOL = 32 * 1024 * 1024;
const OFFSETS = 4096;
const PRIVATE_KEYID = 20;

/** Deterministic aligned offsets, so every run measures the same access pattern. */
const offsets = seededOffsets;

const mem = PhysicalMemory.sparseAll({ physAddrBits: 52, keyIdBits: 6, backing: { maxChunkFrames: 65536 } });
const privBase = mem.withKeyId(0x1_0000_0000, PRIVATE_KEYID);
const sharedBase = 0x2_0000_0000;
for (let p = 0; p < POOL; p += 4096) mem.initPage(privBase + p, Initiator.Seam);
mem.fill(sharedBase, POOL, 0, Initiator.Td);
const tableBase = 0x3_0000_0000;
mem.fill(tableBase, POOL, 0x5a, Initiator.Host);

// copy: any byte offset in the private buffer pool, 2 KiB (IO_TLB_SIZE) slots in the shared pool
const srcOffs = offsets(OFFSETS, POOL - 4096, 1, 7);
const dstOffs = offsets(OFFSETS, POOL - 4096, 2048, 11);
const readOffs = offsets(OFFSETS, POOL, 8, 13);

const bufA = Buffer.alloc(POOL, 1);
const bufB = Buffer.alloc(POOL);
const words = new Uint32Array(POOL / 4).fill(0x5a5a5a5a);
const out = new Uint32Array(2);
let sink = 0;
let k = 0;

const COPIES = 64;
const READS = 4096;

const suite: BenchSuite = {
  name: "hw-cpu-seam memory",
  cases: [
    {
      name: "Buffer.copy 4 KiB (baseline)",
      opsPerCall: COPIES,
      bytesPerOp: 4096,
      fn: () => {
        for (let i = 0; i < COPIES; i++) {
          const j = (k++ & (OFFSETS - 1)) as number;
          const s = srcOffs[j] as number;
          bufA.copy(bufB, dstOffs[j] as number, s, s + 4096);
        }
      },
    },
    {
      name: "PhysicalMemory.copy 4 KiB private -> shared",
      opsPerCall: COPIES,
      bytesPerOp: 4096,
      baseline: "Buffer.copy 4 KiB (baseline)",
      target: { minRatio: 0.7 },
      fn: () => {
        for (let i = 0; i < COPIES; i++) {
          const j = (k++ & (OFFSETS - 1)) as number;
          sink += mem.copy(
            sharedBase + (dstOffs[j] as number),
            privBase + (srcOffs[j] as number),
            4096,
            Initiator.Td,
          );
        }
      },
    },
    {
      name: "Uint32Array pair read (baseline)",
      opsPerCall: READS,
      fn: () => {
        for (let i = 0; i < READS; i++) {
          const w = (readOffs[(k++ & (OFFSETS - 1)) as number] as number) >>> 2;
          sink += ((words[w] as number) ^ (words[w + 1] as number)) & 1;
        }
      },
    },
    {
      name: "PhysicalMemory.read64 aligned (page walk)",
      opsPerCall: READS,
      baseline: "Uint32Array pair read (baseline)",
      target: { minOpsPerSec: 20_000_000 },
      fn: () => {
        for (let i = 0; i < READS; i++) {
          mem.read64(
            tableBase + (readOffs[(k++ & (OFFSETS - 1)) as number] as number),
            Initiator.Device,
            out,
          );
          sink += ((out[0] as number) ^ (out[1] as number)) & 1;
        }
      },
    },
    {
      name: "PhysicalMemory.read64 aligned, TD private KeyID",
      opsPerCall: READS,
      baseline: "Uint32Array pair read (baseline)",
      fn: () => {
        for (let i = 0; i < READS; i++) {
          mem.read64(privBase + (readOffs[(k++ & (OFFSETS - 1)) as number] as number), Initiator.Td, out);
          sink += ((out[0] as number) ^ (out[1] as number)) & 1;
        }
      },
    },
  ],
};

export default suite;
export const _sink = (): number => sink;
