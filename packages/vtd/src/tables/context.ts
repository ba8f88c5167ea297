/**
 * Root and context entries: the lookup from a request's source-id (bus, devfn) to its context,
 * in legacy mode (128-bit root and context entries, 256 devfns per table) and scalable mode
 * (root entry halves for devfn 0x00-0x7F / 0x80-0xFF, 256-bit context entries, 128 per table).
 * The decoded entry is written into the context-cache slot of the source-id; a failure returns
 * its fault reason and the FPD bit that qualifies it.
 *
 * @spec reference/vtd.md §2.1 (legacy root entry: P 0, 11:1 reserved, CTP 63:12, high qword
 *   reserved; 0x8 / 0x1 / 0xA), §2.2 (legacy context entry: P, FPD, TT 3:2, 11:4 reserved, SLPTPTR,
 *   AW 66:64, 71 reserved, DID 87:72, 127:88 reserved; check order 0x9, 0x2, 0xB, 0x3),
 *   §3.1-§3.2 (scalable root/context entries; reserved val0 bits 8:5, val1 bits 63:21, val2/val3;
 *   0x38-0x43, 0x48), QEMU vtd_dev_to_context_entry, vtd_context_entry_rsvd_bits_check
 */
import { type ContextCache, CtxState, SmCtx } from "../caches/context-cache";
import type { VtdCap, VtdEcap } from "../spec/capabilities";
import { FaultReason as FR } from "../spec/fault-reasons";
import type { EntryReader } from "./entry-reader";

/** Fault reasons for root/context lookups in scalable mode (spec) or as QEMU reports them (legacy codes). */
export interface SmContextCodes {
  readonly rootAccess: number;
  readonly rootNotPresent: number;
  readonly rootReserved: number;
  readonly ctxAccess: number;
  readonly ctxNotPresent: number;
  readonly ctxReserved: number;
  readonly ctxInvalid: number;
}
export const SM_CONTEXT_CODES: SmContextCodes = {
  rootAccess: FR.SmRootEntryAccess,
  rootNotPresent: FR.SmRootEntryNotPresent,
  rootReserved: FR.SmRootEntryReserved,
  ctxAccess: FR.SmContextEntryAccess,
  ctxNotPresent: FR.SmContextEntryNotPresent,
  ctxReserved: FR.SmContextEntryReserved,
  ctxInvalid: FR.SmContextEntryInvalid,
};
export const QEMU_SM_CONTEXT_CODES: SmContextCodes = {
  rootAccess: FR.RootTableAccess,
  rootNotPresent: FR.RootEntryNotPresent,
  rootReserved: FR.RootEntryReserved,
  ctxAccess: FR.ContextTableAccess,
  ctxNotPresent: FR.ContextEntryNotPresent,
  ctxReserved: FR.ContextEntryReserved,
  ctxInvalid: FR.ContextEntryInvalid,
};

export class ContextResolver {
  /** FPD of the entry that produced the last fault (meaningful even when P=0). */
  lastFpd = false;
  private readonly didRsvdLegacy: number;

  constructor(
    private readonly reader: EntryReader,
    private readonly cc: ContextCache,
    private readonly cap: VtdCap,
    private readonly ecap: VtdEcap,
    private readonly smCodes: SmContextCodes,
  ) {
    // DID bits above CAP.ND are treated as reserved (context hi dword bits 23:8 hold DID 15:0).
    this.didRsvdLegacy = cap.didBits >= 16 ? 0 : (((0xffff << cap.didBits) & 0xffff) << 8) >>> 0;
  }

  /** Resolve `sid` through the legacy root table at `root`; fills the cache slot. Returns 0 or a fault. */
  legacy(root: number, sid: number): number {
    const r = this.reader;
    const cc = this.cc;
    this.lastFpd = false;
    const bus = sid >>> 8;
    const devfn = sid & 0xff;
    if (!r.read(root + bus * 16)) return FR.RootTableAccess;
    const rlo = r.lo;
    const rhi = r.hi;
    if ((rlo & 1) === 0) return FR.RootEntryNotPresent;
    if (!r.read(root + bus * 16 + 8)) return FR.RootTableAccess;
    if ((rlo & 0xffe) !== 0 || r.pointerAboveHaw(rhi) || r.lo !== 0 || r.hi !== 0)
      return FR.RootEntryReserved;
    const ctp = r.addr(rlo, rhi);
    const ce = ctp + devfn * 16;
    if (!r.read(ce)) return FR.ContextTableAccess;
    const lo = r.lo;
    const hi = r.hi;
    this.lastFpd = (lo & 2) !== 0;
    if ((lo & 1) === 0) return FR.ContextEntryNotPresent;
    if (!r.read(ce + 8)) return FR.ContextTableAccess;
    const h0 = r.lo;
    const h1 = r.hi;
    if (
      (lo & 0xff0) !== 0 ||
      r.pointerAboveHaw(hi) ||
      (h0 & (0xff00_0080 | this.didRsvdLegacy)) !== 0 ||
      h1 !== 0
    ) {
      return FR.ContextEntryReserved;
    }
    const aw = h0 & 7;
    const levels = aw + 2;
    if ((this.cap.sagaw & (1 << aw)) === 0) return FR.ContextEntryInvalid;
    const tt = (lo >>> 2) & 3;
    if (tt === 3 || (tt === 1 && !this.ecap.dt) || (tt === 2 && !this.ecap.pt)) return FR.ContextEntryInvalid;
    cc.state[sid] = CtxState.Valid;
    cc.fpd[sid] = this.lastFpd ? 1 : 0;
    cc.did[sid] = (h0 >>> 8) & 0xffff;
    cc.tt[sid] = tt;
    cc.levels[sid] = levels;
    cc.ptr[sid] = r.addr(lo, hi);
    cc.fills++;
    return 0;
  }

  /** Resolve `sid` through the scalable-mode root table at `root`. Returns 0 or a fault. */
  scalable(root: number, sid: number): number {
    const r = this.reader;
    const cc = this.cc;
    const c = this.smCodes;
    this.lastFpd = false;
    const bus = sid >>> 8;
    const devfn = sid & 0xff;
    const upper = devfn >= 0x80;
    if (!r.read(root + bus * 16 + (upper ? 8 : 0))) return c.rootAccess;
    const rlo = r.lo;
    const rhi = r.hi;
    if ((rlo & 1) === 0) return c.rootNotPresent;
    if ((rlo & 0xffe) !== 0 || r.pointerAboveHaw(rhi)) return c.rootReserved;
    const ce = r.addr(rlo, rhi) + (devfn & 0x7f) * 32;
    if (!r.read(ce)) return c.ctxAccess;
    const lo = r.lo;
    const hi = r.hi;
    this.lastFpd = (lo & 2) !== 0;
    if ((lo & 1) === 0) return c.ctxNotPresent;
    if (!r.read(ce + 8)) return c.ctxAccess;
    const q1lo = r.lo;
    const q1hi = r.hi;
    if (!r.read(ce + 16)) return c.ctxAccess;
    const q2 = r.lo | r.hi;
    if (!r.read(ce + 24)) return c.ctxAccess;
    const q3 = r.lo | r.hi;
    if (
      (lo & 0x1e0) !== 0 ||
      r.pointerAboveHaw(hi) ||
      (q1lo & 0xffe0_0000) !== 0 ||
      q1hi !== 0 ||
      q2 !== 0 ||
      q3 !== 0
    ) {
      return c.ctxReserved;
    }
    const dte = (lo & 4) !== 0;
    const pasidE = (lo & 8) !== 0;
    const pre = (lo & 16) !== 0;
    if ((dte && !this.ecap.dt) || (pasidE && !this.ecap.pasid) || (pre && !this.ecap.prs))
      return c.ctxInvalid;
    const ridPasid = q1lo & 0xfffff;
    if (ridPasid !== 0 && (!this.ecap.rps || ridPasid >= 2 ** (this.ecap.pss + 1))) return FR.SmRidPasidError;
    cc.state[sid] = CtxState.Valid;
    cc.fpd[sid] = this.lastFpd ? 1 : 0;
    cc.did[sid] = 0;
    cc.ptr[sid] = r.addr(lo, hi);
    cc.pdts[sid] = (lo >>> 9) & 7;
    cc.ridPasid[sid] = ridPasid;
    cc.smFlags[sid] =
      (dte ? SmCtx.DTE : 0) |
      (pasidE ? SmCtx.PASIDE : 0) |
      (pre ? SmCtx.PRE : 0) |
      ((q1lo >>> 20) & 1 ? SmCtx.RID_PRIV : 0);
    cc.fills++;
    return 0;
  }

  /**
   * The context of `sid` for one translation: served from the context cache (a negatively cached
   * fault included), or read from the root/context tables at `root` in legacy or scalable format
   * and cached; a failed read is cached as a fault when `negativeCaching`. Returns 0, or the fault
   * reason with `lastFpd` qualifying it.
   */
  contextFor(root: number, sid: number, scalable: boolean, negativeCaching: boolean): number {
    const cc = this.cc;
    const state = cc.enabled ? cc.state[sid]! : CtxState.Empty;
    if (state === CtxState.Empty) {
      const code = scalable ? this.scalable(root, sid) : this.legacy(root, sid);
      if (code !== 0 && negativeCaching && cc.enabled) this.cacheFault(sid, code);
      return code;
    }
    if (state === CtxState.Negative) {
      this.lastFpd = cc.fpd[sid] === 1;
      return cc.fault[sid]!;
    }
    return 0;
  }

  /** Cache a failed lookup (negative caching, caching mode): tagged with domain-id 0. */
  cacheFault(sid: number, code: number): void {
    this.cc.state[sid] = CtxState.Negative;
    this.cc.fault[sid] = code;
    this.cc.fpd[sid] = this.lastFpd ? 1 : 0;
    this.cc.did[sid] = 0;
  }
}
