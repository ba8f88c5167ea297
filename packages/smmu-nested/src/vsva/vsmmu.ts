/**
 * The guest-visible vSMMU of a VMM (QEMU's iommufd-accelerated arm-smmuv3): a register file the
 * guest kernel programs with its ordinary SMMUv3 driver, with the stream table, command queue and
 * event queue in guest RAM. It translates nothing itself: a guest CFGI_STE makes the VMM read the
 * guest's vSTE and attach it through the host (nested STE); cache invalidations are forwarded to
 * the host (which rewrites VMID and StreamID); CMD_RESUME becomes a page response; host page
 * faults and vEVENTQ records are re-queued into the guest's event queue with the vSID. The vSMMU
 * advertises stage 1 only (no S2P), so guest stage-2 commands are ILLEGAL as on any S1-only unit.
 *
 * @spec reference/smmu.md §7.2 (end-to-end accel flow: vSTE install on CFGI_STE, forwarding,
 *   vEVENTQ re-queueing, abort/bypass while the guest SMMU is off), §6.5 (fault loop); sources:
 *   qemu/qemu hw/arm/smmuv3-accel.c
 */
import { Initiator, MemStatus, TdxSimError } from "@tdx/hw-cpu-seam";
import { CommandQueueConsumer } from "../command-queue";
import { CError, Opcode, ResumeAction, SyncCs } from "../commands";
import { EventQueueWriter, QueueCounters, type QueueMemory } from "../event-queue";
import { decodeFeatures, type IdRegisterValues, Idr0, type SmmuFeatures, StallModel } from "../idr";
import { RegisterFile } from "../registers";
import { Cr0, Gbpa, StrtabCfg } from "../regs";
import { SteConfigKind } from "../ste";
import type { GuestRam } from "./guest-ram";
import { PageResponse, type Viommu, type VsvaHost } from "./host";

/** Guest RAM as queue memory: accesses outside it fail like a bus abort. */
function guestQueueMemory(g: GuestRam): QueueMemory {
  const guard = (fn: () => void): MemStatus => {
    try {
      fn();
      return MemStatus.Ok;
    } catch (err) {
      if (err instanceof TdxSimError) return MemStatus.Hole; // an IPA outside guest RAM
      throw err; // a programming error, not a bus abort
    }
  };
  return {
    read: (pa: number, dst: Uint8Array, _who: Initiator) => guard(() => g.read(pa, dst)),
    write: (pa: number, src: Uint8Array, _who: Initiator) => guard(() => g.write(pa, src)),
    write32: (pa: number, v: number, _who: Initiator) =>
      guard(() => g.write(pa, new Uint8Array(new Uint32Array([v]).buffer))),
    read64: (pa: number, _who: Initiator, out: Uint32Array) => guard(() => g.read64(pa, out)),
    write64: (pa: number, lo: number, hi: number, _who: Initiator) => guard(() => g.write64(pa, lo, hi)),
  };
}

/** The vSMMU's ID registers: the host's, stage 1 only, no HYP/BTM/PRI, 16-bit virtual StreamIDs. */
export function virtualIdRegisters(host: IdRegisterValues): IdRegisterValues {
  const drop = Idr0.S2P | Idr0.VMID16 | Idr0.HYP | Idr0.BTM | Idr0.PRI;
  return {
    ...host,
    idr0: (host.idr0 & ~drop) >>> 0,
    idr1: ((host.idr1 & ~0x3f) | 16) >>> 0,
  };
}

export class VirtualSmmu {
  readonly regs: RegisterFile;
  readonly features: SmmuFeatures;
  readonly counters = new QueueCounters();
  private readonly mem: QueueMemory;
  private readonly events: EventQueueWriter;
  private readonly cmdq: CommandQueueConsumer;
  private readonly w = new Uint32Array(2);
  /** Guest commands the VMM could not forward (they stopped the guest's queue with CERROR_ILL). */
  readonly refused: string[] = [];

  constructor(
    readonly host: VsvaHost,
    readonly viommu: Viommu,
    idr: IdRegisterValues,
  ) {
    this.features = decodeFeatures(idr);
    const f = this.features;
    this.mem = guestQueueMemory(viommu.parent.guest);
    this.regs = new RegisterFile(
      idr,
      {
        page0QueueAlias: true,
        gbpaReset: 0,
        cmdqLog2Max: f.cmdqLog2Max,
        eventqLog2Max: f.eventqLog2Max,
        priqLog2Max: f.priqLog2Max,
      },
      {
        cr0Written: (prev, next) => this.cr0Written(prev, next),
        cmdqProdWritten: () => this.cmdq.consume(),
        gerrornWritten: (cleared) => {
          if (cleared) this.cmdq.consume();
        },
        strtabWritten: () => {},
      },
    );
    this.events = new EventQueueWriter(this.regs, this.mem, this.counters, f.msi);
    this.cmdq = new CommandQueueConsumer(
      this.regs,
      this.mem,
      (w) => this.exec(w),
      (bits) => this.events.raise(bits),
    );
  }

  read32(off: number): number {
    return this.regs.read32(off);
  }
  write32(off: number, value: number): void {
    this.regs.write32(off, value);
  }

  private cr0Written(prev: number, next: number): void {
    if ((next & Cr0.CMDQEN) !== 0 && (prev & Cr0.CMDQEN) === 0) this.cmdq.consume();
    const on = (next & Cr0.SMMUEN) !== 0;
    if (on === ((prev & Cr0.SMMUEN) !== 0)) return;
    for (const vsid of this.viommu.vdevices.keys()) {
      if (on) this.attach(vsid);
      else {
        // guest SMMU off: the device follows the guest's GBPA (abort or bypass)
        const cfg = (this.regs.gbpa & Gbpa.ABORT) !== 0 ? SteConfigKind.ABORT : SteConfigKind.BYPASS;
        this.host.attachNested(this.viommu, vsid, [1 | (cfg << 1), 0, 0, 0]);
      }
    }
  }

  /** Read the guest's vSTE dw0-dw1 for `vsid` from its stream table in guest RAM (zero if absent). */
  private guestSte(vsid: number): Uint32Array {
    const out = new Uint32Array(4);
    const r = this.regs;
    const cfg = r.strtabBaseCfg;
    const log2 = Math.min(cfg & StrtabCfg.LOG2SIZE_MASK, this.features.sidBits);
    if (vsid >= 2 ** log2) return out;
    let at: number;
    if (((cfg >>> StrtabCfg.FMT_SHIFT) & 3) === StrtabCfg.FMT_2LVL) {
      const split = (cfg >>> StrtabCfg.SPLIT_SHIFT) & StrtabCfg.SPLIT_MASK;
      if (this.mem.read64(r.strtabBase + Math.floor(vsid / 2 ** split) * 8, Initiator.Host, this.w) !== 0)
        return out;
      const span = this.w[0]! & 0x1f;
      const idx = vsid % 2 ** split;
      if (span === 0 || idx >= 2 ** (span - 1)) return out;
      at = (this.w[1]! & 0xfffff) * 4294967296 + ((this.w[0]! & 0xffffffc0) >>> 0) + idx * 64;
    } else at = r.strtabBase + vsid * 64;
    this.mem.read(at, new Uint8Array(out.buffer), Initiator.Host);
    return out;
  }

  private attach(vsid: number): boolean {
    if (!this.viommu.vdevices.has(vsid)) return true; // no device behind this vSID
    const r = this.host.attachNested(this.viommu, vsid, this.guestSte(vsid));
    if (!r.ok) this.refused.push(`CFGI_STE(${vsid}): ${r.message}`);
    return true;
  }

  private forward(w: Uint32Array, name: string): number {
    const r = this.host.invalidate(this.viommu, [w]);
    if (r.ok) return CError.NONE;
    this.refused.push(`${name}: ${r.message}`);
    return CError.ILL;
  }

  /** A guest command, as the VMM handles it on a trap of the guest's CMDQ_PROD write. */
  private exec(w: Uint32Array): number {
    const w0 = w[0]!;
    const op = w0 & 0xff;
    if (((w0 >>> 10) & 1) === 1) return CError.ILL;
    const smmuOn = (this.regs.cr0 & Cr0.SMMUEN) !== 0;
    switch (op) {
      case Opcode.PREFETCH_CONFIG:
      case Opcode.PREFETCH_ADDR:
        return CError.NONE;
      case Opcode.CFGI_STE:
        if (smmuOn) this.attach(w[1]!);
        return CError.NONE;
      case Opcode.CFGI_STE_RANGE: {
        const range = w[2]! & 0x1f;
        const n = range === 31 ? 2 ** 32 : 2 ** (range + 1);
        const first = range === 31 ? 0 : w[1]! - (w[1]! % n);
        if (smmuOn)
          for (const vsid of this.viommu.vdevices.keys())
            if (vsid >= first && vsid < first + n) this.attach(vsid);
        return CError.NONE;
      }
      case Opcode.CFGI_CD:
      case Opcode.CFGI_CD_ALL:
      case Opcode.TLBI_NH_ALL:
      case Opcode.TLBI_NH_ASID:
      case Opcode.TLBI_NH_VA:
      case Opcode.TLBI_NH_VAA:
      case Opcode.TLBI_NSNH_ALL:
        return this.forward(w, `opcode 0x${op.toString(16)}`);
      case Opcode.ATC_INV:
        return this.features.ats ? this.forward(w, "ATC_INV") : CError.ILL;
      case Opcode.RESUME: {
        if (this.features.stallModel === StallModel.TERMINATE_ONLY) return CError.ILL;
        const vsid = w[1]!;
        const cookie = this.host.cookieFor(this.viommu, vsid, w[2]! & 0xffff);
        if (cookie === undefined) return CError.NONE; // no such stalled transaction
        const action = (w0 >>> 12) & 3;
        this.host.pageResponse(
          this.viommu,
          cookie,
          (action & ResumeAction.RETRY) !== 0 ? PageResponse.SUCCESS : PageResponse.INVALID,
        );
        return CError.NONE;
      }
      case Opcode.STALL_TERM:
        if (this.features.stallModel === StallModel.TERMINATE_ONLY) return CError.ILL;
        if (this.viommu.vdevices.has(w[1]!)) this.host.stallTerm(this.viommu, w[1]!);
        return CError.NONE;
      case Opcode.SYNC: {
        const cs = (w0 >>> 12) & 3;
        if (cs === 3) return CError.ILL;
        if (cs === SyncCs.IRQ && this.features.msi) {
          const addr = (w[3]! & 0xfffff) * 4294967296 + ((w[2]! & 0xfffffffc) >>> 0);
          if (addr !== 0) this.mem.write32(addr, w[1]!, Initiator.Host);
        }
        return CError.NONE;
      }
      default:
        // stage-2 TLBIs (no S2P on the vSMMU), EL2/EL3 TLBIs, PRI_RESP, unknown opcodes
        return CError.ILL;
    }
  }

  /**
   * The VMM's event loop: let the host drain the physical queue, then re-queue the vIOMMU's page
   * faults (as stalled events with the vSID and the physical STAG) and vEVENTQ records into the
   * guest's event queue. Returns how many records reached the guest.
   */
  deliverEvents(): number {
    this.host.pollEvents();
    let n = 0;
    const words = new Uint32Array(8);
    for (const f of this.host.readFaults(this.viommu)) {
      words.set(f.event.words);
      words[1] = f.vsid;
      if (this.events.writeRaw(words)) n++;
      else this.host.pageResponse(this.viommu, f.cookie, PageResponse.INVALID); // the guest cannot see it
    }
    for (const e of this.host.readVevents(this.viommu)) {
      words.set(e.words);
      if (this.events.writeRaw(words)) n++;
    }
    return n;
  }
}
