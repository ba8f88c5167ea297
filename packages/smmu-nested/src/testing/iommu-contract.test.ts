/** The generic IOMMU contract of @tdx/hw-cpu-seam, run against the SMMU with each kind of domain. */
import { describeIommuContract } from "@tdx/hw-cpu-seam/testing";
import { makeSmmuIommuHarness } from "./harness";

const opts = { devA: { sid: 0x10, pasid: -1 }, devB: { sid: 0x11, pasid: -1 } };
describeIommuContract("SMMUv3 stage-1 domains", () => makeSmmuIommuHarness("stage1"), opts);
describeIommuContract("SMMUv3 stage-2 domains", () => makeSmmuIommuHarness("stage2"), opts);
describeIommuContract("SMMUv3 nested domains", () => makeSmmuIommuHarness("nested"), opts);
describeIommuContract(
  "SMMUv3 stage-1 domains without a TLB",
  () => makeSmmuIommuHarness("stage1", { tlb: { sets: 0, ways: 1 } }),
  opts,
);

import { makeVirtioIommuHarness } from "./virtio-harness";

describeIommuContract("virtio-iommu", () => makeVirtioIommuHarness([0x10, 0x11]), opts);
