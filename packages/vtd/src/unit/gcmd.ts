/**
 * The global command handshake. Software writes GCMD as "current persistent state | one new
 * command" and polls GSTS until the matching status bit reflects it. Level commands (TE, QIE, IRE,
 * CFI, EAFL) act when they differ from GSTS; one-shot commands (SRTP, SIRTP, WBF, SFL) act
 * whenever written as 1. Status updates here are immediate, so the first GSTS read after the
 * write already shows the result (a disable of QI with descriptors pending is refused: QIES stays
 * set). More than one command per write is handled per policy (QEMU acts on all of them).
 *
 * @spec reference/vtd.md §1.4 (bits, kinds, handshake rules, SRTP latches RTADDR and TTM and with
 *   CAP.ESRTPS invalidates the caches, QIE latches IQA and needs an empty queue to disable, WBFS
 *   clears when the flush completes), QEMU vtd_handle_gcmd_write / _srtp / _te / _qie
 */
import type { FaultRecorder } from "../faults/fault-recorder";
import type { CacheOps } from "../invalidation/cache-ops";
import type { InvalidationQueue } from "../invalidation/queue";
import type { RegisterFile } from "../registers/register-file";
import type { VtdCap } from "../spec/capabilities";
import { GCMD_LEVEL_BITS, GCMD_ONESHOT_BITS, Gcmd, Reg, RTADDR_TTM_SHIFT } from "../spec/registers";
import type { EntryReader } from "../tables/entry-reader";
import type { UnitState } from "./state";

function popcount(v: number): number {
  let n = 0;
  for (let x = v >>> 0; x !== 0; x &= x - 1) n++;
  return n;
}

export interface GcmdParts {
  readonly regs: RegisterFile;
  readonly state: UnitState;
  readonly cap: VtdCap;
  readonly reader: EntryReader;
  readonly ops: CacheOps;
  readonly queue: InvalidationQueue;
  readonly recorder: FaultRecorder;
  readonly multiCommand: "apply-all" | "ignore";
  readonly qiDisableRequiresWait: boolean;
}

export class GlobalCommand {
  /** Writes carrying more than one command; writes dropped under the "ignore" policy. */
  readonly counts = { multiCommandWrites: 0, ignoredWrites: 0, writeBufferFlushes: 0, refusedQiDisable: 0 };

  constructor(private readonly p: GcmdParts) {}

  private status(set: number, clear: number): void {
    this.p.regs.update32(Reg.GSTS, clear, set);
  }

  /** Act on the value just written to GCMD. */
  onWrite(): void {
    const { regs, state, cap } = this.p;
    const val = regs.raw32(Reg.GCMD);
    const gsts = regs.raw32(Reg.GSTS);
    const changed = (gsts ^ val) & GCMD_LEVEL_BITS;
    const oneshot = val & GCMD_ONESHOT_BITS;
    if (popcount(changed) + popcount(oneshot) > 1) {
      this.counts.multiCommandWrites++;
      if (this.p.multiCommand === "ignore") {
        this.counts.ignoredWrites++;
        return;
      }
    }
    if ((oneshot & Gcmd.SRTP) !== 0) {
      const lo = regs.raw32(Reg.RTADDR);
      const hi = regs.raw32(Reg.RTADDR + 4);
      const mode = (lo >>> RTADDR_TTM_SHIFT) & 3;
      state.rootTable = this.p.reader.addr(lo, hi);
      // Cached entries of the other table format cannot be used once the mode changes.
      const modeChanged = mode !== state.rootMode;
      state.rootMode = mode;
      this.status(Gcmd.SRTP, 0);
      if (cap.esrtps || modeChanged) this.p.ops.all();
    }
    if ((oneshot & Gcmd.SIRTP) !== 0) {
      state.irtAddress = this.p.reader.addr(regs.raw32(Reg.IRTA), regs.raw32(Reg.IRTA + 4));
      this.status(Gcmd.SIRTP, 0);
    }
    if ((oneshot & Gcmd.SFL) !== 0) this.status(Gcmd.SFL, 0);
    if ((oneshot & Gcmd.WBF) !== 0) {
      // The flush completes at once: WBFS (busy) is never observed set.
      this.counts.writeBufferFlushes++;
    }
    if ((changed & Gcmd.QIE) !== 0) {
      if ((val & Gcmd.QIE) !== 0) {
        this.status(Gcmd.QIE, 0);
        this.p.queue.enable();
      } else if (this.p.queue.disable(this.p.qiDisableRequiresWait)) {
        this.status(0, Gcmd.QIE);
      } else {
        this.counts.refusedQiDisable++;
      }
    }
    for (const bit of [Gcmd.IRE, Gcmd.CFI, Gcmd.EAFL]) {
      if ((changed & bit) !== 0) this.status((val & bit) !== 0 ? bit : 0, (val & bit) !== 0 ? 0 : bit);
    }
    if ((changed & Gcmd.TE) !== 0) {
      if ((val & Gcmd.TE) !== 0) {
        state.translationEnabled = true;
        this.status(Gcmd.TE, 0);
      } else {
        state.translationEnabled = false;
        this.p.recorder.resetIndex();
        this.status(0, Gcmd.TE);
      }
    }
  }
}
