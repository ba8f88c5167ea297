/**
 * @tdx/guest-linux-swiotlb: the package face. Every public export is listed here by name.
 */
export const PACKAGE_NAME = "@tdx/guest-linux-swiotlb" as const;

// --- devices and the DMA API ---
export { DmaDevice, type DmaDeviceConfig, dmaBitMask, dmaBitMaskHex } from "./device";
export { DMA_DIRECTION_NAMES, DmaAttr, DmaDirection } from "./dma/constants";
export {
  type CoherentBuffer,
  type DmaAllocResult,
  DmaApi,
  type DmaApiOptions,
  type DmaFreeResult,
  type DmaMapError,
  type DmaMapResult,
  type DmaMapSgResult,
  type DmaStatusResult,
  type MappedSegment,
  type ScatterEntry,
  type SwiotlbBouncedEvent,
} from "./dma/dma-api";
export {
  type AnyMemoryEncryptionOps,
  type ConversionRecord,
  type ConversionStatus,
  CountingEncryptionOps,
  EIO,
  type MemoryEncryptionGuestOps,
  type MemoryEncryptionOps,
  RecordingEncryptionOps,
  toGuestEncryptionOps,
} from "./memory/conversion";
// --- guest memory, conversions, page allocation ---
export {
  FlatGuestMemory,
  type GpaToHpa,
  type GuestMemory,
  TranslatedGuestMemory,
} from "./memory/guest-memory";
export { type BootMemblock, TopDownMemblock } from "./memory/memblock";
export {
  atomicPoolDefaultBytes,
  type GuestPageAllocator,
  type RangeAllocatorOptions,
  RangePageAllocator,
} from "./memory/page-allocator";
export { CC_SLOT_SIZES, CcBufferStore } from "./policy/cc-buffers";
export {
  CC_DEFAULT_WATERMARKS,
  CC_MAX_CHUNK_BYTES,
  CcSwiotlb,
  type CcSwiotlbOptions,
  DEFAULT_KCCD_DELAY_OPS,
} from "./policy/cc-swiotlb";
export { comparePolicies, formatComparisonTable, type PolicyComparisonRow } from "./policy/compare";
export {
  createPolicy,
  DEFAULT_POLICY_LAYOUT,
  type PolicyLayout,
  type PolicyPlatform,
  type PolicyPlatformOptions,
} from "./policy/factory";
export {
  type BootedSwiotlb,
  type BootLinuxSwiotlbOptions,
  bootLinuxSwiotlb,
  bootLinuxSwiotlbOp,
  createLinuxDynamicPolicy,
  createLinuxDynamicPolicyOp,
  createLinuxPolicy,
  createLinuxPolicyOp,
  type LinuxDynamicPolicyOptions,
  type LinuxPolicyOptions,
} from "./policy/linux";
// --- bounce-buffer policies ---
export {
  BOUNCE_MAP_ERROR,
  type BounceMapFailure,
  type BouncePolicy,
  type BouncePolicyStats,
  BounceStatus,
  POLICY_KINDS,
  type PolicyKind,
} from "./policy/types";
export { IoTlbMem, type IoTlbMemOptions, type PoolGrower, type SwiotlbDebugfs } from "./swiotlb/allocator";
export {
  alignToSegment,
  isPow2,
  type ParsedUlong,
  parseSwiotlbParam,
  roundUpPow2,
  type SwiotlbParam,
  simpleStrtoul,
} from "./swiotlb/cmdline";
// --- SWIOTLB constants, command line and boot sizing ---
export {
  ARCH_LOW_ADDRESS_LIMIT,
  COCO_SWIOTLB_MAX_BYTES,
  COCO_SWIOTLB_MIN_BYTES,
  COCO_SWIOTLB_PERCENT,
  DYNAMIC_POOL_MAX_SLABS,
  INVALID_PHYS_ADDR,
  IO_TLB_DEFAULT_NSLABS,
  IO_TLB_DEFAULT_SIZE,
  IO_TLB_MAX_SEGMENT_BYTES,
  IO_TLB_MIN_SLABS,
  IO_TLB_SEGSIZE,
  IO_TLB_SHIFT,
  IO_TLB_SIZE,
  MAX_PAGE_ORDER,
  NO_SEG_BOUNDARY,
  PCI_DEFAULT_SEG_BOUNDARY_MASK,
  SLABS_PER_PAGE,
} from "./swiotlb/constants";
export type { WorkItemMode } from "./swiotlb/dynamic";
export { DEFAULT_WORK_DELAY_OPS, DynamicPoolGrower, type DynamicPoolOptions } from "./swiotlb/dynamic";
export { KernelLog, type LogLevel, type LogLine } from "./swiotlb/log";
// --- SWIOTLB pools, allocator, bounce layer ---
export { IoTlbPool, limitNareas, nrSlots, type PoolKind } from "./swiotlb/pool";
export { mappingDataSlot, releaseSlots } from "./swiotlb/release";
export { boundarySlotsOf, type SearchCounters, searchPoolArea } from "./swiotlb/search";
export {
  computeSwiotlbSizing,
  type SwiotlbDisabledReason,
  type SwiotlbSizing,
  type SwiotlbSizingInput,
  sixPercentOf,
} from "./swiotlb/sizing";
export { Swiotlb, type SwiotlbOptions, swiotlbMaxMappingSize } from "./swiotlb/swiotlb";
// --- TD integration: the TD's memory and conversions, DMA bring-up inside a TD (the guest-code
// forms of the conversions and of the SWIOTLB boot are listed with their modules above) ---
export { AtomicDmaPool, bootTdDma, type TdDma, type TdDmaBootOptions } from "./td/boot";
export { SharedPageMap } from "./td/shared-pages";
export { TdGuestMemory, type TdMemoryAccess } from "./td/td-guest-memory";
export { TdxGuestEncryptionOps } from "./td/tdx-encryption-ops";
// --- TDX guest: init, #VE and MMIO emulation, conversions, acceptance, unaccepted memory ---
export {
  Errno,
  TDVMCALL_EXPOSE_REGS_MASK,
  TDX_HYPERCALL_STANDARD,
  TDX_IDENT,
  TdcsField,
} from "./tdx-guest/abi";
export { tdxAcceptMemory, tryAcceptOne } from "./tdx-guest/accept";
export {
  InlineTdxEncryptionOps,
  runWithoutExit,
  setMemoryDecrypted,
  setMemoryEncrypted,
  tdxEncStatusChanged,
} from "./tdx-guest/conversion";
export {
  type MmioRegisterModel,
  type PortIoMaskModel,
  TdxGuest,
  type TdxGuestInfo,
  type TdxGuestOptions,
  type TdxGuestStats,
  type VeReduction,
} from "./tdx-guest/guest";
export { isTdxGuest, type TdxInitResult, tdxEarlyInit } from "./tdx-guest/init";
export { LazyAcceptZone, MAX_ORDER_NR_PAGES } from "./tdx-guest/lazy-accept";
export { MAP_GPA_MAX_RETRIES_PER_PAGE, type MapGpaResult, tdxMapGpa } from "./tdx-guest/map-gpa";
export { immediateAsLinuxPasses, MmioEmulator } from "./tdx-guest/mmio";
export { mmioRegisterSlot, mmioWriteBack, mmioWriteValue } from "./tdx-guest/mmio-registers";
export { decodeIoQualification, type IoQualification, portIoMask } from "./tdx-guest/port-io";
export type { TdCpu, TdExceptionHandler } from "./tdx-guest/td-cpu";
export {
  UNACCEPTED_UNIT_SIZE,
  UnacceptedMemory,
  type UnacceptedTableConfig,
} from "./tdx-guest/unaccepted-memory";
export { fatalErrorMessage, TdxVcpu } from "./tdx-guest/vcpu";
export { TdxVeHandler, type VeOutcome } from "./tdx-guest/ve-dispatch";
export type { VeInfo } from "./tdx-guest/ve-info";
export type { PtRegs, VeFailureReason, VeResult } from "./tdx-guest/ve-result";
// --- traces: the reference format, replay, ftrace captures ---
export {
  formatResult,
  formatTrace,
  parseTrace,
  type SwiotlbTrace,
  type TraceHeader,
  type TraceMapOp,
  type TraceOp,
  type TraceResult,
  type TraceUnmapOp,
} from "./trace/format";
export {
  type FtraceBouncedEvent,
  type FtraceCapture,
  type FtraceConversionOptions,
  formatFtraceLine,
  ftraceToTrace,
  looksLikeFtrace,
  parseFtrace,
} from "./trace/ftrace";
export { type ReplayOptions, type ReplayRun, replayTrace } from "./trace/replay";
