/**
 * The SMMUv3 contract suite: what any SMMUv3 model must do when programmed only through its
 * registers and in-memory structures, as a Linux-style driver programs it. Another
 * implementation runs it with `describeSmmuContract(name, make)`, where `make` builds a unit in
 * its reset state with the given ID register values on a memory where every address is RAM.
 */
import { type DeviceDmaPort, Initiator, Perm, type PhysicalMemoryAccess } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { BumpAllocator, hostTableMemory, type TableMemory } from "../alloc";
import { encodeCd } from "../cd";
import { CError, ResumeAction } from "../commands";
import { type DriverConfig, SmmuDriver, type SmmuRegisterPort } from "../driver";
import { EventId, FaultClass } from "../events";
import { encodeIdRegisters, type IdRegisterValues } from "../idr";
import { PageTable } from "../pgtable";
import { Cr0, Gbpa, Gerror, Q_OVERFLOW_FLAG, Reg } from "../regs";
import { encodeSte, SteConfigKind } from "../ste";
import { GuestRam } from "../vsva/guest-ram";
import { s1CdFields, s2SteFields } from "./rig";

/** A unit under test: its registers, its device-facing port and the memory it sits on. */
export interface SmmuUnderTest {
  readonly regs: SmmuRegisterPort;
  readonly port: DeviceDmaPort;
  readonly mem: PhysicalMemoryAccess;
}

/** Builds a unit in its reset state with exactly these ID register values. */
export type SmmuFactory = (idr: IdRegisterValues) => SmmuUnderTest;

interface Bench {
  readonly u: SmmuUnderTest;
  readonly drv: SmmuDriver;
  readonly host: TableMemory;
}

const BASE_IDR = encodeIdRegisters({ stallModel: 0, ssidBits: 8 });

function up(make: SmmuFactory, cfg: DriverConfig = {}, idr: IdRegisterValues = BASE_IDR): Bench {
  const u = make(idr);
  const host = hostTableMemory(u.mem, new BumpAllocator(0x1000_0000, 0x8000_0000));
  const drv = new SmmuDriver(u.regs, host);
  drv.reset(cfg);
  return { u, drv, host };
}

function stage1Stream(b: Bench, sid: number, asid: number, cd = {}): PageTable {
  const pt = new PageTable(b.host, { stage: 1, g: 12, inputBits: 48 });
  const cdAddr = b.host.alloc(64, 64);
  b.host.write(cdAddr, new Uint8Array(encodeCd(s1CdFields(pt.root, asid, 12, 48, cd)).buffer));
  b.drv.installSte(sid, encodeSte({ v: true, config: SteConfigKind.S1_TRANS, s1ContextPtr: cdAddr }));
  return pt;
}

function read1(u: SmmuUnderTest, pa: number): number {
  const b = new Uint8Array(1);
  u.mem.read(pa, b, Initiator.Host);
  return b[0]!;
}

/** Register the SMMUv3 contract tests for one implementation. */
export function describeSmmuContract(name: string, make: SmmuFactory): void {
  describe(`SMMUv3 contract: ${name}`, () => {
    it("reports its ID registers as built and acknowledges CR0 in CR0ACK", () => {
      const u = make(BASE_IDR);
      expect([0, 4, 0xc, 0x14].map((o) => u.regs.read32(o))).toEqual([
        BASE_IDR.idr0,
        BASE_IDR.idr1,
        BASE_IDR.idr3,
        BASE_IDR.idr5,
      ]);
      u.regs.write32(Reg.CR0, Cr0.EVENTQEN);
      expect(u.regs.read32(Reg.CR0ACK) & 0x1f).toBe(Cr0.EVENTQEN);
    });

    it("follows GBPA while SMMUEN = 0, recording nothing", () => {
      const b = up(make);
      b.u.regs.write32(Reg.CR0, Cr0.CMDQEN | Cr0.EVENTQEN);
      b.u.regs.write32(Reg.GBPA, Gbpa.UPDATE);
      expect(b.u.port.translate({ sid: 1, pasid: -1 }, 0x4000, Perm.Read)).toMatchObject({
        ok: true,
        entry: { translatedAddr: 0x4000 },
      });
      b.u.regs.write32(Reg.GBPA, (Gbpa.UPDATE | Gbpa.ABORT) >>> 0);
      expect(b.u.port.translate({ sid: 1, pasid: -1 }, 0x4000, Perm.Read).ok).toBe(false);
      expect(b.drv.readEvents()).toEqual([]);
    });

    it("consumes no command while CMDQEN = 0", () => {
      const b = up(make, { sync: "poll" });
      b.u.regs.write32(Reg.CR0, Cr0.SMMUEN | Cr0.EVENTQEN);
      const cons = b.u.regs.read32(Reg.CMDQ_CONS);
      expect(b.drv.submit([{ op: "CFGI_ALL" }]).ok).toBe(false);
      expect(b.u.regs.read32(Reg.CMDQ_CONS)).toBe(cons);
      b.u.regs.write32(Reg.CR0, Cr0.SMMUEN | Cr0.EVENTQEN | Cr0.CMDQEN);
      expect(b.u.regs.read32(Reg.CMDQ_CONS)).toBe(b.u.regs.read32(Reg.CMDQ_PROD));
    });

    it("stops at an illegal command with CERROR_ILL and GERROR.CMDQ_ERR, and resumes after the Linux repair", () => {
      const b = up(make);
      expect(b.drv.submit([{ op: "RAW", words: [0xff, 0, 0, 0] }, { op: "CFGI_ALL" }])).toMatchObject({
        ok: false,
        cerror: CError.ILL,
      });
      expect((b.u.regs.read32(Reg.GERROR) ^ b.u.regs.read32(Reg.GERRORN)) & Gerror.CMDQ_ERR).toBe(
        Gerror.CMDQ_ERR,
      );
      b.drv.handleGerror();
      expect(b.u.regs.read32(Reg.CMDQ_CONS) & 0xfffff).toBe(b.u.regs.read32(Reg.CMDQ_PROD));
      expect(b.drv.submit([{ op: "CFGI_ALL" }])).toEqual({ ok: true });
    });

    it("records C_BAD_STREAMID beyond the stream table, C_BAD_STE for V = 0, and overflows with OVFLG", () => {
      const b = up(make, { eventqLog2: 1 });
      b.u.port.translate({ sid: 1 << 12, pasid: -1 }, 0, Perm.Read);
      b.u.port.translate({ sid: 5, pasid: -1 }, 0, Perm.Read);
      expect(b.drv.readEvents().map((e) => [e.id, e.sid])).toEqual([
        [EventId.C_BAD_STREAMID, 1 << 12],
        [EventId.C_BAD_STE, 5],
      ]);
      for (let i = 0; i < 3; i++) b.u.port.translate({ sid: 5, pasid: -1 }, 0, Perm.Read);
      expect((b.u.regs.read32(Reg.EVENTQ_PROD) & Q_OVERFLOW_FLAG) >>> 0).toBe(Q_OVERFLOW_FLAG);
      expect(b.drv.readEvents()).toHaveLength(2);
      expect(b.drv.overflows).toBe(1);
    });

    it("agrees between linear and two-level stream tables", () => {
      for (const format of ["linear", "2lvl"] as const) {
        const b = up(make, { streamTable: { format, log2Size: 10, split: 8 } });
        const pt = stage1Stream(b, 0x2c5, 1);
        pt.map(0x10_0000, 0x20_0000, 12);
        expect(b.u.port.translate({ sid: 0x2c5, pasid: -1 }, 0x10_0010, Perm.Read)).toMatchObject({
          entry: { translatedAddr: 0x20_0000 },
        });
      }
    });

    it("keeps a changed STE invisible until CFGI_STE, and a changed PTE until TLBI_NH_VA", () => {
      const b = up(make);
      const pt = stage1Stream(b, 3, 9);
      pt.map(0x10_0000, 0x20_0000, 12);
      const dev = { sid: 3, pasid: -1 };
      expect(b.u.port.translate(dev, 0x10_0000, Perm.Read).ok).toBe(true);
      b.drv.writeSte(3, encodeSte({ v: true, config: SteConfigKind.ABORT }));
      expect(b.u.port.translate(dev, 0x10_0000, Perm.Read).ok).toBe(true);
      b.drv.mustSubmit([{ op: "CFGI_STE", sid: 3, leaf: true }]);
      expect(b.u.port.translate(dev, 0x10_0000, Perm.Read).ok).toBe(false);
      const pt2 = stage1Stream(b, 4, 10);
      pt2.map(0x10_0000, 0x20_0000, 12);
      const dev4 = { sid: 4, pasid: -1 };
      expect(b.u.port.translate(dev4, 0x10_0000, Perm.Read).ok).toBe(true);
      pt2.map(0x10_0000, 0x30_0000, 12);
      b.drv.mustSubmit([{ op: "TLBI_NH_VA", vmid: 0, asid: 10, addr: 0x10_0000 }]);
      expect(b.u.port.translate(dev4, 0x10_0000, Perm.Read)).toMatchObject({
        entry: { translatedAddr: 0x30_0000 },
      });
    });

    it("translates nested streams to S2(S1(VA)) and attributes stage-2 faults to their class", () => {
      const b = up(make);
      const s2 = new PageTable(b.host, { stage: 2, g: 12, inputBits: 40, startLevel: 1 });
      const guest = new GuestRam(b.host, s2, 0x4000_0000, 0x10_0000);
      const pt = new PageTable(guest, { stage: 1, g: 12, inputBits: 48 });
      const cdIpa = guest.alloc(64, 64);
      guest.write(cdIpa, new Uint8Array(encodeCd(s1CdFields(pt.root, 2)).buffer));
      b.drv.installSte(
        7,
        encodeSte({ ...s2SteFields(s2, 3), config: SteConfigKind.NESTED, s1ContextPtr: cdIpa }),
      );
      const ipa = guest.alloc(4096, 4096);
      pt.map(0x7000_0000, ipa, 12);
      expect(b.u.port.translate({ sid: 7, pasid: -1 }, 0x7000_0008, Perm.Write)).toMatchObject({
        entry: { translatedAddr: guest.ipaToPa(ipa) },
      });
      pt.map(0x7000_1000, 0x3000_0000, 12); // an IPA stage 2 does not map
      expect(b.u.port.translate({ sid: 7, pasid: -1 }, 0x7000_1000, Perm.Read).ok).toBe(false);
      expect(b.drv.readEvents()).toMatchObject([
        { id: EventId.F_TRANSLATION, s2: true, cls: FaultClass.IN, addr2: 0x3000_0000 },
      ]);
    });

    it("stalls a faulting write, reports Stall and STAG, completes it after the fix and CMD_RESUME, and aborts on request", () => {
      const b = up(make);
      const pt = stage1Stream(b, 2, 5, { s: true });
      const dev = { sid: 2, pasid: -1 };
      expect(b.u.port.dmaWrite(dev, 0x50_0000, Uint8Array.of(0x5a))).toMatchObject({
        ok: false,
        stalled: true,
      });
      const [ev] = b.drv.readEvents();
      expect(ev).toMatchObject({ id: EventId.F_TRANSLATION, stall: true, sid: 2 });
      const pa = b.host.alloc(4096, 4096);
      pt.map(0x50_0000, pa, 12);
      b.drv.mustSubmit([{ op: "RESUME", sid: 2, stag: ev!.stag, action: ResumeAction.RETRY }]);
      expect(read1(b.u, pa)).toBe(0x5a);
      expect(b.u.port.dmaWrite(dev, 0x60_0000, Uint8Array.of(1))).toMatchObject({ stalled: true });
      const [ev2] = b.drv.readEvents();
      pt.map(0x60_0000, pa, 12);
      b.drv.mustSubmit([{ op: "RESUME", sid: 2, stag: ev2!.stag, action: ResumeAction.ABORT }]);
      expect(read1(b.u, pa)).toBe(0x5a); // the aborted write never landed
    });
  });
}
