/**
 * A device's address-translation cache (ATS device-TLB), for contexts that allow translation
 * requests (legacy TT=01, scalable DTE=1). On a miss the device sends a translation request
 * (AT=01): the unit walks and returns the translation without touching memory; the device caches
 * it and then issues translated requests (AT=10) carrying the HPA, which the unit passes through
 * (after its TDX checks) without walking. Entries stay until a device-TLB invalidation from the
 * unit (descriptors 0x3 / 0x8) removes them, so a device can use a stale translation, as real ATS
 * devices can, until software invalidates.
 *
 * @spec reference/vtd.md §2.2 (TT=01: translation and translated requests allowed), §2.5 step 6,
 *   §5.1 (device-TLB, invalidated by 0x3 / 0x8), §5.2 (ATS size encoding)
 */
import { Initiator, type PhysicalMemoryAccess } from "@tdx/hw-cpu-seam";
import { LEVEL_SIZE, Perm8, TranslationCache } from "../caches/translation-cache";
import { AddressType, type VtdFault } from "../faults/fault-recorder";
import type { DeviceTlbSink } from "../invalidation/cache-ops";
import type { DmaPortUnit } from "./dma-port";

/** What the device-TLB needs of its unit (VtdUnit provides it). */
export interface AtsUnit extends DmaPortUnit {
  translateFast(
    sid: number,
    pasid: number,
    addr: number,
    write: boolean,
    exec?: boolean,
    priv?: boolean,
    at?: number,
  ): number;
  attachDeviceTlb(sid: number, tlb: DeviceTlbSink): void;
}

export type AtsResult = { readonly ok: true } | { readonly ok: false; readonly fault: VtdFault };

const OK: AtsResult = Object.freeze({ ok: true });
const NO_PASID_TAG = 0xfffff + 1;

export class DeviceTlb implements DeviceTlbSink {
  private readonly cache: TranslationCache;
  /** Translation requests sent to the unit, and invalidations received. */
  translationRequests = 0;
  invalidations = 0;

  constructor(
    private readonly unit: AtsUnit,
    private readonly mem: PhysicalMemoryAccess,
    readonly sid: number,
    entries = 64,
  ) {
    this.cache = new TranslationCache(Math.max(1, entries / 4), 4);
    unit.attachDeviceTlb(sid, this);
  }

  private tag(pasid: number): number {
    return pasid < 0 ? NO_PASID_TAG : pasid;
  }

  /** The cached or freshly requested translation of `iova`; the slot in the ATC, or a fault. */
  private lookup(pasid: number, iova: number, write: boolean): number | VtdFault {
    const tag = this.tag(pasid);
    const s = this.cache.lookupLeaf(0, tag, iova);
    if (s >= 0 && (this.cache.perm[s]! & (write ? Perm8.W : Perm8.R)) !== 0) return s;
    this.translationRequests++;
    const code = this.unit.translateFast(
      this.sid,
      pasid,
      iova,
      write,
      false,
      false,
      AddressType.TranslationRequest,
    );
    if (code !== 0) return this.unit.lastFault!;
    const t = this.unit.lastTranslation;
    const level = t.size === LEVEL_SIZE[3] ? 3 : t.size === LEVEL_SIZE[2] ? 2 : 1;
    return this.cache.insert(0, tag, level, iova, t.outBase, t.perm & (Perm8.R | Perm8.W), 0);
  }

  /** Number of cached translations. */
  size(): number {
    return this.cache.size();
  }

  /** Device read through its ATC: translated requests carrying the cached HPA. */
  dmaRead(pasid: number, iova: number, dst: Uint8Array): AtsResult {
    return this.move(pasid, iova, dst, false);
  }

  dmaWrite(pasid: number, iova: number, src: Uint8Array): AtsResult {
    return this.move(pasid, iova, src, true);
  }

  private move(pasid: number, iova: number, buf: Uint8Array, write: boolean): AtsResult {
    let off = 0;
    while (off < buf.length) {
      const addr = iova + off;
      const s = this.lookup(pasid, addr, write);
      if (typeof s !== "number") return { ok: false, fault: s };
      const size = LEVEL_SIZE[this.cache.level[s]!]!;
      const base = this.cache.vpn[s]! * size;
      const hpa = this.cache.out[s]! + (addr - base);
      const chunk = Math.min(buf.length - off, base + size - addr);
      // The translated request: the unit checks it is allowed (TT/DTE, TDX) without walking.
      const code = this.unit.translateFast(this.sid, pasid, hpa, write, false, false, AddressType.Translated);
      if (code !== 0) return { ok: false, fault: this.unit.lastFault! };
      const part = buf.subarray(off, off + chunk);
      const st = write
        ? this.mem.write(hpa, part, Initiator.Device)
        : this.mem.read(hpa, part, Initiator.Device);
      if (st !== 0)
        return {
          ok: false,
          fault: this.unit.recorder.report({
            code: 0xf9,
            sid: this.sid,
            pasid,
            iova: addr,
            write,
            execute: false,
            privileged: false,
            addressType: AddressType.Translated,
            fpd: false,
          }),
        };
      off += chunk;
    }
    return OK;
  }

  /** From the unit: drop cached translations overlapping [start, end). */
  invalidate(pasid: number | "all", start: number, end: number): void {
    this.invalidations++;
    const c = this.cache;
    for (let s = 0; s < c.valid.length; s++) {
      if (c.valid[s] !== 1) continue;
      if (pasid !== "all" && c.pasid[s] !== this.tag(pasid)) continue;
      const size = LEVEL_SIZE[c.level[s]!]!;
      const lo = c.vpn[s]! * size;
      if (lo < end && start < lo + size) c.remove(s);
    }
  }
}
