/**
 * A set-associative translation cache in typed arrays, used for the IOTLB (leaf translations at
 * levels 1-3: 4 KiB, 2 MiB, 1 GiB) and for the paging-structure caches (non-leaf entries at
 * levels 2-5). Entries are tagged by domain-id and PASID (-1: request without PASID in legacy
 * mode) and keyed by the page number at their level, so one lookup probes each page size in use.
 * Replacement is round-robin per set; no allocation on lookup or fill.
 *
 * @spec reference/vtd.md §5.1 (IOTLB tag DID [+PASID], page number, page size; paging-structure
 *   caches tagged DID [+PASID], partial address) and §5.2 (invalidation rules: PSI by type 0x2
 *   drops first-stage/nested entries of the domain regardless of address; PASID-PSI never drops
 *   second-stage-only entries)
 */

/** What kind of walk produced an entry (drives which invalidations remove it). */
export const EntryKind = {
  /** Legacy-mode second-stage. */
  Legacy: 0,
  /** Scalable-mode second-stage only (PGTT=010). */
  SecondStage: 1,
  /** Scalable-mode first-stage only (PGTT=001). */
  FirstStage: 2,
  /** Scalable-mode nested (PGTT=011). */
  Nested: 3,
} as const;
export type EntryKind = (typeof EntryKind)[keyof typeof EntryKind];

/** Permission bits of a cached entry. */
export const Perm8 = {
  R: 1,
  W: 2,
  X: 4,
  /** First-stage: user access allowed at every level. */
  U: 8,
  /** Writes need no accessed/dirty update (D already set, or no A/D tracking). */
  D: 16,
  /** Negative entry (caching mode): the walk faulted with `fault`. */
  NEG: 32,
} as const;

/** Bytes covered by one entry at each level (1: 4 KiB ... 5: 256 TiB). */
export const LEVEL_SIZE = [0, 2 ** 12, 2 ** 21, 2 ** 30, 2 ** 39, 2 ** 48] as const;

export class TranslationCache {
  readonly sets: number;
  readonly ways: number;
  readonly valid: Uint8Array;
  readonly did: Uint16Array;
  readonly pasid: Int32Array;
  readonly level: Uint8Array;
  readonly vpn: Float64Array;
  /** Leaf: output page base (HPA). Non-leaf: next table address. */
  readonly out: Float64Array;
  readonly perm: Uint8Array;
  readonly kind: Uint8Array;
  readonly fault: Uint8Array;
  private readonly victim: Uint8Array;
  /** Valid entries per level, so lookups skip page sizes nobody uses. */
  readonly perLevel = new Int32Array(6);
  enabled: boolean;
  hits = 0;
  misses = 0;

  constructor(sets: number, ways: number) {
    if (sets > 0 && (sets & (sets - 1)) !== 0) throw new RangeError("sets must be a power of two");
    this.sets = sets;
    this.ways = ways;
    const n = sets * ways;
    this.valid = new Uint8Array(n);
    this.did = new Uint16Array(n);
    this.pasid = new Int32Array(n);
    this.level = new Uint8Array(n);
    this.vpn = new Float64Array(n);
    this.out = new Float64Array(n);
    this.perm = new Uint8Array(n);
    this.kind = new Uint8Array(n);
    this.fault = new Uint8Array(n);
    this.victim = new Uint8Array(Math.max(sets, 1));
    this.enabled = n > 0;
  }

  private setBase(did: number, pasid: number, level: number, vpn: number): number {
    const h = Math.imul(
      (vpn >>> 0) ^ Math.imul(did + (level << 16), 0x85eb_ca6b) ^ Math.imul(pasid, 0xc2b2_ae35),
      0x9e37_79b1,
    );
    return ((h ^ (h >>> 15)) & (this.sets - 1)) * this.ways;
  }

  /** The slot caching (did, pasid, level) for `addr`, or -1. */
  lookupLevel(did: number, pasid: number, level: number, addr: number): number {
    const vpn = Math.floor(addr / LEVEL_SIZE[level]!);
    const base = this.setBase(did, pasid, level, vpn);
    const end = base + this.ways;
    for (let s = base; s < end; s++) {
      if (
        this.valid[s] === 1 &&
        this.vpn[s] === vpn &&
        this.did[s] === did &&
        this.pasid[s] === pasid &&
        this.level[s] === level
      ) {
        return s;
      }
    }
    return -1;
  }

  /** IOTLB lookup: the smallest-level entry covering `addr` (levels 1..3 that hold entries). */
  lookupLeaf(did: number, pasid: number, addr: number): number {
    if (!this.enabled) return -1;
    const pl = this.perLevel;
    if (pl[1]! > 0) {
      const s = this.lookupLevel(did, pasid, 1, addr);
      if (s >= 0) return s;
    }
    if (pl[2]! > 0) {
      const s = this.lookupLevel(did, pasid, 2, addr);
      if (s >= 0) return s;
    }
    if (pl[3]! > 0) {
      const s = this.lookupLevel(did, pasid, 3, addr);
      if (s >= 0) return s;
    }
    return -1;
  }

  /** Insert (replacing any entry with the same key); returns the slot. */
  insert(
    did: number,
    pasid: number,
    level: number,
    addr: number,
    out: number,
    perm: number,
    kind: number,
    fault = 0,
  ): number {
    if (!this.enabled) return -1;
    let slot = this.lookupLevel(did, pasid, level, addr);
    const vpn = Math.floor(addr / LEVEL_SIZE[level]!);
    if (slot < 0) {
      const base = this.setBase(did, pasid, level, vpn);
      for (let s = base; s < base + this.ways; s++) {
        if (this.valid[s] === 0) {
          slot = s;
          break;
        }
      }
      if (slot < 0) {
        const set = base / this.ways;
        slot = base + this.victim[set]!;
        this.victim[set] = (this.victim[set]! + 1) % this.ways;
        this.remove(slot);
      }
      this.perLevel[level]!++;
    }
    this.valid[slot] = 1;
    this.did[slot] = did;
    this.pasid[slot] = pasid;
    this.level[slot] = level;
    this.vpn[slot] = vpn;
    this.out[slot] = out;
    this.perm[slot] = perm;
    this.kind[slot] = kind;
    this.fault[slot] = fault;
    return slot;
  }

  remove(slot: number): void {
    if (this.valid[slot] === 1) {
      this.valid[slot] = 0;
      this.perLevel[this.level[slot]!]!--;
    }
  }

  /** Number of valid entries. */
  size(): number {
    let n = 0;
    for (let l = 1; l <= 5; l++) n += this.perLevel[l]!;
    return n;
  }

  invalidateAll(): void {
    this.valid.fill(0);
    this.perLevel.fill(0);
  }

  /** Domain-selective: every entry of `did`. */
  invalidateDomain(did: number): void {
    for (let s = 0; s < this.valid.length; s++)
      if (this.valid[s] === 1 && this.did[s] === did) this.remove(s);
  }

  /** PASID-selective within a domain: every entry of (did, pasid). */
  invalidatePasid(did: number, pasid: number): void {
    for (let s = 0; s < this.valid.length; s++) {
      if (this.valid[s] === 1 && this.did[s] === did && this.pasid[s] === pasid) this.remove(s);
    }
  }

  private overlaps(s: number, start: number, end: number): boolean {
    const size = LEVEL_SIZE[this.level[s]!]!;
    const lo = this.vpn[s]! * size;
    return lo < end && start < lo + size;
  }

  /**
   * Page-selective within a domain (IOTLB descriptor 0x2 / IOTLB register PSI): second-stage
   * entries of `did` overlapping [start, end); first-stage and nested entries of `did` whatever
   * their address.
   */
  invalidatePages(did: number, start: number, end: number): void {
    for (let s = 0; s < this.valid.length; s++) {
      if (this.valid[s] !== 1 || this.did[s] !== did) continue;
      const k = this.kind[s];
      if (k === EntryKind.FirstStage || k === EntryKind.Nested || this.overlaps(s, start, end))
        this.remove(s);
    }
  }

  /** Page-selective within a PASID (descriptor 0x6 G=3): first-stage and nested entries only. */
  invalidatePasidPages(did: number, pasid: number, start: number, end: number): void {
    for (let s = 0; s < this.valid.length; s++) {
      if (this.valid[s] !== 1 || this.did[s] !== did || this.pasid[s] !== pasid) continue;
      const k = this.kind[s];
      if ((k === EntryKind.FirstStage || k === EntryKind.Nested) && this.overlaps(s, start, end))
        this.remove(s);
    }
  }
}
