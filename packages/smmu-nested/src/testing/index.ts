/**
 * @tdx/smmu-nested/testing: the SMMUv3 contract suite any SMMUv3 model can run, the adapters that
 * run the generic IOMMU contract against this package's SMMU and virtio-iommu, and the test rig.
 */
// --- SMMUv3 contract ---

// --- generic IOMMU contract adapters ---
export { makeSmmuIommuHarness, type SmmuDomainKind } from "./harness";
// --- test rig ---
export {
  installNestedStream,
  installStage1Stream,
  makeRig,
  makeStage1,
  makeStage2,
  type NestedStream,
  type RigOptions,
  type SmmuRig,
  type Stage1Context,
  s1CdFields,
  s2SteFields,
} from "./rig";
export { describeSmmuContract, type SmmuFactory, type SmmuUnderTest } from "./smmu-contract";
export { makeVirtioIommuHarness } from "./virtio-harness";
