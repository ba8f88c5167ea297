/**
 * @tdx/hw-cpu-seam/testing: contract suites usable against other implementations.
 */
// --- generic IOMMU contract (device-facing DMA interface) ---
export {
  describeIommuContract,
  type IommuContractHarness,
  type IommuContractOptions,
} from "./iommu-contract";
// --- memory contract (hw-cpu-seam memory) ---
export {
  describeMemoryContract,
  type MemoryContractHarness,
  seededRandom,
} from "./memory-contract";
// --- TDX module ABI contract ---
export {
  type CallResult,
  describeTdxContract,
  makeSimTdxPlatform,
  type SimTdxPlatform,
  type SimTdxPlatformOptions,
  TdHandle,
  TdxHostDriver,
  type TdxPlatformUnderTest,
} from "./tdx-contract";
