/**
 * Helpers the Secure-EPT SEAMCALL leaves share: decoding the GPA|level page-info operand,
 * reporting SEPT errors the way the module does (RCX = architectural entry, RDX = level and
 * public state), and the TLB-tracking test (`is_tlb_tracked`).
 *
 * @spec shared/reference/tdx-module.md §3 ("GPA|L" operand; RCX/RDX on EPT errors), §3.4 (TLB
 *   tracking semantics); intel/tdx-module src/common/helpers/helpers.h (is_tlb_tracked)
 */
import type { TdControl } from "./control";
import type { CallCtx } from "./core";
import { Gpr } from "./regs";
import { levelSize, type SecureEpt } from "./sept";
import { archSeptEntry, septLevelStateInfo } from "./sept-entry";
import { OperandId, withOperand } from "./status";
import { TdxStatus } from "./status-codes";

/** A decoded page-info operand. */
export interface GpaLevel {
  readonly gpa: number;
  readonly level: number;
}

/**
 * Decode RCX = GPA | level: level in bits 2:0 within [min, max], bits 11:3 and 63:52 zero, GPA
 * aligned to the level's size, below 2^GPAW and private (shared bit clear).
 */
export function decodeGpaLevel(td: TdControl, rcx: bigint, min: number, max: number): GpaLevel | bigint {
  const level = Number(rcx & 7n);
  const gpa = Number(rcx & 0x000ffffffffff000n);
  const gpaw = td.params!.gpaw;
  const shared = Math.floor(gpa / 2 ** (gpaw - 1)) % 2 === 1;
  if (
    (rcx & 0xfff0000000000ff8n) !== 0n ||
    level < min ||
    level > max ||
    gpa % levelSize(level) !== 0 ||
    gpa >= 2 ** gpaw ||
    shared
  ) {
    return withOperand(TdxStatus.OPERAND_INVALID, OperandId.RCX);
  }
  return { gpa, level };
}

/** Return `status` with the offending entry in RCX and level/state in RDX. */
export function septError(c: CallCtx, status: bigint, sept: SecureEpt): bigint {
  const w = sept.w;
  c.out[Gpr.RCX] = archSeptEntry(w.lo, w.hi, w.level);
  c.out[Gpr.RDX] = septLevelStateInfo(w.level, w.state);
  return status;
}

/**
 * Whether a range blocked at epoch `bepoch` is TLB-tracked: bepoch < TD_EPOCH - 1, or
 * bepoch = TD_EPOCH - 1 and no LP is still in the guest having entered during bepoch.
 */
export function isTlbTracked(td: TdControl, bepoch: number): boolean {
  if (bepoch < td.epoch - 1) return true;
  return bepoch === td.epoch - 1 && td.refcount[bepoch & 1] === 0;
}
