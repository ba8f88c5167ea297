/**
 * @tdx/qemu-gmem: the package face. Every public export is listed here by name.
 */
export const PACKAGE_NAME = "@tdx/qemu-gmem" as const;
