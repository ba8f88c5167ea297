/** The generic IOMMU contract run against VT-d in legacy and scalable (second- and first-stage) modes. */
import { describeIommuContract } from "@tdx/hw-cpu-seam/testing";
import { vtdContractHarness } from "./harness";

const devA = { sid: 0x0010, pasid: -1 };
const devB = { sid: 0x0318, pasid: -1 };

describeIommuContract("VT-d legacy mode (second-stage)", () => vtdContractHarness({ mode: "legacy" }), {
  devA,
  devB,
});
describeIommuContract(
  "VT-d scalable mode (RID_PASID, second-stage)",
  () => vtdContractHarness({ mode: "scalable-ss" }),
  {
    devA,
    devB,
  },
);
describeIommuContract(
  "VT-d scalable mode (RID_PASID, first-stage)",
  () => vtdContractHarness({ mode: "scalable-fs" }),
  {
    devA,
    devB,
  },
);
describeIommuContract(
  "VT-d legacy mode, caching mode, no paging-structure cache",
  () =>
    vtdContractHarness({
      mode: "legacy",
      profile: { cachingMode: true },
      unit: { policy: { pagingStructureCache: false } },
    }),
  { devA, devB },
);
