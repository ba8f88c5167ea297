/**
 * The VT-d contract: what any implementation of a VT-d remapping unit must do, checked only
 * through its register window, host memory and device-facing DMA port, with tables written in
 * their real formats. Run it with `describeVtdContract(name, factory)`; the factory builds a unit
 * in its reset state with exactly the CAP/ECAP it is given, on memory where the addresses below
 * 2^40 are RAM.
 *
 * @spec reference/vtd.md §8.2 "Contract-test ideas for @tdx/vtd" (reset/profile, handshake, legacy
 *   walks and codes, fault logging, IOTLB coherence, QI, scalable basics), §1-§5 for each value
 */
import type { DeviceDmaPort, PhysicalMemoryAccess } from "@tdx/hw-cpu-seam";
import { Initiator } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { composeCapabilities, type VtdProfile } from "../spec/capabilities";
import { DescType, WaitFlag } from "../spec/descriptors";
import { EventCtl, Fsts, Gcmd, Reg } from "../spec/registers";
import { VtdDriver, type VtdRegisterAccess } from "./driver";
import {
  BumpAllocator,
  LegacyContextTables,
  PasidTables,
  ScalableContextTables,
  SecondStagePageTable,
  writeQword,
} from "./tables";

/** A unit under test. */
export interface VtdUnderTest {
  readonly regs: VtdRegisterAccess;
  readonly port: DeviceDmaPort;
  readonly mem: PhysicalMemoryAccess;
}

/** Builds a unit in its reset state with exactly these capability registers. */
export type VtdFactory = (caps: { readonly cap: bigint; readonly ecap: bigint }) => VtdUnderTest;

const DEV = { sid: 0x0208, pasid: -1 };

function bench(make: VtdFactory, profile: VtdProfile = {}) {
  const caps = composeCapabilities({ faultRecords: 2, ...profile });
  const u = make(caps);
  const alloc = new BumpAllocator(u.mem, 0x100_0000, 0x4000_0000);
  const data = new BumpAllocator(u.mem, 0x1_0000_0000, 0x2_0000_0000);
  const driver = new VtdDriver(u.regs, u.mem, alloc);
  return { ...u, caps, alloc, data, driver };
}

function legacyDomain(
  make: VtdFactory,
  profile: VtdProfile = {},
  levels: 3 | 4 | 5 = 4,
  ctx: { fpd?: boolean } = {},
) {
  const b = bench(make, profile);
  const tables = new LegacyContextTables(b.mem, b.alloc);
  const pt = new SecondStagePageTable(b.mem, b.alloc, levels);
  tables.setContext(DEV.sid, { slptptr: pt.root, aw: (levels - 2) as 1 | 2 | 3, did: 5, fpd: ctx.fpd });
  b.driver.setRootTable(tables.root);
  b.driver.contextGlobal();
  b.driver.iotlbGlobal();
  b.driver.enableTranslation();
  return { ...b, tables, pt };
}

function fsts(r: VtdRegisterAccess): number {
  return Number(r.readRegister(Reg.FSTS, 4));
}

/** Register the VT-d contract tests for one implementation. */
export function describeVtdContract(name: string, make: VtdFactory): void {
  describe(`VT-d contract: ${name}`, () => {
    describe("reset state and register semantics", () => {
      it("reports exactly the given CAP/ECAP, with GSTS, FSTS clear and the event masks set", () => {
        const b = bench(make);
        expect(b.regs.readRegister(Reg.CAP, 8)).toBe(b.caps.cap);
        expect(b.regs.readRegister(Reg.ECAP, 8)).toBe(b.caps.ecap);
        expect(Number(b.regs.readRegister(Reg.VER, 4)) & 0xff).not.toBe(0);
        expect(b.regs.readRegister(Reg.GSTS, 4)).toBe(0n);
        expect(b.regs.readRegister(Reg.FSTS, 4)).toBe(0n);
        expect(b.regs.readRegister(Reg.FECTL, 4)).toBe(BigInt(EventCtl.IM >>> 0));
        expect(b.regs.readRegister(Reg.IECTL, 4)).toBe(BigInt(EventCtl.IM >>> 0));
      });

      it("ignores writes to read-only registers and reads GCMD and IVA as zero", () => {
        const b = bench(make);
        b.regs.writeRegister(Reg.CAP, 8, 0n);
        b.regs.writeRegister(Reg.GSTS, 4, 0xffff_ffffn);
        expect(b.regs.readRegister(Reg.CAP, 8)).toBe(b.caps.cap);
        expect(b.regs.readRegister(Reg.GSTS, 4)).toBe(0n);
        b.regs.writeRegister(Reg.RTADDR, 8, 0x12_3000n);
        b.regs.writeRegister(Reg.GCMD, 4, BigInt(Gcmd.SRTP));
        expect(b.regs.readRegister(Reg.GCMD, 4)).toBe(0n);
        expect(b.regs.readRegister(Reg.RTADDR, 8)).toBe(0x12_3000n);
        const iva = (Number(b.caps.ecap >> 8n) & 0x3ff) * 16;
        b.regs.writeRegister(iva, 8, 0x5000n);
        expect(b.regs.readRegister(iva, 8)).toBe(0n);
      });
    });

    describe("global command handshake", () => {
      it("reflects SRTP, TE and QIE in GSTS, one command per write", () => {
        const b = bench(make);
        b.regs.writeRegister(Reg.RTADDR, 8, BigInt(b.alloc.alloc(4096)));
        b.regs.writeRegister(Reg.GCMD, 4, BigInt(Gcmd.SRTP));
        expect(Number(b.regs.readRegister(Reg.GSTS, 4)) & Gcmd.SRTP).toBe(Gcmd.SRTP);
        b.driver.enableQueue();
        expect(Number(b.regs.readRegister(Reg.GSTS, 4)) & Gcmd.QIE).toBe(Gcmd.QIE);
        b.driver.enableTranslation();
        expect(b.regs.readRegister(Reg.GSTS, 4) >> 31n).toBe(1n);
        b.driver.disableTranslation();
        expect(b.regs.readRegister(Reg.GSTS, 4) >> 31n).toBe(0n);
      });

      it("faults DMA with reason 0x1 when translation is on over an all-zero root table", () => {
        const b = bench(make);
        b.driver.setRootTable(b.alloc.alloc(4096));
        b.driver.enableTranslation();
        expect(b.port.dmaRead(DEV, 0x1000, new Uint8Array(4)).ok).toBe(false);
        expect(b.driver.pendingFaults()[0]).toMatchObject({
          reason: 0x01,
          sid: DEV.sid,
          address: 0x1000,
          read: true,
        });
      });
    });

    describe("legacy-mode structures and walks", () => {
      for (const levels of [3, 4, 5] as const) {
        it(`translates through ${levels}-level tables (${12 + 9 * levels}-bit) and faults 0x4 beyond`, () => {
          const b = legacyDomain(make, { levels: [3, 4, 5], mgaw: 57 }, levels);
          const pa = b.data.alloc(4096);
          // The highest page of the input space (addresses stay below 2^52, so 5-level uses bit 51).
          const top = levels === 5 ? 2 ** 52 : 2 ** (12 + 9 * levels);
          b.pt.map(top - 4096, pa, 4096, { read: true, write: true });
          const r = b.port.translate(DEV, top - 8, 3);
          expect(r.ok && r.entry.translatedAddr).toBe(pa);
          if (levels < 5) {
            expect(b.port.dmaRead(DEV, top, new Uint8Array(1)).ok).toBe(false);
            expect(b.driver.pendingFaults().map((f) => f.reason)).toEqual([0x04]);
          }
        });
      }

      it("serves 2 MiB and 1 GiB superpages with entries of their size", () => {
        const b = legacyDomain(make);
        const p2 = b.data.alloc(2 ** 21);
        const p1 = 0x4000_0000 * 4;
        b.pt.map(0x20_0000, p2, 2 ** 21, { read: true, write: true });
        b.pt.map(0x8000_0000, p1, 2 ** 30, { read: true, write: false });
        const a = b.port.translate(DEV, 0x3f_fff8, 1);
        expect(a.ok && [a.entry.translatedAddr, a.entry.addrMask]).toEqual([p2, 2 ** 21 - 1]);
        const c = b.port.translate(DEV, 0x8000_1234, 1);
        expect(c.ok && [c.entry.translatedAddr, c.entry.addrMask, c.entry.perm]).toEqual([
          p1,
          2 ** 30 - 1,
          1,
        ]);
      });

      it("reports reserved bits in a paging entry as 0xC, in a context entry as 0xB, and a bad AW as 0x3", () => {
        const b = legacyDomain(make);
        const pa = b.data.alloc(4096);
        b.pt.map(0x5000, pa, 4096, { read: true, write: true }, 1n << 11n); // SNP without ECAP.SC
        expect(b.port.dmaRead(DEV, 0x5000, new Uint8Array(1)).ok).toBe(false);
        const other = { sid: 0x0209, pasid: -1 };
        const at = b.tables.setContext(other.sid, { slptptr: b.pt.root, aw: 2, did: 6 });
        writeQword(b.mem, at + 8, 2n | (6n << 8n) | (1n << 7n)); // bit 71 reserved
        expect(b.port.dmaRead(other, 0x5000, new Uint8Array(1)).ok).toBe(false);
        const third = { sid: 0x020a, pasid: -1 };
        b.tables.setContext(third.sid, { slptptr: b.pt.root, aw: 3, did: 7 }); // 5-level not in SAGAW
        expect(b.port.dmaRead(third, 0x5000, new Uint8Array(1)).ok).toBe(false);
        expect(b.driver.pendingFaults().map((f) => [f.sid, f.reason])).toEqual([
          [DEV.sid, 0x0c],
          [other.sid, 0x0b],
        ]);
        b.driver.clearFaults();
        expect(b.port.dmaRead(third, 0x5000, new Uint8Array(1)).ok).toBe(false);
        expect(b.driver.pendingFaults().map((f) => f.reason)).toEqual([0x03]);
      });

      it("lets a pass-through context (TT=10) through untranslated", () => {
        const b = legacyDomain(make);
        const pt = { sid: 0x0300, pasid: -1 };
        b.tables.setContext(pt.sid, { slptptr: 0, aw: 2, did: 9, tt: 2 });
        const pa = b.data.alloc(4096);
        b.mem.write(pa, Uint8Array.of(0x5a), Initiator.Host);
        const buf = new Uint8Array(1);
        expect(b.port.dmaRead(pt, pa, buf).ok).toBe(true);
        expect(buf[0]).toBe(0x5a);
      });

      it("faults an output address in the interrupt range with 0xE", () => {
        const b = legacyDomain(make);
        b.pt.map(0x7000, 0xfee0_0000, 4096, { read: true, write: true });
        expect(b.port.dmaWrite(DEV, 0x7000, Uint8Array.of(1)).ok).toBe(false);
        expect(b.driver.pendingFaults()[0]?.reason).toBe(0x0e);
      });
    });

    describe("fault recording", () => {
      it("fills the records in order, then sets PFO; clearing F and FSTS re-arms recording", () => {
        const b = legacyDomain(make);
        for (let i = 0; i < 3; i++)
          expect(b.port.dmaRead(DEV, 0x10_0000 * (i + 1), new Uint8Array(1)).ok).toBe(false);
        const f = b.driver.pendingFaults();
        expect(f.map((x) => x.address)).toEqual([0x10_0000, 0x20_0000]);
        expect(fsts(b.regs) & (Fsts.PFO | Fsts.PPF)).toBe(Fsts.PFO | Fsts.PPF);
        b.driver.clearFaults();
        expect(fsts(b.regs) & (Fsts.PFO | Fsts.PPF)).toBe(0);
        expect(b.port.dmaWrite(DEV, 0x40_0000, Uint8Array.of(1)).ok).toBe(false);
        expect(b.driver.pendingFaults()).toEqual([
          expect.objectContaining({ address: 0x40_0000, read: false, reason: 0x05 }),
        ]);
      });

      it("suppresses qualified faults when the context entry's FPD is set, but not non-qualified ones", () => {
        const b = legacyDomain(make, {}, 4, { fpd: true });
        expect(b.port.dmaRead(DEV, 0x10_0000, new Uint8Array(1)).ok).toBe(false);
        expect(b.driver.pendingFaults()).toEqual([]);
        // A requester on a bus without a root entry: 0x1 is not qualified.
        expect(b.port.dmaRead({ sid: 0x4000, pasid: -1 }, 0x10_0000, new Uint8Array(1)).ok).toBe(false);
        expect(b.driver.pendingFaults().map((x) => x.reason)).toEqual([0x01]);
      });

      it("raises the fault event once for the first pending fault and holds it while masked", () => {
        const b = legacyDomain(make);
        expect(b.port.dmaRead(DEV, 0x10_0000, new Uint8Array(1)).ok).toBe(false);
        expect(Number(b.regs.readRegister(Reg.FECTL, 4)) >>> 30).toBe(3); // IM, IP
        b.driver.clearFaults();
        expect(Number(b.regs.readRegister(Reg.FECTL, 4)) >>> 30).toBe(2); // IP cleared with the status
      });
    });

    describe("caches and invalidation", () => {
      it("keeps a stale translation until a page-selective invalidation", () => {
        const b = legacyDomain(make);
        const [p0, p1] = [b.data.alloc(4096), b.data.alloc(4096)];
        b.pt.map(0x9000, p0, 4096, { read: true, write: true });
        expect(b.port.dmaRead(DEV, 0x9000, new Uint8Array(1)).ok).toBe(true);
        b.pt.map(0x9000, p1, 4096, { read: true, write: true });
        b.driver.enableQueue();
        b.driver.iotlbPages(5, 0x9000, 0);
        const r = b.port.translate(DEV, 0x9000, 1);
        expect(r.ok && r.entry.translatedAddr).toBe(p1);
      });

      it("makes a newly present context visible after a device-selective context invalidation", () => {
        const b = legacyDomain(make);
        const newcomer = { sid: 0x0210, pasid: -1 };
        const pa = b.data.alloc(4096);
        b.pt.map(0xa000, pa, 4096, { read: true, write: true });
        b.tables.setContext(newcomer.sid, { slptptr: b.pt.root, aw: 2, did: 5 });
        b.driver.contextDevice(newcomer.sid, 0);
        expect(b.port.dmaRead(newcomer, 0xa000, new Uint8Array(1)).ok).toBe(true);
      });

      it("writes the wait descriptor's status and sets IQE for a tail beyond the queue", () => {
        const b = bench(make);
        b.driver.enableQueue();
        expect(b.driver.submit([])).toBe("done");
        b.regs.writeRegister(Reg.IQT, 8, BigInt(4096 << 4));
        expect(fsts(b.regs) & Fsts.IQE).toBe(Fsts.IQE);
      });

      it("parks IQH on a descriptor with reserved bits set", () => {
        const b = bench(make);
        b.driver.enableQueue();
        const head = b.regs.readRegister(Reg.IQH, 8);
        b.driver.place([[BigInt(DescType.Wait | WaitFlag.SW) | 0x100n, 0x10_0000n]]);
        b.driver.ringTail();
        expect(fsts(b.regs) & Fsts.IQE).toBe(Fsts.IQE);
        expect(b.regs.readRegister(Reg.IQH, 8)).toBe(head);
      });
    });

    describe("scalable mode", () => {
      const sm: VtdProfile = { scalable: { firstStage: true, secondStage: true } };

      it("translates requests without PASID through the RID_PASID entry and faults PASIDs beyond PDTS (0x46)", () => {
        const b = bench(make, sm);
        const ctx = new ScalableContextTables(b.mem, b.alloc);
        const pasids = new PasidTables(b.mem, b.alloc, 0);
        const pt = new SecondStagePageTable(b.mem, b.alloc, 4);
        pasids.setEntry(0, { pgtt: 2, did: 3, ssptr: pt.root, aw: 2 });
        ctx.setContext(DEV.sid, { pasidDir: pasids.dir, pasidEnable: true });
        const pa = b.data.alloc(4096);
        pt.map(0x6000, pa, 4096, { read: true, write: true });
        b.driver.enableQueue();
        b.driver.setRootTable(ctx.root, true);
        b.driver.contextGlobal();
        b.driver.pasidCache(0, 0, 3);
        b.driver.iotlbGlobal();
        b.driver.enableTranslation();
        const r = b.port.translate(DEV, 0x6000, 3);
        expect(r.ok && r.entry.translatedAddr).toBe(pa);
        expect(b.port.dmaRead({ sid: DEV.sid, pasid: 128 * 64 }, 0x6000, new Uint8Array(1)).ok).toBe(false);
        expect(b.driver.pendingFaults()[0]).toMatchObject({
          reason: 0x46,
          pasidPresent: true,
          pasid: 128 * 64,
        });
      });
    });
  });
}
