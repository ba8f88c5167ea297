/**
 * The invalidation queue: when software moves IQT (with QIE set and no pending IQE), the unit
 * fetches descriptors from IQH up to IQT out of memory, checks each (type known and supported,
 * width, reserved bits, AM <= MAMV), performs it, advances IQH, and on an error sets FSTS.IQE,
 * records IQER and stops with IQH parked on the bad descriptor until software clears IQE.
 * Descriptors complete in order, synchronously: a wait descriptor's status write therefore implies
 * every earlier descriptor (device-TLB invalidations included) has completed.
 *
 * @spec reference/vtd.md §1.7 (IQA/IQH/IQT; DW=1: IQT bit 4 must be 0; tail beyond the queue ->
 *   IQE; bad descriptor parks IQH), §5.4 (descriptor types and fields; 256-bit-only types rejected
 *   in a 128-bit queue; wait descriptor IF/SW/FN/PD, status data 63:32, status address), QEMU
 *   vtd_fetch_inv_desc, vtd_process_inv_desc, vtd_handle_iqt_write, vtd_inv_desc_reserved_check
 */
import { Initiator } from "@tdx/hw-cpu-seam";
import type { EventUnit } from "../faults/events";
import type { RegisterFile } from "../registers/register-file";
import type { VtdCap, VtdEcap } from "../spec/capabilities";
import { DESC_RSVD, DescType, PcGran, PiotlbGran, WaitFlag, WIDE_ONLY_TYPES } from "../spec/descriptors";
import { Fsts, Gran, IQT_256_RSV_BIT, Iqei, Reg } from "../spec/registers";
import type { EntryReader } from "../tables/entry-reader";
import type { UnitState } from "../unit/state";
import type { CacheOps } from "./cache-ops";

export class InvalidationQueue {
  /** Descriptors processed, by type. */
  readonly processed = new Uint32Array(16);
  /** The descriptor being processed: four qwords as eight dwords (qw0 lo, qw0 hi, qw1 lo, ...). */
  private readonly d = new Uint32Array(8);

  constructor(
    private readonly regs: RegisterFile,
    private readonly state: UnitState,
    private readonly reader: EntryReader,
    private readonly cap: VtdCap,
    private readonly ecap: VtdEcap,
    private readonly ops: CacheOps,
    private readonly events: EventUnit,
    private readonly iqer: boolean,
  ) {}

  /** Raise an invalidation queue error with its IQER information. */
  private error(info: number): void {
    const fsts = this.regs.raw32(Reg.FSTS);
    this.regs.update32(Reg.FSTS, 0, Fsts.IQE);
    if (this.iqer) {
      this.regs.setRaw32(Reg.IQER, info & 0xf);
      this.regs.setRaw32(Reg.IQER + 4, 0);
    }
    this.events.faultEvent(fsts);
  }

  private setHead(head: number): void {
    this.state.iqHead = head;
    this.regs.setRaw32(Reg.IQH, (head << (this.state.iqWide ? 5 : 4)) >>> 0);
    this.regs.setRaw32(Reg.IQH + 4, 0);
  }

  /** Latch the queue on QIE enable: base, size, width; IQH = 0. */
  enable(): void {
    const st = this.state;
    const lo = this.regs.raw32(Reg.IQA);
    const hi = this.regs.raw32(Reg.IQA + 4);
    st.iqBase = this.reader.addr(lo, hi);
    st.iqWide = (lo & 0x800) !== 0 && this.ecap.smts;
    st.iqEntries = 2 ** ((lo & 7) + (st.iqWide ? 7 : 8));
    st.qiEnabled = true;
    this.setHead(0);
    this.onTail();
  }

  /** Disable (QIE cleared): only when the queue is empty; returns whether it was disabled. */
  disable(requireWait: boolean): boolean {
    const st = this.state;
    if (st.iqHead !== st.iqTail) return false;
    if (requireWait && st.lastDescType !== DescType.Wait) return false;
    st.qiEnabled = false;
    this.setHead(0);
    return true;
  }

  /** Software wrote IQT. */
  onIqtWrite(): void {
    const v = this.regs.raw32(Reg.IQT);
    if (this.state.iqWide && (v & IQT_256_RSV_BIT) !== 0) {
      this.error(Iqei.TailMisaligned);
      return;
    }
    this.state.iqTail = this.state.iqWide ? (v >>> 5) & 0x3fff : (v >>> 4) & 0x7fff;
    this.onTail();
  }

  /** Process the queue if enabled and not stopped by IQE (also after software clears IQE). */
  onTail(): void {
    const st = this.state;
    if (!st.qiEnabled || (this.regs.raw32(Reg.FSTS) & Fsts.IQE) !== 0) return;
    if (st.iqTail >= st.iqEntries) {
      this.error(Iqei.InvalidTail);
      return;
    }
    while (st.iqHead !== st.iqTail) {
      const info = this.processOne();
      if (info !== 0) {
        this.error(info);
        return;
      }
      this.setHead((st.iqHead + 1) % st.iqEntries);
    }
  }

  /** Fetch, check and perform the descriptor at IQH; 0 or the IQEI error information. */
  private processOne(): number {
    const st = this.state;
    const r = this.reader;
    const width = st.iqWide ? 32 : 16;
    const pa = st.iqBase + st.iqHead * width;
    for (let q = 0; q < width / 8; q++) {
      if (!r.read(pa + q * 8)) return Iqei.FetchError;
      this.d[q * 2] = r.lo;
      this.d[q * 2 + 1] = r.hi;
    }
    if (!st.iqWide) this.d.fill(0, 4);
    const type = this.d[0]! & 0xf;
    st.lastDescType = type;
    const rsvd = DESC_RSVD[type];
    if (rsvd === undefined || !this.supported(type)) return Iqei.InvalidType;
    if (!st.iqWide && WIDE_ONLY_TYPES.has(type)) return Iqei.InvalidWidth;
    let extra = 0;
    if (type === DescType.Wait && !this.ecap.pds) extra = WaitFlag.PD;
    if (
      (this.d[0]! & (rsvd[0] | extra)) !== 0 ||
      (this.d[1]! & rsvd[1]) !== 0 ||
      (this.d[2]! & rsvd[2]) !== 0 ||
      (this.d[3]! & rsvd[3]) !== 0 ||
      (this.d[4]! | this.d[5]! | this.d[6]! | this.d[7]!) !== 0
    ) {
      return Iqei.ReservedField;
    }
    const ok = this.perform(type);
    if (ok !== 0) return ok;
    this.processed[type]!++;
    return 0;
  }

  private supported(type: number): boolean {
    const e = this.ecap;
    switch (type) {
      case DescType.ContextCache:
      case DescType.Iotlb:
      case DescType.Wait:
        return true;
      case DescType.DeviceTlb:
        return e.dt;
      case DescType.InterruptEntryCache:
        return e.ir;
      case DescType.PasidIotlb:
      case DescType.PasidCache:
        return e.smts;
      case DescType.PasidDeviceTlb:
        return e.smts && e.dt;
      case DescType.PageGroupResponse:
        return e.prs;
      default:
        return false;
    }
  }

  /** Address field [63:12] of qword 1. */
  private qw1Addr(): number {
    return this.d[3]! * 4294967296 + ((this.d[2]! & 0xffff_f000) >>> 0);
  }

  private perform(type: number): number {
    const ops = this.ops;
    const g = (this.d[0]! >>> 4) & 3;
    const did = (this.d[0]! >>> 16) & 0xffff;
    switch (type) {
      case DescType.ContextCache:
        if (g === Gran.Global) ops.contextGlobal();
        else if (g === Gran.Domain) ops.contextDomain(did, this.state.rootMode === 1);
        else if (g === Gran.Device) ops.contextDevice(this.d[1]! & 0xffff, (this.d[1]! >>> 16) & 3);
        else return Iqei.ReservedField;
        return 0;
      case DescType.Iotlb: {
        const am = this.d[2]! & 0x3f;
        if (g === Gran.Global) ops.iotlbGlobal();
        else if (g === Gran.Domain) ops.iotlbDomain(did);
        else if (g === Gran.Page) {
          if (am > this.cap.mamv) return Iqei.ReservedField;
          if (this.cap.psi) ops.iotlbPages(did, this.qw1Addr(), am, (this.d[2]! & 0x40) !== 0);
          else ops.iotlbDomain(did);
        } else return Iqei.ReservedField;
        ops.drain((this.d[0]! & 0x80) !== 0, (this.d[0]! & 0x40) !== 0);
        return 0;
      }
      case DescType.DeviceTlb:
        ops.deviceTlb(this.d[1]! & 0xffff, -1, this.qw1Addr(), (this.d[2]! & 1) !== 0);
        return 0;
      case DescType.InterruptEntryCache:
        ops.counts.interruptEntry++;
        return 0;
      case DescType.Wait:
        return this.wait();
      case DescType.PasidIotlb: {
        const pasid = this.d[1]! & 0xfffff;
        const am = this.d[2]! & 0x3f;
        if (g === PiotlbGran.AllInPasid) ops.pasidIotlb(did, pasid, null, 0, false);
        else if (g === PiotlbGran.PageInPasid) {
          if (am > this.cap.mamv) return Iqei.ReservedField;
          ops.pasidIotlb(did, pasid, this.qw1Addr(), am, (this.d[2]! & 0x40) !== 0);
        } else return Iqei.ReservedField;
        return 0;
      }
      case DescType.PasidCache: {
        const pasid = this.d[1]! & 0xfffff;
        if (g === PcGran.Domain) ops.pasidCacheDomain(did);
        else if (g === PcGran.Pasid) ops.pasidCachePasid(did, pasid);
        else if (g === PcGran.Global) ops.pasidCacheGlobal();
        else return Iqei.ReservedField;
        return 0;
      }
      case DescType.PasidDeviceTlb: {
        const sid = (this.d[0]! >>> 16) & 0xffff;
        const all = (this.d[2]! & 1) !== 0;
        ops.deviceTlb(sid, all ? "all" : this.d[1]! & 0xfffff, this.qw1Addr(), (this.d[2]! & 0x800) !== 0);
        return 0;
      }
      default:
        // Page-group response: the model never issues page requests, so none is outstanding.
        return 0;
    }
  }

  /** Invalidation wait: status write (SW) and/or completion interrupt (IF); PD is a no-op here. */
  private wait(): number {
    const lo = this.d[0]!;
    if ((lo & WaitFlag.SW) !== 0) {
      const addr = this.d[3]! * 4294967296 + ((this.d[2]! & 0xffff_fffc) >>> 0);
      if (this.reader.mem.write32(addr, this.d[1]!, Initiator.Device) !== 0) return Iqei.FetchError;
    }
    if ((lo & WaitFlag.IF) !== 0) this.events.completionEvent();
    return 0;
  }
}
