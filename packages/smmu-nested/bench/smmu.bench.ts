/**
 * SMMUv3 translation throughput: TLB hits (target >= 10 M/s) beside a bare TLB probe, and full
 * nested 4+4-level walks that neither use nor fill any cache (target >= 200 k/s, 24 descriptor
 * reads each) beside 24 bare 64-bit memory reads.
 */
import { Initiator } from "@tdx/hw-cpu-seam";
import type { BenchSuite } from "../../../tooling/bench/types";
import { Acc } from "../src/access";
import { installNestedStream, installStage1Stream, makeRig, makeStage1 } from "../src/testing/rig";
import { TlbKind } from "../src/tlb";

const PAGES = 64;
const HIT_OPS = 20_000;
const WALK_OPS = 200;

// TLB hits: a stage-1 stream with 64 mapped pages, all cached
const s1 = makeRig();
const ctx = makeStage1(s1.host, 7);
const base = 0x40_0000_0000;
for (let i = 0; i < PAGES; i++) ctx.pt.map(base + i * 4096, 0x2_0000_0000 + i * 4096, 12);
installStage1Stream(s1, 1, ctx);
for (let i = 0; i < PAGES; i++) s1.smmu.translateAccess(1, -1, base + i * 4096, Acc.READ);
const tlb = s1.smmu.engine.tlb;
let sink = 0;

// nested walks: 4-level stage 1 over 4-level stage 2 (48-bit IPA)
const n = makeRig();
const nested = installNestedStream(n, 2, { s2Bits: 48 });
const va = 0x7f00_0000_0000;
nested.s1.pt.map(va, nested.guest.alloc(4096, 4096), 12);
n.smmu.translateAccess(2, -1, va, Acc.READ);
if (n.smmu.walkUncached(2, -1, va, Acc.READ) !== 0 || n.smmu.engine.lastWalkRefs !== 24) {
  throw new Error("bench set-up: the nested walk did not make 24 references");
}
const descAddrs = Array.from({ length: 24 }, (_, i) => 0x1000_0000 + i * 4096 + 8 * i);
const out = new Uint32Array(2);

const suite: BenchSuite = {
  name: "smmu-nested",
  cases: [
    {
      name: "TLB probe alone (typed arrays)",
      opsPerCall: HIT_OPS,
      fn: () => {
        for (let i = 0; i < HIT_OPS; i++)
          sink += tlb.lookup(TlbKind.S1, 0, 7, Math.floor((base + (i & (PAGES - 1)) * 4096) / 4096));
      },
    },
    {
      name: "translation served from the TLB (stage 1)",
      opsPerCall: HIT_OPS,
      baseline: "TLB probe alone (typed arrays)",
      target: { minOpsPerSec: 10_000_000 },
      fn: () => {
        const smmu = s1.smmu;
        for (let i = 0; i < HIT_OPS; i++)
          sink += smmu.translateAccess(1, -1, base + (i & (PAGES - 1)) * 4096 + 8, Acc.READ);
      },
    },
    {
      name: "24 bare 64-bit memory reads",
      opsPerCall: WALK_OPS,
      fn: () => {
        const mem = n.mem;
        for (let k = 0; k < WALK_OPS; k++)
          for (let i = 0; i < 24; i++) sink += mem.read64(descAddrs[i]!, Initiator.Device, out);
      },
    },
    {
      name: "nested 4+4-level walk, no caches (24 descriptor reads)",
      opsPerCall: WALK_OPS,
      baseline: "24 bare 64-bit memory reads",
      target: { minOpsPerSec: 200_000 },
      fn: () => {
        const smmu = n.smmu;
        for (let k = 0; k < WALK_OPS; k++) sink += smmu.walkUncached(2, -1, va, Acc.READ);
      },
    },
  ],
};

export default suite;
export const _sink = () => sink;
