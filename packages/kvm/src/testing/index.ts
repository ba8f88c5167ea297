/**
 * @tdx/kvm/testing: the contract suites of this layer, runnable against another implementation.
 */
export {};
