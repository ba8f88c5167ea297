/**
 * The TDX module's state machines as data: system state, key ownership (KOT) states, TD
 * lifecycle, TD operational state with the allowed-leaf matrix, and vCPU states. Leaf handlers
 * consult these tables; nothing here has behaviour beyond table lookups.
 *
 * @spec shared/reference/tdx-module.md §2.1-§2.5; intel/tdx-module
 *   src/common/data_structures/tdx_global_data.h (sys_state), td_control_structures.h
 *   (lifecycle, OP_STATE), include/auto_gen/op_state_lookup.c (seamcall_state_lookup),
 *   src/vmm_dispatcher/tdx_vmm_dispatcher.c (gating before SYS_READY)
 */
import { SeamcallLeaf } from "./leaves";

/** Module-wide state (`global_state.sys_state`). @spec tdx-module.md §2.1 */
export const SysState = {
  SYSINIT_PENDING: 0,
  SYSINIT_DONE: 1,
  SYSCONFIG_DONE: 2,
  SYS_READY: 3,
  SYS_SHUTDOWN: 4,
} as const;
export type SysState = (typeof SysState)[keyof typeof SysState];

/**
 * Leaves the dispatcher accepts before SYS_READY; any other leaf returns TDX_SYS_NOT_READY.
 * TDH.SYS.TDMR.INIT is not in the list: it needs SYS_READY (KEY.CONFIG done on all packages).
 * @spec tdx-module.md §2.1 "Dispatcher gating"
 */
export const LEAVES_BEFORE_SYS_READY: ReadonlySet<number> = new Set([
  SeamcallLeaf.SYS_INFO,
  SeamcallLeaf.SYS_RD,
  SeamcallLeaf.SYS_RDALL,
  SeamcallLeaf.SYS_INIT,
  SeamcallLeaf.SYS_LP_INIT,
  SeamcallLeaf.SYS_CONFIG,
  SeamcallLeaf.SYS_KEY_CONFIG,
  SeamcallLeaf.SYS_LP_SHUTDOWN,
  SeamcallLeaf.SYS_UPDATE,
]);

/** Key ownership table entry state, per HKID. @spec tdx-module.md §2.2 */
export const KotState = {
  HKID_FREE: 0,
  HKID_ASSIGNED: 1,
  HKID_FLUSHED: 2,
  HKID_RESERVED: 3,
} as const;
export type KotState = (typeof KotState)[keyof typeof KotState];

/** TDR lifecycle state. @spec tdx-module.md §2.3 */
export const TdLifecycle = {
  TD_HKID_ASSIGNED: 0,
  TD_KEYS_CONFIGURED: 1,
  TD_BLOCKED: 2,
  TD_TEARDOWN: 3,
} as const;
export type TdLifecycle = (typeof TdLifecycle)[keyof typeof TdLifecycle];

/** TDCS operational state (0-2 used here; 3-10 are migration states). @spec tdx-module.md §2.4 */
export const OpState = {
  UNINITIALIZED: 0,
  INITIALIZED: 1,
  RUNNABLE: 2,
  LIVE_EXPORT: 3,
  PAUSED_EXPORT: 4,
  POST_EXPORT: 5,
  MEMORY_IMPORT: 6,
  STATE_IMPORT: 7,
  POST_IMPORT: 8,
  LIVE_IMPORT: 9,
  FAILED_IMPORT: 10,
} as const;
export type OpState = (typeof OpState)[keyof typeof OpState];

/**
 * `seamcall_state_lookup`: for each op-state-gated leaf, the 11 OP_STATE columns in order
 * (UNINITIALIZED .. FAILED_IMPORT), 1 = allowed. Leaves absent here are not gated by OP_STATE.
 * @spec intel/tdx-module include/auto_gen/op_state_lookup.c; tdx-module.md §2.4
 */
const OP_STATE_MATRIX: Readonly<Record<number, string>> = {
  [SeamcallLeaf.VP_ENTER]: "00110000010",
  [SeamcallLeaf.MNG_ADDCX]: "10000000000",
  [SeamcallLeaf.MEM_PAGE_ADD]: "01000000000",
  [SeamcallLeaf.MEM_SEPT_ADD]: "01110011110",
  [SeamcallLeaf.VP_ADDCX]: "01000001000",
  [SeamcallLeaf.MEM_PAGE_RELOCATE]: "01111100110",
  [SeamcallLeaf.MEM_PAGE_AUG]: "01110000010",
  [SeamcallLeaf.MEM_RANGE_BLOCK]: "01111100110",
  [SeamcallLeaf.VP_CREATE]: "01000001000",
  [SeamcallLeaf.MNG_RD]: "01111111111",
  [SeamcallLeaf.MEM_RD]: "01111111111",
  [SeamcallLeaf.MNG_WR]: "01110011111",
  [SeamcallLeaf.MEM_WR]: "01110011111",
  [SeamcallLeaf.MEM_PAGE_DEMOTE]: "01111100110",
  [SeamcallLeaf.MR_EXTEND]: "01000000000",
  [SeamcallLeaf.MR_FINALIZE]: "01000000000",
  [SeamcallLeaf.VP_FLUSH]: "11111111111",
  [SeamcallLeaf.MNG_INIT]: "10000000000",
  [SeamcallLeaf.VP_INIT]: "01000000000",
  [SeamcallLeaf.MEM_PAGE_PROMOTE]: "01111100110",
  [SeamcallLeaf.MEM_SEPT_RD]: "01111111111",
  [SeamcallLeaf.VP_RD]: "01111111111",
  [SeamcallLeaf.MEM_PAGE_REMOVE]: "01111100111",
  [SeamcallLeaf.MEM_SEPT_REMOVE]: "01111111111",
  [SeamcallLeaf.MEM_TRACK]: "01111111110",
  [SeamcallLeaf.MEM_RANGE_UNBLOCK]: "01111100110",
  [SeamcallLeaf.VP_WR]: "01110011111",
};

/** Whether `leaf` is subject to the OP_STATE matrix at all. */
export function isOpStateGated(leaf: number): boolean {
  return OP_STATE_MATRIX[leaf] !== undefined;
}

/** Whether `leaf` may run in `opState` (true for leaves the matrix does not gate). */
export function leafAllowedInOpState(leaf: number, opState: OpState): boolean {
  const row = OP_STATE_MATRIX[leaf];
  return row === undefined || row[opState] === "1";
}

/**
 * Whether TLB tracking (BLOCK -> TRACK -> REMOVE) is enforced in `opState`
 * (state_flags_lookup.tlb_tracking_required): not in UNINITIALIZED/INITIALIZED.
 * @spec op_state_lookup.c state_flags_lookup; tdx-module.md §2.4
 */
export function tlbTrackingRequired(opState: OpState): boolean {
  return opState === OpState.RUNNABLE || opState === OpState.LIVE_EXPORT || opState === OpState.LIVE_IMPORT;
}

/** vCPU state (TDVPS). @spec tdx-module.md §2.5 */
export const VcpuState = {
  UNINITIALIZED: 0x0,
  READY: 0x2,
  ACTIVE: 0x4,
  DISABLED: 0x8,
} as const;
export type VcpuState = (typeof VcpuState)[keyof typeof VcpuState];

/**
 * PAMT page types. @spec tdx-module.md §3.5; intel/tdx-module
 *   src/common/memory_handlers/pamt_manager.h page_type_t
 */
export const PageType = {
  PT_NDA: 0,
  PT_RSVD: 1,
  PT_REG: 3,
  PT_TDR: 4,
  PT_TDCX: 5,
  PT_TDVPR: 6,
  PT_EPT: 8,
} as const;
export type PageType = (typeof PageType)[keyof typeof PageType];

/** PAMT / page-info size levels (also the SEPT level of a leaf). @spec pamt_manager.h page_size_t */
export const PageLevel = { L4K: 0, L2M: 1, L1G: 2 } as const;
export type PageLevel = (typeof PageLevel)[keyof typeof PageLevel];

/** Bytes covered by a page at each level. */
export const LEVEL_BYTES: readonly number[] = [4096, 2 * 1024 * 1024, 1024 * 1024 * 1024];
