/**
 * @tdx/hw-cpu-seam: the package face. Every public export is listed here by name, grouped by
 * concern (addresses, errors, memory, CPUs, x86 decoding, DMA interface, TDX module).
 */
export const PACKAGE_NAME = "@tdx/hw-cpu-seam" as const;

// --- addresses ---
export {
  ADDRESS_LIMIT,
  bitsOf,
  type Gfn,
  type Gpa,
  type Gva,
  gfn,
  gpa,
  gva,
  type Hfn,
  type Hpa,
  hex,
  hfn,
  hi32,
  hpa,
  type Iova,
  type Ipa,
  iova,
  ipa,
  isShared,
  join32,
  lo32,
  PAGE_SHIFT,
  PAGE_SIZE,
  parseAddress,
  sharedBitIndex,
  sharedBitMask,
  toPrivate,
  toShared,
} from "./addr";
// --- CPUs, MSRs, CPUID ---
export { CpuComplex, type CpuComplexConfig } from "./cpu/cpu-complex";
export {
  bitsFor,
  CpuidBit,
  type CpuidConfig,
  type CpuidRegs,
  CpuidTable,
  type CpuidTopology,
  CpuModel,
  type CpuModelInfo,
  TDX_CPUID_LEAF,
  vendorString,
} from "./cpu/cpuid";
export {
  CpuExitReason,
  type CpuOutcome,
  LogicalProcessor,
  type LpMode,
  type MsrAccessOutcome,
  SeamcallSwStatus,
  seamcallSwStatus,
} from "./cpu/logical-processor";
export {
  isModelledMsr,
  MsrBank,
  MsrFile,
  type MsrReadResult,
  type MsrWriteResult,
  msrScope,
} from "./cpu/msr-file";
export {
  ApicBase,
  Efer,
  FeatureControl,
  keyIdPartitioningValue,
  Msr,
  type MsrNumber,
  type MsrScope,
  MtrrCap,
  msrField,
  PAT_POWER_UP,
  Seamrr,
  TmeActivate,
  TmeCapability,
  type TmeConfig,
  tdxReservedKeyIdBits,
  tmeActivateValue,
  tmeCapabilityValue,
} from "./cpu/msrs";
export { CpuTopology, type CpuTopologyConfig, type LpPlace } from "./cpu/topology";
// --- device-facing DMA interface ---
export {
  type DeviceDmaPort,
  type DmaRequester,
  type DmaResult,
  type IommuFault,
  type IotlbEntry,
  Perm,
  type TranslateResult,
} from "./dma/types";
// --- errors ---
export { ensure, TdxSimError } from "./errors";
// --- physical memory ---
export type { MmioRange, RamRange } from "./memory/address-map";
export type { FrameStoreOptions } from "./memory/frame-store";
export type { HostReadOfTdOwned, IntegrityMode, IntegrityPolicy } from "./memory/integrity";
export {
  KeyIdKind,
  type KeyIdPartition,
  keyIdKindTable,
  keyIdPartitionFromMsrs,
  MAX_KEYID_BITS,
  makeKeyIdPartition,
  partitioningMsrOf,
} from "./memory/keyids";
export {
  type LineIntegrity,
  type MemoryStats,
  type PageIntegrity,
  PhysicalMemory,
  type PhysicalMemoryConfig,
} from "./memory/physical-memory";
export {
  Initiator,
  type MemFault,
  type MemFaultKind,
  MemStatus,
  type PhysicalMemoryAccess,
} from "./memory/types";
// --- seeded randomness ---
export { SeededRandom, seededOffsets } from "./random/seeded-random";
// --- register-level scripts (the core of tdx-sim vtd script / smmu script) ---
export {
  RegisterScriptError,
  type ScriptLine,
  scriptFail,
  scriptLocation,
} from "./script/script-error";
export {
  bytesToHex,
  REGISTER_SCRIPT_MAX_LEN,
  type ScriptObject,
  scriptBool,
  scriptBytes,
  scriptField,
  scriptInteger,
  scriptLen,
  scriptNumber,
  scriptSize,
} from "./script/script-fields";
export {
  parseRegisterScript,
  parseRegisterScriptOp,
  type RegisterScriptOp,
  type RegisterScriptSyntax,
} from "./script/script-parse";
export {
  type RegisterScriptOutput,
  RegisterScriptRunner,
  type RegisterScriptUnitKind,
  runRegisterScript,
  type ScriptDmaPort,
  type ScriptRegisters,
} from "./script/script-run";
// --- TDX module (SEAMCALL / TDCALL) ---
export { TDCS_PAGES, TDVPS_PAGES } from "./tdx/control";
export type { MmioPort, TdxModuleConfig, TdxModuleOptions } from "./tdx/core";
export {
  LINUX_VMCALL_MASK,
  TdVmcall,
  TdVmcallStatus,
  tdcallLeaf,
  tdgMemPageAccept,
  tdgMrReport,
  tdgMrRtmrExtend,
  tdgVeInfoGet,
  tdgVmRd,
  tdgVmWr,
  tdgVpInfo,
  tdgVpVmcall,
  type VeInfoRegs,
  type VmcallResult,
  type VpInfo,
} from "./tdx/guest-calls";
export { ioInstructionLength } from "./tdx/guest-instructions";
export {
  type AccessOutcome,
  type ExceptionHandler,
  ExceptionVector,
  GuestMem,
  type GuestOp,
  type GuestProgram,
  type GuestRegisters,
  type InstructionOutcome,
  type PortIoForm,
  type PortIoSize,
  type TdExitSignal,
  type TdGuestContext,
} from "./tdx/guest-interface";
export {
  decodeLeafRax,
  leafRax,
  SEAMCALL_MAX_VERSION,
  SeamcallLeaf,
  seamcallLeafName,
  TdcallLeaf,
  tdcallLeafName,
} from "./tdx/leaves";
export {
  buildTdReport,
  encodeTdInfo,
  MR_EXTEND_CHUNK,
  MrtdAccumulator,
  measurementRecord,
  type ReportInputs,
  rtmrExtend,
  type TdInfoFields,
  type TeeTcbInfo,
} from "./tdx/measurement";
export { fieldKey, SysField, TdField, VpField } from "./tdx/metadata";
export { type TdSnapshot, TdxModule } from "./tdx/module";
export { Gpr, type GprFile, type GprValues, gprFileOf, newGprFile } from "./tdx/regs";
export { publicSeptState, SeptState } from "./tdx/sept-entry";
export { EPT_PS, EPT_R, EPT_SVE_HI, EPT_W, EPT_X, SharedEptWriter } from "./tdx/shared-ept";
export {
  KotState,
  LEVEL_BYTES,
  leafAllowedInOpState,
  OpState,
  PageLevel,
  PageType,
  SysState,
  TdLifecycle,
  VcpuState,
} from "./tdx/states";
export {
  describeStatus,
  isError,
  isFatal,
  isNonRecoverable,
  isStatus,
  OperandId,
  SeamcallInstructionFailure,
  statusBase,
  statusClass,
  statusDetailsL2,
  statusName,
  withMultipleInfo,
  withOperand,
} from "./tdx/status";
export { TdxStatus, type TdxStatusName } from "./tdx/status-codes";
export { CPUID_PARAVIRT_FIRST, CPUID_PARAVIRT_LAST } from "./tdx/td-cpuid";
export {
  acceptEeqInfo,
  decodeVpEnter,
  EeqType,
  EptQual,
  IoQual,
  ioExitQualification,
  type TdExit,
  VmxExitReason,
  type VpEnterOutcome,
} from "./tdx/td-exit";
export {
  ATTRIBUTES_FIXED0,
  ATTRIBUTES_FIXED1,
  ConfigFlags,
  encodeTdParams,
  eptpControlsFor,
  TD_PARAMS_SIZE,
  TdAttributes,
  TdCtls,
  type TdParams,
  TdxFeatures0,
  XFAM_FIXED0,
  XFAM_FIXED1,
} from "./tdx/td-params";
export {
  decodeTdmrInfo,
  encodeTdmrInfo,
  MAX_RESERVED_PER_TDMR,
  MAX_TDMRS,
  PAMT_ENTRY_SIZE,
  type PhysRange,
  pamtSizes,
  type ReservedArea,
  TDMR_INFO_ALIGNMENT,
  TDMR_INFO_SIZE,
  type TdmrInfo,
  validateTdmrList,
} from "./tdx/tdmr";
// --- x86 MMIO instruction decoding ---
export { MAX_INSN_LENGTH } from "./x86/cursor";
export { decodeMmioInstruction } from "./x86/decoder";
export {
  describeUnsupported,
  mmioEffectiveAddress,
  mmioImmediateHex,
  mmioImmediateValue,
} from "./x86/operands";
export {
  GPR8_LEGACY_NAMES,
  GPR8_REX_NAMES,
  GPR16_NAMES,
  GPR32_NAMES,
  GPR64_NAMES,
  gprName,
  isHighByteRegister,
} from "./x86/registers";
export {
  type MmioAccessSize,
  type MmioImmediateWrite,
  type MmioInstruction,
  type MmioKind,
  type MmioMemoryOperand,
  type MmioRegisterAccess,
  type MmioStringMove,
  type MmioUnsupported,
  NO_REGISTER,
  type SegmentOverride,
  type UnsupportedReason,
} from "./x86/types";
