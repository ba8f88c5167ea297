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

// --- TDX module (SEAMCALL / TDCALL) ---
