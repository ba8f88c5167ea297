/**
 * @tdx/guest-linux-swiotlb/testing: the contract suites of this layer, runnable against another implementation.
 */
// --- bounce-buffer policy contract (SWIOTLB and alternatives) ---
export {
  type BouncePolicyContractOptions,
  type BouncePolicyHarness,
  describeBouncePolicyContract,
} from "./bounce-policy-contract";
