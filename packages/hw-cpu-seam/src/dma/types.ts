/**
 * The device-facing DMA interface: what a device (or a device model) sees of the platform's IOMMU,
 * shared by @tdx/vtd and @tdx/smmu-nested so neither imports the other. Modelled on QEMU's
 * IOMMUMemoryRegion `translate()` returning a page-sized IOMMUTLBEntry with permissions (no
 * permission = fault; nothing thrown).
 *
 * @spec QEMU include/exec/memory.h IOMMUTLBEntry / IOMMUAccessFlags
 */

/** Access permissions (QEMU IOMMU_NONE/RO/WO/RW). */
export const Perm = { None: 0, Read: 1, Write: 2, ReadWrite: 3 } as const;
export type Perm = (typeof Perm)[keyof typeof Perm];

/** Who issues a DMA: requester (source-id / StreamID) and optional PASID (SubstreamID). */
export interface DmaRequester {
  /** PCI requester id (bus<<8 | devfn) for VT-d; StreamID for SMMU. */
  readonly sid: number;
  /** PASID / SubstreamID, or -1 when the request carries none. */
  readonly pasid: number;
  /** Privileged request (SMMU PRIV / VT-d PR). */
  readonly priv?: boolean;
  /** Instruction fetch (SMMU INSTR / VT-d ER). */
  readonly instr?: boolean;
}

/**
 * A page-sized translation result. `translatedAddr` is the HPA of the page base (KeyID bits
 * included); `addrMask` is page size - 1; `perm` None means the access faulted.
 */
export interface IotlbEntry {
  iova: number;
  translatedAddr: number;
  addrMask: number;
  perm: Perm;
}

/** An IOMMU fault as a value. `unit` names the hardware; `code` its architectural reason/event. */
export interface IommuFault {
  readonly unit: "vtd" | "smmu" | (string & {});
  /** The hardware's own fault reason or event id (e.g. VT-d FR 0x06, SMMU F_TRANSLATION 0x10). */
  readonly code: number;
  /** Its name as the specification writes it. */
  readonly name: string;
  readonly iova: number;
  readonly sid: number;
  readonly pasid: number;
  readonly write: boolean;
  /** Human-readable explanation. */
  readonly message: string;
}

export type TranslateResult =
  | { readonly ok: true; readonly entry: IotlbEntry }
  | { readonly ok: false; readonly fault: IommuFault };

/** Result of a DMA: done, faulted (nothing of a faulting page is transferred), or stalled (SMMU). */
export type DmaResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly fault: IommuFault; readonly stalled?: false }
  | { readonly ok: false; readonly stalled: true; readonly fault?: IommuFault };

/** What a device sees of its IOMMU. */
export interface DeviceDmaPort {
  /** Translate one address for an access; a page-sized entry or a fault (recorded by the unit). */
  translate(req: DmaRequester, iova: number, access: Perm): TranslateResult;
  /** Device reads `dst.length` bytes at `iova` (split at page boundaries). */
  dmaRead(req: DmaRequester, iova: number, dst: Uint8Array): DmaResult;
  /** Device writes `src` at `iova` (split at page boundaries). */
  dmaWrite(req: DmaRequester, iova: number, src: Uint8Array): DmaResult;
}
