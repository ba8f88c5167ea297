/**
 * VT-d register offsets and bit positions, as the specification and the drivers that program it
 * define them. Offsets are from the remapping unit's register base (the DRHD "VTBAR").
 *
 * @spec reference/vtd.md §1.1-§1.7, citing Linux drivers/iommu/intel/iommu.h (DMAR_*_REG,
 *   DMA_GCMD_*, DMA_FSTS_*) and QEMU hw/i386/intel_iommu_internal.h (DMAR_*_REG, VTD_GCMD_*).
 */

/** Register offsets (bytes from the register base). */
export const Reg = {
  VER: 0x000,
  CAP: 0x008,
  ECAP: 0x010,
  GCMD: 0x018,
  GSTS: 0x01c,
  RTADDR: 0x020,
  CCMD: 0x028,
  FSTS: 0x034,
  FECTL: 0x038,
  FEDATA: 0x03c,
  FEADDR: 0x040,
  FEUADDR: 0x044,
  AFLOG: 0x058,
  PMEN: 0x064,
  PLMBASE: 0x068,
  PLMLIMIT: 0x06c,
  PHMBASE: 0x070,
  PHMLIMIT: 0x078,
  IQH: 0x080,
  IQT: 0x088,
  IQA: 0x090,
  ICS: 0x09c,
  IECTL: 0x0a0,
  IEDATA: 0x0a4,
  IEADDR: 0x0a8,
  IEUADDR: 0x0ac,
  IQER: 0x0b0,
  IRTA: 0x0b8,
  PQH: 0x0c0,
  PQT: 0x0c8,
  PQA: 0x0d0,
  PRS: 0x0dc,
  PECTL: 0x0e0,
  PEDATA: 0x0e4,
  PEADDR: 0x0e8,
  PEUADDR: 0x0ec,
} as const;

/** End (exclusive) of the fixed architectural register block; IOTLB and FRCD registers sit above. */
export const FIXED_BLOCK_END = 0x0f0;

/** Offsets within the IOTLB register pair at ECAP.IRO*16. */
export const IotlbRegOff = { IVA: 0x0, IOTLB: 0x8 } as const;

/**
 * GCMD command bits; the same positions in GSTS hold the matching status bits.
 * @spec reference/vtd.md §1.4 (Linux DMA_GCMD_*, QEMU VTD_GCMD_* / VTD_GSTS_*)
 */
export const Gcmd = {
  /** Translation enable / TES (level). */
  TE: 0x8000_0000,
  /** Set root-table pointer / RTPS (one-shot). */
  SRTP: 0x4000_0000,
  /** Set fault log / FLS (one-shot, advanced fault logging, deprecated). */
  SFL: 0x2000_0000,
  /** Enable advanced fault logging / AFLS (level, deprecated). */
  EAFL: 0x1000_0000,
  /** Write-buffer flush / WBFS (one-shot; WBFS is a busy bit). */
  WBF: 0x0800_0000,
  /** Queued-invalidation enable / QIES (level). */
  QIE: 0x0400_0000,
  /** Interrupt-remapping enable / IRES (level). */
  IRE: 0x0200_0000,
  /** Set interrupt-remap table pointer / IRTPS (one-shot). */
  SIRTP: 0x0100_0000,
  /** Compatibility-format interrupts / CFIS (level). */
  CFI: 0x0080_0000,
} as const;

/** GCMD bits that are persistent state (acted on when they change). */
export const GCMD_LEVEL_BITS = Gcmd.TE | Gcmd.EAFL | Gcmd.QIE | Gcmd.IRE | Gcmd.CFI;
/** GCMD bits that are one-shot commands (acted on whenever written as 1). */
export const GCMD_ONESHOT_BITS = Gcmd.SRTP | Gcmd.SFL | Gcmd.WBF | Gcmd.SIRTP;

/** RTADDR: translation-table mode field [11:10]. @spec reference/vtd.md §1.4 (QEMU VTD_RTADDR_SMT) */
export const RTADDR_TTM_SHIFT = 10;
export const Ttm = { Legacy: 0, Scalable: 1 } as const;

/**
 * CCMD fields (64-bit; the high dword holds ICC/CIRG/CAIG).
 * @spec reference/vtd.md §1.5 (QEMU VTD_CCMD_*, Linux DMA_CCMD_*)
 */
export const Ccmd = {
  /** ICC is bit 63: bit 31 of the high dword. */
  ICC_HI: 0x8000_0000,
  /** CIRG [62:61] in the high dword: bits 30:29. */
  CIRG_SHIFT_HI: 29,
  /** CAIG [60:59] in the high dword: bits 28:27. */
  CAIG_SHIFT_HI: 27,
  /** FM [33:32] in the high dword: bits 1:0. */
  FM_MASK_HI: 0x3,
} as const;
/** Invalidation granularities shared by CCMD.CIRG, IOTLB.IIRG and QI descriptor G fields. */
export const Gran = { Global: 1, Domain: 2, Device: 3, Page: 3 } as const;

/**
 * IOTLB invalidate register (at IRO*16 + 8) fields, in its high dword.
 * @spec reference/vtd.md §1.1 and §5.3 (QEMU VTD_TLB_*, Linux DMA_TLB_*)
 */
export const IotlbReg = {
  /** IVT bit 63. */
  IVT_HI: 0x8000_0000,
  /** IIRG [61:60]: high-dword bits 29:28. */
  IIRG_SHIFT_HI: 28,
  /** IAIG [58:57]: high-dword bits 26:25. */
  IAIG_SHIFT_HI: 25,
  /** DR bit 49, DW bit 48: high-dword bits 17, 16. */
  DR_HI: 0x2_0000,
  DW_HI: 0x1_0000,
} as const;

/** IVA register: ADDR [63:12], IH bit 6, AM [5:0]. @spec reference/vtd.md §1.1 */
export const Iva = { AM_MASK: 0x3f, IH: 0x40 } as const;

/**
 * FSTS bits. PFO and IQE/ICE/ITE are write-1-to-clear; PPF is the OR of all FRCD.F bits.
 * @spec reference/vtd.md §1.6 (Linux DMA_FSTS_*, QEMU VTD_FSTS_*)
 */
export const Fsts = {
  PFO: 0x01,
  PPF: 0x02,
  AFO: 0x04,
  APF: 0x08,
  IQE: 0x10,
  ICE: 0x20,
  ITE: 0x40,
  PRO: 0x80,
  FRI_SHIFT: 8,
  FRI_MASK: 0xff00,
} as const;

/** FECTL / IECTL / PECTL: interrupt mask (reset 1) and interrupt pending. @spec reference/vtd.md §1.6 */
export const EventCtl = { IM: 0x8000_0000, IP: 0x4000_0000 } as const;

/** ICS: invalidation wait descriptor complete. @spec reference/vtd.md §1.7 */
export const ICS_IWC = 0x1;

/**
 * Fault recording register layout, in the second (high) qword of each 128-bit FRCD.
 * @spec reference/vtd.md §1.6 (Linux dma_frcd_* read dwords at +8/+12; QEMU VTD_FRCD_*).
 *   PRIV (bit 92) and EXE (bit 93) positions are marked [unverified] in the reference.
 */
export const Frcd = {
  /** Dword +8: SID [15:0], PRIV bit 28, EXE bit 29, PP bit 31. */
  SID_MASK: 0xffff,
  PRIV: 1 << 28,
  EXE: 1 << 29,
  PP: 0x8000_0000,
  /** Dword +12: FR [7:0], PV [27:8], AT [29:28], T bit 30, F bit 31. */
  FR_MASK: 0xff,
  PV_SHIFT: 8,
  AT_SHIFT: 28,
  T: 1 << 30,
  F: 0x8000_0000,
} as const;

/**
 * IQA: base [63:12], DW bit 11, QS [2:0]. IQH/IQT index shift 4 (128-bit) or 5 (256-bit).
 * @spec reference/vtd.md §1.7 (QEMU VTD_IQA_*, VTD_IQT_QT, VTD_IQT_QT_256_RSV_BIT)
 */
export const Iqa = { DW: 0x800, QS_MASK: 0x7 } as const;
export const IQT_QT_MASK = 0x7fff0;
export const IQT_256_RSV_BIT = 0x10;

/**
 * IQER: IQEI [3:0] error information, ITESID [47:32], ICESID [63:48]. The IQEI values are from
 * the VT-d specification as recalled, not found in any source read: [unverified] (QEMU leaves
 * IQER zero; Linux only prints the number). `iqerReporting: "none"` keeps IQER at 0.
 * @spec reference/vtd.md §1.1 (IQER), Linux DMAR_IQER_REG_IQEI/ITESID/ICESID
 */
export const Iqei = {
  None: 0,
  InvalidTail: 1,
  FetchError: 2,
  InvalidType: 3,
  ReservedField: 4,
  InvalidWidth: 5,
  TailMisaligned: 6,
} as const;

/** MSI-address window: requests-without-PASID here are interrupt requests. @spec reference/vtd.md §2.5 */
export const INTERRUPT_WINDOW_FIRST = 0xfee0_0000;
export const INTERRUPT_WINDOW_LAST = 0xfeef_ffff;
