/**
 * The register pages: reset values, ID registers exactly as configured, CR0 -> CR0ACK,
 * IRQ_CTRL -> IRQ_CTRLACK, write masks and read-only registers, page-1 queue registers (and their
 * page-0 alias), queue pointers owned by the SMMU while enabled, and bad offsets as errors.
 */
import { PhysicalMemory, TdxSimError } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { decodeFeatures, encodeIdRegisters } from "./idr";
import { qCount, qEmpty, qFull, qInc } from "./queue";
import { Cr0, GBPA_RESET_QEMU, Reg } from "./regs";
import { SmmuV3 } from "./smmu";

const mem = () => new PhysicalMemory({ physAddrBits: 48, ram: "all" });

describe("ID registers", () => {
  it("reports exactly the raw values it was built with", () => {
    const s = new SmmuV3(mem(), { idr: { idr0: 0x094c100f, idr1: 0x00e74010, idr3: 0x4, idr5: 0x55 } });
    expect([0, 4, 8, 12, 16, 20].map((o) => s.read32(o))).toEqual([0x094c100f, 0x00e74010, 0, 0x4, 0, 0x55]);
    expect(s.features).toMatchObject({
      s1p: true,
      s2p: true,
      asid16: true,
      vmid16: true,
      cd2l: true,
      stallModel: 1,
      gran4k: true,
      gran16k: false,
      gran64k: true,
      oasBits: 48,
      sidBits: 16,
    });
  });

  it("encodes a feature configuration into the IDR fields", () => {
    const r = encodeIdRegisters({ s2p: false, ssidBits: 5, stallModel: 2, oas: 4, gran16k: false });
    const f = decodeFeatures(r);
    expect(f).toMatchObject({
      s1p: true,
      s2p: false,
      ssidBits: 5,
      stallModel: 2,
      oasBits: 44,
      gran16k: false,
      gran4k: true,
    });
    expect(() => encodeIdRegisters({ oas: 7 })).toThrow(TdxSimError);
  });
});

describe("control registers", () => {
  it("resets to zero with GBPA at QEMU's value, and acknowledges CR0 and IRQ_CTRL", () => {
    const s = new SmmuV3(mem());
    expect(s.read32(Reg.CR0)).toBe(0);
    expect(s.read32(Reg.GBPA)).toBe(GBPA_RESET_QEMU);
    s.write32(Reg.CR0, 0xffffffff);
    expect(s.read32(Reg.CR0)).toBe(0x1df); // bit 5 is reserved
    expect(s.read32(Reg.CR0ACK)).toBe(0x1df);
    s.write32(Reg.CR0ACK, 0);
    expect(s.read32(Reg.CR0ACK)).toBe(0x1df); // read-only
    s.write32(Reg.IRQ_CTRL, 5);
    expect(s.read32(Reg.IRQ_CTRLACK)).toBe(5);
    s.write32(Reg.IDR0, 0);
    expect(s.read32(Reg.IDR0)).not.toBe(0);
    expect(s.read32(0x800)).toBe(0); // unassigned: RAZ
  });

  it("holds 64-bit bases as two halves and masks reserved bits", () => {
    const s = new SmmuV3(mem());
    s.writeRegister(Reg.STRTAB_BASE, 8, 0xffff_ffff_ffff_ffffn);
    expect(s.readRegister(Reg.STRTAB_BASE, 8)).toBe(0x400f_ffff_ffff_ffc0n); // RA[62], ADDR[51:6]
    s.writeRegister(Reg.CMDQ_BASE, 8, 0x0000_1234_5678_9ab4n);
    expect(s.readRegister(Reg.CMDQ_BASE, 8)).toBe(0x0000_1234_5678_9ab4n);
    // 2^20 entries asked, capped to IDR1.CMDQS (19); base aligned to the queue size
    s.writeRegister(Reg.CMDQ_BASE, 8, 0x0000_1234_5678_9ab4n | 0x14n);
    expect(s.regs.cmdq).toEqual({ base: 0x1234_5600_0000, log2: 19 });
    s.writeRegister(Reg.CMDQ_BASE, 8, 0x0000_1234_5678_9aa4n);
    expect(s.regs.cmdq).toEqual({ base: 0x1234_5678_9a00, log2: 4 });
  });

  it("puts the event queue pointers in page 1, aliased at page 0 by default", () => {
    const s = new SmmuV3(mem());
    s.write32(Reg.EVENTQ_BASE, 3);
    s.write32(Reg.EVENTQ_CONS, 5);
    expect(s.read32(0x100ac)).toBe(5);
    expect(s.read32(0xac)).toBe(5);
    const noAlias = new SmmuV3(mem(), { page0QueueAlias: false });
    noAlias.write32(0x100ac, 5);
    expect(noAlias.read32(0xac)).toBe(0);
  });

  it("lets software write CMDQ_CONS only while the queue is disabled", () => {
    const s = new SmmuV3(mem());
    s.write32(Reg.CMDQ_BASE, 4);
    s.write32(Reg.CMDQ_CONS, 3);
    s.write32(Reg.CMDQ_PROD, 3);
    expect(s.read32(Reg.CMDQ_CONS)).toBe(3);
    s.write32(Reg.CR0, Cr0.CMDQEN);
    s.write32(Reg.CMDQ_CONS, 7);
    expect(s.read32(Reg.CMDQ_CONS)).toBe(3);
  });

  it("rejects misaligned and out-of-range offsets with a typed error", () => {
    const s = new SmmuV3(mem());
    expect(() => s.read32(0x22)).toThrow(/naturally aligned/);
    expect(() => s.read64(0x24)).toThrow(TdxSimError);
    expect(() => s.write32(0x20000, 0)).toThrow(TdxSimError);
  });
});

describe("queue pointer arithmetic", () => {
  it("uses a wrap bit above the index: empty when equal, full when only the wrap differs", () => {
    const log2 = 2;
    let p = 0;
    for (let i = 0; i < 4; i++) p = qInc(p, log2);
    expect(p).toBe(0b100);
    expect(qFull(p, 0, log2)).toBe(true);
    expect(qEmpty(p, 0, log2)).toBe(false);
    expect(qCount(p, 0, log2)).toBe(4);
    for (let i = 0; i < 4; i++) p = qInc(p, log2);
    expect(p).toBe(0);
    expect(qEmpty(p, 0, log2)).toBe(true);
    expect(qCount(0b001, 0b110, log2)).toBe(3);
  });
});
