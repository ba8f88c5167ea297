/**
 * What each command does on the physical unit, and when it is ILLEGAL: configuration-cache
 * invalidation (CFGI_*), TLB invalidation (TLBI_* with range decoding), ATC and PRI hand-offs to
 * the endpoint, stall resolution (RESUME, STALL_TERM) and CMD_SYNC with its completion signal.
 *
 * ILL: an unknown opcode (0x07 CFGI_VMS_PIDM included), SSec = 1 from the non-secure queue,
 * EL3 TLBIs, NH_* without stage 1, S2_IPA / S12_VMALL without stage 2, EL2 TLBIs without HYP,
 * ATC_INV without ATS, PRI_RESP without PRI or with the reserved Resp 3, RESUME / STALL_TERM on a
 * unit that cannot stall, SYNC with the reserved CS 3.
 *
 * @spec reference/smmu.md §5.1-5.5; sources: torvalds/linux arm-smmu-v3.h (CMDQ_* fields),
 *   qemu/qemu hw/arm/smmuv3.c (smmuv3_cmdq_consume, smmuv3_range_inval)
 */
import { CError, Opcode } from "./commands";
import type { ConfigCache } from "./config-cache";
import { POW2, tlbiTgToLog2 } from "./granule";
import { type SmmuFeatures, StallModel } from "./idr";
import type { Tlb } from "./tlb";

/** What the executor needs from the unit. */
export interface CommandTarget {
  readonly features: SmmuFeatures;
  readonly cache: ConfigCache;
  readonly tlb: Tlb;
  resume(sid: number, stag: number, action: number): void;
  stallTerm(sid: number): void;
  sync(cs: number, msiAddr: number, msiData: number): void;
  atcInvalidate(sid: number, ssid: number, addr: number, sizeLog2Pages: number, global: boolean): void;
  priResponse(sid: number, ssid: number, grpid: number, resp: number): void;
}

function addr52(lo: number, hi: number, lowBit: number): number {
  const mask = ~((1 << lowBit) - 1) >>> 0;
  return (hi & 0xfffff) * 4294967296 + ((lo & mask) >>> 0);
}

/** [start, end) of a TLBI by address: one address, or (NUM+1)·2^SCALE granules when TG != 0 and RIL. */
function tlbiRange(w0: number, w2: number, w3: number, ril: boolean, out: Float64Array): void {
  const addr = addr52(w2, w3, 12);
  const tg = (w2 >>> 10) & 3;
  if (tg !== 0 && ril) {
    const g = tlbiTgToLog2(tg);
    const num = (w0 >>> 12) & 0x1f;
    const scale = (w0 >>> 20) & 0x1f;
    out[0] = addr;
    out[1] = addr + (num + 1) * POW2[scale]! * POW2[g]!;
  } else {
    out[0] = addr;
    out[1] = addr + 1;
  }
}

/** Build the executor for a unit. */
export function makeCommandExecutor(t: CommandTarget): (w: Uint32Array) => number {
  const range = new Float64Array(2);
  const f = t.features;
  const vmidOf = (w1: number): number => (f.s2p ? (f.vmid16 ? w1 & 0xffff : w1 & 0xff) : 0);
  const asidOf = (w1: number): number => (f.asid16 ? w1 >>> 16 : (w1 >>> 16) & 0xff);
  const canStall = f.stallModel !== StallModel.TERMINATE_ONLY;
  return (w: Uint32Array): number => {
    const w0 = w[0]!;
    const w1 = w[1]!;
    const w2 = w[2]!;
    const w3 = w[3]!;
    const op = w0 & 0xff;
    if (((w0 >>> 10) & 1) === 1) return CError.ILL; // SSec from the non-secure queue
    const ssid = ((w0 >>> 11) & 1) === 1 ? (w0 >>> 12) & 0xfffff : -1;
    switch (op) {
      case Opcode.PREFETCH_CONFIG:
      case Opcode.PREFETCH_ADDR:
        return CError.NONE; // a hint; the model does not prefetch
      case Opcode.CFGI_STE:
        t.cache.invalidateSte(w1);
        return CError.NONE;
      case Opcode.CFGI_STE_RANGE: {
        const r = w2 & 0x1f;
        if (r === 31) t.cache.invalidateAll();
        else {
          const n = POW2[r + 1]!;
          t.cache.invalidateSteRange(w1 - (w1 % n), n);
        }
        return CError.NONE;
      }
      case Opcode.CFGI_CD:
        t.cache.invalidateCd(w1, (w0 >>> 12) & 0xfffff);
        return CError.NONE;
      case Opcode.CFGI_CD_ALL:
        t.cache.invalidateCdAll(w1);
        return CError.NONE;
      case Opcode.TLBI_NH_ALL:
        if (!f.s1p) return CError.ILL;
        t.tlb.invalidateNhAll(vmidOf(w1));
        return CError.NONE;
      case Opcode.TLBI_NH_ASID:
        if (!f.s1p) return CError.ILL;
        t.tlb.invalidateNhAsid(vmidOf(w1), asidOf(w1));
        return CError.NONE;
      case Opcode.TLBI_NH_VA:
      case Opcode.TLBI_NH_VAA:
        if (!f.s1p) return CError.ILL;
        tlbiRange(w0, w2, w3, f.ril, range);
        t.tlb.invalidateNhRange(vmidOf(w1), op === Opcode.TLBI_NH_VA ? asidOf(w1) : -1, range[0]!, range[1]!);
        return CError.NONE;
      case Opcode.TLBI_EL2_ALL:
      case Opcode.TLBI_EL2_ASID:
      case Opcode.TLBI_EL2_VA:
      case Opcode.TLBI_EL2_VAA:
        // EL2 (STRW = EL2) streams are not modelled, so there are no EL2 entries to remove.
        return f.hyp ? CError.NONE : CError.ILL;
      case Opcode.TLBI_S12_VMALL:
        if (!f.s2p) return CError.ILL;
        t.tlb.invalidateVmid(vmidOf(w1));
        return CError.NONE;
      case Opcode.TLBI_S2_IPA:
        if (!f.s2p) return CError.ILL;
        tlbiRange(w0, w2, w3, f.ril, range);
        t.tlb.invalidateS2Range(vmidOf(w1), range[0]!, range[1]!);
        return CError.NONE;
      case Opcode.TLBI_NSNH_ALL:
        t.tlb.invalidateAll();
        return CError.NONE;
      case Opcode.ATC_INV:
        if (!f.ats) return CError.ILL;
        t.atcInvalidate(w1, ssid, addr52(w2, w3, 12), w2 & 0x3f, ((w0 >>> 9) & 1) === 1);
        return CError.NONE;
      case Opcode.PRI_RESP: {
        if (!f.pri) return CError.ILL;
        const resp = (w2 >>> 12) & 3;
        if (resp === 3) return CError.ILL;
        t.priResponse(w1, ssid, w2 & 0x1ff, resp);
        return CError.NONE;
      }
      case Opcode.RESUME:
        if (!canStall) return CError.ILL;
        t.resume(w1, w2 & 0xffff, (w0 >>> 12) & 3);
        return CError.NONE;
      case Opcode.STALL_TERM:
        if (!canStall) return CError.ILL;
        t.stallTerm(w1);
        return CError.NONE;
      case Opcode.SYNC: {
        const cs = (w0 >>> 12) & 3;
        if (cs === 3) return CError.ILL;
        t.sync(cs, addr52(w2, w3, 2), w1);
        return CError.NONE;
      }
      default:
        return CError.ILL;
    }
  };
}
