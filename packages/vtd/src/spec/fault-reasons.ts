/**
 * DMA-remapping fault reason codes (the FRCD.FR field), legacy and scalable mode, with their
 * names as Linux prints them and whether each is "qualified" (suppressed by a set FPD bit).
 * Codes 0xF0-0xF2 are this model's own TDX codes, outside the architectural range, clearly
 * labelled (0xF8-0xFA: model outcomes that are not remapping faults and are never logged): how real hardware reports a DMA to a private KeyID is not documented (vtd.md §7.1).
 *
 * @spec reference/vtd.md §4.1 (Linux drivers/iommu/intel/dmar.c dma_remap_fault_reasons[] and
 *   dma_remap_sm_fault_reasons[]; QEMU vtd_qualified_faults[])
 */

export const FaultReason = {
  // legacy (LGN / LRT / LCT ...)
  RootEntryNotPresent: 0x01,
  ContextEntryNotPresent: 0x02,
  ContextEntryInvalid: 0x03,
  AddressBeyondMgaw: 0x04,
  WriteDenied: 0x05,
  ReadDenied: 0x06,
  PagingEntryAccess: 0x07,
  RootTableAccess: 0x08,
  ContextTableAccess: 0x09,
  RootEntryReserved: 0x0a,
  ContextEntryReserved: 0x0b,
  PagingEntryReserved: 0x0c,
  TranslationTypeBlocked: 0x0d,
  InterruptAddress: 0x0e,
  // scalable mode
  SmInvalidRootTableAddress: 0x30,
  SmTtmLegacyWithPasid: 0x31,
  SmTtmLegacyPageRequest: 0x32,
  SmRootEntryAccess: 0x38,
  SmRootEntryNotPresent: 0x39,
  SmRootEntryReserved: 0x3a,
  SmContextEntryAccess: 0x40,
  SmContextEntryNotPresent: 0x41,
  SmContextEntryReserved: 0x42,
  SmContextEntryInvalid: 0x43,
  SmDteClear: 0x44,
  SmPasidEnableClear: 0x45,
  SmPasidTooLarge: 0x46,
  SmPreClear: 0x47,
  SmRidPasidError: 0x48,
  SmPasidDirAccess: 0x50,
  SmPasidDirNotPresent: 0x51,
  SmPasidDirReserved: 0x52,
  SmPasidTableAccess: 0x58,
  SmPasidEntryNotPresent: 0x59,
  SmPasidEntryReserved: 0x5a,
  SmPasidEntryInvalid: 0x5b,
  SmEreClear: 0x5c,
  SmSreClear: 0x5d,
  FsEntryAccess: 0x70,
  FsEntryNotPresent: 0x71,
  FsEntryReserved: 0x72,
  FsRootAccess: 0x73,
  NestedFsAddressBeyondMgaw: 0x74,
  NestedFsRootReadDenied: 0x75,
  NestedFsEntryReadDenied: 0x76,
  NestedFsEntryWriteDenied: 0x77,
  SsEntryAccess: 0x78,
  SsEntryPermission: 0x79,
  SsEntryReserved: 0x7a,
  SsRootInvalid: 0x7b,
  SsAdNoSnoop: 0x7c,
  FsNotCanonical: 0x80,
  FsUserDenied: 0x81,
  ExecuteDenied: 0x82,
  SmAddressBeyondMax: 0x83,
  SsAddressBeyondMax: 0x84,
  SmWriteDenied: 0x85,
  SmReadDenied: 0x86,
  SmInterruptAddress: 0x87,
  FsAdNoSnoop: 0x90,
  FsAdUpdateFailed: 0x91,
  // model-specific (TDX), not architectural
  TdxPrivateKeyId: 0xf0,
  TdxInputNotShared: 0xf1,
  TdxOwnedLines: 0xf2,
  // model-specific, not DMA-remapping faults: never written to FRCD
  UnsupportedRequest: 0xf8,
  MemoryError: 0xf9,
  ProtectedMemoryRegion: 0xfa,
} as const;
export type FaultReason = (typeof FaultReason)[keyof typeof FaultReason];

/** Names as Linux prints them (dma_remap_*fault_reasons), and the model's own codes labelled. */
const NAMES: Record<number, string> = {
  1: "Present bit in root entry is clear",
  2: "Present bit in context entry is clear",
  3: "Invalid context entry",
  4: "Access beyond MGAW",
  5: "PTE Write access is not set",
  6: "PTE Read access is not set",
  7: "Next page table ptr is invalid",
  8: "Root table address invalid",
  9: "Context table ptr is invalid",
  10: "non-zero reserved fields in RTP",
  11: "non-zero reserved fields in CTP",
  12: "non-zero reserved fields in PTE",
  13: "PCE for translation request specifies blocking",
  14: "Output address in the interrupt address range",
  48: "SM: Invalid Root Table Address",
  49: "SM: TTM 0 for request with PASID",
  50: "SM: TTM 0 for page group request",
  56: "SM: Error attempting to access Root Entry",
  57: "SM: Present bit in Root Entry is clear",
  58: "SM: Non-zero reserved field set in Root Entry",
  64: "SM: Error attempting to access Context Entry",
  65: "SM: Present bit in Context Entry is clear",
  66: "SM: Non-zero reserved field set in the Context Entry",
  67: "SM: Invalid Context Entry",
  68: "SM: DTE field in Context Entry is clear",
  69: "SM: PASID Enable field in Context Entry is clear",
  70: "SM: PASID is larger than the max in Context Entry",
  71: "SM: PRE field in Context-Entry is clear",
  72: "SM: RID_PASID field error in Context-Entry",
  80: "SM: Error attempting to access the PASID Directory Entry",
  81: "SM: Present bit in Directory Entry is clear",
  82: "SM: Non-zero reserved field set in PASID Directory Entry",
  88: "SM: Error attempting to access PASID Table Entry",
  89: "SM: Present bit in PASID Table Entry is clear",
  90: "SM: Non-zero reserved field set in PASID Table Entry",
  91: "SM: Invalid Scalable-Mode PASID Table Entry",
  92: "SM: ERE field is clear in PASID Table Entry",
  93: "SM: SRE field is clear in PASID Table Entry",
  112: "SM: Error attempting to access first-level paging entry",
  113: "SM: Present bit in first-level paging entry is clear",
  114: "SM: Non-zero reserved field set in first-level paging entry",
  115: "SM: Error attempting to access FL-PML4 entry",
  116: "SM: First-level entry address beyond MGAW in Nested translation",
  117: "SM: Read permission error in FL-PML4 entry in Nested translation",
  118: "SM: Read permission error in first-level paging entry in Nested translation",
  119: "SM: Write permission error in first-level paging entry in Nested translation",
  120: "SM: Error attempting to access second-level paging entry",
  121: "SM: Read/Write permission error in second-level paging entry",
  122: "SM: Non-zero reserved field set in second-level paging entry",
  123: "SM: Invalid second-level page table pointer",
  124: "SM: A/D bit update needed in second-level entry when set up in no snoop",
  128: "SM: Address in first-level translation is not canonical",
  129: "SM: U/S set 0 for first-level translation with user privilege",
  130: "SM: No execute permission for request with PASID and ER=1",
  131: "SM: Address beyond the DMA hardware max",
  132: "SM: Second-level entry address beyond the max",
  133: "SM: No write permission for Write/AtomicOp request",
  134: "SM: No read permission for Read/AtomicOp request",
  135: "SM: Invalid address-interrupt address",
  144: "SM: A/D bit update needed in first-level entry when set up in no snoop",
  145: "SM: A/D bit update failed (QEMU VTD_FR_FS_BIT_UPDATE_FAILED)",
  240: "MODEL-SPECIFIC (tdx-sim, not VT-d): untrusted DMA output address carries a TDX private KeyID",
  241: "MODEL-SPECIFIC (tdx-sim, not VT-d): input address lacks the TD shared bit",
  242: "MODEL-SPECIFIC (tdx-sim, not VT-d): untrusted DMA write to TD-owned (private) lines",
  248: "MODEL-SPECIFIC (tdx-sim): unsupported request (interrupt-window read), not a remapping fault",
  249: "MODEL-SPECIFIC (tdx-sim): memory rejected the device access after translation",
  250: "MODEL-SPECIFIC (tdx-sim): access to a protected memory region (PMEN.EPM) blocked",
};

/** The name of a fault reason, as Linux prints it ("Unknown" otherwise). */
export function faultReasonName(code: number): string {
  return NAMES[code] ?? "Unknown";
}

/** Whether a code is one of this model's own codes rather than an architectural reason. */
export function isModelSpecificReason(code: number): boolean {
  return code >= 0xf0;
}

/** Whether a code is logged in the fault recording registers (0xF8 and up are not remapping faults). */
export function isLoggedReason(code: number): boolean {
  return code < 0xf8;
}

/**
 * Non-qualified faults: always reported, even with FPD set. QEMU's table marks these non-qualified
 * (and leaves 0x0B and 0x31 out, which default to non-qualified); the model's TDX codes are
 * security events and are never suppressed.
 * @spec reference/vtd.md §4.1 "QEMU marks as non-qualified: 0x1, 0x8, 0x9, 0xA, 0x50, 0x58"
 */
const NON_QUALIFIED = new Uint8Array(256);
for (const c of [
  0x01, 0x08, 0x09, 0x0a, 0x0b, 0x30, 0x31, 0x38, 0x39, 0x3a, 0x40, 0x50, 0x58, 0xf0, 0xf1, 0xf2,
]) {
  NON_QUALIFIED[c] = 1;
}

/** Whether FPD=1 suppresses this fault. */
export function isQualifiedFault(code: number): boolean {
  return NON_QUALIFIED[code & 0xff] === 0;
}
