/**
 * Platform/system SEAMCALL leaves: TDH.SYS.INIT, LP.INIT, INFO, RD, RDALL, CONFIG, KEY.CONFIG,
 * TDMR.INIT, LP.SHUTDOWN — host bring-up of the module, with the real state checks and statuses.
 *
 * @spec shared/reference/tdx-module.md §3.1, §2.1, §5.1-§5.4; intel/tdx-module
 *   src/vmm_dispatcher/api_calls/{tdh_sys_init.c,tdh_sys_lp_init.c,tdh_sys_config.c,
 *   tdh_sys_key_config.c,tdh_sys_tdmr_init.c,tdh_sys_rd.c,tdh_sys_info.c}
 */

import { MAX_HKIDS, TDCS_PAGES, TDVPS_PAGES } from "./control";
import type { CallCtx, TdxModuleCore } from "./core";
import { fieldKey, SysField } from "./metadata";
import { Gpr } from "./regs";
import { putU64 } from "./seam-memory";
import { KotState, SysState } from "./states";
import { OperandId, withOperand } from "./status";
import { TdxStatus } from "./status-codes";
import { ATTRIBUTES_FIXED0, ATTRIBUTES_FIXED1, XFAM_FIXED0, XFAM_FIXED1 } from "./td-params";
import {
  checkTdmr,
  decodeTdmrInfo,
  MAX_RESERVED_PER_TDMR,
  MAX_TDMRS,
  PAMT_ENTRY_SIZE,
  TDMR_INFO_ALIGNMENT,
  TDMR_INFO_SIZE,
  type TdmrInfo,
} from "./tdmr";

const GIB = 1024 * 1024 * 1024;
const MSR_MKTME_KEYID_PARTITIONING = 0x87;
/** TDX module version this model reports (TDX 1.5.01). */
const VERSION = { major: 1, minor: 5, update: 1 } as const;

/** TDH.SYS.INIT: RCX = attributes (must be 0); derive the private HKID range; -> SYSINIT_DONE. */
export function sysInit(m: TdxModuleCore, c: CallCtx): bigint {
  if (m.sys.state !== SysState.SYSINIT_PENDING) return TdxStatus.SYS_INIT_NOT_PENDING;
  if (c.in[Gpr.RCX] !== 0n) return withOperand(TdxStatus.OPERAND_INVALID, OperandId.RCX);
  const msr = m.keyIdPartitioning(c.lp);
  const numMktme = Number(msr & 0xffffffffn);
  const numTdx = Number((msr >> 32n) & 0xffffffffn);
  const last = numMktme + numTdx;
  if (numTdx === 0 || last > m.sm.layout.maxKeyId) {
    return withOperand(TdxStatus.INCORRECT_MSR_VALUE, MSR_MKTME_KEYID_PARTITIONING);
  }
  if (last >= MAX_HKIDS) return TdxStatus.NUM_ACTIVATED_HKIDS_NOT_SUPPORTED;
  m.sys.hkidFirst = numMktme + 1;
  m.sys.hkidLast = last;
  m.sys.state = SysState.SYSINIT_DONE;
  return TdxStatus.SUCCESS;
}

/** TDH.SYS.LP.INIT: once per LP, only in SYSINIT_DONE. */
export function sysLpInit(m: TdxModuleCore, c: CallCtx): bigint {
  if (m.sys.state !== SysState.SYSINIT_DONE) return TdxStatus.SYS_LP_INIT_NOT_PENDING;
  if (m.sys.lpInit[c.lp] === 1) return TdxStatus.SYS_LP_INIT_DONE;
  m.sys.lpInit[c.lp] = 1;
  m.sys.numInitLps++;
  return TdxStatus.SUCCESS;
}

/** TDH.SYS.LP.SHUTDOWN: a deprecated placeholder in 1.5 that succeeds. */
export function sysLpShutdown(): bigint {
  return TdxStatus.SUCCESS;
}

type SysValue = (m: TdxModuleCore) => bigint;

/** Global fields by key (the CMR arrays are handled separately). */
const SYS_FIELDS: ReadonlyMap<number, SysValue> = new Map<number, SysValue>([
  [fieldKey(SysField.MINOR_VERSION), () => BigInt(VERSION.minor)],
  [fieldKey(SysField.MAJOR_VERSION), () => BigInt(VERSION.major)],
  [fieldKey(SysField.UPDATE_VERSION), () => BigInt(VERSION.update)],
  [fieldKey(SysField.TDX_FEATURES0), (m) => m.opt.features0],
  [fieldKey(SysField.NUM_CMRS), (m) => BigInt(m.cfg.cmrs.length)],
  [fieldKey(SysField.MAX_TDMRS), () => BigInt(MAX_TDMRS)],
  [fieldKey(SysField.MAX_RESERVED_PER_TDMR), () => BigInt(MAX_RESERVED_PER_TDMR)],
  [fieldKey(SysField.PAMT_4K_ENTRY_SIZE), () => BigInt(PAMT_ENTRY_SIZE)],
  [fieldKey(SysField.PAMT_2M_ENTRY_SIZE), () => BigInt(PAMT_ENTRY_SIZE)],
  [fieldKey(SysField.PAMT_1G_ENTRY_SIZE), () => BigInt(PAMT_ENTRY_SIZE)],
  [fieldKey(SysField.TDR_BASE_SIZE), () => 4096n],
  [fieldKey(SysField.TDCS_BASE_SIZE), () => BigInt(TDCS_PAGES * 4096)],
  [fieldKey(SysField.TDVPS_BASE_SIZE), () => BigInt(TDVPS_PAGES * 4096)],
  [fieldKey(SysField.ATTRIBUTES_FIXED0), () => ATTRIBUTES_FIXED0],
  [fieldKey(SysField.ATTRIBUTES_FIXED1), () => ATTRIBUTES_FIXED1],
  [fieldKey(SysField.XFAM_FIXED0), () => XFAM_FIXED0],
  [fieldKey(SysField.XFAM_FIXED1), () => XFAM_FIXED1],
  [fieldKey(SysField.NUM_CPUID_CONFIG), () => 0n],
  [fieldKey(SysField.MAX_VCPUS_PER_TD), (m) => BigInt(m.opt.maxVcpusPerTd)],
]);
const CMR_BASE_KEY = fieldKey(SysField.CMR_BASE0);
const CMR_SIZE_KEY = fieldKey(SysField.CMR_SIZE0);

/** Value of a global metadata field, or undefined if the id is not one. */
function sysFieldValue(m: TdxModuleCore, key: number): bigint | undefined {
  const n = m.cfg.cmrs.length;
  if (key >= CMR_BASE_KEY && key < CMR_BASE_KEY + n) return BigInt(m.cfg.cmrs[key - CMR_BASE_KEY]!.base);
  if (key >= CMR_SIZE_KEY && key < CMR_SIZE_KEY + n) return BigInt(m.cfg.cmrs[key - CMR_SIZE_KEY]!.size);
  return SYS_FIELDS.get(key)?.(m);
}

const orderCache = new WeakMap<TdxModuleCore, { ids: bigint[]; index: Map<number, number> }>();

/** Field ids in enumeration order (for RDX = next field id), with each key's position. */
function sysFieldOrder(m: TdxModuleCore): { ids: bigint[]; index: Map<number, number> } {
  const hit = orderCache.get(m);
  if (hit) return hit;
  const ids: bigint[] = [
    SysField.MINOR_VERSION,
    SysField.MAJOR_VERSION,
    SysField.UPDATE_VERSION,
    SysField.TDX_FEATURES0,
    SysField.NUM_CMRS,
  ];
  for (let i = 0; i < m.cfg.cmrs.length; i++) ids.push(SysField.CMR_BASE0 + BigInt(i));
  for (let i = 0; i < m.cfg.cmrs.length; i++) ids.push(SysField.CMR_SIZE0 + BigInt(i));
  ids.push(
    SysField.MAX_TDMRS,
    SysField.MAX_RESERVED_PER_TDMR,
    SysField.PAMT_4K_ENTRY_SIZE,
    SysField.PAMT_2M_ENTRY_SIZE,
    SysField.PAMT_1G_ENTRY_SIZE,
    SysField.TDR_BASE_SIZE,
    SysField.TDCS_BASE_SIZE,
    SysField.TDVPS_BASE_SIZE,
    SysField.ATTRIBUTES_FIXED0,
    SysField.ATTRIBUTES_FIXED1,
    SysField.XFAM_FIXED0,
    SysField.XFAM_FIXED1,
    SysField.NUM_CPUID_CONFIG,
    SysField.MAX_VCPUS_PER_TD,
  );
  const r = { ids, index: new Map(ids.map((id, i) => [fieldKey(id), i])) };
  orderCache.set(m, r);
  return r;
}

/** TDH.SYS.RD: RDX = field id -> R8 = value, RDX = next field id (-1 after the last). */
export function sysRd(m: TdxModuleCore, c: CallCtx): bigint {
  if (m.sys.lpInit[c.lp] !== 1) return TdxStatus.SYS_LP_INIT_NOT_DONE;
  const key = fieldKey(c.in[Gpr.RDX]!);
  const v = sysFieldValue(m, key);
  if (v === undefined) return withOperand(TdxStatus.METADATA_FIELD_ID_INCORRECT, OperandId.RDX);
  const { ids, index } = sysFieldOrder(m);
  const i = index.get(key) ?? -1;
  c.out[Gpr.R8] = v;
  c.out[Gpr.RDX] = i >= 0 && i + 1 < ids.length ? ids[i + 1]! : 0xffffffffffffffffn;
  return TdxStatus.SUCCESS;
}

/**
 * TDH.SYS.RDALL: RDX = PA of a list buffer (4 KiB, shared), R8 = first field id. Writes a
 * header (u64 count) then {field id, value} pairs; RDX = next field id. [format approximate]
 */
export function sysRdAll(m: TdxModuleCore, c: CallCtx): bigint {
  if (m.sys.lpInit[c.lp] !== 1) return TdxStatus.SYS_LP_INIT_NOT_DONE;
  const pa = Number(c.in[Gpr.RDX]);
  const st = m.checkSharedHpa(pa, 4096, OperandId.RDX);
  if (st !== TdxStatus.SUCCESS) return st;
  const order = sysFieldOrder(m).ids;
  const startKey = fieldKey(c.in[Gpr.R8]!);
  let i = sysFieldOrder(m).index.get(startKey) ?? -1;
  if (i < 0) return withOperand(TdxStatus.METADATA_FIELD_ID_INCORRECT, OperandId.R8);
  const buf = new Uint8Array(4096);
  let n = 0;
  for (; i < order.length && 8 + (n + 1) * 16 <= 4096; i++, n++) {
    putU64(buf, 8 + n * 16, order[i]!);
    putU64(buf, 16 + n * 16, sysFieldValue(m, fieldKey(order[i]!)) ?? 0n);
  }
  putU64(buf, 0, n);
  if (m.sm.tryWrite(pa, buf) !== 0) return withOperand(TdxStatus.OPERAND_INVALID, OperandId.RDX);
  c.out[Gpr.RDX] = i < order.length ? order[i]! : 0xffffffffffffffffn;
  return TdxStatus.SUCCESS;
}

/**
 * TDH.SYS.INFO: RCX = TDSYSINFO_STRUCT PA (1 KiB aligned), RDX = its size (>= 1024), R8 = CMR_INFO
 * PA (512-B aligned), R9 = entries (>= 32). Outputs RDX = 1024, R9 = 32.
 */
export function sysInfo(m: TdxModuleCore, c: CallCtx): bigint {
  if (m.sys.lpInit[c.lp] !== 1) return TdxStatus.SYS_LP_INIT_NOT_DONE;
  const infoPa = Number(c.in[Gpr.RCX]);
  const cmrPa = Number(c.in[Gpr.R8]);
  let st = m.checkSharedHpa(infoPa, 1024, OperandId.RCX);
  if (st !== TdxStatus.SUCCESS) return st;
  if (c.in[Gpr.RDX]! < 1024n) return withOperand(TdxStatus.OPERAND_INVALID, OperandId.RDX);
  st = m.checkSharedHpa(cmrPa, 512, OperandId.R8);
  if (st !== TdxStatus.SUCCESS) return st;
  if (c.in[Gpr.R9]! < 32n) return withOperand(TdxStatus.OPERAND_INVALID, OperandId.R9);
  const info = new Uint8Array(1024);
  const dv = new DataView(info.buffer);
  dv.setUint32(4, 0x8086, true);
  dv.setUint16(14, VERSION.minor, true);
  dv.setUint16(16, VERSION.major, true);
  dv.setUint16(32, MAX_TDMRS, true);
  dv.setUint16(34, MAX_RESERVED_PER_TDMR, true);
  dv.setUint16(36, PAMT_ENTRY_SIZE, true);
  dv.setUint32(48, TDCS_PAGES * 4096, true);
  dv.setUint16(52, TDVPS_PAGES * 4096, true);
  putU64(info, 64, ATTRIBUTES_FIXED0);
  putU64(info, 72, ATTRIBUTES_FIXED1);
  putU64(info, 80, XFAM_FIXED0);
  putU64(info, 88, XFAM_FIXED1);
  const cmr = new Uint8Array(32 * 16);
  m.cfg.cmrs.forEach((r, i) => {
    putU64(cmr, i * 16, r.base);
    putU64(cmr, i * 16 + 8, r.size);
  });
  if (m.sm.tryWrite(infoPa, info) !== 0) return withOperand(TdxStatus.OPERAND_INVALID, OperandId.RCX);
  if (m.sm.tryWrite(cmrPa, cmr) !== 0) return withOperand(TdxStatus.OPERAND_INVALID, OperandId.R8);
  c.out[Gpr.RDX] = 1024n;
  c.out[Gpr.R9] = 32n;
  return TdxStatus.SUCCESS;
}

/**
 * TDH.SYS.CONFIG: RCX = PA of the TDMR_INFO PA array (512-B aligned), RDX = count (1..64),
 * R8 = the module's global private HKID. Needs SYSINIT_DONE and LP.INIT on every LP.
 */
export function sysConfig(m: TdxModuleCore, c: CallCtx): bigint {
  if (m.sys.state !== SysState.SYSINIT_DONE) return TdxStatus.SYS_CONFIG_NOT_PENDING;
  if (m.sys.numInitLps < m.sys.lpInit.length) return TdxStatus.SYS_CONFIG_NOT_PENDING;
  const arrPa = Number(c.in[Gpr.RCX]);
  const st = m.checkSharedHpa(arrPa, TDMR_INFO_ALIGNMENT, OperandId.RCX);
  if (st !== TdxStatus.SUCCESS) return st;
  const count = c.in[Gpr.RDX]!;
  if (count < 1n || count > BigInt(MAX_TDMRS)) return withOperand(TdxStatus.OPERAND_INVALID, OperandId.RDX);
  const r8 = c.in[Gpr.R8]!;
  const hkid = Number(r8 & 0xffffn);
  if (r8 >> 16n !== 0n || !m.isPrivateHkid(hkid)) return withOperand(TdxStatus.OPERAND_INVALID, OperandId.R8);
  m.kot.state[hkid] = KotState.HKID_RESERVED;
  m.sys.globalHkid = hkid;
  const n = Number(count);
  const ptrs = new Uint8Array(n * 8);
  if (m.sm.tryRead(arrPa, ptrs) !== 0) return withOperand(TdxStatus.OPERAND_INVALID, OperandId.RCX);
  const dv = new DataView(ptrs.buffer);
  const list: TdmrInfo[] = [];
  const entry = new Uint8Array(TDMR_INFO_SIZE);
  for (let i = 0; i < n; i++) {
    const pa = dv.getUint32(i * 8 + 4, true) * 4294967296 + dv.getUint32(i * 8, true);
    const pst = m.checkSharedHpa(pa, TDMR_INFO_ALIGNMENT, OperandId.RCX);
    if (pst !== TdxStatus.SUCCESS) return pst;
    if (m.sm.tryRead(pa, entry) !== 0) return withOperand(TdxStatus.OPERAND_INVALID, OperandId.RCX);
    list.push(decodeTdmrInfo(entry));
    const tst = checkTdmr(list, i, m.cfg.cmrs, m.paLimit);
    if (tst !== TdxStatus.SUCCESS) return tst;
  }
  m.pamt.configure(list, hkid);
  m.sys.pkgKeyConfigured.fill(0);
  m.sys.state = SysState.SYSCONFIG_DONE;
  return TdxStatus.SUCCESS;
}

/** TDH.SYS.KEY.CONFIG: program the global key on this LP's package; the last package -> SYS_READY. */
export function sysKeyConfig(m: TdxModuleCore, c: CallCtx): bigint {
  if (m.sys.state !== SysState.SYSCONFIG_DONE) return TdxStatus.SYS_KEY_CONFIG_NOT_PENDING;
  if (m.sys.pkgKeyConfigured[c.pkg] === 1) return TdxStatus.KEY_CONFIGURED;
  m.sys.pkgKeyConfigured[c.pkg] = 1;
  if (m.sys.pkgKeyConfigured.every((b) => b === 1)) m.sys.state = SysState.SYS_READY;
  return TdxStatus.SUCCESS;
}

/**
 * TDH.SYS.TDMR.INIT: RCX = a configured TDMR base. Initialises 1024 PAMT_4K entries (4 MiB of
 * TDMR) per call; RDX = next-to-initialize address rounded down to 1 GiB.
 */
export function sysTdmrInit(m: TdxModuleCore, c: CallCtx): bigint {
  const base = Number(c.in[Gpr.RCX]);
  if (!Number.isSafeInteger(base) || base % GIB !== 0 || base >= m.paLimit) {
    return withOperand(TdxStatus.OPERAND_INVALID, OperandId.RCX);
  }
  const idx = m.pamt.records.findIndex((r) => r.info.base === base);
  if (idx < 0) return withOperand(TdxStatus.OPERAND_INVALID, OperandId.RCX);
  const r = m.pamt.records[idx]!;
  if (r.lastInitialized >= r.info.base + r.info.size) return TdxStatus.TDMR_ALREADY_INITIALIZED;
  const next = m.pamt.initChunk(idx);
  c.out[Gpr.RDX] = BigInt(Math.floor(next / GIB) * GIB);
  return TdxStatus.SUCCESS;
}
