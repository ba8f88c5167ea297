/**
 * One VT-d DMA-remapping unit: its register window at the architectural offsets, driven only
 * through register reads and writes; tables, queues and status writes in simulated physical
 * memory; the translation pipeline with its caches; the fault recorder and interrupt events; and
 * the device-facing DMA port. Illegal programming is answered as hardware does (ignored writes,
 * fault records, IQE), never by throwing; only misuse of this API (bad offsets, sizes, options)
 * throws TdxSimError.
 *
 * @spec reference/vtd.md §1 (registers), §2-§3 (structures and walks), §4 (faults), §5 (caches
 *   and invalidation), §7.1 (TDX rules), §9 (structure: register file, walker, caches, queue
 *   processor, fault recorder, interrupt sinks)
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";
import { ContextCache } from "../caches/context-cache";
import { PasidCache } from "../caches/pasid-cache";
import { TranslationCache } from "../caches/translation-cache";
import { VtdDmaPort } from "../dma/dma-port";
import { EventUnit, type VtdMsi } from "../faults/events";
import { AddressType, FaultRecorder, type VtdFault } from "../faults/fault-recorder";
import { CacheOps, type DeviceTlbSink } from "../invalidation/cache-ops";
import { InvalidationQueue } from "../invalidation/queue";
import { RegisterInvalidation } from "../invalidation/register-invalidation";
import { computeLayout, defineRegisters, type RegisterLayout } from "../registers/layout";
import { RegisterFile } from "../registers/register-file";
import { composeCapabilities, decodeCap, decodeEcap, type VtdCap, type VtdEcap } from "../spec/capabilities";
import { Fsts, Reg } from "../spec/registers";
import { ContextResolver, QEMU_SM_CONTEXT_CODES, SM_CONTEXT_CODES } from "../tables/context";
import { EntryReader } from "../tables/entry-reader";
import { PasidResolver } from "../tables/pasid";
import { TdxDmaPolicy } from "../tdx/tdx-policy";
import type { Translation } from "../translate/translation";
import { Translator } from "../translate/translator";
import { FirstStageWalker } from "../walk/first-stage";
import { SecondStageWalker } from "../walk/second-stage";
import { GlobalCommand } from "./gcmd";
import type { VtdPolicy, VtdUnitOptions } from "./options";
import { checkRequest, type VtdRequest } from "./request";
import { UnitState } from "./state";

const DEFAULT_POLICY: Omit<VtdPolicy, "negativeCaching"> = {
  multiCommandGcmd: "apply-all",
  faultCollapse: "none",
  scalableFaultCodes: "scalable",
  iqerReporting: "spec",
  qiDisableRequiresWait: false,
  contextCache: true,
  pasidCache: { sets: 256, ways: 4 },
  iotlb: { sets: 1024, ways: 4 },
  pagingStructureCache: { sets: 256, ways: 4 },
};

/** The outcome of `translateRequest`: a page-sized translation, an interrupt request, or a fault. */
export type VtdTranslateOutcome =
  | {
      readonly kind: "translated";
      readonly iovaBase: number;
      readonly outBase: number;
      readonly size: number;
      readonly read: boolean;
      readonly write: boolean;
      readonly did: number;
      readonly pasid: number;
      readonly iotlbHit: boolean;
    }
  | { readonly kind: "interrupt-request" }
  | { readonly kind: "fault"; readonly fault: VtdFault };

export class VtdUnit {
  readonly cap: VtdCap;
  readonly ecap: VtdEcap;
  readonly layout: RegisterLayout;
  readonly hawBits: number;
  readonly policy: VtdPolicy;
  /** The device-facing DMA interface. */
  readonly port: VtdDmaPort;
  /** Every MSI sent (fault and invalidation-completion events). */
  get msis(): readonly VtdMsi[] {
    return this.events.sent;
  }

  private readonly regs: RegisterFile;
  private readonly version: number;
  /** @internal components, exposed for the DMA port, tests and benchmarks. */
  readonly state = new UnitState();
  readonly contextCache: ContextCache;
  readonly pasidCache: PasidCache;
  readonly iotlb: TranslationCache;
  readonly pagingStructureCache: TranslationCache;
  readonly reader: EntryReader;
  readonly translator: Translator;
  readonly recorder: FaultRecorder;
  readonly ops: CacheOps;
  readonly queue: InvalidationQueue;
  readonly tdx: TdxDmaPolicy;
  private readonly events: EventUnit;
  private readonly gcmd: GlobalCommand;
  private readonly regInval: RegisterInvalidation;
  private readonly frcdHiDwords: Set<number>;
  readonly onInterruptRequest: VtdUnitOptions["onInterruptRequest"];

  constructor(opts: VtdUnitOptions) {
    const composed = composeCapabilities(opts.profile);
    this.cap = decodeCap(opts.cap ?? composed.cap);
    this.ecap = decodeEcap(opts.ecap ?? composed.ecap);
    this.layout = computeLayout(this.cap, this.ecap);
    this.version = opts.version ?? 0x10;
    const haw = opts.hawBits ?? Math.min(52, opts.mem.physAddrBits);
    if (!Number.isInteger(haw) || haw < 33 || haw > 52) {
      throw new TdxSimError(
        "E_VTD_HAW",
        `hawBits ${String(haw)} is out of range: the host address width must be 33..52`,
      );
    }
    this.hawBits = haw;
    this.policy = { ...DEFAULT_POLICY, negativeCaching: this.cap.cm, ...opts.policy };
    const pol = this.policy;
    this.regs = new RegisterFile(this.layout.size);
    this.reader = new EntryReader(opts.mem, haw);
    this.contextCache = new ContextCache(pol.contextCache);
    this.pasidCache = pol.pasidCache
      ? new PasidCache(pol.pasidCache.sets, pol.pasidCache.ways)
      : new PasidCache(1, 1, false);
    this.iotlb = pol.iotlb
      ? new TranslationCache(pol.iotlb.sets, pol.iotlb.ways)
      : new TranslationCache(0, 0);
    this.pagingStructureCache = pol.pagingStructureCache
      ? new TranslationCache(pol.pagingStructureCache.sets, pol.pagingStructureCache.ways)
      : new TranslationCache(0, 0);
    this.events = new EventUnit(this.regs, opts.onMsi);
    this.recorder = new FaultRecorder(this.regs, this.layout, this.events, pol.faultCollapse);
    this.ops = new CacheOps(
      this.contextCache,
      this.pasidCache,
      this.iotlb,
      this.pagingStructureCache,
      this.cap.drd,
      this.cap.dwd,
    );
    this.queue = new InvalidationQueue(
      this.regs,
      this.state,
      this.reader,
      this.cap,
      this.ecap,
      this.ops,
      this.events,
      pol.iqerReporting === "spec",
    );
    this.regInval = new RegisterInvalidation(this.regs, this.layout, this.state, this.cap, this.ops);
    this.gcmd = new GlobalCommand({
      regs: this.regs,
      state: this.state,
      cap: this.cap,
      reader: this.reader,
      ops: this.ops,
      queue: this.queue,
      recorder: this.recorder,
      multiCommand: pol.multiCommandGcmd,
      qiDisableRequiresWait: pol.qiDisableRequiresWait,
    });
    this.tdx = new TdxDmaPolicy(opts.mem, opts.tdx);
    const qemuCodes = pol.scalableFaultCodes === "qemu";
    const ss = new SecondStageWalker(this.reader, {
      twoMiB: (this.cap.sllps & 1) !== 0,
      oneGiB: (this.cap.sllps & 2) !== 0,
      snpAllowed: this.ecap.sc || this.ecap.smts,
      tmAllowed: this.ecap.dt,
    });
    this.translator = new Translator({
      state: this.state,
      regs: this.regs,
      cap: this.cap,
      ecap: this.ecap,
      cc: this.contextCache,
      pc: this.pasidCache,
      iotlb: this.iotlb,
      psc: this.pagingStructureCache,
      ctx: new ContextResolver(
        this.reader,
        this.contextCache,
        this.cap,
        this.ecap,
        qemuCodes ? QEMU_SM_CONTEXT_CODES : SM_CONTEXT_CODES,
      ),
      pasid: new PasidResolver(this.reader, this.pasidCache, this.cap, this.ecap),
      ss,
      fs: new FirstStageWalker(this.reader, ss, this.cap.fs1gp),
      recorder: this.recorder,
      tdx: this.tdx,
      negativeCaching: pol.negativeCaching,
      qemuCodes,
    });
    this.frcdHiDwords = new Set();
    for (let i = 0; i < this.layout.nfr; i++) this.frcdHiDwords.add(this.layout.frcd + 16 * i + 12);
    this.onInterruptRequest = opts.onInterruptRequest;
    this.port = new VtdDmaPort(this, opts.mem, opts.postedWriteDepth ?? 0);
    this.ops.writeDrainListeners.push(() => this.port.flushPostedWrites());
    this.reset();
  }

  /** Reset: registers to their reset values, caches empty, queue and translation off. */
  reset(): void {
    defineRegisters(this.regs, this.layout, this.cap, this.ecap, this.version);
    this.state.reset();
    this.ops.all();
    this.recorder.resetIndex();
  }

  // ------------------------------------------------------------------ register interface

  private check(off: number, size: number): void {
    if (size !== 4 && size !== 8) {
      throw new TdxSimError(
        "E_VTD_REG",
        `register access size ${String(size)} is not supported: VT-d registers are accessed as 4 or 8 bytes`,
      );
    }
    if (!Number.isInteger(off) || off < 0 || off + size > this.layout.size || off % size !== 0) {
      throw new TdxSimError(
        "E_VTD_REG",
        `register offset 0x${off.toString(16)} (size ${size}) is outside the 0x${this.layout.size.toString(16)}-byte window or not aligned to its size`,
      );
    }
  }

  /** Read a 32-bit register (software view: write-only bits read 0). */
  read32(off: number): number {
    this.check(off, 4);
    return this.regs.read32(off);
  }

  /** Read a register of 4 or 8 bytes as a bigint (the ABI edge). */
  readRegister(off: number, size: 4 | 8): bigint {
    this.check(off, size);
    const lo = BigInt(this.regs.read32(off));
    return size === 4 ? lo : lo | (BigInt(this.regs.read32(off + 4)) << 32n);
  }

  /** Write a 32-bit register. */
  write32(off: number, value: number): void {
    this.check(off, 4);
    this.regs.write32(off, value >>> 0);
    this.afterWrite(off);
  }

  /** Write 8 bytes as two halves (low dword first), then act on the write. */
  write64(off: number, lo: number, hi: number): void {
    this.check(off, 8);
    this.regs.write32(off, lo >>> 0);
    this.regs.write32(off + 4, hi >>> 0);
    this.afterWrite(off);
    this.afterWrite(off + 4);
  }

  /** Write a register of 4 or 8 bytes from a bigint (the ABI edge). */
  writeRegister(off: number, size: 4 | 8, value: bigint): void {
    if (value < 0n || value >= 1n << BigInt(size * 8)) {
      throw new TdxSimError(
        "E_VTD_REG",
        `value 0x${value.toString(16)} does not fit a ${size}-byte register`,
      );
    }
    if (size === 4) this.write32(off, Number(value));
    else this.write64(off, Number(value & 0xffff_ffffn), Number(value >> 32n));
  }

  /** Side effects of a software write touching the dword at `off`. */
  private afterWrite(off: number): void {
    switch (off) {
      case Reg.GCMD:
        this.gcmd.onWrite();
        return;
      case Reg.CCMD + 4:
        this.regInval.onCcmdWrite();
        return;
      case Reg.FSTS: {
        this.events.onFstsWrite();
        if ((this.regs.raw32(Reg.FSTS) & Fsts.IQE) === 0) this.queue.onTail();
        return;
      }
      case Reg.FECTL:
        this.events.onFectlWrite();
        return;
      case Reg.PMEN:
        // PRS (bit 0) reports that the protected regions are in force.
        this.regs.update32(Reg.PMEN, 1, (this.regs.raw32(Reg.PMEN) >>> 31) & 1);
        return;
      case Reg.IQT:
        if (this.ecap.qi) this.queue.onIqtWrite();
        return;
      case Reg.ICS:
        this.events.onIcsWrite();
        return;
      case Reg.IECTL:
        this.events.onIectlWrite();
        return;
      default:
        if (off === this.layout.iotlb + 4) this.regInval.onIotlbWrite();
        else if (this.frcdHiDwords.has(off)) this.recorder.updatePpf();
    }
  }

  // ------------------------------------------------------------------ translation interface

  /** Register a device-TLB (ATS cache) so device-TLB invalidations reach it. */
  attachDeviceTlb(sid: number, tlb: DeviceTlbSink): void {
    this.ops.deviceTlbs.set(sid & 0xffff, tlb);
  }

  /**
   * The allocation-free translation path: returns 0 with the result in `this.translator.out`,
   * -1 for an interrupt request, or the fault reason (reported; see `lastFault`).
   */
  translateFast(
    sid: number,
    pasid: number,
    addr: number,
    write: boolean,
    exec = false,
    priv = false,
    at = 0,
  ): number {
    return this.translator.translate(sid & 0xffff, pasid, addr, write, exec, priv, at);
  }

  /** The last translation's result (valid after translateFast returned 0). */
  get lastTranslation(): Translation {
    return this.translator.out;
  }
  /** The last fault reported. */
  get lastFault(): VtdFault | undefined {
    return this.translator.lastFault;
  }

  /** Translate one request, as a value. */
  translateRequest(req: VtdRequest, iova: number): VtdTranslateOutcome {
    checkRequest(req, iova);
    const code = this.translateFast(
      req.sid,
      req.pasid ?? -1,
      iova,
      req.write ?? false,
      req.execute ?? false,
      req.privileged ?? false,
      req.addressType ?? AddressType.Untranslated,
    );
    if (code === -1) return { kind: "interrupt-request" };
    if (code !== 0) return { kind: "fault", fault: this.translator.lastFault! };
    const t = this.translator.out;
    return {
      kind: "translated",
      iovaBase: t.iovaBase,
      outBase: t.outBase,
      size: t.size,
      read: (t.perm & 1) !== 0,
      write: (t.perm & 2) !== 0,
      did: t.did,
      pasid: t.pasid,
      iotlbHit: t.hit,
    };
  }

  /** Counters for observers, tests and the cost model. */
  stats(): Record<string, unknown> {
    return {
      translator: { ...this.translator.stats },
      faults: { ...this.recorder.counts },
      invalidations: { ...this.ops.counts },
      gcmd: { ...this.gcmd.counts },
      registerInvalidationsIgnoredWhileQi: this.regInval.ignoredWhileQi,
      iotlbEntries: this.iotlb.size(),
      pagingStructureEntries: this.pagingStructureCache.size(),
      contextFills: this.contextCache.fills,
      pasidFills: this.pasidCache.fills,
      tableReads: this.reader.reads,
    };
  }
}
