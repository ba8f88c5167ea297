/**
 * Stage-2 translation (IPA -> PA) over VMSAv8-64 tables in memory: start level and concatenated
 * first-level tables from the STE, block/page descriptors, the access flag (S2AFFD, S2HA), S2AP
 * and XN permissions, the output-size check and the S2PTW rule for stage-1 table fetches.
 * Used alone (stage-2-only streams) and for every IPA of a nested walk (the CD fetch, each
 * stage-1 table fetch, the final IPA), optionally through the TLB's stage-2 entries.
 *
 * @spec reference/smmu.md §4.2-4.5 (descriptor formats, AF-then-permission order, S2 start level
 *   and concatenation, size checks, fault attribution S2 = 1 with CLASS CD/TT/IN); sources:
 *   qemu/qemu hw/arm/smmu-common.c (smmu_ptw_64_s2, translate_table_addr_ipa)
 */
import { Initiator, type PhysicalMemoryAccess } from "@tdx/hw-cpu-seam";
import { Acc, NEED_PERM } from "./access";
import { bswap32, DescHi, DescLo, outputAddress } from "./descriptor";
import { EventId, type FaultInfo } from "./events";
import { blockAllowed, levelShift, POW2 } from "./granule";
import type { SmmuFeatures } from "./idr";
import type { SteConfig } from "./ste";
import { PermBit, type Tlb, TlbKind } from "./tlb";

/** Walker behaviour choices where sources differ. */
export interface WalkOptions {
  /** Cache stage-2 translations made during nested walks (QEMU does). Default true. */
  readonly cacheStage2: boolean;
  /**
   * Check the leaf's output address size before the access flag and permissions (the Arm ARM's
   * fault priority) instead of after them (the reference's order, §4.3). Default false.
   */
  readonly addrSizeFirst: boolean;
}

/** Stage-2 permission bits of a leaf descriptor (S2AP, XN / XN[1:0] with FEAT_XNX, memory type). */
export function s2Perm(lo: number, hi: number, xnx: boolean, fwb: boolean): number {
  const r = (lo & DescLo.S2AP_R) !== 0;
  const w = (lo & DescLo.S2AP_W) !== 0;
  let px = r;
  let ux = r;
  const xn = (hi >>> DescHi.S2XN_SHIFT) & 3;
  if (xnx) {
    // 00 both execute, 01 EL1 XN, 10 neither, 11 EL0 XN
    if (xn === 1 || xn === 2) px = false;
    if (xn === 2 || xn === 3) ux = false;
  } else if ((xn & 2) !== 0) {
    px = false;
    ux = false;
  }
  let p = 0;
  if (r) p |= PermBit.PRIV_R | PermBit.UNPRIV_R;
  if (w) p |= PermBit.PRIV_W | PermBit.UNPRIV_W;
  if (px) p |= PermBit.PRIV_X;
  if (ux) p |= PermBit.UNPRIV_X;
  const device = fwb ? ((lo >>> 4) & 1) === 0 : ((lo >>> 4) & 3) === 0;
  if (device) p |= PermBit.DEVICE;
  return p;
}

export class Stage2Walker {
  /** Descriptor reads made (cumulative; callers take differences). */
  refs = 0;
  /** Result of the last successful translate: PA of the IPA, region base (IPA) and size, perms. */
  out = 0;
  base = 0;
  sizeLog2 = 0;
  perm = 0;
  private readonly d = new Uint32Array(2);

  constructor(
    private readonly mem: PhysicalMemoryAccess,
    private readonly f: SmmuFeatures,
    private readonly fault: FaultInfo,
    private readonly tlb: Tlb,
    private readonly opts: WalkOptions,
  ) {}

  /**
   * Translate `ipa` for `acc` through the STE's stage 2; `cls` attributes a fault (CD, TT, IN).
   * `useTlb` consults and fills the TLB's stage-2 entries. Returns 0 or the fault's event id
   * (details in the shared FaultInfo: S2 = 1, CLASS, IPA).
   */
  translate(ste: SteConfig, vmid: number, ipa: number, acc: number, cls: number, useTlb: boolean): number {
    const need = NEED_PERM[acc]!;
    const page = Math.floor(ipa / 4096);
    if (useTlb) {
      const i = this.tlb.lookup(TlbKind.S2, vmid, -1, page);
      if (i >= 0) {
        const p = this.tlb.perm[i]!;
        const ptwBlocked = cls === 1 && ste.s2Ptw && (p & PermBit.DEVICE) !== 0;
        if ((p & need) === need && !ptwBlocked) {
          const b = this.tlb.base[i]!;
          this.out = this.tlb.out[i]! + (ipa - b);
          this.base = b;
          this.sizeLog2 = this.tlb.sizeLog2[i]!;
          this.perm = p;
          return 0;
        }
      }
    }
    const r = this.walk(ste, ipa, acc, cls);
    if (r === 0 && useTlb) {
      this.tlb.insert(
        TlbKind.S2,
        vmid,
        -1,
        false,
        ipa,
        this.base,
        this.sizeLog2,
        this.out - (ipa - this.base),
        this.perm,
        0,
        0,
      );
    }
    return r;
  }

  private fail(id: number, cls: number, ipa: number, reason: string): number {
    const fi = this.fault;
    fi.id = id;
    fi.s2 = true;
    fi.cls = cls;
    fi.addr2 = ipa;
    fi.reason = reason;
    return id;
  }

  private walk(ste: SteConfig, ipa: number, acc: number, cls: number): number {
    const g = ste.s2G;
    const ias = ste.s2Ias;
    const psBits = ste.s2PsBits;
    if (ipa >= POW2[ias]!)
      return this.fail(EventId.F_TRANSLATION, cls, ipa, "IPA beyond the stage-2 input size");
    const start = ste.s2StartLevel;
    let table = ste.s2Ttb;
    const d = this.d;
    for (let level = start; level <= 3; level++) {
      const shift = levelShift(g, level);
      const bits = level === start ? ias - shift : g - 3;
      const index = Math.floor(ipa / POW2[shift]!) % POW2[bits]!;
      const descPa = table + index * 8;
      if (this.mem.read64(descPa, Initiator.Device, d) !== 0) {
        const fi = this.fault;
        fi.id = EventId.F_WALK_EABT;
        fi.s2 = true;
        fi.cls = cls;
        fi.addr2 = descPa;
        fi.reason = "external abort reading a stage-2 descriptor";
        return EventId.F_WALK_EABT;
      }
      this.refs++;
      let lo = d[0]!;
      let hi = d[1]!;
      if (ste.s2Endi) {
        const t = lo;
        lo = bswap32(hi);
        hi = bswap32(t);
      }
      if ((lo & DescLo.VALID) === 0)
        return this.fail(EventId.F_TRANSLATION, cls, ipa, "invalid stage-2 descriptor");
      const isTable = (lo & DescLo.TABLE_OR_PAGE) !== 0;
      if (level < 3 && isTable) {
        table = outputAddress(lo, hi, g, psBits);
        if (table >= POW2[psBits]!)
          return this.fail(EventId.F_ADDR_SIZE, cls, ipa, "stage-2 next-table address beyond S2PS");
        continue;
      }
      if (level === 3 ? !isTable : !blockAllowed(g, level, psBits))
        return this.fail(EventId.F_TRANSLATION, cls, ipa, "reserved stage-2 descriptor at this level");
      const oa = outputAddress(lo, hi, g, psBits);
      if (this.opts.addrSizeFirst && oa >= POW2[psBits]!)
        return this.fail(EventId.F_ADDR_SIZE, cls, ipa, "stage-2 output address beyond S2PS");
      if ((lo & DescLo.AF) === 0 && !ste.s2Affd) {
        if (!ste.s2Ha) return this.fail(EventId.F_ACCESS, cls, ipa, "stage-2 access flag is 0");
        lo = (lo | DescLo.AF) >>> 0;
        this.writeBack(descPa, lo, hi, ste.s2Endi);
      }
      let perm = s2Perm(lo, hi, this.f.xnx, ste.s2Fwb);
      const need = NEED_PERM[acc]!;
      if ((perm & need) !== need && (acc & Acc.WRITE) !== 0 && ste.s2Hd && (hi & DescHi.DBM) !== 0) {
        // Hardware dirty state: a writable-clean (DBM) entry becomes writable on a write.
        lo = (lo | DescLo.S2AP_W) >>> 0;
        this.writeBack(descPa, lo, hi, ste.s2Endi);
        perm = s2Perm(lo, hi, this.f.xnx, ste.s2Fwb);
      }
      if ((perm & need) !== need)
        return this.fail(EventId.F_PERMISSION, cls, ipa, "stage-2 permission (S2AP/XN) denies the access");
      if (cls === 1 && ste.s2Ptw && (perm & PermBit.DEVICE) !== 0)
        return this.fail(
          EventId.F_PERMISSION,
          cls,
          ipa,
          "S2PTW: stage-1 table fetch hits stage-2 Device memory",
        );
      if (!this.opts.addrSizeFirst && oa >= POW2[psBits]!)
        return this.fail(EventId.F_ADDR_SIZE, cls, ipa, "stage-2 output address beyond S2PS");
      const size = POW2[shift]!;
      const off = ipa % size;
      this.out = oa + off;
      this.base = ipa - off;
      this.sizeLog2 = shift;
      this.perm = perm;
      return 0;
    }
    return this.fail(EventId.F_TRANSLATION, cls, ipa, "stage-2 walk did not end in a leaf");
  }

  private writeBack(pa: number, lo: number, hi: number, be: boolean): void {
    if (be) this.mem.write64(pa, bswap32(hi), bswap32(lo), Initiator.Device);
    else this.mem.write64(pa, lo, hi, Initiator.Device);
  }
}
