/**
 * @tdx/guest-linux-swiotlb: the package face. Every public export is listed here by name.
 */
export const PACKAGE_NAME = "@tdx/guest-linux-swiotlb" as const;
