/**
 * KeyID space of MKTME/TDX: how many upper physical-address bits hold the KeyID, which KeyIDs are
 * shared (KeyID 0 = TME, then the MKTME KeyIDs) and which are TDX private (usable only in SEAM),
 * and how to derive that from the MSRs the BIOS programs.
 *
 * @spec /work/shared/reference/tdx-module.md §5.4 "KeyIDs" — IA32_MKTME_KEYID_PARTITIONING (0x87):
 *   bits 31:0 NUM_MKTME_KIDS, 63:32 NUM_TDX_PRIV_KIDS; KeyID 0 = TME; TDX KeyIDs follow the MKTME
 *   ones (Linux arch/x86/virt/vmx/tdx/tdx.c `record_keyid_partitioning`, TDX_KEYID_START = low + 1);
 *   IA32_TME_ACTIVATE (0x982) bits 35:32 MK_TME_KEYID_BITS; the HKID occupies the top KeyID-bits
 *   bits of the physical address (intel/tdx-module `hkid_start_bit = MAX_PA - keyid_bits`).
 */
import { TdxSimError } from "../errors";

/** How a KeyID may be used. Numeric so it can live in a Uint8Array lookup table. */
export const KeyIdKind = {
  /** KeyID 0 (TME) or an MKTME KeyID: usable by anyone, no integrity. */
  Shared: 0,
  /** A TDX private KeyID: usable only in SEAM (the TDX module and TDs). */
  Private: 1,
  /** Inside the KeyID bits but above the configured KeyIDs. */
  Invalid: 2,
} as const;
export type KeyIdKind = (typeof KeyIdKind)[keyof typeof KeyIdKind];

/** The KeyID partitioning of a platform. */
export interface KeyIdPartition {
  /** Upper PA bits used for the KeyID (IA32_TME_ACTIVATE MK_TME_KEYID_BITS). */
  readonly keyIdBits: number;
  /** Number of MKTME (shared) KeyIDs, 1..mktmeKeyIds (KeyID 0 is TME and always shared). */
  readonly mktmeKeyIds: number;
  /** First TDX private KeyID (= mktmeKeyIds + 1). */
  readonly tdxFirst: number;
  /** Number of TDX private KeyIDs. */
  readonly tdxCount: number;
}

/** Largest MK_TME_KEYID_BITS the 4-bit MSR field can report. @spec tdx-module.md §5.4 (bits 35:32) */
export const MAX_KEYID_BITS = 15;

/**
 * Build and check a KeyID layout. `tdxKeyIds.first` must equal `mktmeKeyIds + 1` when both are
 * given, because private KeyIDs start right after the MKTME ones.
 */
export function makeKeyIdPartition(
  keyIdBits: number,
  tdxKeyIds?: { readonly first: number; readonly count: number },
  mktmeKeyIds?: number,
): KeyIdPartition {
  if (!Number.isInteger(keyIdBits) || keyIdBits < 0 || keyIdBits > MAX_KEYID_BITS) {
    throw new TdxSimError(
      "E_KEYID_CONFIG",
      `keyIdBits ${String(keyIdBits)} is invalid: it must be an integer in 0..${MAX_KEYID_BITS} (MK_TME_KEYID_BITS is a 4-bit field)`,
    );
  }
  const total = 2 ** keyIdBits;
  if (keyIdBits === 0) {
    if (tdxKeyIds && tdxKeyIds.count > 0) {
      throw new TdxSimError(
        "E_KEYID_CONFIG",
        "TDX private KeyIDs need keyIdBits > 0: with 0 KeyID bits only KeyID 0 exists",
      );
    }
    return { keyIdBits, mktmeKeyIds: 0, tdxFirst: 1, tdxCount: 0 };
  }
  let mktme: number;
  let count: number;
  if (tdxKeyIds) {
    mktme = mktmeKeyIds ?? tdxKeyIds.first - 1;
    count = tdxKeyIds.count;
    if (tdxKeyIds.first !== mktme + 1) {
      throw new TdxSimError(
        "E_KEYID_CONFIG",
        `TDX private KeyIDs start at ${String(tdxKeyIds.first)} but there are ${String(mktme)} MKTME KeyIDs: private KeyIDs must start at NUM_MKTME_KIDS + 1 = ${String(mktme + 1)}`,
      );
    }
  } else if (mktmeKeyIds !== undefined) {
    mktme = mktmeKeyIds;
    count = total - 1 - mktme;
  } else {
    // Default: a quarter of the KeyID space shared, the rest private. For 6 KeyID bits this is the
    // "private KeyID range [16, 64)" of the Linux tdx.rst example log.
    mktme = total / 4 - 1;
    count = total - 1 - mktme;
  }
  if (
    !Number.isInteger(mktme) ||
    mktme < 0 ||
    !Number.isInteger(count) ||
    count < 0 ||
    mktme + count > total - 1
  ) {
    throw new TdxSimError(
      "E_KEYID_CONFIG",
      `KeyID partitioning (${String(mktme)} MKTME + ${String(count)} TDX) does not fit ${String(keyIdBits)} KeyID bits: at most ${String(total - 1)} KeyIDs besides KeyID 0`,
    );
  }
  return { keyIdBits, mktmeKeyIds: mktme, tdxFirst: mktme + 1, tdxCount: count };
}

/**
 * Derive the layout from IA32_MKTME_KEYID_PARTITIONING and IA32_TME_ACTIVATE (both as 64-bit
 * bigints, the ABI edge). @spec tdx-module.md §5.4
 */
export function keyIdPartitionFromMsrs(partitioning: bigint, tmeActivate: bigint): KeyIdPartition {
  const keyIdBits = Number((tmeActivate >> 32n) & 0xfn);
  const mktme = Number(partitioning & 0xffffffffn);
  const tdx = Number((partitioning >> 32n) & 0xffffffffn);
  return makeKeyIdPartition(keyIdBits, { first: mktme + 1, count: tdx }, mktme);
}

/** The IA32_MKTME_KEYID_PARTITIONING value that describes a layout. */
export function partitioningMsrOf(layout: KeyIdPartition): bigint {
  return (BigInt(layout.tdxCount) << 32n) | BigInt(layout.mktmeKeyIds);
}

/** A Uint8Array indexed by KeyID giving its KeyIdKind (hot-path lookup table). */
export function keyIdKindTable(layout: KeyIdPartition): Uint8Array {
  const t = new Uint8Array(2 ** layout.keyIdBits).fill(KeyIdKind.Invalid);
  t[0] = KeyIdKind.Shared;
  for (let k = 1; k <= layout.mktmeKeyIds; k++) t[k] = KeyIdKind.Shared;
  for (let k = layout.tdxFirst; k < layout.tdxFirst + layout.tdxCount; k++) t[k] = KeyIdKind.Private;
  return t;
}
