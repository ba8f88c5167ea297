/**
 * Stalled transactions: a faulting transaction whose fault may stall is held with a unique STAG
 * until CMD_RESUME (retry, abort, or RAZ/WI termination) or CMD_STALL_TERM. A held DMA keeps its
 * buffer and how far it got, so a retry continues it and its completion is reported then.
 *
 * @spec reference/smmu.md §6.3 (stall model: STAG, CMD_RESUME actions, CMD_STALL_TERM,
 *   IDR5.STALL_MAX), §5.4 (RESUME needs no CMD_SYNC)
 */
import type { DmaRequester, DmaResult, IommuFault, TranslateResult } from "@tdx/hw-cpu-seam";

export type StalledKind = "read" | "write" | "translate";

/** A transaction held by a stall. */
export interface StalledTransaction {
  /** Identifies the DMA or translate call across retries (stable until it completes). */
  readonly id: number;
  readonly stag: number;
  readonly sid: number;
  /** SubstreamID or -1. */
  readonly ssid: number;
  readonly kind: StalledKind;
  readonly req: DmaRequester;
  /** Start address of the DMA (or the translated address). */
  readonly iova: number;
  /** The address whose translation stalled. */
  readonly faultAddr: number;
  /** The device's buffer (destination of a read, source of a write); empty for translate. */
  readonly buf: Uint8Array;
  /** Bytes already transferred. */
  readonly done: number;
  /** Access bitmask (Acc) of the stalled access. */
  readonly acc: number;
  readonly fault: IommuFault;
}

/** A held transaction that finished after a resume or termination. */
export interface CompletedTransaction {
  readonly id: number;
  readonly kind: StalledKind;
  readonly req: DmaRequester;
  readonly iova: number;
  readonly buf: Uint8Array;
  readonly result: DmaResult | TranslateResult;
  /** How it ended: retried to success or to a (non-stalling) fault, aborted, RAZ/WI-terminated. */
  readonly how: "retry" | "abort" | "terminate" | "stall-term";
}

export class StallTable {
  private readonly held: StalledTransaction[] = [];
  private nextTag = 0;

  get count(): number {
    return this.held.length;
  }

  /** A STAG not held by any outstanding stall (16-bit, allocated in order). */
  allocateTag(): number {
    for (let n = 0; n < 0x10000; n++) {
      const t = (this.nextTag + n) & 0xffff;
      if (!this.held.some((h) => h.stag === t)) {
        this.nextTag = (t + 1) & 0xffff;
        return t;
      }
    }
    return -1;
  }

  add(t: StalledTransaction): void {
    this.held.push(t);
  }

  /** Remove and return the stall of (sid, stag), or undefined. */
  take(sid: number, stag: number): StalledTransaction | undefined {
    const i = this.held.findIndex((h) => h.sid === sid && h.stag === stag);
    if (i < 0) return undefined;
    return this.held.splice(i, 1)[0];
  }

  /** Remove and return every stall of a stream. */
  takeAll(sid: number): StalledTransaction[] {
    const out = this.held.filter((h) => h.sid === sid);
    for (const h of out) this.held.splice(this.held.indexOf(h), 1);
    return out;
  }

  list(): readonly StalledTransaction[] {
    return this.held.slice();
  }
}
