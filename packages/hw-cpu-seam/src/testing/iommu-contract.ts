/**
 * The generic IOMMU contract: what any IOMMU model behind the device-facing DMA interface must
 * do, whatever its table formats (VT-d, SMMUv3, ...). Each IOMMU package adapts its own
 * programming model to `IommuContractHarness` (it writes real tables in memory and issues real
 * invalidations) and runs `describeIommuContract` from its tests.
 */
import { describe, expect, it } from "vitest";
import type { DeviceDmaPort, DmaRequester } from "../dma/types";
import { Perm } from "../dma/types";
import type { PhysicalMemoryAccess } from "../memory/types";
import { Initiator } from "../memory/types";

/** A unit under test, freshly reset and enabled, programmed only through its own architecture. */
export interface IommuContractHarness {
  readonly port: DeviceDmaPort;
  /** The memory the unit's tables and the DMA data live in (CPU view, untranslated). */
  readonly mem: PhysicalMemoryAccess;
  /** Page sizes the unit can map, in bytes; 4096 first, then superpages it supports. */
  readonly pageSizes: readonly number[];
  /** Allocate a zeroed, naturally aligned RAM region of `size` bytes for data; returns its HPA. */
  alloc(size: number): number;
  /** Create a translation domain (address space); returns its handle. */
  createDomain(): number;
  /** Attach a requester (source id / StreamID, and PASID or -1) to a domain. */
  attach(req: DmaRequester, domain: number): void;
  /** Map `iova` -> `pa` with one entry of `size` bytes (one of pageSizes) and permissions. */
  map(domain: number, iova: number, pa: number, size: number, perm: Perm): void;
  /** Remove the entry mapping `iova` (size as mapped). No invalidation. */
  unmap(domain: number, iova: number, size: number): void;
  /** Invalidate cached translations of [iova, iova+size) in the domain and wait for completion. */
  invalidate(domain: number, iova: number, size: number): void;
}

export interface IommuContractOptions {
  /** Requesters to use for two devices; they must be distinct. */
  readonly devA: DmaRequester;
  readonly devB: DmaRequester;
}

const PAGE = 4096;

function pattern(len: number, seed: number): Uint8Array {
  const b = new Uint8Array(len);
  for (let i = 0; i < len; i++) b[i] = (i * 31 + seed * 7 + (i >> 8)) & 0xff;
  return b;
}

/** Register the generic IOMMU contract tests for one implementation. */
export function describeIommuContract(
  name: string,
  make: () => IommuContractHarness,
  opts: IommuContractOptions,
): void {
  const { devA, devB } = opts;

  describe(`IOMMU contract: ${name}`, () => {
    it("translates a mapped 4 KiB page to a page-sized entry with its permissions", () => {
      const h = make();
      const d = h.createDomain();
      h.attach(devA, d);
      const pa = h.alloc(PAGE);
      h.map(d, 0x10_0000, pa, PAGE, Perm.ReadWrite);
      const r = h.port.translate(devA, 0x10_0123, Perm.Read);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(r.entry.addrMask).toBe(PAGE - 1);
      expect(r.entry.translatedAddr).toBe(pa);
      expect(r.entry.iova).toBe(0x10_0000);
      expect(r.entry.perm & Perm.Read).toBe(Perm.Read);
    });

    it("faults an unmapped address as a value, and transfers nothing", () => {
      const h = make();
      const d = h.createDomain();
      h.attach(devA, d);
      const r = h.port.translate(devA, 0x7000_0000, Perm.Read);
      expect(r.ok).toBe(false);
      if (!r.ok) {
        expect(r.fault.iova).toBe(0x7000_0000);
        expect(r.fault.sid).toBe(devA.sid);
        expect(r.fault.write).toBe(false);
      }
      const dst = new Uint8Array(16).fill(0xee);
      const w = h.port.dmaRead(devA, 0x7000_0000, dst);
      expect(w.ok).toBe(false);
    });

    it("enforces permissions: a read-only page refuses a write and keeps its bytes", () => {
      const h = make();
      const d = h.createDomain();
      h.attach(devA, d);
      const pa = h.alloc(PAGE);
      const before = pattern(PAGE, 1);
      expect(h.mem.write(pa, before, Initiator.Host)).toBe(0);
      h.map(d, 0x20_0000, pa, PAGE, Perm.Read);
      expect(h.port.translate(devA, 0x20_0000, Perm.Write).ok).toBe(false);
      expect(h.port.dmaWrite(devA, 0x20_0010, new Uint8Array(32).fill(0x55)).ok).toBe(false);
      const after = new Uint8Array(PAGE);
      h.mem.read(pa, after, Initiator.Host);
      expect(after).toEqual(before);
      const rd = new Uint8Array(64);
      expect(h.port.dmaRead(devA, 0x20_0000, rd).ok).toBe(true);
      expect(rd).toEqual(before.subarray(0, 64));
    });

    it("moves DMA data byte-exactly across page boundaries into discontiguous pages", () => {
      const h = make();
      const d = h.createDomain();
      h.attach(devA, d);
      const p0 = h.alloc(PAGE);
      const p1 = h.alloc(PAGE);
      h.alloc(PAGE); // a gap so the two pages are not adjacent
      const p2 = h.alloc(PAGE);
      h.map(d, 0x40_0000, p2, PAGE, Perm.ReadWrite);
      h.map(d, 0x40_1000, p0, PAGE, Perm.ReadWrite);
      h.map(d, 0x40_2000, p1, PAGE, Perm.ReadWrite);
      const src = pattern(2 * PAGE + 100, 3);
      expect(h.port.dmaWrite(devA, 0x40_0f00, src).ok).toBe(true);
      const back = new Uint8Array(src.length);
      expect(h.port.dmaRead(devA, 0x40_0f00, back).ok).toBe(true);
      expect(back).toEqual(src);
      const cpu = new Uint8Array(PAGE);
      h.mem.read(p0, cpu, Initiator.Host);
      expect(cpu).toEqual(src.subarray(0x100, 0x100 + PAGE));
    });

    it("serves superpages with a superpage-sized entry", () => {
      const h = make();
      const big = h.pageSizes.find((s) => s > PAGE);
      if (big === undefined) return;
      const d = h.createDomain();
      h.attach(devA, d);
      const pa = h.alloc(big);
      h.map(d, big * 3, pa, big, Perm.ReadWrite);
      const off = big - 8;
      const r = h.port.translate(devA, big * 3 + off, Perm.Write);
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(r.entry.addrMask).toBe(big - 1);
      expect(r.entry.translatedAddr).toBe(pa);
      expect(h.port.dmaWrite(devA, big * 3 + off, Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8)).ok).toBe(true);
      const cpu = new Uint8Array(8);
      h.mem.read(pa + off, cpu, Initiator.Host);
      expect([...cpu]).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    });

    it("isolates domains: each device sees only its own memory", () => {
      const h = make();
      const da = h.createDomain();
      const db = h.createDomain();
      h.attach(devA, da);
      h.attach(devB, db);
      const pa = h.alloc(PAGE);
      const pb = h.alloc(PAGE);
      h.mem.write(pa, pattern(PAGE, 10), Initiator.Host);
      h.mem.write(pb, pattern(PAGE, 20), Initiator.Host);
      h.map(da, 0x80_0000, pa, PAGE, Perm.ReadWrite);
      h.map(db, 0x90_0000, pb, PAGE, Perm.ReadWrite);
      const buf = new Uint8Array(PAGE);
      expect(h.port.dmaRead(devA, 0x80_0000, buf).ok).toBe(true);
      expect(buf).toEqual(pattern(PAGE, 10));
      expect(h.port.dmaRead(devB, 0x90_0000, buf).ok).toBe(true);
      expect(buf).toEqual(pattern(PAGE, 20));
      // each device's IOVA is absent from the other's domain
      expect(h.port.dmaRead(devA, 0x90_0000, buf).ok).toBe(false);
      expect(h.port.dmaRead(devB, 0x80_0000, buf).ok).toBe(false);
    });

    it("makes a changed mapping visible after invalidation", () => {
      const h = make();
      const d = h.createDomain();
      h.attach(devA, d);
      const p0 = h.alloc(PAGE);
      const p1 = h.alloc(PAGE);
      h.map(d, 0xa0_0000, p0, PAGE, Perm.ReadWrite);
      const r0 = h.port.translate(devA, 0xa0_0000, Perm.Read);
      expect(r0.ok && r0.entry.translatedAddr).toBe(p0);
      h.unmap(d, 0xa0_0000, PAGE);
      h.map(d, 0xa0_0000, p1, PAGE, Perm.ReadWrite);
      h.invalidate(d, 0xa0_0000, PAGE);
      const r1 = h.port.translate(devA, 0xa0_0000, Perm.Read);
      expect(r1.ok && r1.entry.translatedAddr).toBe(p1);
      h.unmap(d, 0xa0_0000, PAGE);
      h.invalidate(d, 0xa0_0000, PAGE);
      expect(h.port.translate(devA, 0xa0_0000, Perm.Read).ok).toBe(false);
    });
  });
}
