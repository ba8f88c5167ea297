/**
 * SEAMCALL (host) and TDCALL (guest) leaf numbers, their names, the leaf versions the module
 * accepts, and the RAX encoding (leaf in bits 15:0, version in 23:16, 63:24 zero).
 *
 * @spec shared/reference/tdx-module.md §0.1, §0.2, §3 (leaf numbers), §4.1; intel/tdx-module
 *   include/tdx_api_defs.h; torvalds/linux arch/x86/virt/vmx/tdx/tdx.h, arch/x86/include/asm/shared/tdx.h
 */

/** SEAMCALL leaf numbers. @spec tdx-module.md §3.1-§3.5 */
export const SeamcallLeaf = {
  VP_ENTER: 0,
  MNG_ADDCX: 1,
  MEM_PAGE_ADD: 2,
  MEM_SEPT_ADD: 3,
  VP_ADDCX: 4,
  MEM_PAGE_RELOCATE: 5,
  MEM_PAGE_AUG: 6,
  MEM_RANGE_BLOCK: 7,
  MNG_KEY_CONFIG: 8,
  MNG_CREATE: 9,
  VP_CREATE: 10,
  MNG_RD: 11,
  MEM_RD: 12,
  MNG_WR: 13,
  MEM_WR: 14,
  MEM_PAGE_DEMOTE: 15,
  MR_EXTEND: 16,
  MR_FINALIZE: 17,
  VP_FLUSH: 18,
  MNG_VPFLUSHDONE: 19,
  MNG_KEY_FREEID: 20,
  MNG_INIT: 21,
  VP_INIT: 22,
  MEM_PAGE_PROMOTE: 23,
  PHYMEM_PAGE_RDMD: 24,
  MEM_SEPT_RD: 25,
  VP_RD: 26,
  MNG_KEY_RECLAIMID: 27,
  PHYMEM_PAGE_RECLAIM: 28,
  MEM_PAGE_REMOVE: 29,
  MEM_SEPT_REMOVE: 30,
  SYS_KEY_CONFIG: 31,
  SYS_INFO: 32,
  SYS_INIT: 33,
  SYS_RD: 34,
  SYS_LP_INIT: 35,
  SYS_TDMR_INIT: 36,
  SYS_RDALL: 37,
  MEM_TRACK: 38,
  MEM_RANGE_UNBLOCK: 39,
  PHYMEM_CACHE_WB: 40,
  PHYMEM_PAGE_WBINVD: 41,
  VP_WR: 43,
  SYS_LP_SHUTDOWN: 44,
  SYS_CONFIG: 45,
  SYS_SHUTDOWN: 52,
  SYS_UPDATE: 53,
} as const;
export type SeamcallLeaf = (typeof SeamcallLeaf)[keyof typeof SeamcallLeaf];

/** TDCALL leaf numbers. @spec tdx-module.md §4.1 */
export const TdcallLeaf = {
  VP_VMCALL: 0,
  VP_INFO: 1,
  MR_RTMR_EXTEND: 2,
  VP_VEINFO_GET: 3,
  MR_REPORT: 4,
  VP_CPUIDVE_SET: 5,
  MEM_PAGE_ACCEPT: 6,
  VM_RD: 7,
  VM_WR: 8,
  VP_RD: 9,
  VP_WR: 10,
  SYS_RD: 11,
  SYS_RDALL: 12,
  SERVTD_RD: 18,
  SERVTD_WR: 20,
  MR_VERIFYREPORT: 22,
  MEM_PAGE_ATTR_RD: 23,
  MEM_PAGE_ATTR_WR: 24,
  VP_ENTER: 25,
  VP_INVEPT: 26,
  VP_INVVPID: 27,
} as const;
export type TdcallLeaf = (typeof TdcallLeaf)[keyof typeof TdcallLeaf];

const SEAMCALL_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(SeamcallLeaf).map(([k, v]) => [v, `TDH.${k.replaceAll("_", ".")}`]),
);
const TDCALL_NAMES: ReadonlyMap<number, string> = new Map(
  Object.entries(TdcallLeaf).map(([k, v]) => [v, `TDG.${k.replaceAll("_", ".")}`]),
);

/** "TDH.MEM.PAGE.ADD"-style name of a SEAMCALL leaf (approximate dots for multi-word names). */
export function seamcallLeafName(leaf: number): string {
  return SEAMCALL_NAMES.get(leaf) ?? `SEAMCALL leaf ${leaf}`;
}

/** "TDG.VP.VMCALL"-style name of a TDCALL leaf. */
export function tdcallLeafName(leaf: number): string {
  return TDCALL_NAMES.get(leaf) ?? `TDCALL leaf ${leaf}`;
}

/**
 * Highest version each versioned SEAMCALL leaf accepts; unlisted leaves accept only version 0.
 * TDX_1.5.01 versions PROMOTE, SEPT.ADD, SEPT.REMOVE, MNG.RD and VP.RD; newer modules add
 * TDH.VP.INIT v1 (R8 = x2APIC id), which KVM uses — enabled by the `vpInitV1` module option.
 * @spec tdx-module.md §0.1; intel/tdx-module src/vmm_dispatcher/tdx_vmm_dispatcher.c
 */
export const SEAMCALL_MAX_VERSION: Readonly<Record<number, number>> = {
  [SeamcallLeaf.MEM_PAGE_PROMOTE]: 1,
  [SeamcallLeaf.MEM_SEPT_ADD]: 1,
  [SeamcallLeaf.MEM_SEPT_REMOVE]: 1,
  [SeamcallLeaf.MNG_RD]: 1,
  [SeamcallLeaf.VP_RD]: 1,
};

/** RAX value for a leaf and version: leaf in bits 15:0, version in 23:16. */
export function leafRax(leaf: number, version = 0): bigint {
  return BigInt(leaf & 0xffff) | (BigInt(version & 0xff) << 16n);
}

/** Split RAX into leaf, version and whether bits 63:24 are zero as required. */
export function decodeLeafRax(rax: bigint): { leaf: number; version: number; reservedClear: boolean } {
  return {
    leaf: Number(rax & 0xffffn),
    version: Number((rax >> 16n) & 0xffn),
    reservedClear: rax >> 24n === 0n,
  };
}
