/**
 * The invalidation queue and cache coherence: stale IOTLB entries stay visible after a page-table
 * change until a page-selective invalidation through the queue; wait descriptors write their
 * status and raise completion events; malformed queues and descriptors set IQE exactly where
 * hardware parks.
 */
import { Initiator } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { DescType, WaitFlag } from "../spec/descriptors";
import { Fsts, Gcmd, Iqei, Reg } from "../spec/registers";
import { LegacyContextTables, makeVtdBench, SecondStagePageTable } from "../testing";

const DEV = { sid: 0x0100, pasid: -1 };

function setup(profile = {}) {
  const b = makeVtdBench(profile);
  const ctx = new LegacyContextTables(b.mem, b.alloc);
  const pt = new SecondStagePageTable(b.mem, b.alloc, 4);
  ctx.setContext(DEV.sid, { slptptr: pt.root, aw: 2, did: 7 });
  b.driver.setRootTable(ctx.root);
  b.driver.contextGlobal();
  b.driver.iotlbGlobal();
  b.driver.enableTranslation();
  const p0 = b.alloc.alloc(4096);
  const p1 = b.alloc.alloc(4096);
  b.mem.write(p0, Uint8Array.of(0xa0, 0xa1, 0xa2, 0xa3), Initiator.Host);
  b.mem.write(p1, Uint8Array.of(0xb0, 0xb1, 0xb2, 0xb3), Initiator.Host);
  return { ...b, ctx, pt, p0, p1 };
}

function read4(
  port: { dmaRead: (r: typeof DEV, a: number, d: Uint8Array) => { ok: boolean } },
  iova: number,
): number[] | null {
  const d = new Uint8Array(4);
  return port.dmaRead(DEV, iova, d).ok ? [...d] : null;
}

describe("IOTLB coherence through the invalidation queue", () => {
  it("keeps a stale entry until a page-selective invalidation, then serves the new mapping", () => {
    const { unit, pt, p0, p1, driver, mem } = setup();
    pt.map(0x8000_0000, p0, 4096, { read: true, write: true });
    expect(read4(unit.port, 0x8000_0000)).toEqual([0xa0, 0xa1, 0xa2, 0xa3]);
    // Change the PTE in memory: the IOTLB still holds the old translation.
    pt.map(0x8000_0000, p1, 4096, { read: true, write: true });
    expect(read4(unit.port, 0x8000_0000)).toEqual([0xa0, 0xa1, 0xa2, 0xa3]);
    // A page-selective invalidation of another page does not help.
    driver.iotlbPages(7, 0x8000_1000, 0);
    expect(read4(unit.port, 0x8000_0000)).toEqual([0xa0, 0xa1, 0xa2, 0xa3]);
    // Nor one for another domain.
    driver.iotlbPages(8, 0x8000_0000, 0);
    expect(read4(unit.port, 0x8000_0000)).toEqual([0xa0, 0xa1, 0xa2, 0xa3]);
    // PSI (descriptor 0x2, G=3) + wait descriptor with status write, submitted by hand.
    const status = 0x7f0_0000;
    mem.write32(status, 0, Initiator.Host);
    driver.place([
      [BigInt(DescType.Iotlb | (3 << 4) | (7 << 16)), 0x8000_0000n],
      [BigInt(DescType.Wait | WaitFlag.SW) | (0x1234_5678n << 32n), BigInt(status)],
    ]);
    driver.ringTail();
    const out = new Uint32Array(1);
    mem.read32(status, Initiator.Host, out);
    expect(out[0]).toBe(0x1234_5678);
    // IQH caught up with IQT.
    expect(unit.readRegister(Reg.IQH, 8)).toBe(unit.readRegister(Reg.IQT, 8));
    expect(read4(unit.port, 0x8000_0000)).toEqual([0xb0, 0xb1, 0xb2, 0xb3]);
  });

  it("invalidates exactly 2^AM pages with a page-selective request", () => {
    const { unit, pt, p0, p1, driver } = setup();
    for (let i = 0; i < 8; i++) pt.map(0x9000_0000 + i * 4096, p0, 4096, { read: true, write: false });
    for (let i = 0; i < 8; i++) expect(read4(unit.port, 0x9000_0000 + i * 4096)).not.toBeNull();
    for (let i = 0; i < 8; i++) pt.map(0x9000_0000 + i * 4096, p1, 4096, { read: true, write: false });
    driver.iotlbPages(7, 0x9000_0000, 2); // 4 pages
    for (let i = 0; i < 8; i++) {
      expect(read4(unit.port, 0x9000_0000 + i * 4096)?.[0]).toBe(i < 4 ? 0xb0 : 0xa0);
    }
  });

  it("keeps paging-structure caches with IH=1 and drops them with IH=0", () => {
    const { unit, pt, p0, p1, driver, alloc, mem } = setup();
    pt.map(0xa000_0000, p0, 4096, { read: true, write: true });
    expect(read4(unit.port, 0xa000_0000)).not.toBeNull();
    // Replace the whole last-level table: a new PT page at the PDE.
    const pdeAt = pt.entryAddress(0xa000_0000, 2);
    const newPt = alloc.alloc(4096);
    const buf = new Uint8Array(8);
    mem.read(pdeAt, buf, Initiator.Host);
    mem.write32(pdeAt, (newPt | 3) >>> 0, Initiator.Host);
    mem.write32(newPt + ((0xa000_0000 / 4096) % 512) * 8, (p1 | 3) >>> 0, Initiator.Host);
    // IH=1: leaves only; the cached PDE still points at the old table (which maps p0).
    driver.iotlbPages(7, 0xa000_0000, 0, true);
    expect(read4(unit.port, 0xa000_0000)?.[0]).toBe(0xa0);
    // IH=0: the paging-structure cache entries go too: the new table is walked.
    driver.iotlbPages(7, 0xa000_0000, 0, false);
    expect(read4(unit.port, 0xa000_0000)?.[0]).toBe(0xb0);
  });

  it("drops every entry of a domain with a domain-selective request and nothing of others", () => {
    const { unit, pt, p0, p1, driver } = setup();
    pt.map(0xb000_0000, p0, 4096, { read: true, write: true });
    expect(read4(unit.port, 0xb000_0000)).not.toBeNull();
    pt.map(0xb000_0000, p1, 4096, { read: true, write: true });
    driver.iotlbDomain(3);
    expect(read4(unit.port, 0xb000_0000)?.[0]).toBe(0xa0);
    driver.iotlbDomain(7);
    expect(read4(unit.port, 0xb000_0000)?.[0]).toBe(0xb0);
  });
});

describe("Invalidation queue protocol", () => {
  it("raises the completion event for a wait descriptor with IF and latches ICS.IWC", () => {
    const { unit, driver } = setup();
    unit.writeRegister(Reg.IEDATA, 4, 0x55n);
    unit.writeRegister(Reg.IEADDR, 4, 0xfee0_1000n);
    driver.place([[BigInt(DescType.Wait | WaitFlag.IF), 0n]]);
    driver.ringTail();
    // IM=1 at reset: pending, no MSI yet.
    expect(Number(unit.readRegister(Reg.ICS, 4))).toBe(1);
    expect(Number(unit.readRegister(Reg.IECTL, 4)) >>> 30).toBe(3); // IM and IP
    expect(unit.msis).toHaveLength(0);
    unit.writeRegister(Reg.IECTL, 4, 0n); // unmask: delivered now
    expect(unit.msis).toEqual([{ event: "invalidation-completion", address: 0xfee0_1000, data: 0x55 }]);
    expect(Number(unit.readRegister(Reg.IECTL, 4)) >>> 30).toBe(0);
    unit.writeRegister(Reg.ICS, 4, 1n); // W1C
    expect(Number(unit.readRegister(Reg.ICS, 4))).toBe(0);
  });

  it("stops at a descriptor with reserved bits set, parks IQH there, and resumes once IQE is cleared", () => {
    const { unit, driver, mem } = setup();
    const status = 0x7f0_0000;
    const head0 = Number(unit.readRegister(Reg.IQH, 8)) >> 4;
    driver.place([
      [BigInt(DescType.Iotlb | (1 << 4)) | (1n << 40n), 0n], // bit 40 reserved in IOTLB descriptors
      [BigInt(DescType.Wait | WaitFlag.SW) | (0x99n << 32n), BigInt(status)],
    ]);
    driver.ringTail();
    expect(Number(unit.readRegister(Reg.FSTS, 4)) & Fsts.IQE).toBe(Fsts.IQE);
    expect(Number(unit.readRegister(Reg.IQH, 8)) >> 4).toBe(head0);
    expect(Number(unit.readRegister(Reg.IQER, 8)) & 0xf).toBe(Iqei.ReservedField);
    const out = new Uint32Array(1);
    mem.read32(status, Initiator.Host, out);
    expect(out[0]).toBe(0);
    // Software fixes the slot (Linux overwrites it) and clears IQE: fetching resumes.
    driver.place([]); // no-op
    const width = 16;
    const iqa = Number(unit.readRegister(Reg.IQA, 8)) & ~0xfff;
    mem.write32(iqa + head0 * width + 4, 0, Initiator.Host);
    unit.writeRegister(Reg.FSTS, 4, BigInt(Fsts.IQE));
    mem.read32(status, Initiator.Host, out);
    expect(out[0]).toBe(0x99);
    expect(unit.readRegister(Reg.IQH, 8)).toBe(unit.readRegister(Reg.IQT, 8));
  });

  it("reports a tail beyond the queue, an unknown type and AM above MAMV as IQE", () => {
    const { unit, driver } = setup();
    unit.writeRegister(Reg.IQT, 8, BigInt(256 << 4)); // the queue holds 256 entries (QS=0)
    expect(Number(unit.readRegister(Reg.FSTS, 4)) & Fsts.IQE).toBe(Fsts.IQE);
    expect(Number(unit.readRegister(Reg.IQER, 8)) & 0xf).toBe(Iqei.InvalidTail);
    // Fix the tail first (nothing is fetched while IQE is set), then clear IQE.
    unit.writeRegister(Reg.IQT, 8, unit.readRegister(Reg.IQH, 8));
    unit.writeRegister(Reg.FSTS, 4, BigInt(Fsts.IQE));
    expect(Number(unit.readRegister(Reg.FSTS, 4)) & Fsts.IQE).toBe(0);
    expect(driver.submit([[0xen, 0n]])).toBe("iqe");
    expect(Number(unit.readRegister(Reg.IQER, 8)) & 0xf).toBe(Iqei.InvalidType);
  });

  it("reports AM above CAP.MAMV as a reserved-field error", () => {
    const { unit, driver } = setup({ maxAddressMask: 4 });
    expect(driver.submit([[BigInt(DescType.Iotlb | (3 << 4) | (7 << 16)), 5n]])).toBe("iqe");
    expect(Number(unit.readRegister(Reg.IQER, 8)) & 0xf).toBe(Iqei.ReservedField);
  });

  it("rejects a 256-bit-only descriptor in a 128-bit queue", () => {
    const { unit, driver } = setup({ scalable: {} });
    // setup() enabled a 256-bit queue (scalable); rebuild a unit with a 128-bit queue instead.
    expect(driver.queueEnabled).toBe(true);
    const b = makeVtdBench({ scalable: {} });
    b.driver.disableTranslation();
    // A fresh bench: turn QI off and on again with DW=0.
    b.unit.writeRegister(Reg.GCMD, 4, 0n);
    expect(Number(b.unit.readRegister(Reg.GSTS, 4)) & Gcmd.QIE).toBe(0);
    b.driver.enableQueue(false);
    expect(b.driver.submit([[BigInt(DescType.PasidIotlb | (2 << 4)), 0n]])).toBe("iqe");
    expect(Number(b.unit.readRegister(Reg.IQER, 8)) & 0xf).toBe(Iqei.InvalidWidth);
    expect(unit).toBeDefined();
  });

  it("refuses to disable QI while descriptors are pending and ignores register invalidation while QI is on", () => {
    const { unit, driver } = setup();
    driver.place([[BigInt(DescType.Iotlb | (1 << 4)) | (1n << 40n), 0n]]);
    driver.ringTail(); // parks on the bad descriptor: IQH != IQT
    unit.writeRegister(Reg.GCMD, 4, BigInt(Gcmd.TE)); // clear QIE (keep TE)
    expect(Number(unit.readRegister(Reg.GSTS, 4)) & Gcmd.QIE).toBe(Gcmd.QIE);
    unit.writeRegister(Reg.CCMD, 8, (1n << 63n) | (1n << 61n));
    expect(unit.readRegister(Reg.CCMD, 8) >> 63n).toBe(1n); // never completes while QI is on
  });

  it("flags IQT bit 4 with 256-bit descriptors", () => {
    const b = makeVtdBench({ scalable: {} });
    b.unit.writeRegister(Reg.IQT, 8, 0x10n);
    expect(Number(b.unit.readRegister(Reg.FSTS, 4)) & Fsts.IQE).toBe(Fsts.IQE);
    expect(Number(b.unit.readRegister(Reg.IQER, 8)) & 0xf).toBe(Iqei.TailMisaligned);
  });
});

describe("invalidation drains", () => {
  function posted(drain: boolean) {
    const b = makeVtdBench({ drain }, { postedWriteDepth: 8 });
    const ctx = new LegacyContextTables(b.mem, b.alloc);
    const pt = new SecondStagePageTable(b.mem, b.alloc, 4);
    ctx.setContext(DEV.sid, { slptptr: pt.root, aw: 2, did: 7 });
    b.driver.setRootTable(ctx.root);
    b.driver.enableTranslation();
    const freed = b.alloc.alloc(4096);
    pt.map(0xc000_0000, freed, 4096, { read: true, write: true });
    return { ...b, pt, freed };
  }

  it("a write drain with the IOTLB invalidation lands in-flight writes before the unmap completes", () => {
    const { unit, pt, freed, driver, mem } = posted(true);
    expect(unit.port.dmaWrite(DEV, 0xc000_0000, Uint8Array.of(0xdd)).ok).toBe(true);
    expect(unit.port.postedWrites).toBe(1);
    pt.unmap(0xc000_0000, 4096);
    // Linux qi_flush_iotlb sets DW when CAP.DWD: the posted write is drained by the invalidation.
    expect(driver.submit([[BigInt(DescType.Iotlb | (3 << 4) | (7 << 16) | 0x40), 0xc000_0000n]])).toBe(
      "done",
    );
    expect(unit.port.postedWrites).toBe(0);
    mem.write(freed, Uint8Array.of(0x00), Initiator.Host); // the page is reused after the unmap
    unit.port.flushPostedWrites();
    const b = new Uint8Array(1);
    mem.read(freed, b, Initiator.Host);
    expect(b[0]).toBe(0x00); // nothing arrives late
    expect(unit.stats().invalidations).toMatchObject({ writeDrains: 1 });
  });

  it("without drain support a write translated before the unmap lands after it (stale DMA)", () => {
    const { unit, pt, freed, driver, mem } = posted(false);
    expect(unit.port.dmaWrite(DEV, 0xc000_0000, Uint8Array.of(0xdd)).ok).toBe(true);
    pt.unmap(0xc000_0000, 4096);
    expect(driver.submit([[BigInt(DescType.Iotlb | (3 << 4) | (7 << 16) | 0x40), 0xc000_0000n]])).toBe(
      "done",
    );
    expect(unit.port.postedWrites).toBe(1);
    mem.write(freed, Uint8Array.of(0x00), Initiator.Host);
    unit.port.flushPostedWrites();
    const b = new Uint8Array(1);
    mem.read(freed, b, Initiator.Host);
    expect(b[0]).toBe(0xdd);
  });
});
