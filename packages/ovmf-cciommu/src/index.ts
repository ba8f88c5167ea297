/**
 * @tdx/ovmf-cciommu: the package face. Every public export is listed here by name.
 */
export const PACKAGE_NAME = "@tdx/ovmf-cciommu" as const;
