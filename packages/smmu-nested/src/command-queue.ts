/**
 * The SMMU side of the command queue: while CMDQEN is set and no CMDQ_ERR is active, read each
 * 16-byte entry at CONS, execute it, advance CONS. A command that cannot be executed stops the
 * queue with CONS left on it, its CERROR in CMDQ_CONS.ERR and GERROR.CMDQ_ERR toggled; software
 * repairs the slot and acknowledges through GERRORN, and consumption restarts at CONS.
 *
 * @spec reference/smmu.md §1.3 (GERROR protocol, "While CMDQ_ERR is active the command queue
 *   stops"), §1.4 (queue mechanics), §5.5 (CERROR ILL / ABT and recovery); sources: qemu/qemu
 *   hw/arm/smmuv3.c (smmuv3_cmdq_consume)
 */
import { Initiator } from "@tdx/hw-cpu-seam";
import { CError } from "./commands";
import type { QueueMemory } from "./event-queue";
import { CMDQ_ENTRY_BYTES, qEmpty, qInc, qIndex } from "./queue";
import type { RegisterFile } from "./registers";
import { Cr0, Gerror } from "./regs";

/** Executes one command (4 words); returns CError.NONE or the error that stops the queue. */
export type CommandExecutor = (w: Uint32Array) => number;

export class CommandQueueConsumer {
  private readonly words = new Uint32Array(4);
  private readonly bytes = new Uint8Array(this.words.buffer);
  private busy = false;
  /** Commands executed (completed) so far. */
  executed = 0;

  constructor(
    private readonly regs: RegisterFile,
    private readonly mem: QueueMemory,
    private readonly exec: CommandExecutor,
    private readonly raise: (gerrorBits: number) => void,
  ) {}

  /** Consume until the queue is empty, disabled or stopped by an error. */
  consume(): void {
    if (this.busy) return;
    this.busy = true;
    try {
      const r = this.regs;
      while ((r.cr0 & Cr0.CMDQEN) !== 0 && !r.cmdqErrActive) {
        const q = r.cmdq;
        if (qEmpty(r.cmdqProd, r.cmdqCons, q.log2)) break;
        const pa = q.base + qIndex(r.cmdqCons, q.log2) * CMDQ_ENTRY_BYTES;
        let err: number = CError.NONE;
        if (this.mem.read(pa, this.bytes, Initiator.Device) !== 0) err = CError.ABT;
        else err = this.exec(this.words);
        if (err !== CError.NONE) {
          r.cmdqErr = err;
          this.raise(Gerror.CMDQ_ERR);
          break;
        }
        r.cmdqCons = qInc(r.cmdqCons, q.log2);
        this.executed++;
      }
    } finally {
      this.busy = false;
    }
  }
}
