/**
 * The translation pipeline of one request: translation enable, the interrupt window, context
 * lookup (context cache, else root and context tables), in scalable mode the PASID lookup (PASID
 * cache, else directory and table), address-type and privilege checks, the IOTLB, the walk of
 * the translation type (legacy second stage, pass-through, scalable first/second stage, nested),
 * the interrupt-range output check, and the TDX checks. Every failure is reported to the fault
 * recorder (FRCD, FPD, overflow) and returned as its reason; the hot path (context-cache and
 * IOTLB hit) allocates nothing.
 *
 * @spec reference/vtd.md §2.5 steps 1-10 (legacy walk), §3.4 (requests with/without PASID,
 *   RID_PASID, 0x45/0x46), §3.3 (0x5C ERE, 0x5D SRE), §2.2 TT and §2.5 step 6 (0xD for
 *   translation/translated requests with TT=00; TT=01 device-TLB; TT=10 pass-through), §2.4
 *   (input below 2^min(AGAW, MGAW), else 0x4), §3.5-§3.6 (first-stage and nested), QEMU
 *   vtd_do_iommu_translate; §5.5 (caching mode: negative entries)
 */
import { type ContextCache, CtxState, SmCtx } from "../caches/context-cache";
import { type PasidCache, PeFlag, Pgtt } from "../caches/pasid-cache";
import { EntryKind, LEVEL_SIZE, Perm8, type TranslationCache } from "../caches/translation-cache";
import { AddressType, type FaultRecorder, type VtdFault } from "../faults/fault-recorder";
import type { RegisterFile } from "../registers/register-file";
import type { VtdCap, VtdEcap } from "../spec/capabilities";
import { FaultReason as FR } from "../spec/fault-reasons";
import { INTERRUPT_WINDOW_FIRST, INTERRUPT_WINDOW_LAST, Reg } from "../spec/registers";
import type { ContextResolver } from "../tables/context";
import type { PasidResolver } from "../tables/pasid";
import type { TdxDmaPolicy } from "../tdx/tdx-policy";
import type { UnitState } from "../unit/state";
import type { FirstStageWalker, FsControls, FsRequest, NestedLeg } from "../walk/first-stage";
import {
  LEGACY_SS_CODES,
  SCALABLE_SS_CODES,
  type SecondStageWalker,
  type SsCodes,
} from "../walk/second-stage";
import { WalkResult } from "../walk/walk-result";
import { INTERRUPT_REQUEST, Translation } from "./translation";

/** Everything the pipeline works with. */
export interface TranslatorParts {
  readonly state: UnitState;
  readonly regs: RegisterFile;
  readonly cap: VtdCap;
  readonly ecap: VtdEcap;
  readonly cc: ContextCache;
  readonly pc: PasidCache;
  readonly iotlb: TranslationCache;
  readonly psc: TranslationCache;
  readonly ctx: ContextResolver;
  readonly pasid: PasidResolver;
  readonly ss: SecondStageWalker;
  readonly fs: FirstStageWalker;
  readonly recorder: FaultRecorder;
  readonly tdx: TdxDmaPolicy;
  readonly negativeCaching: boolean;
  readonly qemuCodes: boolean;
}

export class Translator {
  /** The last translation's result (valid after a 0 return). */
  readonly out = new Translation();
  /** The last fault reported (valid after a positive return). */
  lastFault: VtdFault | undefined;
  private readonly walk = new WalkResult();
  private readonly leg: NestedLeg;
  private readonly fsReq: FsRequest = { write: false, supervisor: false, execute: false };
  private readonly fsCtl: FsControls = { wpe: false, nxe: false, smep: false };
  private readonly smSs: SsCodes;
  private readonly mgawLimit: number;
  private readonly p: TranslatorParts;
  /** Counters for observers and the cost model. */
  readonly stats = { requests: 0, iotlbHits: 0, walks: 0, walkReads: 0, faults: 0 };

  constructor(parts: TranslatorParts) {
    this.p = parts;
    this.smSs = parts.qemuCodes ? LEGACY_SS_CODES : SCALABLE_SS_CODES;
    this.mgawLimit = 2 ** parts.cap.mgaw;
    this.leg = { ssRoot: 0, ssLevels: 4, mgawLimit: this.mgawLimit, codes: this.smSs, ad: false };
  }

  private fault(
    code: number,
    sid: number,
    reqPasid: number,
    addr: number,
    write: boolean,
    exec: boolean,
    priv: boolean,
    at: number,
    fpd: boolean,
  ): number {
    this.stats.faults++;
    this.lastFault = this.p.recorder.report({
      completionOnly: at === AddressType.TranslationRequest && COMPLETION_CODES[code] === 1,
      code,
      sid,
      pasid: reqPasid,
      iova: addr,
      write,
      execute: exec,
      privileged: priv,
      addressType: at as AddressType,
      fpd,
    });
    return code;
  }

  /**
   * Translate one request. `pasid` -1 = request without PASID; `at` the address type. Returns 0
   * (result in `out`), INTERRUPT_REQUEST, or the fault reason (reported; details in lastFault).
   */
  translate(
    sid: number,
    pasid: number,
    addr: number,
    write: boolean,
    exec: boolean,
    priv: boolean,
    at: number,
  ): number {
    const p = this.p;
    const st = p.state;
    this.stats.requests++;
    if (pasid < 0 && addr >= INTERRUPT_WINDOW_FIRST && addr <= INTERRUPT_WINDOW_LAST)
      return INTERRUPT_REQUEST;
    if (p.tdx.rejectsInput(addr))
      return this.fault(FR.TdxInputNotShared, sid, pasid, addr, write, exec, priv, at, false);
    const out = this.out;
    let code: number;
    if (!st.translationEnabled) {
      this.identity(addr, -1, 0);
      code = this.pmrCheck(addr);
      if (code !== 0) return this.fault(code, sid, pasid, addr, write, exec, priv, at, false);
    } else if (st.rootMode === 0) {
      code = this.legacy(sid, pasid, addr, write, exec, priv, at);
      if (code !== 0) return code;
    } else {
      code = this.scalable(sid, pasid, addr, write, exec, priv, at);
      if (code !== 0) return code;
    }
    if (p.tdx.blocksOutput(out.outBase))
      return this.fault(FR.TdxPrivateKeyId, sid, pasid, addr, write, exec, priv, at, false);
    return 0;
  }

  private identity(addr: number, pasid: number, did: number): void {
    const out = this.out;
    out.iovaBase = addr - (addr % 4096);
    out.outBase = out.iovaBase;
    out.size = 4096;
    out.perm = Perm8.R | Perm8.W | Perm8.X | Perm8.D | Perm8.U;
    out.did = did;
    out.pasid = pasid;
    out.hit = false;
  }

  /** Protected memory regions block untranslated DMA while EPM is set (not logged). [unverified details] */
  private pmrCheck(addr: number): number {
    const r = this.p.regs;
    if ((r.raw32(Reg.PMEN) & 0x8000_0000) === 0) return 0;
    if (this.p.cap.plmr) {
      const base = r.raw32(Reg.PLMBASE) & 0xffe0_0000;
      const limit = (r.raw32(Reg.PLMLIMIT) & 0xffe0_0000) + 0x1f_ffff;
      if (addr >= base && addr <= limit) return FR.ProtectedMemoryRegion;
    }
    if (this.p.cap.phmr) {
      const base = r.raw32(Reg.PHMBASE + 4) * 4294967296 + ((r.raw32(Reg.PHMBASE) & 0xffe0_0000) >>> 0);
      const limit =
        r.raw32(Reg.PHMLIMIT + 4) * 4294967296 + ((r.raw32(Reg.PHMLIMIT) & 0xffe0_0000) >>> 0) + 0x1f_ffff;
      if (addr >= base && addr <= limit) return FR.ProtectedMemoryRegion;
    }
    return 0;
  }

  /** Fill `out` from an IOTLB slot if it serves the request; false to walk. */
  private fromIotlb(slot: number, need: number): boolean {
    const t = this.p.iotlb;
    const perm = t.perm[slot]!;
    if ((perm & need) !== need && (perm & Perm8.NEG) === 0) return false;
    const out = this.out;
    const size = LEVEL_SIZE[t.level[slot]!]!;
    out.iovaBase = t.vpn[slot]! * size;
    out.outBase = t.out[slot]!;
    out.size = size;
    out.perm = perm;
    out.hit = true;
    t.hits++;
    this.stats.iotlbHits++;
    return true;
  }

  private legacy(
    sid: number,
    pasid: number,
    addr: number,
    write: boolean,
    exec: boolean,
    priv: boolean,
    at: number,
  ): number {
    const p = this.p;
    const cc = p.cc;
    if (pasid >= 0)
      return this.fault(FR.SmTtmLegacyWithPasid, sid, pasid, addr, write, exec, priv, at, false);
    let state = cc.enabled ? cc.state[sid]! : CtxState.Empty;
    if (state === CtxState.Empty) {
      const code = p.ctx.legacy(p.state.rootTable, sid);
      if (code !== 0) {
        if (p.negativeCaching && cc.enabled) p.ctx.cacheFault(sid, code);
        return this.fault(code, sid, pasid, addr, write, exec, priv, at, p.ctx.lastFpd);
      }
      state = CtxState.Valid;
    } else if (state === CtxState.Negative) {
      return this.fault(cc.fault[sid]!, sid, pasid, addr, write, exec, priv, at, cc.fpd[sid] === 1);
    }
    const fpd = cc.fpd[sid] === 1;
    const tt = cc.tt[sid]!;
    if (at !== AddressType.Untranslated && tt !== 1) {
      return this.fault(FR.TranslationTypeBlocked, sid, pasid, addr, write, exec, priv, at, fpd);
    }
    const did = cc.did[sid]!;
    if (tt === 2 || at === AddressType.Translated) {
      // Pass-through, or a translated request (the device already holds the HPA).
      this.identity(addr, -1, did);
      return 0;
    }
    const out = this.out;
    const need = write ? Perm8.W | Perm8.D : Perm8.R;
    const iotlb = p.iotlb;
    const slot = iotlb.lookupLeaf(did, -1, addr);
    if (slot >= 0 && this.fromIotlb(slot, need)) {
      if ((out.perm & Perm8.NEG) !== 0) {
        const code =
          iotlb.fault[slot]! || (write ? LEGACY_SS_CODES.notPresentWrite : LEGACY_SS_CODES.notPresentRead);
        return this.fault(code, sid, pasid, addr, write, exec, priv, at, fpd);
      }
      out.did = did;
      out.pasid = -1;
      return 0;
    }
    iotlb.misses++;
    const levels = cc.levels[sid]!;
    if (addr >= Math.min(2 ** (12 + 9 * levels), this.mgawLimit)) {
      return this.fault(FR.AddressBeyondMgaw, sid, pasid, addr, write, exec, priv, at, fpd);
    }
    const w = this.walk;
    this.stats.walks++;
    let code = p.ss.walk(
      cc.ptr[sid]!,
      levels,
      addr,
      write,
      LEGACY_SS_CODES,
      p.psc,
      did,
      -1,
      EntryKind.Legacy,
      false,
      w,
    );
    this.stats.walkReads += w.reads;
    if (code === 0 && overlapsInterruptWindow(w.base, LEVEL_SIZE[w.level]!)) code = FR.InterruptAddress;
    if (code !== 0) {
      if (p.negativeCaching && w.negative !== 0 && code === w.fault) {
        iotlb.insert(did, -1, 1, addr, 0, Perm8.NEG, EntryKind.Legacy, w.negative === 1 ? 0 : code);
      }
      return this.fault(code, sid, pasid, addr, write, exec, priv, at, fpd);
    }
    this.fill(did, -1, addr, w, EntryKind.Legacy);
    return 0;
  }

  private fill(did: number, pasid: number, addr: number, w: WalkResult, kind: number): void {
    const out = this.out;
    const size = LEVEL_SIZE[w.level]!;
    out.iovaBase = addr - (addr % size);
    out.outBase = w.base;
    out.size = size;
    out.perm = w.perm;
    out.did = did;
    out.pasid = pasid;
    out.hit = false;
    this.p.iotlb.insert(did, pasid, w.level, addr, w.base, w.perm, kind);
  }

  private scalable(
    sid: number,
    pasid: number,
    addr: number,
    write: boolean,
    exec: boolean,
    priv: boolean,
    at: number,
  ): number {
    const p = this.p;
    const cc = p.cc;
    let state = cc.enabled ? cc.state[sid]! : CtxState.Empty;
    if (state === CtxState.Empty) {
      const code = p.ctx.scalable(p.state.rootTable, sid);
      if (code !== 0) {
        if (p.negativeCaching && cc.enabled) p.ctx.cacheFault(sid, code);
        return this.fault(code, sid, pasid, addr, write, exec, priv, at, p.ctx.lastFpd);
      }
      state = CtxState.Valid;
    } else if (state === CtxState.Negative) {
      return this.fault(cc.fault[sid]!, sid, pasid, addr, write, exec, priv, at, cc.fpd[sid] === 1);
    }
    const ctxFpd = cc.fpd[sid] === 1;
    const flags = cc.smFlags[sid]!;
    if (at !== AddressType.Untranslated && (flags & SmCtx.DTE) === 0) {
      return this.fault(FR.SmDteClear, sid, pasid, addr, write, exec, priv, at, ctxFpd);
    }
    let eff = pasid;
    let supervisor = priv;
    if (pasid >= 0) {
      if ((flags & SmCtx.PASIDE) === 0)
        return this.fault(FR.SmPasidEnableClear, sid, pasid, addr, write, exec, priv, at, ctxFpd);
    } else {
      eff = cc.ridPasid[sid]!;
      supervisor = (flags & SmCtx.RID_PRIV) !== 0;
    }
    // PASID entry.
    const pc = p.pc;
    let slot = pc.lookup(sid, eff);
    if (slot < 0) {
      const code = p.pasid.resolve(sid, eff, cc.ptr[sid]!, cc.pdts[sid]!);
      if (code !== 0) {
        if (p.negativeCaching && pc.enabled) p.pasid.cacheFault(sid, eff, code);
        return this.fault(code, sid, pasid, addr, write, exec, priv, at, ctxFpd || p.pasid.lastFpd);
      }
      slot = p.pasid.slot;
    } else if (pc.state[slot] === 2) {
      return this.fault(
        pc.fault[slot]!,
        sid,
        pasid,
        addr,
        write,
        exec,
        priv,
        at,
        ctxFpd || pc.fpd[slot] === 1,
      );
    }
    const fpd = ctxFpd || pc.fpd[slot] === 1;
    const pflags = pc.flags[slot]!;
    if (exec && (pflags & PeFlag.ERE) === 0)
      return this.fault(FR.SmEreClear, sid, pasid, addr, write, exec, priv, at, fpd);
    if (supervisor && (pflags & PeFlag.SRE) === 0)
      return this.fault(FR.SmSreClear, sid, pasid, addr, write, exec, priv, at, fpd);
    const pgtt = pc.pgtt[slot]!;
    const did = pc.did[slot]!;
    if (pgtt === Pgtt.PassThrough || at === AddressType.Translated) {
      // Requests-with-PASID to the interrupt window are translated, and pass-through output there faults.
      if (pgtt === Pgtt.PassThrough && overlapsInterruptWindow(addr - (addr % 4096), 4096)) {
        return this.fault(FR.SmInterruptAddress, sid, pasid, addr, write, exec, priv, at, fpd);
      }
      this.identity(addr, eff, did);
      return 0;
    }
    const kind =
      pgtt === Pgtt.SecondStage
        ? EntryKind.SecondStage
        : pgtt === Pgtt.FirstStage
          ? EntryKind.FirstStage
          : EntryKind.Nested;
    let need = write ? Perm8.W | Perm8.D : exec ? Perm8.X : Perm8.R;
    if (!supervisor && kind !== EntryKind.SecondStage) need |= Perm8.U;
    const iotlb = p.iotlb;
    const hit = iotlb.lookupLeaf(did, eff, addr);
    if (hit >= 0 && this.fromIotlb(hit, need)) {
      if ((this.out.perm & Perm8.NEG) !== 0) {
        const code = iotlb.fault[hit]! || (write ? this.smSs.notPresentWrite : this.smSs.notPresentRead);
        return this.fault(code, sid, pasid, addr, write, exec, priv, at, fpd);
      }
      this.out.did = did;
      this.out.pasid = eff;
      return 0;
    }
    iotlb.misses++;
    const w = this.walk;
    this.stats.walks++;
    let code: number;
    if (kind === EntryKind.SecondStage) {
      const levels = pc.ssLevels[slot]!;
      if (addr >= Math.min(2 ** (12 + 9 * levels), this.mgawLimit)) {
        code = p.qemuCodes ? FR.AddressBeyondMgaw : FR.SmAddressBeyondMax;
      } else {
        code = p.ss.walk(
          pc.ssPtr[slot]!,
          levels,
          addr,
          write,
          this.smSs,
          p.psc,
          did,
          eff,
          kind,
          (pflags & PeFlag.SLADE) !== 0,
          w,
        );
      }
    } else {
      const req = this.fsReq;
      req.write = write;
      req.supervisor = supervisor;
      req.execute = exec;
      const ctl = this.fsCtl;
      ctl.wpe = (pflags & PeFlag.WPE) !== 0;
      ctl.nxe = (pflags & PeFlag.NXE) !== 0;
      ctl.smep = (pflags & PeFlag.SMEP) !== 0;
      let leg: NestedLeg | null = null;
      if (kind === EntryKind.Nested) {
        leg = this.leg;
        leg.ssRoot = pc.ssPtr[slot]!;
        leg.ssLevels = pc.ssLevels[slot]!;
        leg.ad = (pflags & PeFlag.SLADE) !== 0;
      }
      code = p.fs.walk(pc.fsPtr[slot]!, pc.fsLevels[slot]!, addr, req, ctl, leg, p.psc, did, eff, kind, w);
      if (code === 0 && leg !== null) code = this.nestedOutput(addr, write, leg, w);
    }
    this.stats.walkReads += w.reads;
    if (code === 0 && overlapsInterruptWindow(w.base, LEVEL_SIZE[w.level]!)) code = FR.SmInterruptAddress;
    if (code !== 0) {
      if (p.negativeCaching && kind === EntryKind.SecondStage && w.negative !== 0 && code === w.fault) {
        iotlb.insert(did, eff, 1, addr, 0, Perm8.NEG, kind, w.negative === 1 ? 0 : code);
      }
      return this.fault(code, sid, pasid, addr, write, exec, priv, at, fpd);
    }
    this.fill(did, eff, addr, w, kind);
    return 0;
  }

  private readonly ssLeg = new WalkResult();

  /** Nested: translate the first stage's output GPA through the second stage; combine into `w`. */
  private nestedOutput(addr: number, write: boolean, leg: NestedLeg, w: WalkResult): number {
    const fsSize = LEVEL_SIZE[w.level]!;
    const gpa = w.base + (addr % fsSize);
    const s = this.ssLeg;
    const code = this.p.ss.walk(leg.ssRoot, leg.ssLevels, gpa, write, leg.codes, null, 0, 0, 0, leg.ad, s);
    w.reads += s.reads;
    if (code !== 0) return code;
    const level = Math.min(w.level, s.level);
    const size = LEVEL_SIZE[level]!;
    const hpa = s.base + (gpa % LEVEL_SIZE[s.level]!);
    w.base = hpa - (hpa % size);
    w.level = level;
    const ssPerm = s.perm | ~(Perm8.R | Perm8.W | Perm8.D);
    w.perm &= ssPerm;
    return 0;
  }
}

/**
 * Conditions a translation request (ATS) reports in its completion (R=W=0) rather than as a
 * logged fault: not-present and permission conditions. [unverified: VT-d spec ATS chapter]
 */
const COMPLETION_CODES = new Uint8Array(256);
for (const c of [0x05, 0x06, 0x71, 0x79, 0x81, 0x82, 0x85, 0x86]) COMPLETION_CODES[c] = 1;

/** Whether [base, base+size) overlaps 0xFEE0_0000-0xFEEF_FFFF. @spec reference/vtd.md §2.5 step 9 */
export function overlapsInterruptWindow(base: number, size: number): boolean {
  return base <= INTERRUPT_WINDOW_LAST && base + size - 1 >= INTERRUPT_WINDOW_FIRST;
}
