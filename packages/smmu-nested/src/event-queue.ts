/**
 * The SMMU side of the event and PRI queues: writing a record at EVENTQ_PROD, the overflow
 * protocol (event lost, PROD.OVFLG toggled unless an overflow is already unacknowledged),
 * GERROR.EVENTQ_ABT_ERR on a failed write, and the queue interrupt (wired counter or MSI).
 *
 * @spec reference/smmu.md §1.4 (queue mechanics, overflow flag/ack), §6.2 (32-byte record),
 *   §6.4 (PRI entry layout); sources: qemu/qemu hw/arm/smmuv3.c (smmuv3_write_eventq,
 *   smmuv3_record_event), torvalds/linux arm-smmu-v3.h (PRIQ_0_*, PRIQ_1_*)
 */
import { Initiator, type PhysicalMemoryAccess } from "@tdx/hw-cpu-seam";
import { encodeEvent, type FaultInfo } from "./events";
import { EVENTQ_ENTRY_BYTES, PRIQ_ENTRY_BYTES, qEmpty, qFull, qInc, qIndex } from "./queue";
import type { RegisterFile } from "./registers";
import { Cr0, Gerror, IrqCtrl, Q_OVERFLOW_FLAG } from "./regs";

/** The memory operations a queue writer needs (the vSMMU passes a guest-memory view). */
export type QueueMemory = Pick<PhysicalMemoryAccess, "read" | "write" | "write32" | "read64" | "write64">;

/** Interrupt and outcome counters of a queue. */
export class QueueCounters {
  eventsWritten = 0;
  eventsLost = 0;
  eventqIrqs = 0;
  gerrorIrqs = 0;
  priWritten = 0;
  priLost = 0;
  msiWrites = 0;
}

export class EventQueueWriter {
  private readonly words = new Uint32Array(8);
  private readonly bytes = new Uint8Array(this.words.buffer);
  private readonly priWords = new Uint32Array(4);
  private readonly priBytes = new Uint8Array(this.priWords.buffer);

  constructor(
    private readonly regs: RegisterFile,
    private readonly mem: QueueMemory,
    readonly counters: QueueCounters,
    private readonly msi: boolean,
  ) {}

  /** Whether a record could be written now (queue enabled and not full). */
  canWrite(): boolean {
    const r = this.regs;
    if ((r.cr0 & Cr0.EVENTQEN) === 0) return false;
    const q = r.eventq;
    return !qFull(r.eventqProd, r.eventqCons, q.log2);
  }

  /** Record an event; false if it was lost (queue disabled, full, or the write aborted). */
  write(f: FaultInfo): boolean {
    encodeEvent(f, this.words);
    return this.writeRaw(this.words);
  }

  /** Record 8 raw event words (the vSMMU re-queues host events this way). */
  writeRaw(w: Uint32Array): boolean {
    const r = this.regs;
    if ((r.cr0 & Cr0.EVENTQEN) === 0) return false;
    const q = r.eventq;
    const prod = r.eventqProd;
    if (qFull(prod, r.eventqCons, q.log2)) {
      // Overflow: the event is lost; OVFLG toggles unless an overflow is still unacknowledged.
      if ((prod & Q_OVERFLOW_FLAG) === (r.eventqCons & Q_OVERFLOW_FLAG))
        r.eventqProd = (prod ^ Q_OVERFLOW_FLAG) >>> 0;
      this.counters.eventsLost++;
      return false;
    }
    if (w !== this.words) this.words.set(w.subarray(0, 8));
    const pa = q.base + qIndex(prod, q.log2) * EVENTQ_ENTRY_BYTES;
    if (this.mem.write(pa, this.bytes, Initiator.Device) !== 0) {
      this.raise(Gerror.EVENTQ_ABT_ERR);
      this.counters.eventsLost++;
      return false;
    }
    r.eventqProd = ((prod & Q_OVERFLOW_FLAG) | qInc(prod, q.log2)) >>> 0;
    this.counters.eventsWritten++;
    if (!qEmpty(r.eventqProd, r.eventqCons, q.log2) && (r.irqCtrl & IrqCtrl.EVENTQ_IRQEN) !== 0) {
      this.counters.eventqIrqs++;
      this.signalMsi(r.eventqIrq);
    }
    return true;
  }

  /** Raise GERROR bits and signal the GERROR interrupt if enabled. */
  raise(bits: number): void {
    const r = this.regs;
    if (r.raiseGerror(bits) !== 0 && (r.irqCtrl & IrqCtrl.GERROR_IRQEN) !== 0) {
      this.counters.gerrorIrqs++;
      this.signalMsi(r.gerrorIrq);
    }
  }

  /** MSI: write CFG1 (data) to CFG0 (address[51:2]) when the unit has MSIs and an address is set. */
  signalMsi(cfg: Uint32Array): void {
    if (!this.msi) return;
    const addr = (cfg[1]! & 0xfffff) * 4294967296 + (cfg[0]! >>> 0);
    if (addr === 0) return;
    this.counters.msiWrites++;
    this.mem.write32(addr, cfg[2]!, Initiator.Device);
  }

  /**
   * Write a PRI page request (16 bytes). On a full queue the request is lost and PRIQ_PROD.OVFLG
   * toggles as for events.
   */
  writePageRequest(
    sid: number,
    ssid: number,
    addr: number,
    perm: { read: boolean; write: boolean; exec: boolean; priv: boolean },
    prgi: number,
    last: boolean,
  ): boolean {
    const r = this.regs;
    if ((r.cr0 & Cr0.PRIQEN) === 0) return false;
    const q = r.priq;
    const prod = r.priqProd;
    if (qFull(prod, r.priqCons, q.log2)) {
      if ((prod & Q_OVERFLOW_FLAG) === (r.priqCons & Q_OVERFLOW_FLAG))
        r.priqProd = (prod ^ Q_OVERFLOW_FLAG) >>> 0;
      this.counters.priLost++;
      return false;
    }
    const w = this.priWords;
    w[0] = sid >>> 0;
    w[1] =
      ((ssid >= 0 ? ssid & 0xfffff : 0) |
        (perm.priv ? 1 << 26 : 0) |
        (perm.exec ? 1 << 27 : 0) |
        (perm.read ? 1 << 28 : 0) |
        (perm.write ? 1 << 29 : 0) |
        (last ? 1 << 30 : 0) |
        (ssid >= 0 ? 1 << 31 : 0)) >>>
      0;
    const page = addr - (addr % 4096);
    w[2] = ((page >>> 0) | (prgi & 0x1ff)) >>> 0;
    w[3] = Math.floor(page / 4294967296) >>> 0;
    const pa = q.base + qIndex(prod, q.log2) * PRIQ_ENTRY_BYTES;
    if (this.mem.write(pa, this.priBytes, Initiator.Device) !== 0) {
      this.raise(Gerror.PRIQ_ABT_ERR);
      this.counters.priLost++;
      return false;
    }
    r.priqProd = ((prod & Q_OVERFLOW_FLAG) | qInc(prod, q.log2)) >>> 0;
    this.counters.priWritten++;
    return true;
  }
}
