/**
 * @tdx/vtd/testing: the contract suites of this layer, runnable against another implementation,
 * and the tools they use (real-format table builders, a register-level driver, the adapter of the
 * generic IOMMU contract).
 */
// --- table builders and driver ---

export { type Descriptor, type FaultRecord, VtdDriver, type VtdRegisterAccess } from "./driver";
// --- generic IOMMU contract adapter ---
export { makeVtdBench, type VtdHarnessOptions, type VtdTestBench, vtdContractHarness } from "./harness";
export {
  BumpAllocator,
  FirstStagePageTable,
  LegacyContextTables,
  type MapPerm,
  PasidTables,
  readQword,
  ScalableContextTables,
  SecondStagePageTable,
  writeQword,
} from "./tables";
// --- VT-d contract suite ---
export { describeVtdContract, type VtdFactory, type VtdUnderTest } from "./vtd-contract";
