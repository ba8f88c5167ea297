/**
 * Metadata field ids the model answers: global (TDH.SYS.RD / TDH.SYS.INFO), TD-scope
 * (TDH.MNG.RD/WR, TDG.VM.RD/WR) and vCPU-scope (TDH.VP.RD/WR). A field id is matched on its
 * class (bits 61:56) and field code (bits 23:0): element size, context and the
 * non-architectural bit are ignored, as Linux's guest ids (e.g. NOTIFY_ENABLES
 * 0x9100000000000010 vs the table's 0x9110000300000010) show the module does.
 *
 * @spec shared/reference/tdx-module.md §5.1 (global field ids, md_field_id_t layout), §4.1
 *   (TDG.VM.RD ids Linux uses), §3.3 (TDVPS classes); intel/tdx-module
 *   include/auto_gen/global_sys_fields_lookup.c, tdr_tdcs_fields_lookup.c (ids, read/write masks);
 *   torvalds/linux arch/x86/kvm/vmx/tdx_arch.h (TDVPS_VMCS, TDVPS_GPR), arch/x86/include/asm/vmx.h
 *   (SHARED_EPT_POINTER 0x203C)
 */

/** The matching key of a field id: class and field code. */
export function fieldKey(fieldId: bigint): number {
  const cls = Number((fieldId >> 56n) & 0x3fn);
  return cls * 0x1000000 + Number(fieldId & 0xffffffn);
}

/** Global metadata field ids. @spec tdx-module.md §5.1 table */
export const SysField = {
  MINOR_VERSION: 0x0800000100000003n,
  MAJOR_VERSION: 0x0800000100000004n,
  UPDATE_VERSION: 0x0800000100000005n,
  TDX_FEATURES0: 0x0a00000300000008n,
  NUM_CMRS: 0x9000000100000000n,
  CMR_BASE0: 0x9000000300000080n,
  CMR_SIZE0: 0x9000000300000100n,
  MAX_TDMRS: 0x9100000100000008n,
  MAX_RESERVED_PER_TDMR: 0x9100000100000009n,
  PAMT_4K_ENTRY_SIZE: 0x9100000100000010n,
  PAMT_2M_ENTRY_SIZE: 0x9100000100000011n,
  PAMT_1G_ENTRY_SIZE: 0x9100000100000012n,
  TDR_BASE_SIZE: 0x9800000100000000n,
  TDCS_BASE_SIZE: 0x9800000100000100n,
  TDVPS_BASE_SIZE: 0x9800000100000200n,
  ATTRIBUTES_FIXED0: 0x1900000300000000n,
  ATTRIBUTES_FIXED1: 0x1900000300000001n,
  XFAM_FIXED0: 0x1900000300000002n,
  XFAM_FIXED1: 0x1900000300000003n,
  NUM_CPUID_CONFIG: 0x9900000100000004n,
  MAX_VCPUS_PER_TD: 0x9900000100000008n,
} as const;

/** TD-scope field ids (TDR/TDCS). @spec tdr_tdcs_fields_lookup.c */
export const TdField = {
  FATAL: 0x8010000000000001n,
  NUM_TDCX: 0x8010000200000002n,
  CHLDCNT: 0x8010000300000004n,
  LIFECYCLE_STATE: 0x8010000200000005n,
  HKID: 0x8110000100000001n,
  PKG_CONFIG_BITMAP: 0x8110000300000002n,
  NUM_VCPUS: 0x9010000200000001n,
  NUM_ASSOC_VCPUS: 0x9010000200000002n,
  OP_STATE: 0x9010000200000004n,
  ATTRIBUTES: 0x1110000300000000n,
  XFAM: 0x1110000300000001n,
  MAX_VCPUS: 0x1110000200000002n,
  GPAW: 0x1110000000000003n,
  EPTP: 0x1110000300000004n,
  TSC_FREQUENCY: 0x111000010000000cn,
  NOTIFY_ENABLES: 0x9110000300000010n,
  CONFIG_FLAGS: 0x9110000300000016n,
  TD_CTLS: 0x9110000300000017n,
  TOPOLOGY_ENUM_CONFIGURED: 0x9110000000000019n,
  TD_EPOCH: 0x9210000300000000n,
  /** Elements 0..5 of MRTD (48 bytes as six u64). */
  MRTD: 0x1310000300000000n,
  MRCONFIGID: 0x1310000300000010n,
  MROWNER: 0x1310000300000018n,
  MROWNERCONFIG: 0x1310000300000020n,
  /** RTMR[i] element j at field code 0x40 + 8i + j [unverified element spacing]. */
  RTMR: 0x1310000300000040n,
} as const;

/** vCPU-scope field ids. @spec linux tdx_arch.h BUILD_TDX_FIELD(class, field) */
export const VpField = {
  /** VMCS SHARED_EPT_POINTER (class 0, field 0x203C). */
  SHARED_EPT_POINTER: 0x000000000000203cn,
  /** TDVPS_GPR(n) = class 16, field n. */
  GPR0: 0x1000000000000000n,
} as const;

/** Who reads or writes a TD-scope field. */
export type MdAccessor = "host" | "host-debug" | "guest";

/** Read/write masks per accessor for one TD field (prod = host on a non-debug TD). */
export interface TdFieldRule {
  readonly rd: Readonly<Record<MdAccessor, bigint>>;
  readonly wr: Readonly<Record<MdAccessor, bigint>>;
}

const ALL = 0xffffffffffffffffn;
/**
 * TD_CTLS bits the guest may write: PENDING_VE_DISABLE, ENUM_TOPOLOGY, VIRT_CPUID2 (the 1.5 table);
 * REDUCE_VE (bit 3) is added when TDX_FEATURES0.VE_REDUCTION is enumerated (see td-metadata.ts).
 */
export const TD_CTLS_GUEST_WR = 7n;
const rule = (
  host: bigint,
  dbg: bigint,
  guest: bigint,
  wrHost = 0n,
  wrDbg = 0n,
  wrGuest = 0n,
): TdFieldRule => ({
  rd: { host, "host-debug": dbg, guest },
  wr: { host: wrHost, "host-debug": wrDbg, guest: wrGuest },
});

/** Access masks by field key. @spec tdr_tdcs_fields_lookup.c prod/dbg/guest rd/wr masks */
export const TD_FIELD_RULES: ReadonlyMap<number, TdFieldRule> = new Map<number, TdFieldRule>([
  [fieldKey(TdField.FATAL), rule(0xffn, 0xffn, 0n)],
  [fieldKey(TdField.NUM_TDCX), rule(ALL, ALL, 0n)],
  [fieldKey(TdField.CHLDCNT), rule(ALL, ALL, 0n)],
  [fieldKey(TdField.LIFECYCLE_STATE), rule(ALL, ALL, 0n)],
  [fieldKey(TdField.HKID), rule(0xffffn, 0xffffn, 0n)],
  [fieldKey(TdField.PKG_CONFIG_BITMAP), rule(ALL, ALL, 0n)],
  [fieldKey(TdField.NUM_VCPUS), rule(ALL, ALL, ALL)],
  [fieldKey(TdField.NUM_ASSOC_VCPUS), rule(ALL, ALL, 0n)],
  [fieldKey(TdField.OP_STATE), rule(ALL, ALL, 0n)],
  [fieldKey(TdField.ATTRIBUTES), rule(ALL, ALL, ALL)],
  [fieldKey(TdField.XFAM), rule(ALL, ALL, ALL)],
  [fieldKey(TdField.MAX_VCPUS), rule(ALL, ALL, ALL)],
  [fieldKey(TdField.GPAW), rule(0xffn, 0xffn, 0xffn)],
  [fieldKey(TdField.EPTP), rule(ALL, ALL, 0n)],
  [fieldKey(TdField.TSC_FREQUENCY), rule(0xffffn, 0xffffn, 0xffffn)],
  [fieldKey(TdField.NOTIFY_ENABLES), rule(0n, ALL, 1n, 0n, 1n, 1n)],
  [fieldKey(TdField.CONFIG_FLAGS), rule(ALL, ALL, ALL)],
  [fieldKey(TdField.TD_CTLS), rule(0n, ALL, ALL, 0n, 0n, TD_CTLS_GUEST_WR)],
  [fieldKey(TdField.TOPOLOGY_ENUM_CONFIGURED), rule(0xffn, 0xffn, 0xffn)],
  [fieldKey(TdField.TD_EPOCH), rule(ALL, ALL, 0n)],
]);

/** Which 48-byte measurement register a field key names, and the u64 element. */
export function measurementFieldOf(
  key: number,
):
  | { reg: "mrtd" | "mrconfigid" | "mrowner" | "mrownerconfig" | "rtmr"; index: number; elem: number }
  | undefined {
  const cls = Math.floor(key / 0x1000000);
  if (cls !== 0x13) return undefined;
  const code = key % 0x1000000;
  if (code < 6) return { reg: "mrtd", index: 0, elem: code };
  if (code >= 0x10 && code < 0x16) return { reg: "mrconfigid", index: 0, elem: code - 0x10 };
  if (code >= 0x18 && code < 0x1e) return { reg: "mrowner", index: 0, elem: code - 0x18 };
  if (code >= 0x20 && code < 0x26) return { reg: "mrownerconfig", index: 0, elem: code - 0x20 };
  if (code >= 0x40 && code < 0x60 && (code - 0x40) % 8 < 6) {
    return { reg: "rtmr", index: Math.floor((code - 0x40) / 8), elem: (code - 0x40) % 8 };
  }
  return undefined;
}
