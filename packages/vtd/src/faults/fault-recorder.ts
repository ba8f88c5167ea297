/**
 * Primary fault logging: a failed translation becomes an entry in the fault recording registers
 * (FRCD) and a fault event, or is suppressed (FPD on a qualified fault), dropped (overflow), or
 * collapsed into a pending record (policy). Each outcome is returned as a value.
 *
 * @spec reference/vtd.md §4.2 steps 1-6 (QEMU vtd_report_frcd_fault, vtd_report_dmar_fault,
 *   vtd_try_collapse_fault, vtd_update_fsts_ppf; Linux dmar_fault) and §1.6 FRCD layout
 */
import type { IommuFault } from "@tdx/hw-cpu-seam";
import type { RegisterLayout } from "../registers/layout";
import type { RegisterFile } from "../registers/register-file";
import { faultReasonName, isLoggedReason, isQualifiedFault } from "../spec/fault-reasons";
import { Frcd, Fsts, Reg } from "../spec/registers";
import type { EventUnit } from "./events";

/** Address type of a request (FRCD.AT). @spec reference/vtd.md §1.6 AT [125:124] */
export const AddressType = { Untranslated: 0, TranslationRequest: 1, Translated: 2 } as const;
export type AddressType = (typeof AddressType)[keyof typeof AddressType];

/** How a fault was handled. */
export type FaultDisposition =
  /** Written to FRCD[index]. */
  | "recorded"
  /** A qualified fault with FPD set: not reported. */
  | "suppressed"
  /** FSTS.PFO already set, or the next FRCD still held a fault (PFO now set). */
  | "overflow"
  /** Dropped because an identical/same-requester fault is pending (collapse policy). */
  | "collapsed"
  /** A model outcome that is not a remapping fault (codes 0xF8 and up): never logged. */
  | "not-logged";

/** A VT-d DMA-remapping fault as a value. */
export interface VtdFault extends IommuFault {
  readonly unit: "vtd";
  readonly privileged: boolean;
  readonly execute: boolean;
  readonly addressType: AddressType;
  readonly disposition: FaultDisposition;
  /** The FRCD index when recorded, else -1. */
  readonly frcdIndex: number;
}

/** What the translation pipeline reports. */
export interface FaultInput {
  readonly code: number;
  readonly sid: number;
  readonly pasid: number;
  readonly iova: number;
  readonly write: boolean;
  readonly execute: boolean;
  readonly privileged: boolean;
  readonly addressType: AddressType;
  /** FPD of the structure that governed the request (context, PASID directory or PASID entry). */
  readonly fpd: boolean;
  /**
   * The condition is reported to the device in its translation completion instead of being
   * logged (a translation request meeting a not-present or permission condition). [unverified]
   */
  readonly completionOnly?: boolean;
}

/**
 * Fault collapsing. The specification allows an implementation to not log a fault matching one
 * already pending; QEMU drops any fault from a requester that has a pending record. Default
 * "none": every fault takes a record (the literal reading). [policy]
 */
export type FaultCollapse = "none" | "same-sid" | "identical";

export class FaultRecorder {
  private next = 0;
  /** Counters by disposition. */
  readonly counts = { recorded: 0, suppressed: 0, overflow: 0, collapsed: 0, "not-logged": 0 };

  constructor(
    private readonly regs: RegisterFile,
    private readonly layout: RegisterLayout,
    private readonly events: EventUnit,
    private readonly collapse: FaultCollapse,
  ) {}

  /** Reset the next-record index (hardware does on TE disable, per QEMU). */
  resetIndex(): void {
    this.next = 0;
  }

  private frcdHi(i: number): number {
    return this.layout.frcd + 16 * i + 8;
  }

  private pending(i: number): boolean {
    return (this.regs.raw32(this.frcdHi(i) + 4) & Frcd.F) !== 0;
  }

  private collapses(sid: number, code: number, pageLo: number, pageHi: number): boolean {
    if (this.collapse === "none") return false;
    for (let i = 0; i < this.layout.nfr; i++) {
      if (!this.pending(i)) continue;
      const hi = this.frcdHi(i);
      if ((this.regs.raw32(hi) & Frcd.SID_MASK) !== sid) continue;
      if (this.collapse === "same-sid") return true;
      const base = this.layout.frcd + 16 * i;
      if (
        (this.regs.raw32(hi + 4) & Frcd.FR_MASK) === code &&
        this.regs.raw32(base) === pageLo &&
        this.regs.raw32(base + 4) === pageHi
      ) {
        return true;
      }
    }
    return false;
  }

  /** Recompute FSTS.PPF from every FRCD.F (after software clears an F bit). */
  updatePpf(): void {
    let ppf = 0;
    for (let i = 0; i < this.layout.nfr; i++) {
      if (this.pending(i)) {
        ppf = Fsts.PPF;
        break;
      }
    }
    this.regs.update32(Reg.FSTS, Fsts.PPF, ppf);
  }

  /** Report one fault; returns it as a value with its disposition. */
  report(f: FaultInput): VtdFault {
    let disposition: FaultDisposition;
    let index = -1;
    const page = f.iova - (f.iova % 4096);
    const pageLo = page >>> 0;
    const pageHi = Math.floor(page / 4294967296) >>> 0;
    const fsts = this.regs.raw32(Reg.FSTS);
    if (!isLoggedReason(f.code) || f.completionOnly === true) {
      disposition = "not-logged";
    } else if (f.fpd && isQualifiedFault(f.code)) {
      disposition = "suppressed";
    } else if ((fsts & Fsts.PFO) !== 0) {
      disposition = "overflow";
    } else if (this.collapses(f.sid, f.code, pageLo, pageHi)) {
      disposition = "collapsed";
    } else if (this.pending(this.next)) {
      this.regs.update32(Reg.FSTS, 0, Fsts.PFO);
      this.events.faultEvent(fsts);
      disposition = "overflow";
    } else {
      index = this.next;
      const base = this.layout.frcd + 16 * index;
      let dw2 = f.sid & Frcd.SID_MASK;
      if (f.privileged) dw2 |= Frcd.PRIV;
      if (f.execute) dw2 |= Frcd.EXE;
      const pasidPresent = f.pasid >= 0;
      if (pasidPresent) dw2 |= Frcd.PP;
      let dw3 = (f.code & Frcd.FR_MASK) | ((f.addressType & 3) << Frcd.AT_SHIFT) | Frcd.F;
      if (pasidPresent) dw3 |= (f.pasid & 0xfffff) << Frcd.PV_SHIFT;
      if (!f.write) dw3 |= Frcd.T;
      this.regs.setRaw32(base, pageLo);
      this.regs.setRaw32(base + 4, pageHi);
      this.regs.setRaw32(base + 8, dw2 >>> 0);
      this.regs.setRaw32(base + 12, dw3 >>> 0);
      this.next = (this.next + 1) % this.layout.nfr;
      if ((fsts & Fsts.PPF) === 0) {
        this.regs.update32(Reg.FSTS, Fsts.FRI_MASK, (index << Fsts.FRI_SHIFT) & Fsts.FRI_MASK);
      }
      this.updatePpf();
      if ((fsts & Fsts.PPF) === 0) this.events.faultEvent(fsts);
      disposition = "recorded";
    }
    this.counts[disposition]++;
    const name = faultReasonName(f.code);
    return {
      unit: "vtd",
      code: f.code,
      name,
      iova: f.iova,
      sid: f.sid,
      pasid: f.pasid,
      write: f.write,
      privileged: f.privileged,
      execute: f.execute,
      addressType: f.addressType,
      disposition,
      frcdIndex: index,
      message: `VT-d fault 0x${f.code.toString(16).padStart(2, "0")} (${name}) for ${sidText(f.sid)}${
        f.pasid >= 0 ? ` PASID 0x${f.pasid.toString(16)}` : ""
      } ${f.write ? "write" : "read"} at IOVA 0x${f.iova.toString(16)}: ${disposition}`,
    };
  }
}

/** "bb:dd.f" for a source-id. */
export function sidText(sid: number): string {
  const bus = (sid >> 8) & 0xff;
  const dev = (sid >> 3) & 0x1f;
  const fn = sid & 7;
  return `${bus.toString(16).padStart(2, "0")}:${dev.toString(16).padStart(2, "0")}.${fn}`;
}
