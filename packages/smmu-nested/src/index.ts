/**
 * @tdx/smmu-nested: the package face. Every public export is listed here by name, grouped by
 * concern: the unit and its options, register map and ID registers, structures (STE, CD,
 * commands, events) with their encoders, page tables and memory views, the Linux-style driver,
 * vSVA (host nesting and the guest-visible vSMMU), virtio-iommu, and the script runner.
 */
export const PACKAGE_NAME = "@tdx/smmu-nested" as const;

// --- the unit ---
export { Acc, accFromPerm, NEED_PERM, permForAttrs } from "./access";
// --- building tables, memory views, the driver ---
export { BumpAllocator, hostTableMemory, type TableMemory } from "./alloc";
export { CD_BYTES, CdConfig, type CdFields, decodeCd, encodeCd, encodeL1Cd } from "./cd";
export {
  CError,
  decodeCommand,
  encodeCommand,
  Opcode,
  PriResp,
  ResumeAction,
  type SmmuCommand,
  SyncCs,
  type TlbiRange,
} from "./commands";
export { ConfigCache } from "./config-cache";
export { type DriverConfig, SmmuDriver, type SmmuRegisterPort, type SubmitResult } from "./driver";
export { ABORT_SILENT, type EngineOptions, Mode, TranslationEngine } from "./engine";
export {
  decodeEvent,
  EventId,
  eventName,
  FaultClass,
  FaultInfo,
  isStallable,
  type SmmuEvent,
} from "./events";
export {
  blockAllowed,
  type GranuleLog2,
  levelShift,
  s1StartLevel,
  s2ConcatenatedTables,
  s2StartLevel,
  tg0ToLog2,
  tg1ToLog2,
} from "./granule";
export {
  DEFAULT_FEATURE_CONFIG,
  decodeFeatures,
  encodeIdRegisters,
  type FeatureConfig,
  type IdRegisterValues,
  Idr0,
  Idr3,
  Idr5,
  paSizeBits,
  type SmmuFeatures,
  StallModel,
  TtEndian,
  Ttf,
} from "./idr";
export { type MapAttrs, PageTable, type PageTableFormat } from "./pgtable";
export {
  CMDQ_ENTRY_BYTES,
  EVENTQ_ENTRY_BYTES,
  PRIQ_ENTRY_BYTES,
  type QueueGeometry,
  qCount,
  qEmpty,
  qFull,
  qInc,
  qIndex,
  qWrap,
} from "./queue";
export { RegisterFile, type RegisterFileOptions, type RegisterHooks } from "./registers";
// --- registers, ID registers, queues ---
export {
  CMDQ_CONS_ERR_MASK,
  CMDQ_CONS_ERR_SHIFT,
  Cr0,
  Cr2,
  GBPA_RESET_QEMU,
  Gbpa,
  GERROR_MASK,
  Gerror,
  IrqCtrl,
  Q_OVERFLOW_FLAG,
  REG_PAGE_SIZE,
  REG_SPACE_SIZE,
  Reg,
  StrtabCfg,
} from "./regs";
// --- script runner (tdx-sim smmu script) ---
export {
  parseSmmuScript,
  runSmmuScript,
  SCRIPT_MAX_LEN,
  type ScriptAnswer,
  type ScriptOp,
  SmmuScriptRunner,
} from "./script";
export {
  type AtcInvalidation,
  Outcome,
  type PriResponse,
  SmmuCounters,
  type SmmuOptions,
  SmmuV3,
} from "./smmu";
export type { WalkOptions } from "./stage2";
export type { CompletedTransaction, StalledKind, StalledTransaction } from "./stall";
// --- structures ---
export {
  decodeSte,
  encodeSte,
  type ReservedConfigPolicy,
  S1Dss,
  S1Fmt,
  STE_BYTES,
  SteConfig,
  SteConfigKind,
  type SteFields,
} from "./ste";
export { PERM_ALL, PermBit, Tlb, type TlbGeometry, TlbKind } from "./tlb";
// --- virtio-iommu ---
export {
  type ReservedRegion,
  VirtioIommuDevice,
  type VirtioIommuOptions,
  X86_MSI_WINDOW,
} from "./virtio-iommu/device";
export { VirtioIommuDriver } from "./virtio-iommu/driver";
export {
  AttachFlag,
  ConfigOff as VirtioIommuConfigOff,
  decodeFault as decodeVirtioIommuFault,
  decodeProbeProperties,
  encodeAttach,
  encodeDetach,
  encodeMap,
  encodeProbe,
  encodeUnmap,
  FaultFlag as VirtioIommuFaultFlag,
  FaultReason as VirtioIommuFaultReason,
  MapFlag,
  type ProbeProperty,
  ProbeType,
  ReqType as VirtioIommuReqType,
  ResvMemType,
  Status as VirtioIommuStatus,
  VIRTIO_ID_IOMMU,
  type VirtioIommuFault,
  VirtioIommuFeature,
} from "./virtio-iommu/protocol";
export {
  type VirtqBuffer,
  type VirtqChain,
  VirtqDescFlag,
  VirtqueueDevice,
  VirtqueueDriver,
  type VirtqueueLayout,
} from "./virtio-iommu/virtqueue";
// --- vSVA ---
export { GuestRam } from "./vsva/guest-ram";
export {
  FORWARDED_EVENTS,
  type HostPageFault,
  type HostResult,
  type NestingParent,
  PageResponse,
  Viommu,
  VSTE_DW0_MASK,
  VSTE_DW1_MASK,
  VsvaHost,
} from "./vsva/host";
export { VirtualSmmu, virtualIdRegisters } from "./vsva/vsmmu";
