/**
 * @tdx/guest-linux-swiotlb/testing: the contract suites of this layer, runnable against another implementation.
 */
// --- bounce-buffer policy contract (SWIOTLB and alternatives) ---

// --- TD integration: conversions that exit like MapGPA, and a driver for guest code ---
export {
  runGuestOp,
  type ScriptedConversionVmm,
  ScriptedEncryptionGuestOps,
} from "../td/scripted-encryption-ops";
// --- TDX guest: a scripted TD vCPU and host for testing guest code without a TDX module ---
export {
  type ScriptedCpuid,
  ScriptedTd,
  type ScriptedTdOptions,
  type ScriptedVe,
  type ScriptedVmm,
  type TdcallRecord,
} from "../tdx-guest/scripted-td";
export {
  type BouncePolicyContractOptions,
  type BouncePolicyHarness,
  describeBouncePolicyContract,
} from "./bounce-policy-contract";
