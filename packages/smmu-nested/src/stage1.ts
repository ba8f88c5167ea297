/**
 * Stage-1 translation (VA -> IPA, or -> PA without stage 2) over VMSAv8-64 tables: TTB0 region
 * check and EPD, start level from T0SZ, table/block/page descriptors, hierarchical APTable /
 * XNTable (unless HAD), the access flag (AFFD, HA), AP / PXN / UXN / WXN / PAN permissions,
 * hardware dirty state (HD + DBM), the IPS size checks. Under nesting every table address is an
 * IPA and goes through stage 2 first (a stage-2 fault there is CLASS = TT).
 *
 * Addresses are numbers below 2^52, so the TTB1 (upper) region is unreachable: an address is
 * either in the TTB0 region or faults.
 *
 * @spec reference/smmu.md §4.1-4.5 (granules, descriptor formats, AP table, check order, size
 *   checks, nested walk and fault attribution); sources: qemu/qemu hw/arm/smmu-common.c
 *   (smmu_ptw_64_s1, select_tt, translate_table_addr_ipa)
 */
import { Initiator, type PhysicalMemoryAccess } from "@tdx/hw-cpu-seam";
import { Acc, NEED_PERM } from "./access";
import type { CdConfig } from "./cd";
import { bswap32, DescHi, DescLo, outputAddress } from "./descriptor";
import { EventId, FaultClass, type FaultInfo } from "./events";
import { blockAllowed, levelShift, POW2 } from "./granule";
import type { Stage2Walker, WalkOptions } from "./stage2";
import type { SteConfig } from "./ste";
import { PermBit } from "./tlb";

/** Stage-1 permission bits of a leaf, given accumulated table attributes. */
export function s1Perm(
  lo: number,
  hi: number,
  apTable: number,
  uxnTable: boolean,
  pxnTable: boolean,
  cd: CdConfig,
): number {
  const el0 = (lo & DescLo.AP1) !== 0 && (apTable & 1) === 0;
  const ro = (lo & DescLo.AP2) !== 0 || (apTable & 2) !== 0;
  const uxn = (hi & DescHi.UXN) !== 0 || uxnTable;
  const pxn = (hi & DescHi.PXN) !== 0 || pxnTable;
  let p = PermBit.PRIV_R;
  if (!ro) p |= PermBit.PRIV_W;
  if (el0) {
    p |= PermBit.UNPRIV_R;
    if (!ro) p |= PermBit.UNPRIV_W;
  }
  // EL0 may execute what UXN allows (execute-only is legal); EL1 never executes EL0-writable memory.
  if (!uxn && !(cd.wxn && el0 && !ro)) p |= PermBit.UNPRIV_X;
  if (!pxn && !(el0 && !ro) && !(cd.wxn && !ro)) p |= PermBit.PRIV_X;
  // PAN: privileged data accesses to EL0-accessible memory fault.
  if (cd.pan && el0) p &= ~(PermBit.PRIV_R | PermBit.PRIV_W);
  return p;
}

export class Stage1Walker {
  refs = 0;
  /** Result of the last successful walk: output (IPA or PA) of the address, region base/size, perms, global. */
  out = 0;
  base = 0;
  sizeLog2 = 0;
  perm = 0;
  global = false;
  private readonly d = new Uint32Array(2);

  constructor(
    private readonly mem: PhysicalMemoryAccess,
    private readonly fault: FaultInfo,
    private readonly s2: Stage2Walker,
    private readonly opts: WalkOptions,
  ) {}

  private fail(id: number, reason: string): number {
    const fi = this.fault;
    fi.id = id;
    fi.s2 = false;
    fi.cls = FaultClass.IN;
    fi.addr2 = -1;
    fi.reason = reason;
    return id;
  }

  /**
   * Walk the CD's TTB0 tables for `addr`. With `nested` set, table addresses are IPAs translated
   * by its stage 2 (VMID `vmid`), through the TLB's stage-2 entries when `cacheS2`. Returns 0 or
   * the fault's event id.
   */
  walk(
    cd: CdConfig,
    addr: number,
    acc: number,
    nested: SteConfig | null,
    vmid: number,
    cacheS2: boolean,
  ): number {
    const h = cd.tt0;
    if (h.disabled) return this.fail(EventId.F_TRANSLATION, "TTB0 walks disabled (EPD0)");
    const ias = 64 - h.tsz;
    if (addr >= POW2[ias]!) return this.fail(EventId.F_TRANSLATION, "address outside the TTB0 region (T0SZ)");
    const g = h.g;
    const ips = cd.ipsBits;
    const start = h.startLevel;
    let table = h.ttb;
    let apTable = 0;
    let uxnTable = false;
    let pxnTable = false;
    const d = this.d;
    for (let level = start; level <= 3; level++) {
      const shift = levelShift(g, level);
      const bits = level === start ? ias - shift : g - 3;
      const index = Math.floor(addr / POW2[shift]!) % POW2[bits]!;
      const descAddr = table + index * 8;
      let descPa = descAddr;
      if (nested !== null) {
        if (this.s2.translate(nested, vmid, descAddr, Acc.READ, FaultClass.TT, cacheS2) !== 0)
          return this.fault.id;
        descPa = this.s2.out;
      }
      if (this.mem.read64(descPa, Initiator.Device, d) !== 0) {
        const fi = this.fault;
        fi.id = EventId.F_WALK_EABT;
        fi.s2 = false;
        fi.cls = FaultClass.TT;
        fi.addr2 = descPa;
        fi.reason = "external abort reading a stage-1 descriptor";
        return EventId.F_WALK_EABT;
      }
      this.refs++;
      let lo = d[0]!;
      let hi = d[1]!;
      if (cd.endi) {
        const t = lo;
        lo = bswap32(hi);
        hi = bswap32(t);
      }
      if ((lo & DescLo.VALID) === 0) return this.fail(EventId.F_TRANSLATION, "invalid stage-1 descriptor");
      const isTable = (lo & DescLo.TABLE_OR_PAGE) !== 0;
      if (level < 3 && isTable) {
        table = outputAddress(lo, hi, g, ips);
        if (table >= POW2[ips]!)
          return this.fail(EventId.F_ADDR_SIZE, "stage-1 next-table address beyond IPS");
        if (!h.had) {
          apTable |= (hi >>> 29) & 3;
          if ((hi & DescHi.UXN_TABLE) !== 0) uxnTable = true;
          if ((hi & DescHi.PXN_TABLE) !== 0) pxnTable = true;
        }
        continue;
      }
      if (level === 3 ? !isTable : !blockAllowed(g, level, ips))
        return this.fail(EventId.F_TRANSLATION, "reserved stage-1 descriptor at this level");
      const oa = outputAddress(lo, hi, g, ips);
      if (this.opts.addrSizeFirst && oa >= POW2[ips]!)
        return this.fail(EventId.F_ADDR_SIZE, "stage-1 output address beyond IPS");
      if ((lo & DescLo.AF) === 0 && !cd.affd) {
        if (!cd.ha) return this.fail(EventId.F_ACCESS, "stage-1 access flag is 0");
        lo = (lo | DescLo.AF) >>> 0;
        this.writeBack(descPa, lo, hi, cd.endi);
      }
      let perm = s1Perm(lo, hi, apTable, uxnTable, pxnTable, cd);
      const need = NEED_PERM[acc]!;
      if (
        (perm & need) !== need &&
        (acc & Acc.WRITE) !== 0 &&
        cd.hd &&
        (hi & DescHi.DBM) !== 0 &&
        (apTable & 2) === 0
      ) {
        // Hardware dirty state: clear AP[2] of a writable-clean (DBM) entry on a write.
        lo = (lo & ~DescLo.AP2) >>> 0;
        this.writeBack(descPa, lo, hi, cd.endi);
        perm = s1Perm(lo, hi, apTable, uxnTable, pxnTable, cd);
      }
      if ((perm & need) !== need)
        return this.fail(EventId.F_PERMISSION, "stage-1 permission (AP/XN/PAN) denies the access");
      if (!this.opts.addrSizeFirst && oa >= POW2[ips]!)
        return this.fail(EventId.F_ADDR_SIZE, "stage-1 output address beyond IPS");
      const size = POW2[shift]!;
      const off = addr % size;
      this.out = oa + off;
      this.base = addr - off;
      this.sizeLog2 = shift;
      this.perm = perm;
      this.global = (lo & DescLo.NG) === 0;
      return 0;
    }
    return this.fail(EventId.F_TRANSLATION, "stage-1 walk did not end in a leaf");
  }

  private writeBack(pa: number, lo: number, hi: number, be: boolean): void {
    if (be) this.mem.write64(pa, bswap32(hi), bswap32(lo), Initiator.Device);
    else this.mem.write64(pa, lo, hi, Initiator.Device);
  }
}
