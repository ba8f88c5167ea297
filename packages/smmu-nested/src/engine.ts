/**
 * The translation path of one transaction, without side effects beyond caches: find the STE
 * (linear or two-level stream table, through the configuration cache), apply the SubstreamID
 * rules (S1CDMax, S1DSS), fetch the CD (linear or two-level CD table; under nesting through
 * stage 2, CLASS = CD), then serve the address from the TLB or walk stage 1, stage 2 or both.
 * Faults come back as an event id with details in the shared FaultInfo; recording, stalling and
 * termination are the unit's business (smmu.ts).
 *
 * @spec reference/smmu.md §2.3 (stream tables), §2.4 (C_BAD_STE), §3.2 (CD tables, S1DSS,
 *   C_BAD_SUBSTREAMID), §4.4-4.5 (size checks, nested order, memory-reference count), §6.1
 *   (which event each failure raises); sources: qemu/qemu hw/arm/smmuv3.c (smmu_find_ste,
 *   smmuv3_decode_config, smmuv3_translate), qemu/qemu hw/arm/smmu-common.c (smmu_translate)
 */
import { Initiator, type PhysicalMemoryAccess } from "@tdx/hw-cpu-seam";
import { Acc, NEED_PERM } from "./access";
import { type CdConfig, decodeCd } from "./cd";
import { ConfigCache } from "./config-cache";
import { EventId, FaultClass, FaultInfo } from "./events";
import { POW2 } from "./granule";
import type { SmmuFeatures } from "./idr";
import { StrtabCfg } from "./regs";
import { Stage1Walker } from "./stage1";
import { Stage2Walker, type WalkOptions } from "./stage2";
import { decodeSte, type ReservedConfigPolicy, S1Dss, S1Fmt, type SteConfig } from "./ste";
import { Tlb, type TlbGeometry, TlbKind } from "./tlb";

/** What a resolved stream context does with addresses. */
export const Mode = { ABORT: 0, BYPASS: 1, S1: 2, S2: 3, NESTED: 4 } as const;

/** Translation status besides 0 (ok) and event ids: terminated without an event (Config abort). */
export const ABORT_SILENT = 0x100;

export interface EngineOptions extends WalkOptions {
  readonly tlb: TlbGeometry;
  readonly steCacheSlots: number;
  readonly cdCacheSlots: number;
  readonly reservedSteConfig: ReservedConfigPolicy;
  /** Event for a two-level StreamID beyond its L2 table's Span: the reference's C_BAD_STREAMID or QEMU's C_BAD_STE. */
  readonly spanOverflowEvent: "C_BAD_STREAMID" | "C_BAD_STE";
}

export class TranslationEngine {
  readonly fault = new FaultInfo();
  readonly tlb: Tlb;
  readonly cache: ConfigCache;
  readonly s2: Stage2Walker;
  readonly s1: Stage1Walker;

  // stream table registers (set by the unit)
  strtabBase = 0;
  strtabCfg = 0;

  // the resolved context of the last transaction (memoised on sid/ssid/cache generation)
  private ctxSid = -1;
  private ctxSsid = -2;
  private ctxGen = -1;
  mode: number = Mode.ABORT;
  ste: SteConfig | null = null;
  cd: CdConfig | null = null;
  vmid = 0;
  asid = -1;

  // result of the last successful translate
  outAddr = 0;
  regionBase = 0;
  regionOut = 0;
  sizeLog2 = 12;
  perm = 0;
  fromTlb = false;

  /** Memory references of the last transaction: table-walk descriptor reads, and config fetches (STE, L1STD, L1CD, CD and the CD's stage-2 walk). */
  lastWalkRefs = 0;
  lastConfigRefs = 0;
  // totals
  tlbHits = 0;
  tlbMisses = 0;
  walks = 0;
  totalWalkRefs = 0;
  totalConfigRefs = 0;

  private configReads = 0;
  private readonly buf8 = new Uint8Array(64);
  private readonly buf32 = new Uint32Array(this.buf8.buffer);
  private readonly d = new Uint32Array(2);

  constructor(
    private readonly mem: PhysicalMemoryAccess,
    private readonly f: SmmuFeatures,
    private readonly opts: EngineOptions,
  ) {
    this.tlb = new Tlb(opts.tlb);
    this.cache = new ConfigCache(opts.steCacheSlots, opts.cdCacheSlots);
    this.s2 = new Stage2Walker(mem, f, this.fault, this.tlb, opts);
    this.s1 = new Stage1Walker(mem, this.fault, this.s2, opts);
  }

  /**
   * Translate one access. `ssid` is -1 for a transaction without a SubstreamID; `acc` an Acc
   * bitmask. Returns 0 (result in outAddr/regionBase/regionOut/sizeLog2/perm), an event id, or
   * ABORT_SILENT. The caller has reset `fault` for this transaction.
   */
  translate(sid: number, ssid: number, addr: number, acc: number, useTlb = true): number {
    const walk0 = this.s1.refs + this.s2.refs;
    this.lastWalkRefs = 0;
    this.lastConfigRefs = 0;
    if (sid !== this.ctxSid || ssid !== this.ctxSsid || this.cache.generation !== this.ctxGen) {
      this.configReads = 0;
      const r = this.resolve(sid, ssid);
      const cfgRefs = this.configReads + (this.s1.refs + this.s2.refs - walk0);
      this.lastConfigRefs = cfgRefs;
      this.totalConfigRefs += cfgRefs;
      if (r !== 0) {
        this.ctxSid = -1;
        return r;
      }
      this.ctxSid = sid;
      this.ctxSsid = ssid;
      this.ctxGen = this.cache.generation;
    }
    const base = this.s1.refs + this.s2.refs;
    const r = this.translateIn(addr, acc, useTlb);
    const refs = this.s1.refs + this.s2.refs - base;
    this.lastWalkRefs = refs;
    this.totalWalkRefs += refs;
    return r;
  }

  /** Forget the memoised context (register writes that move the stream table call this). */
  forgetContext(): void {
    this.ctxSid = -1;
  }

  private translateIn(addr: number, acc: number, useTlb: boolean): number {
    const mode = this.mode;
    const need = NEED_PERM[acc]!;
    this.fromTlb = false;
    if (mode === Mode.ABORT) return ABORT_SILENT;
    if (mode === Mode.BYPASS || mode === Mode.S2) {
      if (addr >= POW2[this.f.iasBits]!) {
        this.fault.id = EventId.F_ADDR_SIZE;
        this.fault.s2 = false;
        this.fault.cls = FaultClass.IN;
        this.fault.addr2 = -1;
        this.fault.reason = "stage 1 bypassed and the input address is beyond IAS";
        return EventId.F_ADDR_SIZE;
      }
      if (mode === Mode.BYPASS) {
        this.outAddr = addr;
        this.regionBase = addr - (addr % 4096);
        this.regionOut = this.regionBase;
        this.sizeLog2 = 12;
        this.perm = 63;
        return 0;
      }
    }
    const kind = mode === Mode.S1 ? TlbKind.S1 : mode === Mode.S2 ? TlbKind.S2 : TlbKind.NESTED;
    const vmid = this.vmid;
    const asid = mode === Mode.S2 ? -1 : this.asid;
    if (useTlb) {
      const tlb = this.tlb;
      const i = tlb.lookup(kind, vmid, asid, Math.floor(addr / 4096));
      if (i >= 0 && (tlb.perm[i]! & need) === need) {
        const b = tlb.base[i]!;
        this.regionBase = b;
        this.regionOut = tlb.out[i]!;
        this.outAddr = this.regionOut + (addr - b);
        this.sizeLog2 = tlb.sizeLog2[i]!;
        this.perm = tlb.perm[i]!;
        this.fromTlb = true;
        this.tlbHits++;
        return 0;
      }
      this.tlbMisses++;
    }
    this.walks++;
    return this.walk(kind, addr, acc, useTlb);
  }

  private walk(kind: number, addr: number, acc: number, useTlb: boolean): number {
    const ste = this.ste!;
    const vmid = this.vmid;
    if (kind === TlbKind.S2) {
      const r = this.s2.translate(ste, vmid, addr, acc, FaultClass.IN, false);
      if (r !== 0) return r;
      this.finish(this.s2.out, this.s2.base, this.s2.sizeLog2, this.s2.perm & 63, addr);
      if (useTlb)
        this.tlb.insert(
          kind,
          vmid,
          -1,
          false,
          addr,
          this.regionBase,
          this.sizeLog2,
          this.regionOut,
          this.perm,
          0,
          0,
        );
      return 0;
    }
    const cd = this.cd!;
    const nested = kind === TlbKind.NESTED;
    const r1 = this.s1.walk(cd, addr, acc, nested ? ste : null, vmid, useTlb && this.opts.cacheStage2);
    if (r1 !== 0) return r1;
    const s1 = this.s1;
    if (!nested) {
      this.finish(s1.out, s1.base, s1.sizeLog2, s1.perm, addr);
    } else {
      const ipa = s1.out;
      const r2 = this.s2.translate(ste, vmid, ipa, acc, FaultClass.IN, useTlb && this.opts.cacheStage2);
      if (r2 !== 0) return r2;
      const s2 = this.s2;
      const size = Math.min(s1.sizeLog2, s2.sizeLog2);
      const off = addr % POW2[size]!;
      this.outAddr = s2.out;
      this.regionBase = addr - off;
      this.regionOut = s2.out - off;
      this.sizeLog2 = size;
      this.perm = s1.perm & s2.perm & 63;
    }
    if (useTlb)
      this.tlb.insert(
        kind,
        vmid,
        this.asid,
        s1.global,
        addr,
        this.regionBase,
        this.sizeLog2,
        this.regionOut,
        this.perm,
        s1.base,
        s1.sizeLog2,
      );
    return 0;
  }

  private finish(out: number, base: number, sizeLog2: number, perm: number, addr: number): void {
    this.outAddr = out;
    this.regionBase = base;
    this.regionOut = out - (addr - base);
    this.sizeLog2 = sizeLog2;
    this.perm = perm;
  }

  // ---- configuration ----

  private failCfg(id: number, reason: string, addr2 = -1): number {
    const fi = this.fault;
    fi.id = id;
    fi.s2 = false;
    fi.cls = FaultClass.IN;
    fi.reason = reason;
    fi.addr2 = addr2;
    return id;
  }

  private resolve(sid: number, ssid: number): number {
    const f = this.f;
    this.ste = null;
    this.cd = null;
    let ste = this.cache.findSte(sid);
    if (ste === null) {
      const r = this.fetchSte(sid);
      if (r !== 0) return r;
      ste = this.cache.findSte(sid)!;
    }
    this.ste = ste;
    this.cd = null;
    this.vmid = f.s2p ? ste.vmid : 0;
    this.asid = -1;
    if (ste.illegal !== "") {
      // Invalid or ILLEGAL structures are not kept in the configuration cache.
      this.cache.releaseSte(sid);
      return this.failCfg(EventId.C_BAD_STE, ste.illegal);
    }
    if (ste.abort) {
      this.mode = Mode.ABORT;
      return 0;
    }
    const s2Mode = ste.s2Enabled ? Mode.S2 : Mode.BYPASS;
    if (!ste.s1Enabled) {
      if (ssid >= 0)
        return this.failCfg(EventId.C_BAD_SUBSTREAMID, "SubstreamID on a stream whose stage 1 is bypassed");
      this.mode = s2Mode;
      return 0;
    }
    let idx = 0;
    if (ssid >= 0) {
      if (ste.s1CdMax === 0)
        return this.failCfg(EventId.C_BAD_SUBSTREAMID, "SubstreamID on a stream with S1CDMax = 0");
      if (ssid >= POW2[ste.s1CdMax]!)
        return this.failCfg(EventId.C_BAD_SUBSTREAMID, "SubstreamID beyond 2^S1CDMax");
      if (ste.s1Dss === S1Dss.SSID0 && ssid === 0)
        return this.failCfg(EventId.C_BAD_SUBSTREAMID, "SubstreamID 0 is reserved when S1DSS selects CD 0");
      idx = ssid;
    } else if (ste.s1CdMax !== 0) {
      if (ste.s1Dss === S1Dss.TERMINATE)
        return this.failCfg(
          EventId.F_STREAM_DISABLED,
          "transaction without SubstreamID and S1DSS = terminate",
        );
      if (ste.s1Dss === S1Dss.BYPASS) {
        this.mode = s2Mode;
        return 0;
      }
    }
    let cd = this.cache.findCd(sid, idx);
    if (cd === null) {
      const r = this.fetchCd(sid, ste, idx);
      if (r !== 0) return r;
      cd = this.cache.findCd(sid, idx)!;
    }
    if (cd.illegal !== "") {
      this.cache.releaseCd(sid, idx);
      return this.failCfg(EventId.C_BAD_CD, cd.illegal);
    }
    this.cd = cd;
    this.asid = cd.asid;
    this.mode = ste.s2Enabled ? Mode.NESTED : Mode.S1;
    return 0;
  }

  private fetchSte(sid: number): number {
    const f = this.f;
    const cfg = this.strtabCfg;
    const log2 = Math.min(cfg & StrtabCfg.LOG2SIZE_MASK, f.sidBits);
    if (sid >= POW2[log2]!) return this.failCfg(EventId.C_BAD_STREAMID, "StreamID beyond the stream table");
    const fmt = (cfg >>> StrtabCfg.FMT_SHIFT) & StrtabCfg.FMT_MASK;
    let steAddr: number;
    if (fmt === StrtabCfg.FMT_2LVL && f.twoLevelStreamTable) {
      let split = (cfg >>> StrtabCfg.SPLIT_SHIFT) & StrtabCfg.SPLIT_MASK;
      // SPLIT is 6, 8 or 10; other values act as the next valid one below (at least 6).
      split = split >= 10 ? 10 : split >= 8 ? 8 : 6;
      const l1Entries = POW2[Math.max(log2 - split, 0)]!;
      const l1Bytes = Math.max(64, l1Entries * 8);
      const base = this.strtabBase - (this.strtabBase % l1Bytes);
      const l1Index = Math.floor(sid / POW2[split]!);
      const l1Addr = base + l1Index * 8;
      this.configReads++;
      if (this.mem.read64(l1Addr, Initiator.Device, this.d) !== 0)
        return this.failCfg(
          EventId.F_STE_FETCH,
          "external abort reading the L1 stream table descriptor",
          l1Addr,
        );
      const lo = this.d[0]!;
      const span = lo & 0x1f;
      if (span === 0) return this.failCfg(EventId.C_BAD_STREAMID, "L1STD.Span is 0 (no L2 table)");
      if (span > split + 1) return this.failCfg(EventId.C_BAD_STREAMID, "L1STD.Span exceeds SPLIT + 1");
      const l2Index = sid % POW2[split]!;
      if (l2Index >= POW2[span - 1]!) {
        return this.opts.spanOverflowEvent === "C_BAD_STE"
          ? this.failCfg(EventId.C_BAD_STE, "StreamID beyond the L2 table's Span")
          : this.failCfg(EventId.C_BAD_STREAMID, "StreamID beyond the L2 table's Span");
      }
      const l2Ptr = (this.d[1]! & 0xfffff) * 4294967296 + ((lo & 0xffffffc0) >>> 0);
      steAddr = l2Ptr + l2Index * 64;
    } else {
      const bytes = POW2[log2 + 6]!;
      steAddr = this.strtabBase - (this.strtabBase % bytes) + sid * 64;
    }
    this.configReads++;
    if (this.mem.read(steAddr, this.buf8, Initiator.Device) !== 0)
      return this.failCfg(EventId.F_STE_FETCH, "external abort reading the STE", steAddr);
    const ste = this.cache.claimSte(sid);
    decodeSte(this.buf32, f, ste, this.opts.reservedSteConfig);
    return 0;
  }

  /** Translate a CD-table address (an IPA when stage 2 is on) for a fetch; -1 on fault. */
  private cdFetchAddress(ste: SteConfig, addr: number): number {
    if (!ste.s2Enabled) return addr;
    const r = this.s2.translate(
      ste,
      this.f.s2p ? ste.vmid : 0,
      addr,
      Acc.READ,
      FaultClass.CD,
      this.opts.cacheStage2,
    );
    return r === 0 ? this.s2.out : -1;
  }

  private fetchCd(sid: number, ste: SteConfig, idx: number): number {
    let cdAddr: number;
    if (ste.s1CdMax === 0 || ste.s1Fmt === S1Fmt.LINEAR) {
      cdAddr = ste.s1ContextPtr + idx * 64;
    } else {
      const split = ste.s1Fmt === S1Fmt.L2_4K ? 6 : 10;
      const l1Ipa = ste.s1ContextPtr + Math.floor(idx / POW2[split]!) * 8;
      const l1Pa = this.cdFetchAddress(ste, l1Ipa);
      if (l1Pa < 0) return this.fault.id;
      this.configReads++;
      if (this.mem.read64(l1Pa, Initiator.Device, this.d) !== 0)
        return this.failCfg(EventId.F_CD_FETCH, "external abort reading the L1 CD descriptor", l1Pa);
      const lo = this.d[0]!;
      if ((lo & 1) === 0) return this.failCfg(EventId.C_BAD_SUBSTREAMID, "L1CD.V is 0 for this SubstreamID");
      const l2 = (this.d[1]! & 0xfffff) * 4294967296 + ((lo & 0xfffff000) >>> 0);
      cdAddr = l2 + (idx % POW2[split]!) * 64;
    }
    const pa = this.cdFetchAddress(ste, cdAddr);
    if (pa < 0) return this.fault.id;
    this.configReads++;
    if (this.mem.read(pa, this.buf8, Initiator.Device) !== 0)
      return this.failCfg(EventId.F_CD_FETCH, "external abort reading the CD", pa);
    const cd = this.cache.claimCd(sid, idx);
    decodeCd(this.buf32, this.f, cd);
    return 0;
  }
}
