/**
 * Circular queue arithmetic shared by the command, event and PRI queues: PROD and CONS are
 * (LOG2SIZE + 1)-bit counters whose top bit is the wrap bit; equal index and equal wrap means
 * empty, equal index and different wrap means full. Bit 31 of the event/PRI PROD is the overflow
 * flag (CONS bit 31 its acknowledgement).
 *
 * @spec reference/smmu.md §1.4 (queue mechanics); sources: qemu/qemu hw/arm/smmuv3-internal.h
 *   (Q_* macros, smmuv3_q_full/empty); torvalds/linux arm-smmu-v3.h (Q_IDX, Q_WRP, Q_OVERFLOW_FLAG)
 */
import { QBASE_LOG2SIZE_MASK } from "./regs";

/** Queue entry sizes in bytes. */
export const CMDQ_ENTRY_BYTES = 16;
export const EVENTQ_ENTRY_BYTES = 32;
export const PRIQ_ENTRY_BYTES = 16;

/** Mask of the pointer bits (index + wrap) of a queue with 2^log2 entries. */
export function ptrMask(log2: number): number {
  return (2 ** (log2 + 1) - 1) >>> 0;
}
export function qIndex(p: number, log2: number): number {
  return (p & ((1 << log2) - 1)) >>> 0;
}
export function qWrap(p: number, log2: number): number {
  return (p >>> log2) & 1;
}
export function qEmpty(prod: number, cons: number, log2: number): boolean {
  return (prod & ptrMask(log2)) === (cons & ptrMask(log2));
}
export function qFull(prod: number, cons: number, log2: number): boolean {
  return qIndex(prod, log2) === qIndex(cons, log2) && qWrap(prod, log2) !== qWrap(cons, log2);
}
/** The next pointer value (index + wrap), modulo 2^(log2+1). */
export function qInc(p: number, log2: number): number {
  return ((p & ptrMask(log2)) + 1) & ptrMask(log2);
}
/** Number of entries between cons and prod. */
export function qCount(prod: number, cons: number, log2: number): number {
  const m = ptrMask(log2);
  return ((prod & m) - (cons & m) + (m + 1)) & m;
}

/**
 * A queue's base register (CMDQ_BASE / EVENTQ_BASE / PRIQ_BASE): ADDR[51:5], LOG2SIZE[4:0],
 * with LOG2SIZE capped to the unit's IDR1 maximum, and the base aligned down to the queue size
 * (minimum 32 bytes) as the architecture requires of software.
 */
export interface QueueGeometry {
  readonly base: number;
  readonly log2: number;
}
export function queueGeometry(lo: number, hi: number, log2Max: number, entryBytes: number): QueueGeometry {
  const log2 = Math.min(lo & QBASE_LOG2SIZE_MASK, log2Max);
  const bytes = Math.max(32, entryBytes * 2 ** log2);
  const raw = (hi & 0xfffff) * 4294967296 + ((lo & 0xffffffe0) >>> 0);
  return { base: raw - (raw % bytes), log2 };
}
