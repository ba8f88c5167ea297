/**
 * Model-specific registers the upper layers read or the TDX module checks: their numbers, scope
 * (thread / core / package), which bits software may write, and builders for the values of the
 * MKTME/TDX MSRs. Values are bigints: MSRs are 64-bit registers at an ABI edge.
 *
 * @spec Linux arch/x86/include/asm/msr-index.h (MSR numbers); intel/tdx-module
 *   include/x86_defs/x86_defs.h `ia32_tme_activate_t`, `ia32_tme_capability_t`,
 *   `ia32_tme_keyid_partitioning_t` (bit layouts); Linux TDX host patch (early
 *   arch/x86/virt/vmx/tdx/tdx.c): MSR_IA32_SEAMRR_PHYS_BASE 0x1400 (bit 3 CONFIGURED),
 *   MSR_IA32_SEAMRR_PHYS_MASK 0x1401 (bit 10 LOCKED, bit 11 ENABLED), MTRRcap bit 15 = SEAMRR;
 *   /work/shared/reference/tdx-module.md §5.4
 */
import type { KeyIdPartition } from "../memory/keyids";

/** MSR numbers. */
export const Msr = {
  IA32_TSC: 0x10,
  IA32_APIC_BASE: 0x1b,
  IA32_FEATURE_CONTROL: 0x3a,
  IA32_TSC_ADJUST: 0x3b,
  IA32_MKTME_KEYID_PARTITIONING: 0x87,
  IA32_MTRRCAP: 0xfe,
  IA32_PAT: 0x277,
  IA32_TME_CAPABILITY: 0x981,
  IA32_TME_ACTIVATE: 0x982,
  IA32_SEAMRR_PHYS_BASE: 0x1400,
  IA32_SEAMRR_PHYS_MASK: 0x1401,
  /** x2APIC ID register (x2APIC MSR range base 0x800 + APIC ID offset 0x20 >> 4). */
  IA32_X2APIC_APICID: 0x802,
  IA32_EFER: 0xc0000080,
} as const;
export type MsrNumber = (typeof Msr)[keyof typeof Msr];

/** Where an MSR's value lives: one per logical processor, per core, or per package. */
export type MsrScope = "thread" | "core" | "package";

/** IA32_TME_ACTIVATE fields. @spec tdx-module x86_defs.h ia32_tme_activate_t */
export const TmeActivate = {
  LOCK: 1n << 0n,
  TME_ENABLE: 1n << 1n,
  /** bits 35:32 */
  MK_TME_KEYID_BITS_SHIFT: 32n,
  /** bits 39:36 */
  TDX_RESERVED_KEYID_BITS_SHIFT: 36n,
  AES_XTS_128: 1n << 48n,
  AES_XTS_128_WITH_INTEGRITY: 1n << 49n,
  AES_XTS_256: 1n << 50n,
  AES_XTS_256_WITH_INTEGRITY: 1n << 51n,
  /** Defined bits: 8:0, 31, 39:32, 51:48 (everything else is reserved). */
  DEFINED: 0x000f_00ff_8000_01ffn,
} as const;

/** IA32_TME_CAPABILITY fields. @spec tdx-module x86_defs.h ia32_tme_capability_t */
export const TmeCapability = {
  AES_XTS_128: 1n << 0n,
  AES_XTS_128_WITH_INTEGRITY: 1n << 1n,
  AES_XTS_256: 1n << 2n,
  AES_XTS_256_WITH_INTEGRITY: 1n << 3n,
  /** bits 35:32 */
  MK_TME_MAX_KEYID_BITS_SHIFT: 32n,
  /** bits 50:36 */
  MK_TME_MAX_KEYS_SHIFT: 36n,
} as const;

/** SEAMRR fields. @spec Linux TDX host patch, tdx.c (SEAMRR_PHYS_BASE_CONFIGURED, ..._MASK_*) */
export const Seamrr = {
  BASE_CONFIGURED: 1n << 3n,
  MASK_LOCKED: 1n << 10n,
  MASK_ENABLED: 1n << 11n,
} as const;

/** IA32_MTRRCAP fields. @spec Intel SDM Vol. 3A §12.11.2.1; SEAMRR bit 15 per the Linux TDX host patch */
export const MtrrCap = {
  /** bits 7:0: number of variable-range MTRRs */
  VCNT_MASK: 0xffn,
  FIX: 1n << 8n,
  WC: 1n << 10n,
  SMRR: 1n << 11n,
  SEAMRR: 1n << 15n,
} as const;

/** IA32_FEATURE_CONTROL fields. @spec Intel SDM Vol. 3C §24.7 (VMXON) / Linux msr-index.h FEAT_CTL_* */
export const FeatureControl = {
  LOCKED: 1n << 0n,
  VMX_INSIDE_SMX: 1n << 1n,
  VMX_OUTSIDE_SMX: 1n << 2n,
} as const;

/** IA32_APIC_BASE fields. @spec Intel SDM Vol. 3A §11.4.4, §11.12.1 (x2APIC EXTD) */
export const ApicBase = {
  BSP: 1n << 8n,
  EXTD: 1n << 10n,
  EN: 1n << 11n,
  DEFAULT_BASE: 0xfee0_0000n,
} as const;

/** IA32_EFER bits a running 64-bit host has set: SCE, LME, LMA, NXE. @spec Intel SDM Vol. 3A §2.2.1 */
export const Efer = { SCE: 1n << 0n, LME: 1n << 8n, LMA: 1n << 10n, NXE: 1n << 11n } as const;

/** IA32_PAT power-up value. @spec Intel SDM Vol. 3A §12.12.4 (PAT initialisation) */
export const PAT_POWER_UP = 0x0007_0406_0007_0406n;

/** The IA32_MKTME_KEYID_PARTITIONING value for a partition (31:0 MKTME, 63:32 TDX). */
export function keyIdPartitioningValue(p: KeyIdPartition): bigint {
  return (BigInt(p.tdxCount) << 32n) | BigInt(p.mktmeKeyIds);
}

/**
 * TDX reserved KeyID bits (TME_ACTIVATE 39:36): the BIOS reserves the upper part of the KeyID
 * space for TDX, so the MKTME KeyIDs (with KeyID 0) are 2^(bits - reserved). Defined only for
 * such power-of-two splits; for any other partition the field is 0 (the MSR 0x87 counts are what
 * the module and Linux use). @spec tdx-module pseamldr `max_mktme_hkids`
 */
export function tdxReservedKeyIdBits(p: KeyIdPartition): number {
  if (p.tdxCount === 0) return 0;
  const shared = p.mktmeKeyIds + 1;
  const log = Math.log2(shared);
  if (!Number.isInteger(log) || shared + p.tdxCount !== 2 ** p.keyIdBits) return 0;
  return p.keyIdBits - log;
}

export interface TmeConfig {
  /** Enable the integrity algorithm variants (cryptographic integrity). Default true. */
  readonly integrity?: boolean;
  /** Enable the AES-XTS-256 variants as well. Default false. */
  readonly aes256?: boolean;
}

/** A locked, enabled IA32_TME_ACTIVATE for a KeyID partition. */
export function tmeActivateValue(p: KeyIdPartition, tme: TmeConfig = {}): bigint {
  let v = TmeActivate.LOCK | TmeActivate.TME_ENABLE;
  v |= BigInt(p.keyIdBits) << TmeActivate.MK_TME_KEYID_BITS_SHIFT;
  v |= BigInt(tdxReservedKeyIdBits(p)) << TmeActivate.TDX_RESERVED_KEYID_BITS_SHIFT;
  v |= TmeActivate.AES_XTS_128;
  if (tme.integrity ?? true) v |= TmeActivate.AES_XTS_128_WITH_INTEGRITY;
  if (tme.aes256) {
    v |= TmeActivate.AES_XTS_256;
    if (tme.integrity ?? true) v |= TmeActivate.AES_XTS_256_WITH_INTEGRITY;
  }
  return v;
}

/** IA32_TME_CAPABILITY advertising what `tmeActivateValue` enables and the partition's KeyID bits. */
export function tmeCapabilityValue(p: KeyIdPartition, tme: TmeConfig = {}): bigint {
  let v = TmeCapability.AES_XTS_128 | TmeCapability.AES_XTS_128_WITH_INTEGRITY;
  if (tme.aes256) v |= TmeCapability.AES_XTS_256 | TmeCapability.AES_XTS_256_WITH_INTEGRITY;
  v |= BigInt(p.keyIdBits) << TmeCapability.MK_TME_MAX_KEYID_BITS_SHIFT;
  v |= BigInt(Math.max(0, 2 ** p.keyIdBits - 1)) << TmeCapability.MK_TME_MAX_KEYS_SHIFT;
  return v;
}

/** Bits [hi:lo] of a 64-bit MSR value. */
export function msrField(value: bigint, hi: number, lo: number): number {
  return Number((value >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n));
}
