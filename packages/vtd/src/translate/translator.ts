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
import { EntryKind, LEVEL_SIZE, Perm8 } from "../caches/translation-cache";
import { AddressType, type VtdFault } from "../faults/fault-recorder";
import { FaultReason as FR } from "../spec/fault-reasons";
import { INTERRUPT_WINDOW_FIRST, INTERRUPT_WINDOW_LAST, Reg } from "../spec/registers";
import { LEGACY_SS_CODES, SCALABLE_SS_CODES, type SsCodes } from "../walk/second-stage";
import { WalkResult } from "../walk/walk-result";
import type { PathHost, TranslatorParts } from "./path-host";
import { ScalablePath } from "./scalable-path";
import { INTERRUPT_REQUEST, overlapsInterruptWindow, Translation } from "./translation";

export class Translator implements PathHost {
  /** The last translation's result (valid after a 0 return). */
  readonly out = new Translation();
  /** The last fault reported (valid after a positive return). */
  lastFault: VtdFault | undefined;
  /** @internal the preallocated walk result */
  readonly walk = new WalkResult();
  private readonly scalablePath: ScalablePath;
  /** @internal scalable-mode second-stage codes */
  readonly smSs: SsCodes;
  /** @internal */
  readonly mgawLimit: number;
  /** @internal */
  readonly p: TranslatorParts;
  /** Counters for observers and the cost model. */
  readonly stats = { requests: 0, iotlbHits: 0, walks: 0, walkReads: 0, faults: 0 };

  constructor(parts: TranslatorParts) {
    this.p = parts;
    this.smSs = parts.qemuCodes ? LEGACY_SS_CODES : SCALABLE_SS_CODES;
    this.mgawLimit = 2 ** parts.cap.mgaw;
    this.scalablePath = new ScalablePath(this);
  }

  /** @internal Report a fault and return its reason. */
  fault(
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
      code = this.scalablePath.translate(sid, pasid, addr, write, exec, priv, at);
      if (code !== 0) return code;
    }
    if (p.tdx.blocksOutput(out.outBase))
      return this.fault(FR.TdxPrivateKeyId, sid, pasid, addr, write, exec, priv, at, false);
    return 0;
  }

  /** @internal */
  identity(addr: number, pasid: number, did: number): void {
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

  /** @internal Fill `out` from an IOTLB slot if it serves the request; false to walk. */
  fromIotlb(slot: number, need: number): boolean {
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
    const ctxCode = p.ctx.contextFor(p.state.rootTable, sid, false, p.negativeCaching);
    if (ctxCode !== 0) return this.fault(ctxCode, sid, pasid, addr, write, exec, priv, at, p.ctx.lastFpd);
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

  /** @internal */
  fill(did: number, pasid: number, addr: number, w: WalkResult, kind: number): void {
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
}

/**
 * Conditions a translation request (ATS) reports in its completion (R=W=0) rather than as a
 * logged fault: not-present and permission conditions. [unverified: VT-d spec ATS chapter]
 */
const COMPLETION_CODES = new Uint8Array(256);
for (const c of [0x05, 0x06, 0x71, 0x79, 0x81, 0x82, 0x85, 0x86]) COMPLETION_CODES[c] = 1;
