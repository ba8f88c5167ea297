/**
 * Reading and writing TD-scope metadata (TDR/TDCS fields) for TDH.MNG.RD/WR (host) and
 * TDG.VM.RD/WR (guest), with the per-accessor read/write masks of the module's field table and
 * its write rules: a request mask with no writable bit is METADATA_FIELD_NOT_WRITABLE; changing
 * a bit the request names but the accessor may not write is METADATA_FIELD_VALUE_NOT_VALID;
 * TD_CTLS refuses a PENDING_VE_DISABLE change unless CONFIG_FLAGS.FLEXIBLE_PENDING_VE, and
 * ENUM_TOPOLOGY unless TOPOLOGY_ENUM_CONFIGURED. The "next field id" output is not enumerated:
 * RDX returns -1 [approximation].
 *
 * @spec shared/reference/tdx-module.md §3.2 (TDH.MNG.RD/WR), §4.1 (TDG.VM.RD/WR); intel/tdx-module
 *   include/auto_gen/tdr_tdcs_fields_lookup.c (ids and masks), src/common/metadata_handlers/
 *   metadata_td.c md_td_write_element() (combined mask, forbidden bits, TD_CTLS special case),
 *   metadata_generic.h md_check_forbidden_bits_unchanged()
 */
import { setTdCtls, type TdControl } from "./control";
import { fieldKey, type MdAccessor, measurementFieldOf, TD_FIELD_RULES, TdField } from "./metadata";
import { TdxStatus } from "./status-codes";
import { ConfigFlags, TdAttributes, TdCtls, TdxFeatures0 } from "./td-params";

const ALL = 0xffffffffffffffffn;

function u64Of(b: Uint8Array, elem: number): bigint {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(elem * 8, true);
}

/** The accessor class of a host call on `td` (debug TDs get the debug masks). */
export function hostAccessor(td: TdControl): MdAccessor {
  return ((td.params?.attributes ?? 0n) & TdAttributes.DEBUG) !== 0n ? "host-debug" : "host";
}

type TdValue = (td: TdControl) => bigint;

/** TD-scope field values by key. */
const TD_VALUES: ReadonlyMap<number, TdValue> = new Map<number, TdValue>([
  [fieldKey(TdField.FATAL), (td) => (td.fatal ? 1n : 0n)],
  [fieldKey(TdField.NUM_TDCX), (td) => BigInt(td.tdcxPas.length)],
  [fieldKey(TdField.CHLDCNT), (td) => BigInt(td.childCount)],
  [fieldKey(TdField.LIFECYCLE_STATE), (td) => BigInt(td.lifecycle)],
  [fieldKey(TdField.HKID), (td) => BigInt(td.hkid)],
  [fieldKey(TdField.PKG_CONFIG_BITMAP), (td) => BigInt(td.pkgConfigured)],
  [fieldKey(TdField.NUM_VCPUS), (td) => BigInt(td.numVcpus)],
  [fieldKey(TdField.NUM_ASSOC_VCPUS), (td) => BigInt(td.numAssocVcpus)],
  [fieldKey(TdField.OP_STATE), (td) => BigInt(td.opState)],
  [fieldKey(TdField.ATTRIBUTES), (td) => td.params?.attributes ?? 0n],
  [fieldKey(TdField.XFAM), (td) => td.params?.xfam ?? 0n],
  [fieldKey(TdField.MAX_VCPUS), (td) => BigInt(td.params?.maxVcpus ?? 0)],
  [fieldKey(TdField.GPAW), (td) => (td.params?.gpaw === 52 ? 1n : 0n)],
  [
    fieldKey(TdField.EPTP),
    (td) => (td.sept ? BigInt(td.sept.rootPa) | (BigInt(td.sept.rootLevel) << 3n) | 6n : 0n),
  ],
  [fieldKey(TdField.TSC_FREQUENCY), (td) => BigInt(td.params?.tscFrequency ?? 0)],
  [fieldKey(TdField.NOTIFY_ENABLES), (td) => td.notifyEnables],
  [fieldKey(TdField.CONFIG_FLAGS), (td) => td.params?.configFlags ?? 0n],
  [fieldKey(TdField.TD_CTLS), (td) => td.tdCtls],
  [fieldKey(TdField.TOPOLOGY_ENUM_CONFIGURED), (td) => (td.topologyEnumConfigured ? 1n : 0n)],
  [fieldKey(TdField.TD_EPOCH), (td) => BigInt(td.epoch)],
]);

function rawValue(td: TdControl, key: number): bigint | undefined {
  return TD_VALUES.get(key)?.(td);
}

/** Read a TD field as `who`. */
export function readTdField(
  td: TdControl,
  fieldId: bigint,
  who: MdAccessor,
): { status: bigint; value: bigint } {
  const key = fieldKey(fieldId);
  const m = measurementFieldOf(key);
  if (m) {
    if (m.reg === "rtmr" && who === "host")
      return { status: TdxStatus.METADATA_FIELD_NOT_READABLE, value: 0n };
    const p = td.params;
    const reg =
      m.reg === "mrtd"
        ? (td.mrtd?.value() ?? new Uint8Array(48))
        : m.reg === "rtmr"
          ? td.rtmr[m.index]!
          : (p?.[m.reg] ?? new Uint8Array(48));
    return { status: TdxStatus.SUCCESS, value: u64Of(reg, m.elem) };
  }
  const rule = TD_FIELD_RULES.get(key);
  const raw = rawValue(td, key);
  if (!rule || raw === undefined) return { status: TdxStatus.METADATA_FIELD_ID_INCORRECT, value: 0n };
  const mask = rule.rd[who];
  if (mask === 0n) return { status: TdxStatus.METADATA_FIELD_NOT_READABLE, value: 0n };
  return { status: TdxStatus.SUCCESS, value: raw & mask };
}

const TD_CTLS_KEY = fieldKey(TdField.TD_CTLS);
const NOTIFY_ENABLES_KEY = fieldKey(TdField.NOTIFY_ENABLES);

/** Bits `who` may write in the field `key`, given the module's TDX_FEATURES0. */
function writableBits(key: number, allowed: bigint, who: MdAccessor, features0: bigint): bigint {
  // REDUCE_VE is guest-writable only where the module enumerates VE_REDUCTION [inferred from the
  // 1.5 table (guest_wr_mask 7) and the VE_REDUCTION feature bit]
  if (key === TD_CTLS_KEY && who === "guest" && (features0 & TdxFeatures0.VE_REDUCTION) !== 0n) {
    return allowed | TdCtls.REDUCE_VE;
  }
  return allowed;
}

/**
 * Write a TD field as `who`: bits in `wrMask` that `who` may write take `value`; returns the old
 * value. `features0` is the module's TDX_FEATURES0 (it decides whether REDUCE_VE is writable).
 */
export function writeTdField(
  td: TdControl,
  fieldId: bigint,
  value: bigint,
  wrMask: bigint,
  who: MdAccessor,
  features0 = 0n,
): { status: bigint; old: bigint } {
  const key = fieldKey(fieldId);
  const rule = TD_FIELD_RULES.get(key);
  const old = rawValue(td, key);
  if (!rule || old === undefined) return { status: TdxStatus.METADATA_FIELD_ID_INCORRECT, old: 0n };
  const allowed = writableBits(key, rule.wr[who], who, features0);
  const combined = allowed & wrMask;
  if (combined === 0n) return { status: TdxStatus.METADATA_FIELD_NOT_WRITABLE, old: 0n };
  if (((old ^ value) & wrMask & ~allowed & ALL) !== 0n) {
    return { status: TdxStatus.METADATA_FIELD_VALUE_NOT_VALID, old: 0n };
  }
  const next = (old & ~combined) | (value & combined);
  if (key === TD_CTLS_KEY) {
    const flexible = ((td.params?.configFlags ?? 0n) & ConfigFlags.FLEXIBLE_PENDING_VE) !== 0n;
    if (!flexible && ((next ^ old) & TdCtls.PENDING_VE_DISABLE) !== 0n) {
      return { status: TdxStatus.METADATA_FIELD_VALUE_NOT_VALID, old: 0n };
    }
    if ((next & TdCtls.ENUM_TOPOLOGY) !== 0n && !td.topologyEnumConfigured) {
      return { status: TdxStatus.METADATA_FIELD_VALUE_NOT_VALID, old: 0n };
    }
    setTdCtls(td, next);
  } else if (key === NOTIFY_ENABLES_KEY) {
    td.notifyEnables = next;
  }
  return { status: TdxStatus.SUCCESS, old: old & rule.rd[who] };
}
