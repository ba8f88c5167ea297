/**
 * A TD's Secure EPT as it lives in physical memory: 4 KiB tables of 512 eight-byte entries,
 * encrypted with the TD's HKID (the root is TDCS page 3), 4 or 5 levels by GPAW. `walk` is the
 * module's software walk (stops at the requested level or at the first entry that is not a
 * mapped non-leaf); `translate` is the CPU's hardware walk for a guest access.
 *
 * @spec shared/reference/tdx-module.md §3.4, §6; intel/tdx-module
 *   src/common/memory_handlers/sept_manager.c (sept walk), Intel SDM Vol. 3 §29.3.2 (EPT walk)
 */
import type { SeamMemory } from "./seam-memory";
import { freeEntry, isLeafState, SEPT_RWX, SeptState, septPa, septStateOf } from "./sept-entry";

/** Where a walk stopped. Reused across calls (no allocation per walk). */
export interface SeptWalk {
  /** Level of the entry found (0 = 4K PTE .. root level). */
  level: number;
  /** PA (with HKID) of the entry. */
  entryPa: number;
  lo: number;
  hi: number;
  state: number;
}

/** Bytes mapped by one entry at `level`. */
export function levelSize(level: number): number {
  return 2 ** (12 + 9 * level);
}

/** Index of `gpa` in a table at `level`. */
export function entryIndex(gpa: number, level: number): number {
  return Math.floor(gpa / levelSize(level)) % 512;
}

const FREE_PAGE = (() => {
  const b = new Uint8Array(4096);
  const dv = new DataView(b.buffer);
  const [lo, hi] = freeEntry();
  for (let i = 0; i < 512; i++) {
    dv.setUint32(i * 8, lo, true);
    dv.setUint32(i * 8 + 4, hi, true);
  }
  return b;
})();

/** Outcome codes of a hardware translation. */
export const SeptXlate = {
  Ok: 0,
  /** Entry not present or permission denied: an EPT violation. */
  Violation: 1,
} as const;

export class SecureEpt {
  /** Result of the last walk/translate. */
  readonly w: SeptWalk = { level: 0, entryPa: 0, lo: 0, hi: 0, state: 0 };
  /** HPA (with HKID) of the last successful translation. */
  hpa = 0;

  constructor(
    private readonly sm: SeamMemory,
    /** PA of the root table, HKID included. */
    readonly rootPa: number,
    /** 3 for 4-level EPT, 4 for 5-level. */
    readonly rootLevel: number,
  ) {}

  /** Fill a new SEPT page with FREE entries (the module initialises it with direct writes). */
  static initTable(sm: SeamMemory, pageWithKey: number): void {
    sm.write(pageWithKey, FREE_PAGE);
  }

  private readEntry(pa: number): void {
    const w = this.w;
    w.entryPa = pa;
    w.lo = this.sm.read64(pa);
    w.hi = this.sm.hi;
    w.state = septStateOf(w.lo, w.hi);
  }

  /**
   * Walk towards `target` level. Returns true when the entry at `target` was reached (it is in
   * `this.w`), false when the walk stopped above it at an entry that is not NL_MAPPED.
   */
  walk(gpa: number, target: number): boolean {
    let table = this.rootPa;
    for (let level = this.rootLevel; ; level--) {
      this.readEntry(table + entryIndex(gpa, level) * 8);
      this.w.level = level;
      if (level === target) return true;
      if (this.w.state !== SeptState.NL_MAPPED) return false;
      table = septPa(this.w.lo, this.w.hi);
    }
  }

  /** Walk to the leaf of `gpa` (the first entry that is not NL_MAPPED, or a level-0 entry). */
  walkToLeaf(gpa: number): void {
    this.walk(gpa, 0);
  }

  write(entryPa: number, e: readonly [number, number]): void {
    this.sm.write64(entryPa, e[0], e[1]);
  }

  /**
   * The CPU's walk for a guest access needing permission bits `need` (R=1, W=2). On Ok,
   * `this.hpa` is the HPA with HKID; on Violation, `this.w` holds the offending entry.
   */
  translate(gpa: number, need: number): number {
    let table = this.rootPa;
    const w = this.w;
    for (let level = this.rootLevel; ; level--) {
      this.readEntry(table + entryIndex(gpa, level) * 8);
      w.level = level;
      const perms = w.lo & SEPT_RWX;
      if (perms === 0) return SeptXlate.Violation;
      if (level === 0 || (level <= 2 && isLeafState(w.state))) {
        if ((perms & need) !== need) return SeptXlate.Violation;
        this.hpa = septPa(w.lo, w.hi) + (gpa % levelSize(level));
        return SeptXlate.Ok;
      }
      table = septPa(w.lo, w.hi);
    }
  }

  /** Whether every entry of the table at `tablePa` is FREE (SEPT.REMOVE / PROMOTE checks). */
  tableIsFree(tablePa: number): boolean {
    for (let i = 0; i < 512; i++) {
      const lo = this.sm.read64(tablePa + i * 8);
      if (septStateOf(lo, this.sm.hi) !== SeptState.FREE) return false;
    }
    return true;
  }
}
