/**
 * @tdx/vtd: the package face. Every public export is listed here by name, grouped by concern:
 * the unit, its capabilities, registers and fault reasons as the specification defines them, the
 * caches and walkers for callers who compose their own pipeline, the TDX policy, the DMA port and
 * device-TLB, and the register-level script runner.
 */
export const PACKAGE_NAME = "@tdx/vtd" as const;

export { PeFlag, Pgtt } from "./caches/pasid-cache";
// --- caches and walks (building blocks) ---
export { EntryKind, LEVEL_SIZE, Perm8, TranslationCache } from "./caches/translation-cache";
export { type AtsResult, type AtsUnit, DeviceTlb } from "./dma/device-tlb";
// --- device-facing DMA ---
export { type DmaPortUnit, VtdDmaPort } from "./dma/dma-port";
export type { MsiSink, VtdMsi } from "./faults/events";
// --- faults and events ---
export {
  AddressType,
  type FaultCollapse,
  type FaultDisposition,
  sidText,
  type VtdFault,
} from "./faults/fault-recorder";
export { type DeviceTlbSink, decodeAtsRange, type InvalidationCounts } from "./invalidation/cache-ops";
export { computeLayout, type RegisterLayout } from "./registers/layout";
// --- register-level script runner (tdx-sim vtd script) ---
export {
  MAX_SCRIPT_LEN,
  parseOp,
  parseScript,
  SCRIPT_ADDRESS_LIMIT,
  type ScriptOp,
  VtdScriptError,
} from "./script/script-ops";
export {
  runVtdScript,
  type ScriptOutput,
  type ScriptRunnerOptions,
  VtdScriptRunner,
} from "./script/script-runner";
// --- capabilities, registers, descriptors, fault reasons (spec constants) ---
export {
  composeCapabilities,
  decodeCap,
  decodeEcap,
  type VtdCap,
  type VtdEcap,
  type VtdProfile,
} from "./spec/capabilities";
export { DESC_RSVD, DescType, PcGran, PiotlbGran, WaitFlag, WIDE_ONLY_TYPES } from "./spec/descriptors";
export {
  FaultReason,
  faultReasonName,
  isLoggedReason,
  isModelSpecificReason,
  isQualifiedFault,
} from "./spec/fault-reasons";
export {
  Ccmd,
  EventCtl,
  FIXED_BLOCK_END,
  Frcd,
  Fsts,
  GCMD_LEVEL_BITS,
  GCMD_ONESHOT_BITS,
  Gcmd,
  Gran,
  ICS_IWC,
  INTERRUPT_WINDOW_FIRST,
  INTERRUPT_WINDOW_LAST,
  IotlbReg,
  IotlbRegOff,
  IQT_256_RSV_BIT,
  IQT_QT_MASK,
  Iqa,
  Iqei,
  Iva,
  Reg,
  RTADDR_TTM_SHIFT,
  Ttm,
} from "./spec/registers";
// --- TDX rules ---
export type { TdxDmaOptions } from "./tdx/tdx-policy";
export { Translation } from "./translate/translation";
export type { VtdPolicy, VtdUnitOptions } from "./unit/options";
export { checkRequest, type VtdRequest } from "./unit/request";
// --- the unit ---
export { type VtdTranslateOutcome, VtdUnit } from "./unit/vtd-unit";
export { LEGACY_SS_CODES, SCALABLE_SS_CODES, type SsCodes } from "./walk/second-stage";
