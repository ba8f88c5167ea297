/**
 * @tdx/vtd: the package face. Every public export is listed here by name.
 */
export const PACKAGE_NAME = "@tdx/vtd" as const;
