/**
 * The PAMT (physical address metadata table) kept in simulated physical memory, encrypted with
 * the module's global KeyID: a 16-byte entry (16-bit lock, 5-bit page type, 40-bit owner PA>>12,
 * 64-bit BEPOCH) per 4 KiB, 2 MiB and 1 GiB of every TDMR, hierarchical (a 2 MiB page is one
 * PT_REG entry in PAMT_2M with its 512 PAMT_4K children PT_NDA). TDH.SYS.TDMR.INIT initialises
 * it 1024 PAMT_4K entries (4 MiB of TDMR) per call; a 1 GiB block is usable once complete.
 *
 * @spec shared/reference/tdx-module.md §5.3, §3.5 (page types); intel/tdx-module
 *   src/common/memory_handlers/pamt_manager.{h,c} (pamt_entry_t, pamt_init, pamt_walk,
 *   pamt_promote/demote), src/vmm_dispatcher/api_calls/tdh_sys_tdmr_init.c
 */
import type { SeamMemory } from "./seam-memory";
import { LEVEL_BYTES, PageType } from "./states";
import { PAMT_ENTRY_SIZE, type TdmrInfo } from "./tdmr";

const GIB = 1024 * 1024 * 1024;
const ZERO_LINE = new Uint8Array(64);
/** PAMT_4K entries TDH.SYS.TDMR.INIT initialises per call (TDMR_4K_PAMT_INIT_COUNT = 1 KiB). */
export const TDMR_INIT_ENTRIES_PER_CALL = 1024;

/** A TDMR as the module records it after TDH.SYS.CONFIG. */
export interface TdmrRecord {
  readonly info: TdmrInfo;
  /** Next-to-initialize address (starts at base). */
  lastInitialized: number;
}

/** One decoded PAMT entry. */
export interface PamtEntry {
  pageType: number;
  /** Owner PA (TDR page for TD pages), 4 KiB aligned. */
  owner: number;
  /** BEPOCH (TLB epoch recorded at BLOCK). */
  bepoch: number;
}

/** Where a PA's PAMT lives: TDMR index and whether its 1 GiB block is initialised. */
export interface PamtLocation {
  readonly tdmr: number;
  readonly ready: boolean;
}

export class Pamt {
  private tdmrs: TdmrRecord[] = [];
  private readonly entry: PamtEntry = { pageType: 0, owner: 0, bepoch: 0 };
  private readonly chunk = new Uint8Array(TDMR_INIT_ENTRIES_PER_CALL * PAMT_ENTRY_SIZE);

  constructor(
    private readonly sm: SeamMemory,
    private globalHkid = 0,
  ) {}

  configure(tdmrs: readonly TdmrInfo[], globalHkid: number): void {
    this.tdmrs = tdmrs.map((info) => ({ info, lastInitialized: info.base }));
    this.globalHkid = globalHkid;
  }

  get records(): readonly TdmrRecord[] {
    return this.tdmrs;
  }

  /** Index of the TDMR covering `pa` (KeyID bits stripped), or -1. */
  tdmrOf(pa: number): number {
    for (let i = 0; i < this.tdmrs.length; i++) {
      const t = this.tdmrs[i]!.info;
      if (pa >= t.base && pa < t.base + t.size) return i;
    }
    return -1;
  }

  /** Whether `pa` is in a TDMR whose 1 GiB block around `pa` has an initialised PAMT. */
  isReady(pa: number): boolean {
    const i = this.tdmrOf(pa);
    if (i < 0) return false;
    const r = this.tdmrs[i]!;
    const blockEnd = Math.floor(pa / GIB) * GIB + GIB;
    return r.lastInitialized >= blockEnd;
  }

  private entryPa(pa: number, level: number): number {
    const i = this.tdmrOf(pa);
    const t = this.tdmrs[i]!.info;
    const off = pa - t.base;
    const base = level === 0 ? t.pamt4kBase : level === 1 ? t.pamt2mBase : t.pamt1gBase;
    return this.sm.layout.withKey(
      base + Math.floor(off / LEVEL_BYTES[level]!) * PAMT_ENTRY_SIZE,
      this.globalHkid,
    );
  }

  /** Read the entry of `pa` at `level` (the returned object is reused by the next read). */
  read(pa: number, level: number): PamtEntry {
    const epa = this.entryPa(pa, level);
    const lo = this.sm.read64(epa);
    const hi = this.sm.hi;
    const e = this.entry;
    e.pageType = (lo >>> 16) & 0x1f;
    e.owner = (hi * 256 + (lo >>> 24)) * 4096;
    e.bepoch = this.sm.read64(epa + 8) + this.sm.hi * 4294967296;
    return e;
  }

  /** Write the entry of `pa` at `level` (lock field 0: the model is single-threaded). */
  write(pa: number, level: number, pageType: number, owner: number, bepoch = 0): void {
    const epa = this.entryPa(pa, level);
    const ownerField = Math.floor(owner / 4096);
    const lo = ((pageType & 0x1f) << 16) | ((ownerField & 0xff) << 24);
    this.sm.write64(epa, lo >>> 0, Math.floor(ownerField / 256) >>> 0);
    this.sm.write64(epa + 8, bepoch >>> 0, Math.floor(bepoch / 4294967296) >>> 0);
  }

  /** Update only BEPOCH of an entry. */
  setBepoch(pa: number, level: number, bepoch: number): void {
    const epa = this.entryPa(pa, level);
    this.sm.write64(epa + 8, bepoch >>> 0, Math.floor(bepoch / 4294967296) >>> 0);
  }

  /**
   * Hierarchical walk (pamt_walk): the level at which `pa` is a leaf — 1G if its PAMT_1G entry is
   * PT_REG, else 2M if its PAMT_2M entry is PT_REG, else 4K. The entry is then `read(pa, level)`.
   */
  leafLevel(pa: number): number {
    if (this.read(pa, 2).pageType === PageType.PT_REG) return 2;
    if (this.read(pa, 1).pageType === PageType.PT_REG) return 1;
    return 0;
  }

  /**
   * One TDH.SYS.TDMR.INIT step on TDMR `index`: initialise the next 1024 PAMT_4K entries
   * (PT_RSVD inside reserved areas, PT_NDA elsewhere) and the PAMT_2M/1G entries they complete.
   * Returns the new next-to-initialize address.
   */
  initChunk(index: number): number {
    const r = this.tdmrs[index]!;
    const t = r.info;
    const start = r.lastInitialized;
    const n = TDMR_INIT_ENTRIES_PER_CALL;
    const c = this.chunk;
    c.fill(0);
    for (const area of t.reserved) {
      if (area.size === 0) break;
      const rs = t.base + area.offset;
      const re = rs + area.size;
      const from = Math.max(rs, start);
      const to = Math.min(re, start + n * 4096);
      for (let p = from; p < to; p += 4096) c[((p - start) / 4096) * PAMT_ENTRY_SIZE + 2] = PageType.PT_RSVD;
    }
    const base4k = t.pamt4kBase + ((start - t.base) / 4096) * PAMT_ENTRY_SIZE;
    this.sm.write(this.sm.layout.withKey(base4k, this.globalHkid), c);
    // PAMT_2M entries for the 2 MiB ranges this chunk covers (4 MiB = 2 entries) and the PAMT_1G
    // entry of a new block, PT_NDA; a node entry at a cache-line start zeroes the whole line first
    // (pamt_nodes_init's zero_cacheline), so later 16-byte updates hit lines the global key owns.
    for (let p = start; p < start + n * 4096; p += LEVEL_BYTES[1]!) this.initNode(p, 1);
    if ((start - t.base) % GIB === 0) this.initNode(start, 2);
    r.lastInitialized = start + n * 4096;
    return r.lastInitialized;
  }

  private initNode(pa: number, level: number): void {
    const epa = this.entryPa(pa, level);
    if (epa % 64 === 0) this.sm.write(epa, ZERO_LINE);
    this.write(pa, level, PageType.PT_NDA, 0);
  }

  /** Total bytes of PAMT the host provided (sum of the three areas of every TDMR). */
  bytes(): number {
    let s = 0;
    for (const { info: t } of this.tdmrs) s += t.pamt1gSize + t.pamt2mSize + t.pamt4kSize;
    return s;
  }

  /**
   * Count of 4 KiB pages by effective page type over every initialised TDMR block (a 2M/1G
   * PT_REG leaf counts as 512/262144 PT_REG pages). For reports and teardown checks.
   */
  census(): Map<number, number> {
    const counts = new Map<number, number>();
    const add = (t: number, n: number) => counts.set(t, (counts.get(t) ?? 0) + n);
    const buf = new Uint8Array(4096);
    for (const { info: t, lastInitialized } of this.tdmrs) {
      for (let blk = t.base; blk < Math.min(lastInitialized, t.base + t.size); blk += GIB) {
        if (lastInitialized < blk + GIB) continue;
        if (this.read(blk, 2).pageType === PageType.PT_REG) {
          add(PageType.PT_REG, GIB / 4096);
          continue;
        }
        for (let m = blk; m < blk + GIB; m += LEVEL_BYTES[1]!) {
          if (this.read(m, 1).pageType === PageType.PT_REG) {
            add(PageType.PT_REG, 512);
            continue;
          }
          const e4 = t.pamt4kBase + ((m - t.base) / 4096) * PAMT_ENTRY_SIZE;
          for (let off = 0; off < 512 * PAMT_ENTRY_SIZE; off += 4096) {
            this.sm.read(this.sm.layout.withKey(e4 + off, this.globalHkid), buf);
            for (let k = 2; k < 4096; k += PAMT_ENTRY_SIZE) add(buf[k]! & 0x1f, 1);
          }
        }
      }
    }
    return counts;
  }
}
