/**
 * Cache invalidation operations shared by the register interface (CCMD, IOTLB registers) and the
 * invalidation queue: context cache, PASID cache, IOTLB and paging-structure caches at every
 * granularity, device-TLBs (the ATCs of attached devices), and drains. Counters record each
 * operation for observers and the cost model.
 *
 * @spec reference/vtd.md §5.1-§5.2 (what each invalidation removes; IH=1 keeps the
 *   paging-structure caches; PSI range = 2^AM pages at an aligned address; device-TLB size
 *   encoding with S=1), §5.6 (drains: DR/DW honoured when CAP.DRD/DWD)
 */
import type { ContextCache } from "../caches/context-cache";
import type { PasidCache } from "../caches/pasid-cache";
import type { TranslationCache } from "../caches/translation-cache";

/** A device-side translation cache (ATS) the unit can invalidate. */
export interface DeviceTlbSink {
  /** Invalidate [start, end) for `pasid` (-1: requests without PASID, "all": every PASID). */
  invalidate(pasid: number | "all", start: number, end: number): void;
}

export interface InvalidationCounts {
  contextGlobal: number;
  contextDomain: number;
  contextDevice: number;
  iotlbGlobal: number;
  iotlbDomain: number;
  iotlbPage: number;
  pasidIotlb: number;
  pasidCache: number;
  deviceTlb: number;
  interruptEntry: number;
  readDrains: number;
  writeDrains: number;
}

export class CacheOps {
  readonly counts: InvalidationCounts = {
    contextGlobal: 0,
    contextDomain: 0,
    contextDevice: 0,
    iotlbGlobal: 0,
    iotlbDomain: 0,
    iotlbPage: 0,
    pasidIotlb: 0,
    pasidCache: 0,
    deviceTlb: 0,
    interruptEntry: 0,
    readDrains: 0,
    writeDrains: 0,
  };
  /** Device-TLBs by source-id (registered by device models that cache translations). */
  readonly deviceTlbs = new Map<number, DeviceTlbSink>();
  /** Called on a write drain: in-flight (posted) DMA writes must reach memory first. */
  readonly writeDrainListeners: (() => void)[] = [];

  constructor(
    private readonly cc: ContextCache,
    private readonly pc: PasidCache,
    private readonly iotlb: TranslationCache,
    private readonly psc: TranslationCache,
    private readonly drainRead: boolean,
    private readonly drainWrite: boolean,
  ) {}

  /** Everything (SRTP with CAP.ESRTPS, reset). */
  all(): void {
    this.cc.invalidateAll();
    this.pc.invalidateAll();
    this.iotlb.invalidateAll();
    this.psc.invalidateAll();
  }

  contextGlobal(): void {
    this.counts.contextGlobal++;
    this.cc.invalidateAll();
    this.pc.invalidateAll();
  }

  contextDomain(did: number, scalable: boolean): void {
    this.counts.contextDomain++;
    if (scalable) {
      // Scalable-mode context entries carry no DID: a domain-selective request is honoured as global.
      this.cc.invalidateAll();
      this.pc.invalidateAll();
    } else {
      this.cc.invalidateDomain(did);
    }
  }

  contextDevice(sid: number, fm: number): void {
    this.counts.contextDevice++;
    this.cc.invalidateDevice(sid, fm);
    const mask = [0, 4, 6, 7][fm & 3]!;
    this.pc.invalidateSids((s) => (s & ~mask) === (sid & ~mask));
  }

  iotlbGlobal(): void {
    this.counts.iotlbGlobal++;
    this.iotlb.invalidateAll();
    this.psc.invalidateAll();
  }

  iotlbDomain(did: number): void {
    this.counts.iotlbDomain++;
    this.iotlb.invalidateDomain(did);
    this.psc.invalidateDomain(did);
  }

  /** Page-selective within a domain: 2^am pages at addr (aligned down); ih keeps non-leaf caches. */
  iotlbPages(did: number, addr: number, am: number, ih: boolean): void {
    this.counts.iotlbPage++;
    const size = 4096 * 2 ** am;
    const start = addr - (addr % size);
    this.iotlb.invalidatePages(did, start, start + size);
    if (!ih) this.psc.invalidatePages(did, start, start + size);
  }

  /** PASID-based IOTLB: all of a PASID (range null) or pages within it. */
  pasidIotlb(did: number, pasid: number, addr: number | null, am: number, ih: boolean): void {
    this.counts.pasidIotlb++;
    if (addr === null) {
      this.iotlb.invalidatePasid(did, pasid);
      this.psc.invalidatePasid(did, pasid);
      return;
    }
    const size = 4096 * 2 ** am;
    const start = addr - (addr % size);
    this.iotlb.invalidatePasidPages(did, pasid, start, start + size);
    if (!ih) this.psc.invalidatePasidPages(did, pasid, start, start + size);
  }

  pasidCacheDomain(did: number): void {
    this.counts.pasidCache++;
    this.pc.invalidateDomain(did);
  }
  pasidCachePasid(did: number, pasid: number): void {
    this.counts.pasidCache++;
    this.pc.invalidatePasid(did, pasid);
  }
  pasidCacheGlobal(): void {
    this.counts.pasidCache++;
    this.pc.invalidateAll();
  }

  /**
   * Device-TLB invalidation of `sid`: with S=0 one 4 KiB page; with S=1 the size is encoded by the
   * lowest zero bit of the address at or above bit 12 (xxx0: 8 KiB, xx01: 16 KiB, ...).
   * @spec reference/vtd.md §5.2 (QEMU do_invalidate_device_tlb, ATS spec table 2.4)
   */
  deviceTlb(sid: number, pasid: number | "all", addr: number, s: boolean): void {
    this.counts.deviceTlb++;
    const [start, end] = decodeAtsRange(addr, s);
    this.deviceTlbs.get(sid)?.invalidate(pasid, start, end);
  }

  /** Drains requested by an IOTLB invalidation (honoured only where CAP.DRD/DWD advertise them). */
  drain(read: boolean, write: boolean): void {
    if (read && this.drainRead) this.counts.readDrains++;
    if (write && this.drainWrite) {
      this.counts.writeDrains++;
      for (const l of this.writeDrainListeners) l();
    }
  }
}

/** Decode an ATS invalidation address + S bit into [start, end). */
export function decodeAtsRange(addr: number, s: boolean): [number, number] {
  const page = addr - (addr % 4096);
  if (!s) return [page, page + 4096];
  let size = 8192;
  let pfn = Math.floor(page / 4096);
  while (pfn % 2 === 1) {
    size *= 2;
    pfn = Math.floor(pfn / 2);
  }
  const start = page - (page % size);
  return [start, start + size];
}
