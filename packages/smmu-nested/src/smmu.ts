/**
 * One SMMUv3 unit: the register pages, the command and event queues in memory, the translation
 * path (engine.ts) with its configuration cache and TLB, fault recording, stall/resume, and the
 * device-facing DMA port. Everything software does goes through the registers and memory, as on
 * hardware; the `DeviceDmaPort` methods are what devices behind the unit call.
 *
 * @spec reference/smmu.md §1 (programming interface), §6.2-6.3 (recording rules, stall model),
 *   §3.1 (CD.A termination), §5.4 (CMD_SYNC completion); sources: qemu/qemu hw/arm/smmuv3.c
 *   (smmuv3_translate, smmuv3_record_event, smmuv3_cmdq_consume)
 */
import {
  type DeviceDmaPort,
  type DmaRequester,
  type DmaResult,
  Initiator,
  type IommuFault,
  type Perm,
  type PhysicalMemoryAccess,
  type TranslateResult,
} from "@tdx/hw-cpu-seam";
import { Acc, accFromPerm, permForAttrs } from "./access";
import { makeCommandExecutor } from "./command-exec";
import { CommandQueueConsumer } from "./command-queue";
import { ResumeAction, SyncCs } from "./commands";
import { ABORT_SILENT, TranslationEngine } from "./engine";
import { EventQueueWriter, QueueCounters } from "./event-queue";
import { EventId, isTranslationFault } from "./events";
import { busFault, faultFromInfo, gbpaAbortFault, steAbortFault } from "./fault-report";
import { POW2 } from "./granule";
import {
  decodeFeatures,
  encodeIdRegisters,
  type FeatureConfig,
  type IdRegisterValues,
  type SmmuFeatures,
  StallModel,
} from "./idr";
import { RegisterFile } from "./registers";
import { Cr0, Cr2, GBPA_RESET_QEMU, Gbpa } from "./regs";
import { type CompletedTransaction, type StalledTransaction, StallTable } from "./stall";
import type { ReservedConfigPolicy } from "./ste";
import type { TlbGeometry } from "./tlb";

/** What happened to one transaction. */
export const Outcome = {
  OK: 0,
  /** Terminated with an abort (the device sees an error). */
  ABORT: 1,
  /** Terminated as RAZ/WI (CD.A = 0): reads return zeros, writes are dropped, no error. */
  RAZ_WI: 2,
  /** Held until CMD_RESUME / CMD_STALL_TERM. */
  STALLED: 3,
} as const;
export type Outcome = (typeof Outcome)[keyof typeof Outcome];

export interface SmmuOptions {
  /** Feature configuration (encoded into the ID registers); ignored fields keep the defaults. */
  readonly features?: FeatureConfig;
  /** Raw ID register values; those given replace the encoded ones. */
  readonly idr?: Partial<IdRegisterValues>;
  /** TLB geometry; default 256 sets x 4 ways. `sets: 0` disables the TLB. */
  readonly tlb?: TlbGeometry;
  /** Configuration-cache slots (powers of two); default 256 STEs and 256 CDs. */
  readonly steCacheSlots?: number;
  readonly cdCacheSlots?: number;
  /** Cache stage-2 translations of nested walks in the TLB (QEMU does). Default true. */
  readonly cacheStage2Walks?: boolean;
  /** Check a leaf's output size before its access flag and permissions (Arm ARM priority). Default false (reference §4.3 order). */
  readonly addrSizeFirst?: boolean;
  /** Reserved STE.Config values 0b001-0b011: C_BAD_STE (default, the architecture) or silent abort (QEMU). */
  readonly reservedSteConfig?: ReservedConfigPolicy;
  /** Event for a StreamID beyond its two-level L2 table's Span: C_BAD_STREAMID (default) or C_BAD_STE (QEMU). */
  readonly spanOverflowEvent?: "C_BAD_STREAMID" | "C_BAD_STE";
  /** Also decode EVENTQ/PRIQ PROD/CONS at their page-0 offsets (QEMU). Default true. */
  readonly page0QueueAlias?: boolean;
  /** GBPA reset value; default QEMU's (bypass, incoming attributes). */
  readonly gbpaReset?: number;
}

/** Counters a report or test can read. */
export class SmmuCounters extends QueueCounters {
  transactions = 0;
  faults = 0;
  stalls = 0;
  syncs = 0;
  syncIrqs = 0;
  sevs = 0;
  atcInvalidations = 0;
  priResponses = 0;
}

export interface AtcInvalidation {
  readonly sid: number;
  readonly ssid: number;
  readonly addr: number;
  readonly sizeLog2Pages: number;
  readonly global: boolean;
}
export interface PriResponse {
  readonly sid: number;
  readonly ssid: number;
  readonly grpid: number;
  readonly resp: number;
}

const OK_RESULT: DmaResult = Object.freeze({ ok: true });

export class SmmuV3 implements DeviceDmaPort {
  readonly features: SmmuFeatures;
  readonly idr: IdRegisterValues;
  readonly regs: RegisterFile;
  readonly engine: TranslationEngine;
  readonly counters = new SmmuCounters();
  private readonly events: EventQueueWriter;
  private readonly cmdq: CommandQueueConsumer;
  private readonly stalls = new StallTable();
  private readonly listeners: ((c: CompletedTransaction) => void)[] = [];
  private nextTransactionId = 1;
  private pendingStag = -1;
  /** ATC invalidations and PRI responses sent to endpoints, in order (device models may watch them). */
  readonly atcLog: AtcInvalidation[] = [];
  readonly priLog: PriResponse[] = [];

  constructor(
    readonly mem: PhysicalMemoryAccess,
    opts: SmmuOptions = {},
  ) {
    const enc = encodeIdRegisters(opts.features);
    this.idr = { ...enc, ...opts.idr };
    this.features = decodeFeatures(this.idr);
    const f = this.features;
    this.engine = new TranslationEngine(mem, f, {
      tlb: opts.tlb ?? { sets: 256, ways: 4 },
      steCacheSlots: opts.steCacheSlots ?? 256,
      cdCacheSlots: opts.cdCacheSlots ?? 256,
      cacheStage2: opts.cacheStage2Walks ?? true,
      addrSizeFirst: opts.addrSizeFirst ?? false,
      reservedSteConfig: opts.reservedSteConfig ?? "bad-ste",
      spanOverflowEvent: opts.spanOverflowEvent ?? "C_BAD_STREAMID",
    });
    this.regs = new RegisterFile(
      this.idr,
      {
        page0QueueAlias: opts.page0QueueAlias ?? true,
        gbpaReset: opts.gbpaReset ?? GBPA_RESET_QEMU,
        cmdqLog2Max: f.cmdqLog2Max,
        eventqLog2Max: f.eventqLog2Max,
        priqLog2Max: f.priqLog2Max,
      },
      {
        cr0Written: (prev, next) => {
          this.engine.forgetContext();
          if ((next & Cr0.CMDQEN) !== 0 && (prev & Cr0.CMDQEN) === 0) this.cmdq.consume();
        },
        cmdqProdWritten: () => this.cmdq.consume(),
        gerrornWritten: (cleared) => {
          if (cleared) this.cmdq.consume();
        },
        strtabWritten: () => {
          this.engine.strtabBase = this.regs.strtabBase;
          this.engine.strtabCfg = this.regs.strtabBaseCfg;
          this.engine.forgetContext();
        },
      },
    );
    this.events = new EventQueueWriter(this.regs, mem, this.counters, f.msi);
    const exec = makeCommandExecutor({
      features: f,
      cache: this.engine.cache,
      tlb: this.engine.tlb,
      resume: (sid, stag, action) => this.resume(sid, stag, action),
      stallTerm: (sid) => this.stallTerm(sid),
      sync: (cs, addr, data) => this.sync(cs, addr, data),
      atcInvalidate: (sid, ssid, addr, sizeLog2Pages, global) => {
        this.counters.atcInvalidations++;
        this.atcLog.push({ sid, ssid, addr, sizeLog2Pages, global });
      },
      priResponse: (sid, ssid, grpid, resp) => {
        this.counters.priResponses++;
        this.priLog.push({ sid, ssid, grpid, resp });
      },
    });
    this.cmdq = new CommandQueueConsumer(this.regs, mem, exec, (bits) => this.events.raise(bits));
  }

  // ---- registers ----

  read32(off: number): number {
    return this.regs.read32(off);
  }
  write32(off: number, value: number): void {
    this.regs.write32(off, value);
  }
  /** 64-bit access as [lo, hi]: `off` and `off + 4`. */
  read64(off: number): [number, number] {
    return this.regs.read64(off);
  }
  write64(off: number, lo: number, hi: number): void {
    this.regs.write64(off, lo, hi);
  }
  /** Register read with a 64-bit value at the ABI edge. */
  readRegister(off: number, size: 4 | 8): bigint {
    if (size === 4) return BigInt(this.read32(off));
    const [lo, hi] = this.read64(off);
    return (BigInt(hi) << 32n) | BigInt(lo);
  }
  writeRegister(off: number, size: 4 | 8, value: bigint): void {
    if (size === 4) this.write32(off, Number(value & 0xffffffffn));
    else this.write64(off, Number(value & 0xffffffffn), Number((value >> 32n) & 0xffffffffn));
  }

  // ---- the transaction path ----

  /**
   * Translate one access (Acc bitmask) of StreamID `sid` with SubstreamID `ssid` (-1: none).
   * Returns an Outcome; on OK the result is in `engine` (outAddr, regionBase, regionOut,
   * sizeLog2, perm). Faults are recorded, stalled or terminated as the configuration says.
   */
  translateAccess(sid: number, ssid: number, addr: number, acc: number): Outcome {
    this.counters.transactions++;
    const e = this.engine;
    if ((this.regs.cr0 & Cr0.SMMUEN) === 0) {
      if ((this.regs.gbpa & Gbpa.ABORT) !== 0) return Outcome.ABORT;
      e.outAddr = addr;
      e.regionBase = addr - (addr % 4096);
      e.regionOut = e.regionBase;
      e.sizeLog2 = 12;
      e.perm = 63;
      return Outcome.OK;
    }
    const st = e.translate(sid, ssid, addr, acc);
    if (st === 0) return Outcome.OK;
    return this.handleFault(st, sid, ssid, addr, acc);
  }

  /** A full walk that neither consults nor fills the TLB (cost model and debugging); no events. */
  walkUncached(sid: number, ssid: number, addr: number, acc: number): number {
    return this.engine.translate(sid, ssid, addr, acc, false);
  }

  private handleFault(st: number, sid: number, ssid: number, addr: number, acc: number): Outcome {
    this.counters.faults++;
    if (st === ABORT_SILENT) return Outcome.ABORT;
    const fi = this.engine.fault;
    fi.sid = sid;
    fi.ssv = ssid >= 0;
    fi.ssid = Math.max(ssid, 0);
    fi.rnw = (acc & Acc.WRITE) === 0;
    fi.pnu = (acc & Acc.PRIV) !== 0;
    fi.ind = (acc & Acc.INSTR) !== 0;
    fi.inputAddr = addr;
    fi.stall = false;
    fi.stag = 0;
    fi.ttRnW = true;
    const id = fi.id;
    if (isTranslationFault(id)) {
      const f = this.features;
      const ste = this.engine.ste;
      const cd = this.engine.cd;
      let stallEnabled = false;
      if (f.stallModel !== StallModel.TERMINATE_ONLY && ste !== null) {
        const forced = f.stallModel === StallModel.STALL_FORCED;
        stallEnabled = fi.s2 ? forced || ste.s2S : cd !== null && (forced || (cd.s && !ste.s1StallD));
      }
      if (stallEnabled && (f.stallMax === 0 || this.stalls.count < f.stallMax) && this.events.canWrite()) {
        const tag = this.stalls.allocateTag();
        if (tag >= 0) {
          fi.stall = true;
          fi.stag = tag;
          if (this.events.write(fi)) {
            this.pendingStag = tag;
            this.counters.stalls++;
            return Outcome.STALLED;
          }
          // the stall event could not be written (the queue write aborted): terminate instead
          fi.stall = false;
          fi.stag = 0;
          return Outcome.ABORT;
        }
      }
      const record = fi.s2 ? (ste?.s2R ?? true) : cd !== null ? cd.r : true;
      if (record) this.events.write(fi);
      return !fi.s2 && cd !== null && !cd.a && !this.features.termModel ? Outcome.RAZ_WI : Outcome.ABORT;
    }
    if (id === EventId.C_BAD_STREAMID && (this.regs.cr2 & Cr2.RECINVSID) === 0) return Outcome.ABORT;
    this.events.write(fi);
    return Outcome.ABORT;
  }

  private lastFault(sid: number, ssid: number, addr: number, write: boolean, stalled: boolean): IommuFault {
    return faultFromInfo(this.engine.fault, sid, ssid, addr, write, stalled);
  }

  private abortFault(sid: number, ssid: number, addr: number, write: boolean): IommuFault {
    if ((this.regs.cr0 & Cr0.SMMUEN) === 0) return gbpaAbortFault(sid, ssid, addr, write);
    if (this.engine.fault.id === 0) return steAbortFault(sid, ssid, addr, write);
    return this.lastFault(sid, ssid, addr, write, false);
  }

  // ---- DeviceDmaPort ----

  translate(req: DmaRequester, iova: number, access: Perm): TranslateResult {
    return this.translateHeld(req, iova, accFromPerm(access, req.priv, req.instr), 0);
  }

  private translateHeld(req: DmaRequester, iova: number, acc: number, id: number): TranslateResult {
    const write = (acc & Acc.WRITE) !== 0;
    this.engine.fault.id = 0;
    const o = this.translateAccess(req.sid, req.pasid, iova, acc);
    if (o === Outcome.OK) {
      const e = this.engine;
      const perm = permForAttrs(e.perm, acc);
      return {
        ok: true,
        entry: { iova: e.regionBase, translatedAddr: e.regionOut, addrMask: POW2[e.sizeLog2]! - 1, perm },
      };
    }
    if (o === Outcome.STALLED) {
      const fault = this.lastFault(req.sid, req.pasid, iova, write, true);
      this.hold(id, "translate", req, iova, iova, new Uint8Array(0), 0, acc, fault);
      return { ok: false, fault };
    }
    return { ok: false, fault: this.abortFault(req.sid, req.pasid, iova, write) };
  }

  dmaRead(req: DmaRequester, iova: number, dst: Uint8Array): DmaResult {
    return this.runDma(req, iova, dst, false, 0, 0);
  }

  dmaWrite(req: DmaRequester, iova: number, src: Uint8Array): DmaResult {
    return this.runDma(req, iova, src, true, 0, 0);
  }

  private runDma(
    req: DmaRequester,
    iova: number,
    buf: Uint8Array,
    write: boolean,
    from: number,
    id: number,
  ): DmaResult {
    const acc =
      (write ? Acc.WRITE : Acc.READ) | (req.priv ? Acc.PRIV : 0) | (!write && req.instr ? Acc.INSTR : 0);
    const len = buf.length;
    let off = from;
    const e = this.engine;
    while (off < len) {
      const addr = iova + off;
      this.engine.fault.id = 0;
      const o = this.translateAccess(req.sid, req.pasid, addr, acc);
      if (o === Outcome.OK) {
        const n = Math.min(len - off, e.regionBase + POW2[e.sizeLog2]! - addr);
        const view = off === 0 && n === len ? buf : buf.subarray(off, off + n);
        const st = write
          ? this.mem.write(e.outAddr, view, Initiator.Device)
          : this.mem.read(e.outAddr, view, Initiator.Device);
        if (st !== 0) return { ok: false, fault: this.busFault(req, addr, write) };
        off += n;
      } else if (o === Outcome.RAZ_WI) {
        const n = Math.min(len - off, 4096 - (addr % 4096));
        if (!write) buf.fill(0, off, off + n);
        off += n;
      } else if (o === Outcome.STALLED) {
        const fault = this.lastFault(req.sid, req.pasid, addr, write, true);
        this.hold(id, write ? "write" : "read", req, iova, addr, buf, off, acc, fault);
        return { ok: false, stalled: true, fault };
      } else {
        return { ok: false, fault: this.abortFault(req.sid, req.pasid, addr, write) };
      }
    }
    return OK_RESULT;
  }

  private busFault(req: DmaRequester, addr: number, write: boolean): IommuFault {
    return busFault(req, addr, write, this.mem.lastFault()?.message);
  }

  // ---- stalls ----

  private hold(
    id: number,
    kind: StalledTransaction["kind"],
    req: DmaRequester,
    iova: number,
    faultAddr: number,
    buf: Uint8Array,
    done: number,
    acc: number,
    fault: IommuFault,
  ): void {
    this.stalls.add({
      id: id !== 0 ? id : this.nextTransactionId++,
      stag: this.pendingStag,
      sid: req.sid,
      ssid: req.pasid,
      kind,
      req,
      iova,
      faultAddr,
      buf,
      done,
      acc,
      fault,
    });
  }

  /** Transactions currently held by stalls. */
  stalled(): readonly StalledTransaction[] {
    return this.stalls.list();
  }

  /** Be told when a held transaction completes; returns an unsubscribe function. */
  onTransactionComplete(listener: (c: CompletedTransaction) => void): () => void {
    this.listeners.push(listener);
    return () => {
      const i = this.listeners.indexOf(listener);
      if (i >= 0) this.listeners.splice(i, 1);
    };
  }

  private complete(
    t: StalledTransaction,
    result: DmaResult | TranslateResult,
    how: CompletedTransaction["how"],
  ): void {
    const c: CompletedTransaction = {
      id: t.id,
      kind: t.kind,
      req: t.req,
      iova: t.iova,
      buf: t.buf,
      result,
      how,
    };
    for (const l of this.listeners.slice()) l(c);
  }

  private resume(sid: number, stag: number, action: number): void {
    const t = this.stalls.take(sid, stag);
    if (t === undefined) return; // no such stalled transaction: the command has no effect
    if ((action & ResumeAction.RETRY) !== 0) {
      const r =
        t.kind === "translate"
          ? this.translateHeld(t.req, t.iova, t.acc, t.id)
          : this.runDma(t.req, t.iova, t.buf, t.kind === "write", t.done, t.id);
      if (!r.ok && "stalled" in r && r.stalled) return;
      if (t.kind === "translate" && !r.ok && this.stalls.list().some((s) => s.id === t.id)) return;
      this.complete(t, r, "retry");
      return;
    }
    if ((action & ResumeAction.ABORT) !== 0 || t.kind === "translate") {
      this.complete(t, { ok: false, fault: t.fault }, "abort");
      return;
    }
    // Terminate as RAZ/WI: the held access completes (reads as zeros) and the DMA goes on.
    const n = Math.min(t.buf.length - t.done, 4096 - (t.faultAddr % 4096));
    if (t.kind === "read") t.buf.fill(0, t.done, t.done + n);
    const r = this.runDma(t.req, t.iova, t.buf, t.kind === "write", t.done + n, t.id);
    if (!r.ok && "stalled" in r && r.stalled) return;
    this.complete(t, r, "terminate");
  }

  private stallTerm(sid: number): void {
    for (const t of this.stalls.takeAll(sid)) this.complete(t, { ok: false, fault: t.fault }, "stall-term");
  }

  // ---- CMD_SYNC, PRI ----

  private sync(cs: number, msiAddr: number, msiData: number): void {
    this.counters.syncs++;
    if (cs === SyncCs.IRQ) {
      if (this.features.msi && msiAddr !== 0) {
        this.counters.msiWrites++;
        this.mem.write32(msiAddr, msiData, Initiator.Device);
      } else this.counters.syncIrqs++;
    } else if (cs === SyncCs.SEV) this.counters.sevs++;
  }

  /** A PCIe page request from an endpoint (PRI), written to the PRI queue. */
  pageRequest(
    sid: number,
    ssid: number,
    addr: number,
    perm: { read: boolean; write: boolean; exec: boolean; priv: boolean },
    prgi: number,
    last: boolean,
  ): boolean {
    return this.events.writePageRequest(sid, ssid, addr, perm, prgi, last);
  }
}
