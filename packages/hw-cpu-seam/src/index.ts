/**
 * @tdx/hw-cpu-seam: the package face. Every public export is listed here by name.
 */
export const PACKAGE_NAME = "@tdx/hw-cpu-seam" as const;
