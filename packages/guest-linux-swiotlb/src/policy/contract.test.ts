/**
 * Runs the bounce-policy contract against the three policies, on one flat guest memory with
 * originals, the default pool, grown pools, the atomic pool and the cc-swiotlb arena side by side.
 */
import { FlatGuestMemory } from "../memory/guest-memory";
import { describeBouncePolicyContract } from "../testing/bounce-policy-contract";
import { createPolicy, type PolicyLayout } from "./factory";
import type { PolicyKind } from "./types";

const MiB = 1024 * 1024;
const LAYOUT: PolicyLayout = {
  atomicBase: 8 * MiB,
  atomicBytes: 4 * MiB,
  poolBase: 16 * MiB,
  dynamicBase: 20 * MiB,
  dynamicEnd: 32 * MiB,
  ccBase: 32 * MiB,
  ccBytes: 16 * MiB,
};

function harness(kind: PolicyKind) {
  return () => {
    const memory = new FlatGuestMemory(48 * MiB);
    const { policy } = createPolicy({
      kind,
      nslabs: 2048,
      nareas: 4,
      memory,
      layout: LAYOUT,
      ccWatermarks: [16, 128, 64, 32, 8],
    });
    return { policy, memory, origBase: 0, origBytes: 8 * MiB };
  };
}

describeBouncePolicyContract("linux", harness("linux"), { partialSync: true });
describeBouncePolicyContract("linux-dynamic", harness("linux-dynamic"), { partialSync: true, seed: 2 });
describeBouncePolicyContract("cc-swiotlb (as posted: no partial-sync offset)", harness("cc-swiotlb"), {
  partialSync: false,
  seed: 3,
});
describeBouncePolicyContract(
  "cc-swiotlb with the partial-sync fix",
  () => {
    const memory = new FlatGuestMemory(48 * MiB);
    const { policy } = createPolicy({
      kind: "cc-swiotlb",
      nslabs: 0,
      nareas: 1,
      memory,
      layout: LAYOUT,
      ccWatermarks: [16, 128, 64, 32, 8],
      ccFixPartialSync: true,
    });
    return { policy, memory, origBase: 0, origBytes: 8 * MiB };
  },
  { partialSync: true, seed: 4 },
);
