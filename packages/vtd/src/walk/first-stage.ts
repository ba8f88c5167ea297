/**
 * The first-stage walk (IA-32e paging, 4 or 5 levels) used by PASID entries with PGTT=001, and the
 * nested walk (PGTT=011) where every first-stage table pointer and the final output are guest
 * physical addresses translated through the second stage. Permissions follow IA-32e: present
 * bits and reserved bits are checked level by level, R/W and U/S are ANDed and XD ORed across
 * levels, and the request is checked against them at the leaf; accessed flags are set on every
 * entry and the dirty flag on the leaf for writes once the translation succeeds.
 *
 * @spec reference/vtd.md §3.5 (format; canonical 0x80, access 0x70/0x73, not present 0x71,
 *   reserved 0x72, user 0x81, write 0x85, execute 0x82, A/D update 0x91), §3.6 (nested: FS entry
 *   beyond MGAW 0x74, SS denies read of FS-PML4 0x75 / FS entry 0x76, SS denies the A/D write 0x77,
 *   (L+1)(M+1)-1 reads on a full miss); QEMU vtd_iova_to_fspte and VTD_FPTE_*_RSVD_MASK (L4 bit 7,
 *   L2 leaf 20:13, L3 leaf 29:13, bits above HAW; 63:52 ignored)
 */

import type { TranslationCache } from "../caches/translation-cache";
import { LEVEL_SIZE, Perm8 } from "../caches/translation-cache";
import { FaultReason as FR } from "../spec/fault-reasons";
import type { EntryReader } from "../tables/entry-reader";
import type { SecondStageWalker, SsCodes } from "./second-stage";
import { WalkResult } from "./walk-result";

/** The request as the first stage sees it. */
export interface FsRequest {
  write: boolean;
  /** Supervisor (privileged) request; false = user. */
  supervisor: boolean;
  execute: boolean;
}

/** PASID-entry controls of the first stage. */
export interface FsControls {
  /** WPE: supervisor writes honour R/W. */
  wpe: boolean;
  /** NXE: XD bit honoured. */
  nxe: boolean;
  /** SMEP: supervisor execute of user pages denied. */
  smep: boolean;
}

/** Second-stage parameters for a nested walk. */
export interface NestedLeg {
  ssRoot: number;
  ssLevels: number;
  /** Guest addresses at or above 2^mgawBits fault 0x74. */
  mgawLimit: number;
  codes: SsCodes;
  ad: boolean;
}

export class FirstStageWalker {
  private readonly loRsvd = new Uint32Array(12);
  private readonly hiRsvd: number;
  private readonly adPa = new Float64Array(6);
  private readonly adLo = new Uint32Array(6);
  /** Guest address of each entry of a nested walk (for the A/D write check). */
  private readonly entryGpa = new Float64Array(6);
  private readonly leg = new WalkResult();

  constructor(
    private readonly reader: EntryReader,
    private readonly ss: SecondStageWalker,
    fs1gp: boolean,
  ) {
    this.loRsvd[2 * 2 + 1] = 0x001f_e000;
    this.loRsvd[3 * 2 + 1] = 0x3fff_e000 | (fs1gp ? 0 : 0x80);
    this.loRsvd[4 * 2 + 0] = 0x80;
    this.loRsvd[4 * 2 + 1] = 0x80;
    this.loRsvd[5 * 2 + 0] = 0x80;
    this.loRsvd[5 * 2 + 1] = 0x80;
    this.hiRsvd = reader.aboveHawHi;
  }

  /** Translate a guest address through the second stage (nested leg); returns 0 or a fault. */
  private viaSs(gpa: number, write: boolean, leg: NestedLeg, onDenied: number): number {
    const code = this.ss.walk(
      leg.ssRoot,
      leg.ssLevels,
      gpa,
      write,
      leg.codes,
      null,
      0,
      0,
      0,
      leg.ad,
      this.leg,
    );
    if (code === 0) return 0;
    const c = leg.codes;
    if (
      code === c.notPresentRead ||
      code === c.notPresentWrite ||
      code === c.readDenied ||
      code === c.writeDenied
    ) {
      return onDenied;
    }
    return code;
  }

  /**
   * Walk from `root` (an HPA, or a GPA when `leg` is given). On success out.base is the leaf page
   * base (a GPA for nested; the caller translates the output), out.level its level, out.perm the
   * Perm8 bits. Returns 0 or the fault reason.
   */
  walk(
    root: number,
    levels: number,
    addr: number,
    req: FsRequest,
    ctl: FsControls,
    leg: NestedLeg | null,
    psc: TranslationCache | null,
    did: number,
    pasid: number,
    kind: number,
    out: WalkResult,
  ): number {
    const r = this.reader;
    const before = r.reads;
    if (addr >= 2 ** (levels === 5 ? 56 : 47)) return this.fail(out, FR.FsNotCanonical, before);
    let table = root;
    let level = levels;
    let rw = 1;
    let us = 1;
    let xd = 0;
    const usePsc = psc?.enabled === true && leg === null;
    if (usePsc && psc !== null) {
      for (let l = 2; l <= levels; l++) {
        if (psc.perLevel[l] === 0) continue;
        const s = psc.lookupLevel(did, pasid, l, addr);
        if (s >= 0) {
          table = psc.out[s]!;
          const p = psc.perm[s]!;
          rw = (p & Perm8.W) !== 0 ? 1 : 0;
          us = (p & Perm8.U) !== 0 ? 1 : 0;
          xd = (p & Perm8.X) !== 0 ? 0 : 1;
          level = l - 1;
          psc.hits++;
          break;
        }
      }
    }
    let nAd = 0;
    let leafLo = 0;
    for (;;) {
      const entryAddr = table + (Math.floor(addr / LEVEL_SIZE[level]!) & 511) * 8;
      let pa = entryAddr;
      if (leg !== null) {
        if (entryAddr >= leg.mgawLimit) return this.fail(out, FR.NestedFsAddressBeyondMgaw, before);
        const code = this.viaSs(
          entryAddr,
          false,
          leg,
          level === levels ? FR.NestedFsRootReadDenied : FR.NestedFsEntryReadDenied,
        );
        if (code !== 0) return this.fail(out, code, before);
        pa = this.leg.base + (entryAddr % LEVEL_SIZE[this.leg.level]!);
      }
      if (!r.read(pa)) return this.fail(out, level === levels ? FR.FsRootAccess : FR.FsEntryAccess, before);
      const lo = r.lo;
      const hi = r.hi;
      if ((lo & 1) === 0) return this.fail(out, FR.FsEntryNotPresent, before);
      const leaf = level === 1 || (level <= 3 && (lo & 0x80) !== 0);
      if ((hi & this.hiRsvd) !== 0 || (lo & this.loRsvd[level * 2 + (leaf ? 1 : 0)]!) !== 0) {
        return this.fail(out, FR.FsEntryReserved, before);
      }
      rw &= (lo >>> 1) & 1;
      us &= (lo >>> 2) & 1;
      if (ctl.nxe) xd |= hi >>> 31;
      this.adPa[nAd] = pa;
      this.entryGpa[nAd] = entryAddr;
      this.adLo[nAd++] = lo;
      const next = r.addr(lo, hi);
      if (leaf) {
        out.base = next;
        out.level = level;
        leafLo = lo;
        break;
      }
      if (usePsc && psc !== null) {
        const p = Perm8.R | (rw ? Perm8.W : 0) | (us ? Perm8.U : 0) | (xd ? 0 : Perm8.X);
        psc.insert(did, pasid, level, addr, next, p, kind);
      }
      table = next;
      level--;
    }
    // Access rights at the leaf (IA-32e semantics).
    if (!req.supervisor && us === 0) return this.fail(out, FR.FsUserDenied, before);
    if (req.write && rw === 0 && (!req.supervisor || ctl.wpe))
      return this.fail(out, FR.SmWriteDenied, before);
    if (req.execute && (xd !== 0 || (req.supervisor && ctl.smep && us !== 0))) {
      return this.fail(out, FR.ExecuteDenied, before);
    }
    if (leg !== null && out.base >= leg.mgawLimit)
      return this.fail(out, FR.NestedFsAddressBeyondMgaw, before);
    // Accessed on every entry, dirty on the leaf for writes (bits 5 and 6).
    for (let i = 0; i < nAd; i++) {
      const lo = this.adLo[i]!;
      const want = (lo | 0x20 | (req.write && i === nAd - 1 ? 0x40 : 0)) >>> 0;
      if (want === lo) continue;
      if (leg !== null) {
        // The A/D write itself goes through the second stage and needs write permission there.
        const code = this.viaSs(this.entryGpa[i]!, true, leg, FR.NestedFsEntryWriteDenied);
        if (code !== 0) return this.fail(out, code, before);
      }
      if (!r.writeLo(this.adPa[i]!, want)) return this.fail(out, FR.FsAdUpdateFailed, before);
    }
    const dirty = req.write || (leafLo & 0x40) !== 0;
    out.perm = Perm8.R | (rw ? Perm8.W : 0) | (us ? Perm8.U : 0) | (xd ? 0 : Perm8.X) | (dirty ? Perm8.D : 0);
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
