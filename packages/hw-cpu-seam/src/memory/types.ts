/**
 * The consumer-side view of physical memory: what every layer may do with it (access only; the
 * composing app builds it). Accesses carry an HPA whose upper bits hold the KeyID, and the
 * initiator (who makes the access). Outcomes are numeric statuses (no allocation on the hot path);
 * details of the last failing access come from `lastFault()`.
 *
 * @spec Intel TDX Module Base Architecture Spec §"Memory integrity" (TD-owner bit, poison);
 *   Intel MKTME spec (KeyID in the upper physical-address bits)
 */

/** Who makes a memory access. */
export const Initiator = {
  /** Host software (VMX root or a legacy VM), never SEAM. */
  Host: 0,
  /** The TDX module in SEAM mode. */
  Seam: 1,
  /** A TD (VMX non-root under SEAM), through its Secure/shared EPT. */
  Td: 2,
  /** A device's DMA after the IOMMU. */
  Device: 3,
} as const;
export type Initiator = (typeof Initiator)[keyof typeof Initiator];

/** Status of one access. 0 is success; anything else is a fault whose details `lastFault()` gives. */
export const MemStatus = {
  Ok: 0,
  /** The address is not backed by RAM (a hole). */
  Hole: 1,
  /** The address is an MMIO range: the caller must route it to a device, memory has no bytes there. */
  Mmio: 2,
  /** A read of a poisoned line: a machine check (#MC). */
  MachineCheck: 3,
  /** The KeyID is not usable by this initiator (e.g. host software with a TDX private KeyID). */
  KeyIdNotAllowed: 4,
  /** The KeyID is above the configured KeyID range. */
  KeyIdInvalid: 5,
} as const;
export type MemStatus = (typeof MemStatus)[keyof typeof MemStatus];

export type MemFaultKind = "hole" | "mmio" | "machine-check" | "keyid-not-allowed" | "keyid-invalid";

/** Details of a failed access. */
export interface MemFault {
  readonly kind: MemFaultKind;
  /** The HPA (KeyID bits included) of the first byte that faulted. */
  readonly pa: number;
  readonly keyId: number;
  readonly initiator: Initiator;
  readonly message: string;
}

/**
 * What layers use to access physical memory. All addresses are HPAs with the KeyID in the upper
 * bits. Multi-byte values are little-endian. 64-bit values travel as two 32-bit halves.
 */
export interface PhysicalMemoryAccess {
  /** Physical address width (MAXPHYADDR) including the KeyID bits. */
  readonly physAddrBits: number;
  /** Number of upper PA bits used for the KeyID. */
  readonly keyIdBits: number;

  read(pa: number, dst: Uint8Array, who: Initiator): MemStatus;
  write(pa: number, src: Uint8Array, who: Initiator): MemStatus;
  /** Copy `len` bytes between two HPAs (each with its own KeyID), as one bounce copy. */
  copy(dstPa: number, srcPa: number, len: number, who: Initiator): MemStatus;
  fill(pa: number, len: number, byte: number, who: Initiator): MemStatus;

  /** Aligned or unaligned 32-bit read into out[0]. */
  read32(pa: number, who: Initiator, out: Uint32Array): MemStatus;
  /** 64-bit read: out[0] = bits 31:0, out[1] = bits 63:32. */
  read64(pa: number, who: Initiator, out: Uint32Array): MemStatus;
  write32(pa: number, value: number, who: Initiator): MemStatus;
  write64(pa: number, lo: number, hi: number, who: Initiator): MemStatus;

  /** Details of the most recent access that did not return Ok. */
  lastFault(): MemFault | undefined;

  // KeyID queries: where the KeyID bits are, which KeyIDs are private, which lines a TD owns (what
  // an IOMMU and its TDX checks need to know about the memory behind a translated address).
  /** The KeyID in the upper bits of `pa` (floor(pa / 2^(physAddrBits - keyIdBits))). */
  keyIdOf(pa: number): number;
  /** `pa` without its KeyID bits. */
  stripKeyId(pa: number): number;
  /** Whether `keyId` is a TDX private KeyID (usable only in SEAM); false for shared and invalid ones. */
  isPrivateKeyId(keyId: number): boolean;
  /**
   * Whether any 64-byte line overlapping [pa, pa + len) is TD-owned (its TD-owner bit set; KeyID
   * bits of `pa` ignored). False for len <= 0. Allocation-free.
   */
  anyTdOwnedLine(pa: number, len: number): boolean;
}
