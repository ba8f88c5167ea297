/**
 * Building VMSAv8-64 page tables in memory, as an OS or hypervisor does: stage-1 tables (what a
 * process or io-pgtable owns, AP/nG/XN attributes) and stage-2 tables (S2AP, MemAttr, XN, with
 * concatenated first-level tables). Used by drivers, the vSVA host and guest, and tests; the
 * SMMU itself only ever reads the result.
 *
 * @spec reference/smmu.md §4.1-4.4 (granules, descriptor bits, S2 concatenation); defaults follow
 *   torvalds/linux drivers/iommu/io-pgtable-arm.c (stage 1: nG, AP_UNPRIV unless privileged, AF;
 *   stage 2: MemAttr normal write-back, AF)
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";
import type { TableMemory } from "./alloc";
import { DescHi, DescLo, outputAddress } from "./descriptor";
import {
  blockAllowed,
  type GranuleLog2,
  levelShift,
  POW2,
  s1StartLevel,
  s2ConcatenatedTables,
} from "./granule";

/** Attributes of one mapping. Defaults: readable, writable, not executable, EL0-accessible, AF set, non-global. */
export interface MapAttrs {
  readonly read?: boolean;
  readonly write?: boolean;
  readonly exec?: boolean;
  /** Stage 1: EL0 (unprivileged) access (AP[1]); default true. */
  readonly user?: boolean;
  /** Stage 1: global (nG = 0); default false. */
  readonly global?: boolean;
  /** Access flag; default true. */
  readonly af?: boolean;
  /** Dirty-bit modifier (DBM); default false. */
  readonly dbm?: boolean;
  /** Stage 2: MemAttr[3:0]; default 0xF (Normal, write-back). */
  readonly memAttr?: number;
}

export interface PageTableFormat {
  readonly stage: 1 | 2;
  readonly g: GranuleLog2;
  /** Input address bits (64 - TxSZ). */
  readonly inputBits: number;
  /** Stage 2 only: starting level (from S2SL0); stage 1 derives it from inputBits. */
  readonly startLevel?: number;
  /** Output address size in bits (for 52-bit 64 KiB descriptors); default 48. */
  readonly oaBits?: number;
}

export class PageTable {
  readonly root: number;
  readonly startLevel: number;
  readonly concat: number;
  private readonly g: number;
  private readonly oa: number;
  private readonly d = new Uint32Array(2);

  constructor(
    private readonly mem: TableMemory,
    readonly fmt: PageTableFormat,
  ) {
    const g = fmt.g;
    this.g = g;
    this.oa = fmt.oaBits ?? 48;
    if (fmt.stage === 1) {
      this.startLevel = s1StartLevel(g, fmt.inputBits);
      this.concat = 1;
    } else {
      if (fmt.startLevel === undefined) {
        throw new TdxSimError("E_PGTABLE", "a stage-2 table needs its starting level (from S2SL0)");
      }
      this.startLevel = fmt.startLevel;
      this.concat = s2ConcatenatedTables(g, fmt.startLevel, fmt.inputBits);
      if (this.concat === 0) {
        throw new TdxSimError(
          "E_PGTABLE",
          `stage-2 start level ${fmt.startLevel} with ${fmt.inputBits} input bits needs more than 16 concatenated tables`,
        );
      }
    }
    const bytes = this.rootBytes();
    this.root = mem.alloc(bytes, Math.max(bytes, 64));
  }

  private rootBytes(): number {
    const bits = this.fmt.inputBits - levelShift(this.g, this.startLevel);
    return Math.max(8 * 2 ** Math.min(bits, this.g - 3) * this.concat, 64);
  }

  private indexAt(va: number, level: number): number {
    const shift = levelShift(this.g, level);
    const bits = level === this.startLevel ? this.fmt.inputBits - shift : this.g - 3;
    return Math.floor(va / POW2[shift]!) % POW2[bits]!;
  }

  private checkVa(va: number, sizeLog2: number): number {
    if (!Number.isSafeInteger(va) || va < 0 || va >= 2 ** this.fmt.inputBits || va % 2 ** sizeLog2 !== 0) {
      throw new TdxSimError(
        "E_PGTABLE",
        `address 0x${va.toString(16)} must be ${2 ** sizeLog2}-byte aligned and below 2^${this.fmt.inputBits}`,
      );
    }
    const level = 3 - (sizeLog2 - this.g) / (this.g - 3);
    if (
      !Number.isInteger(level) ||
      level < this.startLevel ||
      (level < 3 && !blockAllowed(this.g, level, this.oa))
    ) {
      throw new TdxSimError(
        "E_PGTABLE",
        `a ${2 ** sizeLog2}-byte mapping is not a page or block size of the ${2 ** this.g}-byte granule here`,
      );
    }
    return level;
  }

  /** The address of the descriptor that maps `va` at `level`, creating tables on the way. */
  private slot(va: number, level: number, create: boolean): number {
    let table = this.root;
    for (let l = this.startLevel; l < level; l++) {
      const at = table + this.indexAt(va, l) * 8;
      this.mem.read64(at, this.d);
      const lo = this.d[0]!;
      if ((lo & 3) === 3) {
        table = outputAddress(lo, this.d[1]!, this.g, this.oa);
        continue;
      }
      if ((lo & 1) === 1) {
        throw new TdxSimError(
          "E_PGTABLE",
          `0x${va.toString(16)} is already covered by a block at level ${l}`,
        );
      }
      if (!create) return -1;
      const size = 2 ** this.g;
      const next = this.mem.alloc(size, size);
      this.mem.write64(at, ((next >>> 0) | 3) >>> 0, Math.floor(next / 4294967296));
      table = next;
    }
    return table + this.indexAt(va, level) * 8;
  }

  /** Map [va, va + 2^sizeLog2) to pa with one page or block descriptor. */
  map(va: number, pa: number, sizeLog2: number, attrs: MapAttrs = {}): void {
    const level = this.checkVa(va, sizeLog2);
    if (!Number.isSafeInteger(pa) || pa < 0 || pa >= 2 ** this.oa || pa % 2 ** sizeLog2 !== 0) {
      throw new TdxSimError(
        "E_PGTABLE",
        `output 0x${pa.toString(16)} must be ${2 ** sizeLog2}-byte aligned and below 2^${this.oa}`,
      );
    }
    const at = this.slot(va, level, true);
    const [lo, hi] = this.leaf(pa, level, attrs);
    this.mem.write64(at, lo, hi);
  }

  /** Remove the mapping of `va` (its leaf descriptor becomes invalid). No invalidation. */
  unmap(va: number, sizeLog2: number): void {
    const level = this.checkVa(va, sizeLog2);
    const at = this.slot(va, level, false);
    if (at >= 0) this.mem.write64(at, 0, 0);
  }

  /** The address of the leaf descriptor mapping `va` at the level of `sizeLog2`, or -1. */
  leafAddress(va: number, sizeLog2: number): number {
    return this.slot(va, this.checkVa(va, sizeLog2), false);
  }

  /** Software walk: the output address of `va`, or -1 if unmapped (used by a VMM to reach guest memory). */
  lookup(va: number): number {
    let table = this.root;
    for (let l = this.startLevel; l <= 3; l++) {
      this.mem.read64(table + this.indexAt(va, l) * 8, this.d);
      const lo = this.d[0]!;
      const hi = this.d[1]!;
      if ((lo & 1) === 0) return -1;
      const out = outputAddress(lo, hi, this.g, this.oa);
      if (l < 3 && (lo & 2) !== 0) {
        table = out;
        continue;
      }
      return out + (va % POW2[levelShift(this.g, l)]!);
    }
    return -1;
  }

  private leaf(pa: number, level: number, a: MapAttrs): [number, number] {
    let lo = ((pa >>> 0) | (level === 3 ? 3 : 1) | (3 << 8)) >>> 0; // SH = inner shareable
    let hi = Math.floor(pa / 4294967296) & 0xffff;
    if (this.g === 16 && this.oa === 52) {
      lo = (lo & 0xffff0fff) | ((Math.floor(pa / 2 ** 48) & 0xf) << 12);
    }
    if (a.af ?? true) lo |= DescLo.AF;
    if (a.dbm) hi |= DescHi.DBM;
    const read = a.read ?? true;
    const write = a.write ?? true;
    if (this.fmt.stage === 1) {
      if (!write && read) lo |= DescLo.AP2;
      if (!write && !read) lo |= DescLo.AP2; // read-only is the least stage 1 can express
      if (a.user ?? true) lo |= DescLo.AP1;
      if (!(a.global ?? false)) lo |= DescLo.NG;
      if (!(a.exec ?? false)) hi |= DescHi.UXN | DescHi.PXN;
    } else {
      lo |= ((a.memAttr ?? 0xf) & 0xf) << 2;
      if (read) lo |= DescLo.S2AP_R;
      if (write) lo |= DescLo.S2AP_W;
      if (!(a.exec ?? false)) hi |= DescHi.UXN;
    }
    return [lo >>> 0, hi >>> 0];
  }
}
