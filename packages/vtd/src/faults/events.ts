/**
 * The unit's interrupt events: the fault event (FECTL/FEDATA/FEADDR/FEUADDR) and the
 * invalidation-completion event (IECTL/IEDATA/IEADDR/IEUADDR). An event sets IP; if IM is clear
 * the MSI is sent at once and IP cleared, otherwise IP stays set until software clears IM (a
 * FECTL/IECTL write) or clears the status that caused it (FSTS / ICS write).
 *
 * @spec reference/vtd.md §1.6 (QEMU vtd_generate_fault_event, vtd_handle_fsts_write,
 *   vtd_handle_fectl_write) and §1.7 (vtd_generate_completion_event, vtd_handle_ics_write,
 *   vtd_handle_iectl_write)
 */
import type { RegisterFile } from "../registers/register-file";
import { EventCtl, Fsts, ICS_IWC, Reg } from "../spec/registers";

/** One MSI the unit sent: which event, and the address/data it wrote. */
export interface VtdMsi {
  readonly event: "fault" | "invalidation-completion";
  /** FEADDR/IEADDR (low 32 bits) and FEUADDR/IEUADDR (high 32 bits) as one number. */
  readonly address: number;
  readonly data: number;
}

export type MsiSink = (msi: VtdMsi) => void;

const FAULT_STATUS = Fsts.PFO | Fsts.PPF | Fsts.IQE;

export class EventUnit {
  /** Every MSI sent, in order (also passed to the sink). */
  readonly sent: VtdMsi[] = [];

  constructor(
    private readonly regs: RegisterFile,
    private readonly sink: MsiSink | undefined,
  ) {}

  private send(event: VtdMsi["event"], addrOff: number, upperOff: number, dataOff: number): void {
    const msi: VtdMsi = {
      event,
      address: this.regs.raw32(upperOff) * 4294967296 + this.regs.raw32(addrOff),
      data: this.regs.raw32(dataOff),
    };
    this.sent.push(msi);
    this.sink?.(msi);
  }

  /**
   * Raise the fault event after a status update. `preFsts` is FSTS before the update: an event is
   * only generated if none of PPF, PFO, IQE was already set (software has not serviced them yet).
   */
  faultEvent(preFsts: number): void {
    if ((preFsts & FAULT_STATUS) !== 0) return;
    this.regs.update32(Reg.FECTL, 0, EventCtl.IP);
    if ((this.regs.raw32(Reg.FECTL) & EventCtl.IM) === 0) {
      this.send("fault", Reg.FEADDR, Reg.FEUADDR, Reg.FEDATA);
      this.regs.update32(Reg.FECTL, EventCtl.IP, 0);
    }
  }

  /** After software writes FECTL: an unmasked pending event is delivered now. */
  onFectlWrite(): void {
    const v = this.regs.raw32(Reg.FECTL);
    if ((v & EventCtl.IP) !== 0 && (v & EventCtl.IM) === 0) {
      this.send("fault", Reg.FEADDR, Reg.FEUADDR, Reg.FEDATA);
      this.regs.update32(Reg.FECTL, EventCtl.IP, 0);
    }
  }

  /** After software writes FSTS: once every event-causing status is clear, IP clears. */
  onFstsWrite(): void {
    if (
      (this.regs.raw32(Reg.FECTL) & EventCtl.IP) !== 0 &&
      (this.regs.raw32(Reg.FSTS) & FAULT_STATUS) === 0
    ) {
      this.regs.update32(Reg.FECTL, EventCtl.IP, 0);
    }
  }

  /** An invalidation wait descriptor with IF=1 completed. */
  completionEvent(): void {
    if ((this.regs.raw32(Reg.ICS) & ICS_IWC) !== 0) return;
    this.regs.update32(Reg.ICS, 0, ICS_IWC);
    this.regs.update32(Reg.IECTL, 0, EventCtl.IP);
    if ((this.regs.raw32(Reg.IECTL) & EventCtl.IM) === 0) {
      this.send("invalidation-completion", Reg.IEADDR, Reg.IEUADDR, Reg.IEDATA);
      this.regs.update32(Reg.IECTL, EventCtl.IP, 0);
    }
  }

  onIectlWrite(): void {
    const v = this.regs.raw32(Reg.IECTL);
    if ((v & EventCtl.IP) !== 0 && (v & EventCtl.IM) === 0) {
      this.send("invalidation-completion", Reg.IEADDR, Reg.IEUADDR, Reg.IEDATA);
      this.regs.update32(Reg.IECTL, EventCtl.IP, 0);
    }
  }

  onIcsWrite(): void {
    if ((this.regs.raw32(Reg.IECTL) & EventCtl.IP) !== 0 && (this.regs.raw32(Reg.ICS) & ICS_IWC) === 0) {
      this.regs.update32(Reg.IECTL, EventCtl.IP, 0);
    }
  }
}
