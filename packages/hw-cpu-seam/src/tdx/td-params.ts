/**
 * TD_PARAMS (1024 bytes, handed to TDH.MNG.INIT): layout, encoder for hosts, and the module's
 * validation against the fixed ATTRIBUTES/XFAM masks, EPTP controls, GPAW and TSC frequency,
 * with the real operand ids on failure.
 *
 * @spec shared/reference/tdx-module.md §8.4, §3.2 (TDH.MNG.INIT), §6.1 (GPAW); intel/tdx-module
 *   include/tdx_api_defs.h td_params_t, src/vmm_dispatcher/api_calls/tdh_mng_init.c,
 *   src/common/data_structures/td_control_structures.h (ATTRIBUTES/XFAM fixed masks)
 */

import { putU64, u64BigAt } from "./seam-memory";
import { OperandId, withOperand } from "./status";
import { TdxStatus } from "./status-codes";

export const TD_PARAMS_SIZE = 1024;
export const TD_PARAMS_ALIGNMENT = 1024;

/** ATTRIBUTES bits. @spec tdx-module.md §8.4 */
export const TdAttributes = {
  DEBUG: 1n << 0n,
  SEPT_VE_DISABLE: 1n << 28n,
  MIGRATABLE: 1n << 29n,
  PKS: 1n << 30n,
  KL: 1n << 31n,
  PERFMON: 1n << 63n,
} as const;

/** Bits TDX_1.5.01 allows set in ATTRIBUTES (FIXED0) and requires set (FIXED1). */
export const ATTRIBUTES_FIXED0 = 0x8000000070000001n;
export const ATTRIBUTES_FIXED1 = 0n;
/** XFAM bits allowed (FIXED0) and required (FIXED1: x87 and SSE). */
export const XFAM_FIXED0 = 0x0006dbe7n;
export const XFAM_FIXED1 = 0x3n;

/** CONFIG_FLAGS bits. */
export const ConfigFlags = { GPAW: 1n, FLEXIBLE_PENDING_VE: 2n, NO_RBP_MOD: 4n } as const;

/**
 * TDCS.TD_CTLS bits (TDG.VM.RD/WR field 0x9110000300000017).
 * @spec tdx-module.md §4.1 (TDG.VM.RD/WR row: bit 0 PENDING_VE_DISABLE, 1 ENUM_TOPOLOGY, 63 LOCK);
 *   kvm-guest-qemu.md §3.1 item 5 (bit 3 REDUCE_VE); intel/tdx-module td_ctls_t (bit 2
 *   VIRT_CPUID2); torvalds/linux arch/x86/include/asm/shared/tdx.h TD_CTLS_*
 */
export const TdCtls = {
  PENDING_VE_DISABLE: 1n << 0n,
  ENUM_TOPOLOGY: 1n << 1n,
  VIRT_CPUID2: 1n << 2n,
  REDUCE_VE: 1n << 3n,
  LOCK: 1n << 63n,
} as const;

/**
 * TDX_FEATURES0 bits the model acts on (global metadata, TDH.SYS.RD / TDG.SYS.RD).
 * @spec intel/tdx-module global_sys_fields_lookup.c / tdx_features_enum0_t: NO_RBP_MOD 18,
 *   TOPOLOGY_ENUM 20, VE_REDUCTION 30 (quoted from the module spec on lkml, "KVM: TDX:
 *   IA32_TSC_DEADLINE", 2024)
 */
export const TdxFeatures0 = {
  NO_RBP_MOD: 1n << 18n,
  TOPOLOGY_ENUM: 1n << 20n,
  VE_REDUCTION: 1n << 30n,
} as const;

export interface TdParams {
  readonly attributes: bigint;
  readonly xfam: bigint;
  readonly maxVcpus: number;
  readonly numL2Vms?: number;
  /** EPTP_CONTROLS: memtype in bits 2:0 (6 = WB), page-walk length - 1 in bits 5:3. */
  readonly eptpControls: bigint;
  readonly configFlags: bigint;
  /** In units of 25 MHz (4..400). */
  readonly tscFrequency: number;
  readonly mrconfigid?: Uint8Array;
  readonly mrowner?: Uint8Array;
  readonly mrownerconfig?: Uint8Array;
}

/** EPTP_CONTROLS for WB and 4- or 5-level EPT. */
export function eptpControlsFor(levels: 4 | 5): bigint {
  return 6n | (BigInt(levels - 1) << 3n);
}

export function encodeTdParams(p: TdParams): Uint8Array {
  const b = new Uint8Array(TD_PARAMS_SIZE);
  const dv = new DataView(b.buffer);
  putU64(b, 0, p.attributes);
  putU64(b, 8, p.xfam);
  dv.setUint16(16, p.maxVcpus, true);
  b[18] = p.numL2Vms ?? 0;
  putU64(b, 24, p.eptpControls);
  putU64(b, 32, p.configFlags);
  dv.setUint16(40, p.tscFrequency, true);
  if (p.mrconfigid) b.set(p.mrconfigid.subarray(0, 48), 80);
  if (p.mrowner) b.set(p.mrowner.subarray(0, 48), 128);
  if (p.mrownerconfig) b.set(p.mrownerconfig.subarray(0, 48), 176);
  return b;
}

/** TD_PARAMS as the module keeps them after validation. */
export interface ValidTdParams {
  readonly attributes: bigint;
  readonly xfam: bigint;
  readonly maxVcpus: number;
  readonly gpaw: 48 | 52;
  readonly eptLevels: 4 | 5;
  readonly eptpControls: bigint;
  readonly configFlags: bigint;
  readonly tscFrequency: number;
  readonly mrconfigid: Uint8Array;
  readonly mrowner: Uint8Array;
  readonly mrownerconfig: Uint8Array;
}

const allZero = (b: Uint8Array, from: number, to: number) => b.subarray(from, to).every((x) => x === 0);

/**
 * Validate TD_PARAMS bytes. CPUID_CONFIG values (@256) are accepted as given: the model does
 * not virtualise CPUID (documented in DESIGN.md).
 */
export function validateTdParams(
  b: Uint8Array,
  maxEptLevels: 4 | 5 = 5,
): { ok: true; params: ValidTdParams } | { ok: false; status: bigint } {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const fail = (op: number) => ({ ok: false as const, status: withOperand(TdxStatus.OPERAND_INVALID, op) });
  const attributes = u64BigAt(b, 0);
  if ((attributes & ~ATTRIBUTES_FIXED0) !== 0n || (attributes & ATTRIBUTES_FIXED1) !== ATTRIBUTES_FIXED1) {
    return fail(OperandId.ATTRIBUTES);
  }
  const xfam = u64BigAt(b, 8);
  if ((xfam & ~XFAM_FIXED0) !== 0n || (xfam & XFAM_FIXED1) !== XFAM_FIXED1) return fail(OperandId.XFAM);
  const maxVcpus = dv.getUint16(16, true);
  if (maxVcpus === 0) return fail(OperandId.MAX_VCPUS);
  if (b[18] !== 0) return fail(OperandId.NUM_L2_VMS);
  if (!allZero(b, 20, 24)) return fail(OperandId.RDX);
  const eptp = u64BigAt(b, 24);
  const pwl = Number((eptp >> 3n) & 7n) + 1;
  const configFlags = u64BigAt(b, 32);
  const gpaw52 = (configFlags & ConfigFlags.GPAW) !== 0n;
  if (
    (eptp & 7n) !== 6n ||
    (pwl !== 4 && pwl !== 5) ||
    eptp >> 6n !== 0n ||
    pwl > maxEptLevels ||
    (gpaw52 && pwl !== 5)
  ) {
    return fail(OperandId.EPTP_CONTROLS);
  }
  if ((configFlags & ~7n) !== 0n) return fail(OperandId.EXEC_CONTROLS);
  const tsc = dv.getUint16(40, true);
  if (tsc < 4 || tsc > 400) return fail(OperandId.TSC_FREQUENCY);
  if (!allZero(b, 42, 80) || !allZero(b, 232, 256)) return fail(OperandId.RDX);
  return {
    ok: true,
    params: {
      attributes,
      xfam,
      maxVcpus,
      gpaw: gpaw52 ? 52 : 48,
      eptLevels: pwl as 4 | 5,
      eptpControls: eptp,
      configFlags,
      tscFrequency: tsc,
      mrconfigid: b.slice(80, 128),
      mrowner: b.slice(128, 176),
      mrownerconfig: b.slice(176, 224),
    },
  };
}
