/**
 * Building and reading TDX completion statuses: operand ids, "multiple info" statuses, the
 * class/flag fields, names for messages, and the software codes Linux synthesises when the
 * SEAMCALL instruction itself fails.
 *
 * @spec shared/reference/tdx-module.md §0.1, §1, §1.2; intel/tdx-module include/tdx_api_defs.h
 *   (api_error_code_t), include/auto_gen_1_5/tdx_error_codes_defs.h (operand ids)
 */
import { TdxStatus, type TdxStatusName } from "./status-codes";

/**
 * Operand ids placed in bits 31:0 of an "operand" error.
 * @spec tdx-module.md §1.2; tdx_error_codes_defs.h OPERAND_ID_*
 */
export const OperandId = {
  RAX: 0,
  RCX: 1,
  RDX: 2,
  RBX: 3,
  RBP: 5,
  RSI: 6,
  RDI: 7,
  R8: 8,
  R9: 9,
  R10: 10,
  R11: 11,
  R12: 12,
  R13: 13,
  R14: 14,
  R15: 15,
  ATTRIBUTES: 64,
  XFAM: 65,
  EXEC_CONTROLS: 66,
  EPTP_CONTROLS: 67,
  MAX_VCPUS: 68,
  CPUID_CONFIG: 69,
  TSC_FREQUENCY: 70,
  NUM_L2_VMS: 71,
  IA32_ARCH_CAPABILITIES_CONFIG: 72,
  PAGE: 95,
  TDMR_INFO_PA: 96,
  TDR: 128,
  TDCX: 129,
  TDVPR: 130,
  TDCS: 144,
  TDVPS: 145,
  SEPT_TREE: 146,
  SEPT_ENTRY: 147,
  RTMR: 168,
  TD_EPOCH: 169,
  OP_STATE: 172,
  METADATA_FIELD: 176,
  SYS: 184,
  TDMR: 185,
  KOT: 186,
  KET: 187,
  WBCACHE: 188,
} as const;
export type OperandId = (typeof OperandId)[keyof typeof OperandId];

/**
 * Software statuses Linux synthesises when the SEAMCALL instruction faults (class 0xFF): the
 * module is not loaded (VMfailInvalid), #GP, #UD. They are not module statuses.
 * @spec tdx-module.md §0.1; torvalds/linux arch/x86/include/asm/tdx.h
 */
export const SeamcallInstructionFailure = {
  VMFAILINVALID: 0x8000ff00ffff0000n,
  GP: 0x8000ff000000000dn,
  UD: 0x8000ff0000000006n,
} as const;

const LOW32 = 0xffffffffn;
const HIGH32 = 0xffffffff00000000n;

/** Status with an operand id in bits 31:0 ("status | operand"). */
export function withOperand(status: bigint, operand: number): bigint {
  return (status & HIGH32) | (BigInt(operand) & LOW32);
}

/**
 * A "multiple info" status: status + info0 + info1<<8 + info2<<16 + info3<<24 (TDH.SYS.CONFIG
 * uses TDMR index, PAMT level, other TDMR index).
 * @spec tdx-module.md §1; tdx_api_defs.h api_error_with_multiple_info
 */
export function withMultipleInfo(status: bigint, i0: number, i1 = 0, i2 = 0, i3 = 0): bigint {
  const info = (i0 & 0xff) | ((i1 & 0xff) << 8) | ((i2 & 0xff) << 16) | ((i3 & 0xff) * 0x1000000);
  return (status & HIGH32) | BigInt(info >>> 0);
}

/** The status without bits 31:0 (how Linux/KVM compare: `status & 0xFFFFFFFF00000000`). */
export function statusBase(status: bigint): bigint {
  return status & HIGH32;
}

/** Bits 31:0: the operand id, packed info, or (for TD exits) the VMX exit reason. */
export function statusDetailsL2(status: bigint): number {
  return Number(status & LOW32);
}

/** Bit 63: the call failed. Statuses with ERROR = 0 are successes or informational. */
export function isError(status: bigint): boolean {
  return status >> 63n === 1n;
}

/** Bit 62: the failure cannot be retried as is. */
export function isNonRecoverable(status: bigint): boolean {
  return ((status >> 62n) & 1n) === 1n;
}

/** Bit 61: the TD is now fatal. */
export function isFatal(status: bigint): boolean {
  return ((status >> 61n) & 1n) === 1n;
}

/** Bits 47:40: the error class (0x00 general/TD exit, 0x01 operand, 0x02 busy, ...). */
export function statusClass(status: bigint): number {
  return Number((status >> 40n) & 0xffn);
}

const NAME_BY_VALUE: ReadonlyMap<bigint, TdxStatusName> = new Map(
  (Object.keys(TdxStatus) as TdxStatusName[]).map((n) => [TdxStatus[n], n]),
);

/** The name of a status's base code (bits 63:32), or undefined when it is not a known code. */
export function statusName(status: bigint): TdxStatusName | undefined {
  return NAME_BY_VALUE.get(statusBase(status));
}

/** "TDX_OPERAND_INVALID|RCX(1)"-style text for messages and traces. */
export function describeStatus(status: bigint): string {
  const name = statusName(status);
  const low = statusDetailsL2(status);
  const base = name ? `TDX_${name}` : `0x${statusBase(status).toString(16).padStart(16, "0")}`;
  return low === 0 ? base : `${base}|0x${low.toString(16)}`;
}

/** Whether `status` has the same base code as the named one (operand/info bits ignored). */
export function isStatus(status: bigint, name: TdxStatusName): boolean {
  return statusBase(status) === TdxStatus[name];
}
