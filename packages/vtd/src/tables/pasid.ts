/**
 * PASID directory and PASID-table entries (scalable mode): PASID[19:6] indexes the directory
 * (64-bit entries), PASID[5:0] the 4-KiB PASID table (64 entries of 512 bits). The decoded entry
 * goes into a PASID-cache slot; failures return their reason and the FPD bits met on the way
 * (the directory's and the entry's FPD count even when P=0).
 *
 * @spec reference/vtd.md §3.3 (directory entry P 0, FPD 1, 11:2 reserved, pointer 63:12;
 *   PASID-table entry fields and checks 0x50-0x5B; PGTT 001/010/011/100; AW as the context AW;
 *   FSPM 00 4-level, 01 5-level with CAP.FS5LP; bits 511:192 reserved), QEMU
 *   vtd_get_pe_from_pasid_table, vtd_pe_type_check, vtd_ce_get_pasid_fpd; Linux pasid.h setters
 */
import { type PasidCache, PeFlag, Pgtt } from "../caches/pasid-cache";
import type { VtdCap, VtdEcap } from "../spec/capabilities";
import { FaultReason as FR } from "../spec/fault-reasons";
import type { EntryReader } from "./entry-reader";

export class PasidResolver {
  /** FPD of the directory or PASID entry met by the last resolution. */
  lastFpd = false;
  /** The PASID-cache slot filled by the last successful resolution. */
  slot = -1;
  private readonly didRsvd: number;

  constructor(
    private readonly reader: EntryReader,
    private readonly pc: PasidCache,
    private readonly cap: VtdCap,
    private readonly ecap: VtdEcap,
  ) {
    this.didRsvd = cap.didBits >= 16 ? 0 : (0xffff << cap.didBits) & 0xffff;
  }

  /**
   * Resolve `pasid` for requester `sid` from the PASID directory at `dir` with PDTS `pdts`.
   * Returns 0 (entry in slot `this.slot`) or a fault reason.
   */
  resolve(sid: number, pasid: number, dir: number, pdts: number): number {
    const r = this.reader;
    this.lastFpd = false;
    this.slot = -1;
    if (pasid >= 2 ** (pdts + 7) * 64) return FR.SmPasidTooLarge;
    if (!r.read(dir + (pasid >>> 6) * 8)) return FR.SmPasidDirAccess;
    const dlo = r.lo;
    const dhi = r.hi;
    if ((dlo & 2) !== 0) this.lastFpd = true;
    if ((dlo & 1) === 0) return FR.SmPasidDirNotPresent;
    if ((dlo & 0xffc) !== 0 || r.pointerAboveHaw(dhi)) return FR.SmPasidDirReserved;
    const pe = r.addr(dlo, dhi) + (pasid & 0x3f) * 64;
    if (!r.read(pe)) return FR.SmPasidTableAccess;
    const q0lo = r.lo;
    const q0hi = r.hi;
    if ((q0lo & 2) !== 0) this.lastFpd = true;
    if ((q0lo & 1) === 0) return FR.SmPasidEntryNotPresent;
    if (!r.read(pe + 8)) return FR.SmPasidTableAccess;
    const q1lo = r.lo;
    if (!r.read(pe + 16)) return FR.SmPasidTableAccess;
    const q2lo = r.lo;
    const q2hi = r.hi;
    let rest = 0;
    for (let q = 3; q < 8; q++) {
      if (!r.read(pe + q * 8)) return FR.SmPasidTableAccess;
      rest |= r.lo | r.hi;
    }
    // Reserved: qw0 11:10, qw1 86:80 (bits 22:16 of its low dword) and DID bits above ND,
    // qw2 139:136 (bits 11:8), pointers above HAW, qwords 3-7.
    const pgtt = (q0lo >>> 6) & 7;
    const usesSs = pgtt === Pgtt.SecondStage || pgtt === Pgtt.Nested;
    const usesFs = pgtt === Pgtt.FirstStage || pgtt === Pgtt.Nested;
    if (
      (q0lo & 0xc00) !== 0 ||
      (usesSs && r.pointerAboveHaw(q0hi)) ||
      (q1lo & (0x007f_0000 | this.didRsvd)) !== 0 ||
      (q2lo & 0xf00) !== 0 ||
      (usesFs && r.pointerAboveHaw(q2hi)) ||
      rest !== 0
    ) {
      return FR.SmPasidEntryReserved;
    }
    const e = this.ecap;
    const supported =
      (pgtt === Pgtt.FirstStage && e.fsts) ||
      (pgtt === Pgtt.SecondStage && e.ssts) ||
      (pgtt === Pgtt.Nested && e.nest && e.fsts && e.ssts) ||
      (pgtt === Pgtt.PassThrough && e.pt);
    if (!supported) return FR.SmPasidEntryInvalid;
    const aw = (q0lo >>> 2) & 7;
    if (usesSs && (this.cap.sagaw & (1 << aw)) === 0) return FR.SmPasidEntryInvalid;
    const fspm = (q2lo >>> 2) & 3;
    if (usesFs && (fspm > 1 || (fspm === 1 && !this.cap.fs5lp))) return FR.SmPasidEntryInvalid;
    const slade = (q0lo & 0x200) !== 0;
    if (slade && usesSs && !e.ssads) return FR.SmPasidEntryInvalid;
    const pc = this.pc;
    const s = pc.allocate(sid, pasid);
    pc.state[s] = 1;
    pc.fault[s] = 0;
    pc.fpd[s] = this.lastFpd ? 1 : 0;
    pc.pgtt[s] = pgtt;
    pc.did[s] = q1lo & 0xffff;
    pc.ssLevels[s] = aw + 2;
    pc.ssPtr[s] = r.addr(q0lo, q0hi);
    pc.fsLevels[s] = fspm === 1 ? 5 : 4;
    pc.fsPtr[s] = r.addr(q2lo, q2hi);
    pc.flags[s] =
      (q2lo & 1 ? PeFlag.SRE : 0) |
      (q2lo & 2 ? PeFlag.ERE : 0) |
      (q2lo & 0x10 ? PeFlag.WPE : 0) |
      (q2lo & 0x20 ? PeFlag.NXE : 0) |
      (q2lo & 0x40 ? PeFlag.SMEP : 0) |
      (slade ? PeFlag.SLADE : 0) |
      (q0lo & 0x20 ? PeFlag.SLEE : 0);
    this.slot = s;
    return 0;
  }

  /** Cache a failed resolution (caching mode), tagged with domain-id 0. */
  cacheFault(sid: number, pasid: number, code: number): void {
    const pc = this.pc;
    const s = pc.allocate(sid, pasid);
    pc.state[s] = 2;
    pc.fault[s] = code;
    pc.fpd[s] = this.lastFpd ? 1 : 0;
    pc.did[s] = 0;
  }
}
