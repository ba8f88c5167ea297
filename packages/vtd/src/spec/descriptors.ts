/**
 * Queued-invalidation descriptor types and field layouts. Each mask lists, per 32-bit dword of
 * qword 0 and qword 1, the bits that are reserved (must be zero, else an invalidation queue error).
 * Bits 11:9 of qword 0 are the high bits of the descriptor type in VT-d 3.x and are zero for every
 * type the model knows, so they are part of the reserved check.
 *
 * @spec reference/vtd.md §5.4 (Linux iommu.h QI_* macros; QEMU VTD_INV_DESC_*_RSVD masks:
 *   CC 0xfffc00000000ffc0, IOTLB lo 0xffffffff0000ff00 hi 0xf80, PIOTLB/PC 0xfff000000000f1c0,
 *   PIOTLB hi 0xf80, wait lo 0xffffff80 (PD allowed when ECAP.PDS) hi 0x3)
 */

export const DescType = {
  ContextCache: 0x1,
  Iotlb: 0x2,
  DeviceTlb: 0x3,
  InterruptEntryCache: 0x4,
  Wait: 0x5,
  PasidIotlb: 0x6,
  PasidCache: 0x7,
  PasidDeviceTlb: 0x8,
  PageGroupResponse: 0x9,
} as const;

/** Reserved bits per dword: [qw0 lo, qw0 hi, qw1 lo, qw1 hi]. */
export type DescRsvd = readonly [number, number, number, number];

export const DESC_RSVD: Record<number, DescRsvd> = {
  // CC: G 5:4, DID 31:16, SID 47:32, FM 49:48.
  [DescType.ContextCache]: [0x0000_ffc0, 0xfffc_0000, 0xffff_ffff, 0xffff_ffff],
  // IOTLB: G 5:4, DW 6, DR 7, DID 31:16; qw1 AM 5:0, IH 6, ADDR 63:12.
  [DescType.Iotlb]: [0x0000_ff00, 0xffff_ffff, 0x0000_0f80, 0],
  // Device-TLB: PFSID 15:12 and 63:52, QDEP 20:16, SID 47:32; qw1 S 0, ADDR 63:12.
  [DescType.DeviceTlb]: [0xffe0_0ff0, 0x000f_0000, 0x0000_0ffe, 0],
  // IEC: G 4, IM 31:27, IIDX 47:32.
  [DescType.InterruptEntryCache]: [0x07ff_ffe0, 0xffff_0000, 0xffff_ffff, 0xffff_ffff],
  // Wait: IF 4, SW 5, FN 6, PD 7, status data 63:32; qw1 status address 63:2.
  [DescType.Wait]: [0xffff_ff00, 0, 0x0000_0003, 0],
  // PASID-IOTLB: G 5:4, DID 31:16, PASID 51:32; qw1 AM 5:0, IH 6, ADDR 63:12.
  [DescType.PasidIotlb]: [0x0000_f1c0, 0xfff0_0000, 0x0000_0f80, 0],
  // PASID-cache: G 5:4, DID 31:16, PASID 51:32.
  [DescType.PasidCache]: [0x0000_f1c0, 0xfff0_0000, 0xffff_ffff, 0xffff_ffff],
  // PASID-device-TLB: QDEP 8:4, PFSID 15:12 and 63:52, SID 31:16, PASID 51:32; qw1 G 0, S 11, ADDR.
  [DescType.PasidDeviceTlb]: [0x0000_0e00, 0x0000_0000, 0x0000_07fe, 0],
  // Page-group response: PP 4, PDP 5, RC 15:12, RID 31:16, PASID 51:32; qw1 LPIG 2, PRG 11:3.
  [DescType.PageGroupResponse]: [0x0000_0fc0, 0xfff0_0000, 0xffff_f003, 0xffff_ffff],
};

/** Types that exist only as 256-bit descriptors (an error in a 128-bit queue). [QEMU: 0x6, 0x8; 0x7 by analogy] */
export const WIDE_ONLY_TYPES: ReadonlySet<number> = new Set([
  DescType.PasidIotlb,
  DescType.PasidCache,
  DescType.PasidDeviceTlb,
  DescType.PageGroupResponse,
]);

/** Wait descriptor flags in qword 0. */
export const WaitFlag = { IF: 0x10, SW: 0x20, FN: 0x40, PD: 0x80 } as const;

/** PASID-cache invalidation granularities (G field). @spec Linux QI_PC_ALL_PASIDS/QI_PC_PASID_SEL/QI_PC_GLOBAL */
export const PcGran = { Domain: 0, Pasid: 1, Global: 3 } as const;
/** PASID-IOTLB granularities. @spec Linux QI_GRAN_NONG_PASID (2), QI_GRAN_PSI_PASID (3) */
export const PiotlbGran = { AllInPasid: 2, PageInPasid: 3 } as const;
