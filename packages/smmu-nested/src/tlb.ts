/**
 * The translation cache (TLB), tagged by translation kind (stage 1 only, stage 2 only, combined
 * nested), VMID and ASID (or global), held entirely in typed arrays: set-associative, indexed by
 * the 4 KiB input page of the access, round-robin replacement. An entry covers a region (page or
 * block; for nested, the smaller of the two stages) and keeps its stage-1 region apart so that
 * stage-1 invalidation by address catches every fragment of a stage-1 block.
 *
 * Invalidation follows the command semantics: NH_* act on stage-1 and combined entries of a
 * VMID, S2_IPA only on stage-2-only entries (combined entries are tagged by VA and survive it),
 * S12_VMALL on everything of a VMID, NSNH_ALL on everything.
 *
 * @spec reference/smmu.md §4.5 ("Caching"), §4.6 (invalidation obligations under nesting), §2.2
 *   ("the VMID tags stage-1 TLB entries even when stage 2 is off"); sources: qemu/qemu
 *   hw/arm/smmu-common.c (IOTLB keyed by ASID, VMID, IOVA, granule, level; invalidation helpers)
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";
import { POW2 } from "./granule";

/** What an entry translates. */
export const TlbKind = { NONE: 0, S1: 1, S2: 2, NESTED: 3 } as const;
export type TlbKind = (typeof TlbKind)[keyof typeof TlbKind];

/** Permission bits kept per entry (also used by the walker). */
export const PermBit = {
  PRIV_R: 1,
  PRIV_W: 2,
  PRIV_X: 4,
  UNPRIV_R: 8,
  UNPRIV_W: 16,
  UNPRIV_X: 32,
  /** Stage-2 memory type is Device (for the S2PTW check of stage-1 table fetches). */
  DEVICE: 64,
} as const;
export const PERM_ALL = 63;

export interface TlbGeometry {
  /** Number of sets (a power of two); 0 disables the TLB. */
  readonly sets: number;
  readonly ways: number;
}

export class Tlb {
  readonly sets: number;
  readonly ways: number;
  private readonly setMask: number;
  readonly kind: Uint8Array;
  readonly vmid: Int32Array;
  readonly asid: Int32Array;
  readonly global: Uint8Array;
  /** The 4 KiB input page the entry is filed under. */
  readonly page: Float64Array;
  /** Input base and log2 size of the region the entry covers. */
  readonly base: Float64Array;
  readonly sizeLog2: Uint8Array;
  /** Output address of `base`. */
  readonly out: Float64Array;
  readonly perm: Uint8Array;
  /** Stage-1 region (kinds S1 and NESTED) for invalidation by VA. */
  readonly s1Base: Float64Array;
  readonly s1SizeLog2: Uint8Array;
  private readonly victim: Uint8Array;
  /** Entries currently valid. */
  occupancy = 0;

  constructor(geom: TlbGeometry) {
    const { sets, ways } = geom;
    if (!Number.isInteger(sets) || sets < 0 || (sets & (sets - 1)) !== 0 || sets > 1 << 20) {
      throw new TdxSimError(
        "E_SMMU_TLB",
        `TLB sets = ${String(sets)}: must be 0 or a power of two up to 2^20`,
      );
    }
    if (!Number.isInteger(ways) || ways < 1 || ways > 64) {
      throw new TdxSimError("E_SMMU_TLB", `TLB ways = ${String(ways)}: must be 1..64`);
    }
    this.sets = sets;
    this.ways = ways;
    this.setMask = sets - 1;
    const n = sets * ways;
    this.kind = new Uint8Array(n);
    this.vmid = new Int32Array(n);
    this.asid = new Int32Array(n);
    this.global = new Uint8Array(n);
    this.page = new Float64Array(n).fill(-1);
    this.base = new Float64Array(n);
    this.sizeLog2 = new Uint8Array(n);
    this.out = new Float64Array(n);
    this.perm = new Uint8Array(n);
    this.s1Base = new Float64Array(n);
    this.s1SizeLog2 = new Uint8Array(n);
    this.victim = new Uint8Array(Math.max(sets, 1));
  }

  private setOf(page: number, vmid: number): number {
    return ((page ^ (page / 4294967296) ^ (vmid * 0x9e37)) & this.setMask) * this.ways;
  }

  /** Entry index for (kind, vmid, asid or a global entry, 4 KiB page), or -1. */
  lookup(kind: number, vmid: number, asid: number, page: number): number {
    if (this.sets === 0) return -1;
    const first = this.setOf(page, vmid);
    const end = first + this.ways;
    for (let i = first; i < end; i++) {
      if (
        this.page[i] === page &&
        this.kind[i] === kind &&
        this.vmid[i] === vmid &&
        (this.asid[i] === asid || this.global[i] === 1)
      )
        return i;
    }
    return -1;
  }

  /** File an entry under the 4 KiB page of `addr` (replacing an equal-tagged one or the set's victim). */
  insert(
    kind: number,
    vmid: number,
    asid: number,
    global: boolean,
    addr: number,
    base: number,
    sizeLog2: number,
    out: number,
    perm: number,
    s1Base: number,
    s1SizeLog2: number,
  ): void {
    if (this.sets === 0) return;
    const page = Math.floor(addr / 4096);
    const first = this.setOf(page, vmid);
    let slot = -1;
    for (let i = first; i < first + this.ways; i++) {
      if (this.page[i] === page && this.kind[i] === kind && this.vmid[i] === vmid && this.asid[i] === asid) {
        slot = i;
        break;
      }
    }
    if (slot < 0) {
      for (let i = first; i < first + this.ways; i++) {
        if (this.kind[i] === TlbKind.NONE) {
          slot = i;
          break;
        }
      }
    }
    if (slot < 0) {
      const set = first / this.ways;
      const v = this.victim[set]!;
      slot = first + v;
      this.victim[set] = (v + 1) % this.ways;
    }
    if (this.kind[slot] === TlbKind.NONE) this.occupancy++;
    this.kind[slot] = kind;
    this.vmid[slot] = vmid;
    this.asid[slot] = asid;
    this.global[slot] = global ? 1 : 0;
    this.page[slot] = page;
    this.base[slot] = base;
    this.sizeLog2[slot] = sizeLog2;
    this.out[slot] = out;
    this.perm[slot] = perm;
    this.s1Base[slot] = s1Base;
    this.s1SizeLog2[slot] = s1SizeLog2;
  }

  private drop(i: number): void {
    if (this.kind[i] !== TlbKind.NONE) this.occupancy--;
    this.kind[i] = TlbKind.NONE;
    this.page[i] = -1;
  }

  /** TLBI_NSNH_ALL: every entry. */
  invalidateAll(): void {
    this.kind.fill(0);
    this.page.fill(-1);
    this.occupancy = 0;
  }

  /** TLBI_S12_VMALL: every entry (stage 1, stage 2, combined) of a VMID. */
  invalidateVmid(vmid: number): void {
    for (let i = 0; i < this.kind.length; i++) if (this.kind[i] !== 0 && this.vmid[i] === vmid) this.drop(i);
  }

  /** TLBI_NH_ALL: stage-1 and combined entries of a VMID. */
  invalidateNhAll(vmid: number): void {
    for (let i = 0; i < this.kind.length; i++) {
      const k = this.kind[i];
      if ((k === TlbKind.S1 || k === TlbKind.NESTED) && this.vmid[i] === vmid) this.drop(i);
    }
  }

  /** TLBI_NH_ASID: non-global stage-1 and combined entries of (VMID, ASID). */
  invalidateNhAsid(vmid: number, asid: number): void {
    for (let i = 0; i < this.kind.length; i++) {
      const k = this.kind[i];
      if (
        (k === TlbKind.S1 || k === TlbKind.NESTED) &&
        this.vmid[i] === vmid &&
        this.asid[i] === asid &&
        this.global[i] === 0
      )
        this.drop(i);
    }
  }

  /**
   * TLBI_NH_VA / NH_VAA: stage-1 and combined entries of a VMID whose stage-1 region overlaps
   * [start, end), for one ASID (plus global entries) or, with asid = -1, every ASID.
   */
  invalidateNhRange(vmid: number, asid: number, start: number, end: number): void {
    for (let i = 0; i < this.kind.length; i++) {
      const k = this.kind[i];
      if ((k !== TlbKind.S1 && k !== TlbKind.NESTED) || this.vmid[i] !== vmid) continue;
      if (asid >= 0 && this.asid[i] !== asid && this.global[i] === 0) continue;
      const b = this.s1Base[i]!;
      if (b < end && b + POW2[this.s1SizeLog2[i]!]! > start) this.drop(i);
    }
  }

  /** TLBI_S2_IPA: stage-2-only entries of a VMID overlapping [start, end). Combined entries stay. */
  invalidateS2Range(vmid: number, start: number, end: number): void {
    for (let i = 0; i < this.kind.length; i++) {
      if (this.kind[i] !== TlbKind.S2 || this.vmid[i] !== vmid) continue;
      const b = this.base[i]!;
      if (b < end && b + POW2[this.sizeLog2[i]!]! > start) this.drop(i);
    }
  }
}
