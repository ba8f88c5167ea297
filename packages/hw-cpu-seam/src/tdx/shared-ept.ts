/**
 * The shared EPT: an ordinary VMM-owned EPT in host memory (the TD VMCS SHARED_EPT_POINTER,
 * written by the host with TDH.VP.WR) that the CPU walks for shared GPAs. Entries: R/W/X 0-2,
 * memory type 3-5, PS 7 (large page at levels 1-2), PA 51:12, suppress-#VE 63. A walk that
 * finds a non-present or insufficient entry is an EPT violation, delivered as #VE when the
 * entry's suppress-#VE bit is clear; a W-without-R entry or a private HKID in a shared leaf is
 * an EPT misconfiguration. Also a small writer hosts and tests use to build such tables.
 *
 * @spec shared/reference/tdx-module.md §6.1, §6.4 (shared GPAs, SVE, misconfig exit 49);
 *   Intel SDM Vol. 3 §29.3.2 (EPT entries), §29.3.3.1 (misconfigurations), §25.5.7 (#VE)
 */
import { TdxSimError } from "../errors";
import { Initiator, MemStatus, type PhysicalMemoryAccess } from "../memory/types";

export const EPT_R = 1;
export const EPT_W = 2;
export const EPT_X = 4;
export const EPT_PS = 0x80;
/** Memory type WB (6) in bits 5:3. */
export const EPT_MT_WB = 6 << 3;
/** Suppress-#VE: bit 63, i.e. bit 31 of the high half. */
export const EPT_SVE_HI = 0x80000000;

/** Outcome of a shared-EPT walk. */
export const SharedXlate = {
  Ok: 0,
  Violation: 1,
  Misconfig: 2,
} as const;

/** Result fields of the last shared walk (reused, no allocation). */
export interface SharedWalk {
  hpa: number;
  /** Permission bits of the leaf (or of the entry that stopped the walk). */
  perms: number;
  /** Suppress-#VE of the entry that caused a violation. */
  sve: boolean;
  level: number;
}

function pa(lo: number, hi: number): number {
  return (hi & 0xfffff) * 4294967296 + ((lo & 0xfffff000) >>> 0);
}

/**
 * Walk the shared EPT rooted at `rootPa` (`levels` 4 or 5) for `gpa` needing `need` (R=1, W=2).
 * `paLimit` (2^(MAX_PA - KeyID bits)) and `privateKeyFrom` detect private KeyIDs in leaves.
 */
export function walkSharedEpt(
  mem: PhysicalMemoryAccess,
  rootPa: number,
  levels: number,
  gpa: number,
  need: number,
  paLimit: number,
  privateKeyFrom: number,
  out: SharedWalk,
  scratch: Uint32Array,
): number {
  let table = rootPa;
  for (let level = levels - 1; level >= 0; level--) {
    const idx = Math.floor(gpa / 2 ** (12 + 9 * level)) % 512;
    if (mem.read64(table + idx * 8, Initiator.Seam, scratch) !== MemStatus.Ok) return SharedXlate.Misconfig;
    const lo = scratch[0]!;
    const hi = scratch[1]!;
    const perms = lo & 7;
    out.level = level;
    out.perms = perms;
    out.sve = (hi & EPT_SVE_HI) !== 0;
    if ((perms & (EPT_R | EPT_W)) === EPT_W) return SharedXlate.Misconfig;
    if (perms === 0) return SharedXlate.Violation;
    const leaf = level === 0 || ((lo & EPT_PS) !== 0 && level <= 2);
    if (leaf) {
      if ((perms & need) !== need) return SharedXlate.Violation;
      const base = pa(lo, hi);
      if (Math.floor(base / paLimit) >= privateKeyFrom) return SharedXlate.Misconfig;
      out.hpa = base + (gpa % 2 ** (12 + 9 * level));
      return SharedXlate.Ok;
    }
    table = pa(lo, hi);
  }
  return SharedXlate.Misconfig;
}

/** A 4 KiB table of non-present entries with suppress-#VE set (KVM's SHADOW_NONPRESENT_VALUE). */
const NONPRESENT_TABLE = (() => {
  const b = new Uint8Array(4096);
  for (let i = 7; i < 4096; i += 8) b[i] = 0x80;
  return b;
})();

/**
 * Builds a shared EPT in host memory (what the VMM does); table pages come from `allocPage`.
 * New tables hold non-present entries with suppress-#VE set, as KVM initialises TDX SPTEs, so an
 * unmapped shared GPA exits to the VMM rather than raising #VE.
 */
export class SharedEptWriter {
  private readonly scratch = new Uint32Array(2);
  constructor(
    private readonly mem: PhysicalMemoryAccess,
    /** Host PA of the root table; it is initialised here. */
    readonly rootPa: number,
    readonly levels: 4 | 5,
    private readonly allocPage: () => number,
  ) {
    this.initTable(rootPa);
  }

  private initTable(page: number): void {
    if (page % 4096 !== 0) throw new TdxSimError("E_BAD_ADDRESS", "EPT tables must be 4 KiB aligned");
    if (this.mem.write(page, NONPRESENT_TABLE, Initiator.Host) !== MemStatus.Ok) {
      throw new TdxSimError("E_BAD_ADDRESS", `EPT table page 0x${page.toString(16)} is not writable RAM`);
    }
  }

  /** EPTP value for the TD VMCS SHARED_EPT_POINTER: WB, page-walk length - 1, root PA. */
  eptp(): bigint {
    return BigInt(this.rootPa) | BigInt((this.levels - 1) << 3) | 6n;
  }

  private entryPa(gpa: number, level: number): number {
    let table = this.rootPa;
    for (let l = this.levels - 1; l > level; l--) {
      const e = table + (Math.floor(gpa / 2 ** (12 + 9 * l)) % 512) * 8;
      this.read(e);
      let lo = this.scratch[0]!;
      let hi = this.scratch[1]!;
      if ((lo & 7) === 0) {
        const page = this.allocPage();
        this.initTable(page);
        lo = ((page % 4294967296) & 0xfffff000) | 7;
        hi = Math.floor(page / 4294967296);
        this.mem.write64(e, lo >>> 0, hi >>> 0, Initiator.Host);
      }
      table = pa(lo, hi);
    }
    return table + (Math.floor(gpa / 2 ** (12 + 9 * level)) % 512) * 8;
  }

  private read(e: number): void {
    if (this.mem.read64(e, Initiator.Host, this.scratch) !== MemStatus.Ok) {
      throw new TdxSimError("E_BAD_ADDRESS", `shared EPT table at 0x${e.toString(16)} is not readable RAM`);
    }
  }

  /** Map `gpa` (shared bit included) to `hpa` at `level` (0 = 4K, 1 = 2M) with `perms`. */
  map(gpa: number, hpa: number, perms = EPT_R | EPT_W | EPT_X, level = 0, suppressVe = true): void {
    const e = this.entryPa(gpa, level);
    const lo = ((hpa % 4294967296) & 0xfffff000) | perms | EPT_MT_WB | (level > 0 ? EPT_PS : 0);
    const hi = Math.floor(hpa / 4294967296) | (suppressVe ? EPT_SVE_HI : 0);
    this.mem.write64(e, lo >>> 0, hi >>> 0, Initiator.Host);
  }

  /** A non-present leaf with suppress-#VE clear: the next access raises #VE (KVM's MMIO SPTE). */
  mmioVe(gpa: number): void {
    this.mem.write64(this.entryPa(gpa, 0), 0, 0, Initiator.Host);
  }

  /** A non-present leaf with suppress-#VE set: the next access exits to the VMM. */
  unmap(gpa: number): void {
    this.mem.write64(this.entryPa(gpa, 0), 0, EPT_SVE_HI, Initiator.Host);
  }
}
