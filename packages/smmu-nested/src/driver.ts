/**
 * A register-level driver in the manner of Linux's arm-smmu-v3: probe the ID registers, bring the
 * unit up in Linux's order, own the stream table (linear or two-level with lazily allocated L2
 * tables), submit commands through the in-memory queue and wait on CMD_SYNC (polling CONS, or the
 * MSI the SMMU writes onto the SYNC slot), drain the event queue, and recover command-queue
 * errors exactly as Linux does (an ILL command is overwritten with CMD_SYNC, then GERRORN
 * acknowledges and consumption resumes). Used by tests, the generic contract harness and the
 * vSVA host and guest (the guest drives a vSMMU with the same code).
 *
 * @spec reference/smmu.md §1.3 (bring-up order), §1.4 (queues), §2.5 (STE updates with
 *   CFGI_STE + SYNC), §5.4 (SYNC completion by MSI onto the SYNC slot), §5.5 (error recovery);
 *   sources: torvalds/linux drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.c (arm_smmu_device_reset,
 *   arm_smmu_cmdq_skip_err, arm_smmu_gerror_handler, arm_smmu_evtq_thread)
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";
import type { TableMemory } from "./alloc";
import { CError, encodeCommand, type SmmuCommand, SyncCs } from "./commands";
import { decodeEvent, type SmmuEvent } from "./events";
import { decodeFeatures, type SmmuFeatures } from "./idr";
import { CMDQ_ENTRY_BYTES, EVENTQ_ENTRY_BYTES, qCount, qEmpty, qInc, qIndex } from "./queue";
import { CMDQ_CONS_ERR_MASK, CMDQ_CONS_ERR_SHIFT, Cr0, Cr2, Gerror, Q_OVERFLOW_FLAG, Reg } from "./regs";
import { STE_WORDS } from "./ste";

/** The register access a driver needs (the physical unit or a vSMMU front end). */
export interface SmmuRegisterPort {
  read32(off: number): number;
  write32(off: number, value: number): void;
}

export interface DriverConfig {
  /** Stream table: linear with 2^log2Size STEs, or two-level (SPLIT 6/8/10, Linux uses 8). Default linear, 2^8. */
  readonly streamTable?: {
    readonly format: "linear" | "2lvl";
    readonly log2Size: number;
    readonly split?: 6 | 8 | 10;
  };
  /** log2 entries of the command and event queues; defaults 8 and 7. */
  readonly cmdqLog2?: number;
  readonly eventqLog2?: number;
  /** CMD_SYNC completion: "msi" (the SMMU writes 0 onto the SYNC slot, Linux's MSI polling) or "poll" (CONS). Default "msi" when IDR0.MSI. */
  readonly sync?: "msi" | "poll";
  /** Set CR2.RECINVSID (record C_BAD_STREAMID). Default true. */
  readonly recordInvalidSid?: boolean;
}

/** Why a submission did not complete. */
export type SubmitResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly cerror: CError; readonly consIndex: number; readonly message: string };

export class SmmuDriver {
  readonly features: SmmuFeatures;
  strtabBase = 0;
  private strtabFmt: "linear" | "2lvl" = "linear";
  private strtabLog2 = 0;
  private split = 8;
  private readonly l2Tables = new Map<number, number>();
  cmdqBase = 0;
  cmdqLog2 = 8;
  eventqBase = 0;
  eventqLog2 = 7;
  private syncMode: "msi" | "poll" = "poll";
  /** Event-queue overflows seen (PROD.OVFLG differed from CONS.OVACKFLG). */
  overflows = 0;
  private readonly w = new Uint32Array(2);

  constructor(
    readonly regs: SmmuRegisterPort,
    readonly mem: TableMemory,
  ) {
    this.features = decodeFeatures({
      idr0: regs.read32(Reg.IDR0),
      idr1: regs.read32(Reg.IDR1),
      idr2: regs.read32(Reg.IDR2),
      idr3: regs.read32(Reg.IDR3),
      idr4: regs.read32(Reg.IDR4),
      idr5: regs.read32(Reg.IDR5),
    });
  }

  private write64(off: number, v: number): void {
    this.regs.write32(off, v >>> 0);
    this.regs.write32(off + 4, Math.floor(v / 4294967296) >>> 0);
  }

  /**
   * Bring the unit up as Linux does: disable, CR1/CR2, stream table, command queue, CMDQEN,
   * CFGI_ALL + TLBI_NSNH_ALL (each with SYNC), event queue, EVENTQEN, SMMUEN. Every STE starts
   * zero (V = 0: C_BAD_STE for any traffic) until `installSte`.
   */
  reset(cfg: DriverConfig = {}): void {
    const f = this.features;
    const r = this.regs;
    r.write32(Reg.CR0, 0);
    r.write32(Reg.CR1, (1 << 10) | (1 << 8) | (1 << 6) | (3 << 4) | (1 << 2) | 1); // ISH, WB tables and queues
    r.write32(Reg.CR2, ((cfg.recordInvalidSid ?? true) ? Cr2.RECINVSID : 0) | (f.btm ? 0 : Cr2.PTM));
    const st = cfg.streamTable ?? { format: "linear", log2Size: 8 };
    if (st.log2Size > f.sidBits) {
      throw new TdxSimError(
        "E_DRIVER",
        `stream table of 2^${st.log2Size} STEs exceeds IDR1.SIDSIZE ${f.sidBits}`,
      );
    }
    this.strtabFmt = st.format;
    this.strtabLog2 = st.log2Size;
    this.split = st.split ?? 8;
    this.l2Tables.clear();
    if (st.format === "linear") {
      const bytes = 64 * 2 ** st.log2Size;
      this.strtabBase = this.mem.alloc(bytes, bytes);
      r.write32(Reg.STRTAB_BASE_CFG, st.log2Size);
    } else {
      if (!f.twoLevelStreamTable)
        throw new TdxSimError("E_DRIVER", "two-level stream table requested but IDR0.ST_LEVEL is 0");
      const l1 = 8 * 2 ** Math.max(st.log2Size - this.split, 0);
      this.strtabBase = this.mem.alloc(Math.max(l1, 64), Math.max(l1, 64));
      r.write32(Reg.STRTAB_BASE_CFG, st.log2Size | (this.split << 6) | (1 << 16));
    }
    this.write64(Reg.STRTAB_BASE, this.strtabBase);
    this.cmdqLog2 = Math.min(cfg.cmdqLog2 ?? 8, f.cmdqLog2Max);
    const cq = CMDQ_ENTRY_BYTES * 2 ** this.cmdqLog2;
    this.cmdqBase = this.mem.alloc(cq, Math.max(cq, 32));
    this.write64(Reg.CMDQ_BASE, this.cmdqBase + this.cmdqLog2);
    r.write32(Reg.CMDQ_PROD, 0);
    r.write32(Reg.CMDQ_CONS, 0);
    this.syncMode = cfg.sync ?? (f.msi ? "msi" : "poll");
    r.write32(Reg.CR0, Cr0.CMDQEN);
    this.mustSubmit([{ op: "CFGI_ALL" }]);
    this.mustSubmit([{ op: "TLBI_NSNH_ALL" }]);
    this.eventqLog2 = Math.min(cfg.eventqLog2 ?? 7, f.eventqLog2Max);
    const eq = EVENTQ_ENTRY_BYTES * 2 ** this.eventqLog2;
    this.eventqBase = this.mem.alloc(eq, eq);
    this.write64(Reg.EVENTQ_BASE, this.eventqBase + this.eventqLog2);
    r.write32(Reg.EVENTQ_PROD, 0);
    r.write32(Reg.EVENTQ_CONS, 0);
    r.write32(Reg.CR0, Cr0.CMDQEN | Cr0.EVENTQEN);
    r.write32(Reg.IRQ_CTRL, 0b101); // GERROR and EVENTQ interrupts
    r.write32(Reg.CR0, Cr0.CMDQEN | Cr0.EVENTQEN | Cr0.SMMUEN);
    if ((r.read32(Reg.CR0ACK) & Cr0.SMMUEN) === 0)
      throw new TdxSimError("E_DRIVER", "CR0ACK did not acknowledge SMMUEN");
  }

  /** Address of the STE for `sid`, allocating a two-level L2 table (Span = SPLIT + 1) when needed. */
  steAddress(sid: number): number {
    if (sid >= 2 ** this.strtabLog2)
      throw new TdxSimError("E_DRIVER", `StreamID ${sid} is beyond the stream table`);
    if (this.strtabFmt === "linear") return this.strtabBase + sid * 64;
    const l1 = Math.floor(sid / 2 ** this.split);
    let l2 = this.l2Tables.get(l1);
    if (l2 === undefined) {
      const bytes = 64 * 2 ** this.split;
      l2 = this.mem.alloc(bytes, bytes);
      this.l2Tables.set(l1, l2);
      this.mem.write64(
        this.strtabBase + l1 * 8,
        ((l2 >>> 0) | (this.split + 1)) >>> 0,
        Math.floor(l2 / 4294967296),
      );
      this.mustSubmit([{ op: "CFGI_STE", sid, leaf: false }]);
    }
    return l2 + (sid % 2 ** this.split) * 64;
  }

  /** Write the STE's 16 words (dword 0 last, so the entry becomes valid only when complete). */
  writeSte(sid: number, words: Uint32Array): void {
    if (words.length < STE_WORDS) throw new TdxSimError("E_DRIVER", "an STE is 16 words");
    const at = this.steAddress(sid);
    for (let i = 7; i >= 0; i--) this.mem.write64(at + i * 8, words[2 * i]!, words[2 * i + 1]!);
  }

  /** Write an STE and make it visible: CFGI_STE + CMD_SYNC. */
  installSte(sid: number, words: Uint32Array): void {
    this.writeSte(sid, words);
    this.mustSubmit([{ op: "CFGI_STE", sid, leaf: true }]);
  }

  /** Read back the STE words of `sid` from the stream table. */
  readSte(sid: number): Uint32Array {
    const at = this.steAddress(sid);
    const out = new Uint32Array(STE_WORDS);
    const b = new Uint8Array(out.buffer);
    this.mem.read(at, b);
    return out;
  }

  private cons(): number {
    return this.regs.read32(Reg.CMDQ_CONS);
  }

  /**
   * Put commands on the queue and ring PROD; then wait with a CMD_SYNC (unless `sync` is false).
   * The unit consumes as soon as PROD moves, so waiting is checking: an error leaves CONS on the
   * failing command with CMDQ_CONS.ERR set.
   */
  submit(cmds: readonly SmmuCommand[], sync = true): SubmitResult {
    const all = sync ? [...cmds, this.syncCommand()] : [...cmds];
    const n = 2 ** this.cmdqLog2;
    let prod = this.regs.read32(Reg.CMDQ_PROD);
    let i = 0;
    while (i < all.length) {
      const cons = this.cons();
      const free = n - qCount(prod, cons, this.cmdqLog2);
      if (free === 0) return this.stopped();
      const batch = Math.min(free, all.length - i);
      let syncSlot = -1;
      for (let k = 0; k < batch; k++) {
        let c = all[i + k]!;
        const slot = this.cmdqBase + qIndex(prod, this.cmdqLog2) * CMDQ_ENTRY_BYTES;
        if (c.op === "SYNC" && this.syncMode === "msi") {
          c = { ...c, cs: SyncCs.IRQ, msiAddr: slot, msiData: 0 };
          syncSlot = slot;
        }
        this.putCommand(slot, encodeCommand(c));
        prod = qInc(prod, this.cmdqLog2);
      }
      i += batch;
      this.regs.write32(Reg.CMDQ_PROD, prod);
      if (!qEmpty(prod, this.cons(), this.cmdqLog2)) return this.stopped();
      if (syncSlot >= 0) {
        this.mem.read64(syncSlot, this.w);
        if (this.w[0] !== 0) {
          return {
            ok: false,
            cerror: CError.NONE,
            consIndex: -1,
            message: "CMD_SYNC completed without its MSI write",
          };
        }
      }
    }
    return { ok: true };
  }

  /** Submit and throw if the queue stopped (for set-up paths that must not fail). */
  mustSubmit(cmds: readonly SmmuCommand[]): void {
    const r = this.submit(cmds);
    if (!r.ok) throw new TdxSimError("E_DRIVER_CMDQ", r.message);
  }

  private syncCommand(): SmmuCommand {
    return { op: "SYNC", cs: SyncCs.NONE };
  }

  private putCommand(slot: number, w: Uint32Array): void {
    this.mem.write64(slot, w[0]!, w[1]!);
    this.mem.write64(slot + 8, w[2]!, w[3]!);
  }

  private stopped(): SubmitResult {
    const c = this.cons();
    const err = (c >>> CMDQ_CONS_ERR_SHIFT) & CMDQ_CONS_ERR_MASK;
    const active = ((this.regs.read32(Reg.GERROR) ^ this.regs.read32(Reg.GERRORN)) & Gerror.CMDQ_ERR) !== 0;
    const idx = qIndex(c, this.cmdqLog2);
    return {
      ok: false,
      cerror: (active ? err : CError.NONE) as CError,
      consIndex: idx,
      message: active
        ? `command queue stopped at index ${idx} with CERROR ${err} (${["NONE", "ILL", "ABT", "ATC_INV_SYNC"][err] ?? "?"})`
        : "command queue did not drain (CMDQEN clear?)",
    };
  }

  /**
   * The GERROR interrupt handler: for an active CMDQ_ERR, skip the failing command as Linux's
   * arm_smmu_cmdq_skip_err does (ILL: overwrite it with CMD_SYNC; ABT: retry the fetch;
   * ATC_INV_SYNC: retry the SYNC), then acknowledge every active error by writing GERRORN =
   * GERROR, which restarts consumption. Returns the active bits it acknowledged.
   */
  handleGerror(): { readonly active: number; readonly cerror: number } {
    const gerror = this.regs.read32(Reg.GERROR);
    const gerrorn = this.regs.read32(Reg.GERRORN);
    const active = (gerror ^ gerrorn) >>> 0;
    let cerror: number = CError.NONE;
    if ((active & Gerror.CMDQ_ERR) !== 0) {
      const cons = this.cons();
      cerror = (cons >>> CMDQ_CONS_ERR_SHIFT) & CMDQ_CONS_ERR_MASK;
      if (cerror === CError.ILL) {
        const slot = this.cmdqBase + qIndex(cons, this.cmdqLog2) * CMDQ_ENTRY_BYTES;
        this.putCommand(slot, encodeCommand({ op: "SYNC", cs: SyncCs.NONE }));
      }
    }
    this.regs.write32(Reg.GERRORN, gerror);
    return { active, cerror };
  }

  /** Drain the event queue (advancing CONS), acknowledging an overflow if one is flagged. */
  readEvents(): SmmuEvent[] {
    const out: SmmuEvent[] = [];
    const words = new Uint32Array(8);
    const bytes = new Uint8Array(words.buffer);
    let cons = this.regs.read32(Reg.EVENTQ_CONS);
    const prod = this.regs.read32(Reg.EVENTQ_PROD);
    while (!qEmpty(prod, cons, this.eventqLog2)) {
      this.mem.read(this.eventqBase + qIndex(cons, this.eventqLog2) * EVENTQ_ENTRY_BYTES, bytes);
      out.push(decodeEvent(words));
      cons = ((cons & Q_OVERFLOW_FLAG) | qInc(cons, this.eventqLog2)) >>> 0;
    }
    if ((prod & Q_OVERFLOW_FLAG) !== (cons & Q_OVERFLOW_FLAG)) {
      this.overflows++;
      cons = ((cons & ~Q_OVERFLOW_FLAG) | (prod & Q_OVERFLOW_FLAG)) >>> 0;
    }
    this.regs.write32(Reg.EVENTQ_CONS, cons);
    return out;
  }
}
