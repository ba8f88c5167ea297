/**
 * The configuration cache: decoded STEs by StreamID and decoded CDs by (StreamID, CD index),
 * in fixed pools of reusable objects with typed-array tags (direct-mapped). Entries change only
 * when a CFGI command invalidates them (or, as any cache may, when a conflicting fill replaces
 * one); memory edits stay invisible until then. Invalidating an STE also drops the CDs cached
 * under its StreamID, since they were reached through it.
 *
 * @spec reference/smmu.md §5.1 (CFGI_STE / _RANGE / CFGI_ALL / CFGI_CD / CFGI_CD_ALL), §9.2 test 9
 *   ("memory edits invisible until CFGI"); sources: qemu/qemu hw/arm/smmuv3.c
 *   (smmuv3_flush_config: one cache entry per StreamID holds the STE and its CD)
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";
import { CdConfig } from "./cd";
import { SteConfig } from "./ste";

export class ConfigCache {
  readonly steSlots: number;
  readonly cdSlots: number;
  private readonly steKey: Float64Array;
  readonly ste: SteConfig[];
  private readonly cdKeySid: Float64Array;
  private readonly cdKeyIdx: Int32Array;
  readonly cd: CdConfig[];
  /** Bumped by every invalidation and replacement (the translation path memoises on it). */
  generation = 0;

  constructor(steSlots: number, cdSlots: number) {
    for (const [n, v] of [
      ["STE", steSlots],
      ["CD", cdSlots],
    ] as const) {
      if (!Number.isInteger(v) || v < 1 || (v & (v - 1)) !== 0 || v > 1 << 16) {
        throw new TdxSimError(
          "E_SMMU_CFGCACHE",
          `${n} cache slots = ${String(v)}: must be a power of two in 1..65536`,
        );
      }
    }
    this.steSlots = steSlots;
    this.cdSlots = cdSlots;
    this.steKey = new Float64Array(steSlots).fill(-1);
    this.ste = Array.from({ length: steSlots }, () => new SteConfig());
    this.cdKeySid = new Float64Array(cdSlots).fill(-1);
    this.cdKeyIdx = new Int32Array(cdSlots);
    this.cd = Array.from({ length: cdSlots }, () => new CdConfig());
  }

  steSlot(sid: number): number {
    return (sid ^ (sid >>> 12)) & (this.steSlots - 1);
  }
  cdSlot(sid: number, idx: number): number {
    return ((sid * 31) ^ idx ^ (idx >>> 10)) & (this.cdSlots - 1);
  }

  /** The cached STE for `sid`, or null. */
  findSte(sid: number): SteConfig | null {
    const s = this.steSlot(sid);
    return this.steKey[s] === sid ? this.ste[s]! : null;
  }
  /** Claim the slot for `sid` (the caller refills the returned object). */
  claimSte(sid: number): SteConfig {
    const s = this.steSlot(sid);
    if (this.steKey[s] !== -1 && this.steKey[s] !== sid) this.generation++;
    this.steKey[s] = sid;
    return this.ste[s]!;
  }
  /** Forget a claim whose fill failed. */
  releaseSte(sid: number): void {
    const s = this.steSlot(sid);
    if (this.steKey[s] === sid) this.steKey[s] = -1;
  }

  findCd(sid: number, idx: number): CdConfig | null {
    const s = this.cdSlot(sid, idx);
    return this.cdKeySid[s] === sid && this.cdKeyIdx[s] === idx ? this.cd[s]! : null;
  }
  claimCd(sid: number, idx: number): CdConfig {
    const s = this.cdSlot(sid, idx);
    if (this.cdKeySid[s] !== -1 && (this.cdKeySid[s] !== sid || this.cdKeyIdx[s] !== idx)) this.generation++;
    this.cdKeySid[s] = sid;
    this.cdKeyIdx[s] = idx;
    return this.cd[s]!;
  }
  releaseCd(sid: number, idx: number): void {
    const s = this.cdSlot(sid, idx);
    if (this.cdKeySid[s] === sid && this.cdKeyIdx[s] === idx) this.cdKeySid[s] = -1;
  }

  /** CFGI_STE: the STE of `sid` and every CD cached under it. */
  invalidateSte(sid: number): void {
    this.invalidateSteRange(sid, 1);
  }

  /** CFGI_STE_RANGE: `count` StreamIDs from `first` (their STEs and CDs). */
  invalidateSteRange(first: number, count: number): void {
    const end = first + count;
    for (let i = 0; i < this.steSlots; i++) {
      const k = this.steKey[i]!;
      if (k >= first && k < end) this.steKey[i] = -1;
    }
    for (let i = 0; i < this.cdSlots; i++) {
      const k = this.cdKeySid[i]!;
      if (k >= first && k < end) this.cdKeySid[i] = -1;
    }
    this.generation++;
  }

  /** CFGI_ALL. */
  invalidateAll(): void {
    this.steKey.fill(-1);
    this.cdKeySid.fill(-1);
    this.generation++;
  }

  /** CFGI_CD: one CD of a stream. */
  invalidateCd(sid: number, idx: number): void {
    this.releaseCd(sid, idx);
    this.generation++;
  }

  /** CFGI_CD_ALL: every CD of a stream. */
  invalidateCdAll(sid: number): void {
    for (let i = 0; i < this.cdSlots; i++) if (this.cdKeySid[i] === sid) this.cdKeySid[i] = -1;
    this.generation++;
  }

  /** Number of cached STEs and CDs (for tests and reports). */
  occupancy(): { ste: number; cd: number } {
    let ste = 0;
    let cd = 0;
    for (const k of this.steKey) if (k !== -1) ste++;
    for (const k of this.cdKeySid) if (k !== -1) cd++;
    return { ste, cd };
  }
}
