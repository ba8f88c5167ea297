/**
 * The scalable-mode part of the translation pipeline: context flags (DTE, PASIDE, RID_PASID,
 * RID_PRIV), the PASID cache or the PASID directory and table, the execute/supervisor controls,
 * pass-through, and the first-stage, second-stage and nested walks with their IOTLB tagging by
 * (domain-id, PASID).
 *
 * @spec reference/vtd.md §3.2-§3.6 (scalable context, PASID entries, requests with and without
 *   PASID, first-stage and nested translation), §5.1 (IOTLB tagged by DID and PASID)
 */
import { SmCtx } from "../caches/context-cache";
import { PeFlag, Pgtt } from "../caches/pasid-cache";
import { EntryKind, LEVEL_SIZE, Perm8 } from "../caches/translation-cache";
import { AddressType } from "../faults/fault-recorder";
import { FaultReason as FR } from "../spec/fault-reasons";
import type { FsControls, FsRequest, NestedLeg } from "../walk/first-stage";
import { WalkResult } from "../walk/walk-result";
import type { PathHost } from "./path-host";
import { overlapsInterruptWindow } from "./translation";

export class ScalablePath {
  private readonly leg: NestedLeg;
  private readonly fsReq: FsRequest = { write: false, supervisor: false, execute: false };
  private readonly fsCtl: FsControls = { wpe: false, nxe: false, smep: false };

  constructor(private readonly h: PathHost) {
    this.leg = { ssRoot: 0, ssLevels: 4, mgawLimit: h.mgawLimit, codes: h.smSs, ad: false };
  }

  translate(
    sid: number,
    pasid: number,
    addr: number,
    write: boolean,
    exec: boolean,
    priv: boolean,
    at: number,
  ): number {
    const h = this.h;
    const p = h.p;
    const cc = p.cc;
    const ctxCode = p.ctx.contextFor(p.state.rootTable, sid, true, p.negativeCaching);
    if (ctxCode !== 0) return h.fault(ctxCode, sid, pasid, addr, write, exec, priv, at, p.ctx.lastFpd);
    const ctxFpd = cc.fpd[sid] === 1;
    const flags = cc.smFlags[sid]!;
    if (at !== AddressType.Untranslated && (flags & SmCtx.DTE) === 0) {
      return h.fault(FR.SmDteClear, sid, pasid, addr, write, exec, priv, at, ctxFpd);
    }
    let eff = pasid;
    let supervisor = priv;
    if (pasid >= 0) {
      if ((flags & SmCtx.PASIDE) === 0)
        return h.fault(FR.SmPasidEnableClear, sid, pasid, addr, write, exec, priv, at, ctxFpd);
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
        return h.fault(code, sid, pasid, addr, write, exec, priv, at, ctxFpd || p.pasid.lastFpd);
      }
      slot = p.pasid.slot;
    } else if (pc.state[slot] === 2) {
      return h.fault(pc.fault[slot]!, sid, pasid, addr, write, exec, priv, at, ctxFpd || pc.fpd[slot] === 1);
    }
    const fpd = ctxFpd || pc.fpd[slot] === 1;
    const pflags = pc.flags[slot]!;
    if (exec && (pflags & PeFlag.ERE) === 0)
      return h.fault(FR.SmEreClear, sid, pasid, addr, write, exec, priv, at, fpd);
    if (supervisor && (pflags & PeFlag.SRE) === 0)
      return h.fault(FR.SmSreClear, sid, pasid, addr, write, exec, priv, at, fpd);
    const pgtt = pc.pgtt[slot]!;
    const did = pc.did[slot]!;
    if (pgtt === Pgtt.PassThrough || at === AddressType.Translated) {
      // Requests-with-PASID to the interrupt window are translated, and pass-through output there faults.
      if (pgtt === Pgtt.PassThrough && overlapsInterruptWindow(addr - (addr % 4096), 4096)) {
        return h.fault(FR.SmInterruptAddress, sid, pasid, addr, write, exec, priv, at, fpd);
      }
      h.identity(addr, eff, did);
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
    if (hit >= 0 && h.fromIotlb(hit, need)) {
      if ((h.out.perm & Perm8.NEG) !== 0) {
        const code = iotlb.fault[hit]! || (write ? h.smSs.notPresentWrite : h.smSs.notPresentRead);
        return h.fault(code, sid, pasid, addr, write, exec, priv, at, fpd);
      }
      h.out.did = did;
      h.out.pasid = eff;
      return 0;
    }
    iotlb.misses++;
    const w = h.walk;
    h.stats.walks++;
    let code: number;
    if (kind === EntryKind.SecondStage) {
      const levels = pc.ssLevels[slot]!;
      if (addr >= Math.min(2 ** (12 + 9 * levels), h.mgawLimit)) {
        code = p.qemuCodes ? FR.AddressBeyondMgaw : FR.SmAddressBeyondMax;
      } else {
        code = p.ss.walk(
          pc.ssPtr[slot]!,
          levels,
          addr,
          write,
          h.smSs,
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
    h.stats.walkReads += w.reads;
    if (code === 0 && overlapsInterruptWindow(w.base, LEVEL_SIZE[w.level]!)) code = FR.SmInterruptAddress;
    if (code !== 0) {
      if (p.negativeCaching && kind === EntryKind.SecondStage && w.negative !== 0 && code === w.fault) {
        iotlb.insert(did, eff, 1, addr, 0, Perm8.NEG, kind, w.negative === 1 ? 0 : code);
      }
      return h.fault(code, sid, pasid, addr, write, exec, priv, at, fpd);
    }
    h.fill(did, eff, addr, w, kind);
    return 0;
  }

  private readonly ssLeg = new WalkResult();

  /** Nested: translate the first stage's output GPA through the second stage; combine into `w`. */
  private nestedOutput(addr: number, write: boolean, leg: NestedLeg, w: WalkResult): number {
    const fsSize = LEVEL_SIZE[w.level]!;
    const gpa = w.base + (addr % fsSize);
    const s = this.ssLeg;
    const code = this.h.p.ss.walk(leg.ssRoot, leg.ssLevels, gpa, write, leg.codes, null, 0, 0, 0, leg.ad, s);
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
