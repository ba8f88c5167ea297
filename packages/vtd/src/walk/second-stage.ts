/**
 * The second-stage (legacy "second-level") page walk: 3, 4 or 5 levels of 512 64-bit entries,
 * R/W permissions ANDed across levels, 2 MiB / 1 GiB superpages where CAP.SLLPS allows, the
 * reserved-bit checks per level, optional accessed/dirty updates (scalable mode, SLADE), and the
 * paging-structure cache (non-leaf entries) so a walk resumes below the deepest cached entry.
 * Fault reasons come from a code set, so the same walk serves legacy mode (0x3/0x5/0x6/0x7/0xC)
 * and scalable mode (0x78-0x7B, 0x85/0x86).
 *
 * @spec reference/vtd.md §2.3 (entry format; reserved masks per level: L1 11 [+62], L2/L3
 *   non-leaf 11, L2 leaf 20:12+11, L3 leaf 29:12+11, L4 7+11; bits above HAW; ignored 63, 61:52;
 *   bit 11 not reserved at leaves in scalable mode or with ECAP.SC; bit 62 TM reserved unless
 *   ECAP.DT), §2.5 step 8 (walk; permission checked before reserved bits, QEMU order;
 *   top-table read failure 0x3, lower 0x7), QEMU vtd_iova_to_slpte / VTD_SPTE_*_RSVD_MASK
 */

import type { TranslationCache } from "../caches/translation-cache";
import { LEVEL_SIZE, Perm8 } from "../caches/translation-cache";
import type { EntryReader } from "../tables/entry-reader";
import type { WalkResult } from "./walk-result";

/** Fault reasons a second-stage walk reports. */
export interface SsCodes {
  /** The top-level table could not be read. */
  readonly topAccess: number;
  /** A lower-level table could not be read. */
  readonly access: number;
  /** R=W=0 ("not present") for a read / a write. */
  readonly notPresentRead: number;
  readonly notPresentWrite: number;
  /** The entry lacks R (read) / W (write). */
  readonly readDenied: number;
  readonly writeDenied: number;
  readonly reserved: number;
}

/** Legacy mode codes. @spec reference/vtd.md §4.1 (0x3, 0x7, 0x6, 0x5, 0xC) */
export const LEGACY_SS_CODES: SsCodes = {
  topAccess: 0x03,
  access: 0x07,
  notPresentRead: 0x06,
  notPresentWrite: 0x05,
  readDenied: 0x06,
  writeDenied: 0x05,
  reserved: 0x0c,
};

/**
 * Scalable-mode codes: SS access error 0x78, SS entry with R=W=0 0x79, reserved 0x7A, top table
 * (SSPTPTR) 0x7B, write/read not permitted 0x85/0x86. Which of 0x79 and 0x85/0x86 hardware uses
 * for which case is [unverified]; QEMU reports legacy codes instead (policy scalableFaultCodes).
 * @spec reference/vtd.md §4.1 scalable table (Linux dma_remap_sm_fault_reasons)
 */
export const SCALABLE_SS_CODES: SsCodes = {
  topAccess: 0x7b,
  access: 0x78,
  notPresentRead: 0x79,
  notPresentWrite: 0x79,
  readDenied: 0x86,
  writeDenied: 0x85,
  reserved: 0x7a,
};

/** Per-unit configuration of second-stage entry checks. */
export interface SsConfig {
  /** CAP.SLLPS bit 0 / bit 1. */
  readonly twoMiB: boolean;
  readonly oneGiB: boolean;
  /** Bit 11 (SNP) allowed in leaves: scalable mode or ECAP.SC. */
  readonly snpAllowed: boolean;
  /** Bit 62 (TM) allowed: ECAP.DT. */
  readonly tmAllowed: boolean;
}

export class SecondStageWalker {
  /** Reserved low-dword bits, indexed [level*2 + isLeaf]. */
  private readonly loRsvd = new Uint32Array(12);
  private readonly hiRsvd: number;
  /** A/D bookkeeping for the current walk. */
  private readonly adPa = new Float64Array(6);
  private readonly adLo = new Uint32Array(6);

  constructor(
    private readonly reader: EntryReader,
    cfg: SsConfig,
  ) {
    const snp = cfg.snpAllowed ? 0 : 0x800;
    const ps2 = cfg.twoMiB ? 0 : 0x80;
    const ps3 = cfg.oneGiB ? 0 : 0x80;
    this.loRsvd[1 * 2 + 1] = snp;
    this.loRsvd[2 * 2 + 0] = 0x800;
    this.loRsvd[2 * 2 + 1] = 0x001f_f000 | snp | ps2;
    this.loRsvd[3 * 2 + 0] = 0x800;
    this.loRsvd[3 * 2 + 1] = 0x3fff_f000 | snp | ps3;
    this.loRsvd[4 * 2 + 0] = 0x880;
    this.loRsvd[4 * 2 + 1] = 0x880;
    this.loRsvd[5 * 2 + 0] = 0x880;
    this.loRsvd[5 * 2 + 1] = 0x880;
    this.hiRsvd = (reader.aboveHawHi | (cfg.tmAllowed ? 0 : 0x4000_0000)) >>> 0;
  }

  /**
   * Walk `levels` levels from `root` for `addr`. `psc` (may be null) caches non-leaf entries
   * tagged (did, pasid, kind). `ad`: set accessed/dirty flags (SLADE). Returns 0 or the fault
   * reason (also in out.fault).
   */
  walk(
    root: number,
    levels: number,
    addr: number,
    write: boolean,
    codes: SsCodes,
    psc: TranslationCache | null,
    did: number,
    pasid: number,
    kind: number,
    ad: boolean,
    out: WalkResult,
  ): number {
    const r = this.reader;
    const before = r.reads;
    let table = root;
    let level = levels;
    let perm = Perm8.R | Perm8.W;
    if (psc?.enabled) {
      for (let l = 2; l <= levels; l++) {
        if (psc.perLevel[l] === 0) continue;
        const s = psc.lookupLevel(did, pasid, l, addr);
        if (s >= 0) {
          table = psc.out[s]!;
          perm = psc.perm[s]!;
          level = l - 1;
          psc.hits++;
          break;
        }
      }
    }
    let nAd = 0;
    for (;;) {
      const size = LEVEL_SIZE[level]!;
      const pa = table + (Math.floor(addr / size) & 511) * 8;
      if (!r.read(pa)) return this.fail(out, level === levels ? codes.topAccess : codes.access, before);
      const lo = r.lo;
      const hi = r.hi;
      const rw = lo & 3;
      if (rw === 0) {
        this.fail(out, write ? codes.notPresentWrite : codes.notPresentRead, before);
        out.negative = 1;
        return out.fault;
      }
      if (write ? (rw & 2) === 0 : (rw & 1) === 0) {
        return this.fail(out, write ? codes.writeDenied : codes.readDenied, before);
      }
      perm &= rw | ~3;
      const leaf = level === 1 || (level <= 3 && (lo & 0x80) !== 0);
      if ((hi & this.hiRsvd) !== 0 || (lo & this.loRsvd[level * 2 + (leaf ? 1 : 0)]!) !== 0) {
        this.fail(out, codes.reserved, before);
        out.negative = 2;
        return out.fault;
      }
      if (ad) {
        this.adPa[nAd] = pa;
        this.adLo[nAd++] = lo;
      }
      const next = r.addr(lo, hi);
      if (leaf) {
        out.base = next;
        out.level = level;
        break;
      }
      if (psc?.enabled) psc.insert(did, pasid, level, addr, next, perm, kind);
      table = next;
      level--;
    }
    if (ad) {
      // Accessed on every entry used, dirty on the leaf for writes (bits 8 and 9).
      for (let i = 0; i < nAd; i++) {
        const lo = this.adLo[i]!;
        const want = (lo | 0x100 | (write && i === nAd - 1 ? 0x200 : 0)) >>> 0;
        if (want !== lo && !r.writeLo(this.adPa[i]!, want)) return this.fail(out, codes.access, before);
      }
      const leafLo = nAd > 0 ? this.adLo[nAd - 1]! : 0;
      if (write || (leafLo & 0x200) !== 0) perm |= Perm8.D;
    } else {
      perm |= Perm8.D;
    }
    // Second-stage execute permission follows read (SLEE/X not modelled).
    if ((perm & Perm8.R) !== 0) perm |= Perm8.X;
    out.perm = perm & (Perm8.R | Perm8.W | Perm8.X | Perm8.D);
    out.fault = 0;
    out.reads = r.reads - before;
    return 0;
  }

  private fail(out: WalkResult, code: number, before: number): number {
    out.fault = code;
    out.negative = 0;
    out.reads = this.reader.reads - before;
    return code;
  }
}
