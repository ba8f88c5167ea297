/**
 * End-to-end at register level: real-format tables written byte by byte, translation enabled
 * through the GCMD/GSTS handshake, two devices in two domains isolated from each other, and the
 * faults they take recorded in the fault recording registers with the right reason codes.
 */
import { Initiator, PhysicalMemory } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { Fsts, Gcmd, Reg } from "../spec/registers";
import { VtdUnit } from "./vtd-unit";

/** Little-endian bytes of a 128-bit entry given as two qwords. */
function entry128(lo: bigint, hi: bigint): Uint8Array {
  const b = new Uint8Array(16);
  for (let i = 0; i < 8; i++) {
    b[i] = Number((lo >> BigInt(8 * i)) & 0xffn);
    b[8 + i] = Number((hi >> BigInt(8 * i)) & 0xffn);
  }
  return b;
}
function entry64(v: bigint): Uint8Array {
  return entry128(v, 0n).subarray(0, 8);
}

const ROOT = 0x10_0000;
const CTX_BUS0 = 0x10_1000;
const CTX_BUS3 = 0x10_2000;
const PT_A = 0x20_0000; // 4-level tables of domain 1 at 0x20_0000.. (4 pages)
const PT_B = 0x30_0000; // domain 2
const DATA_A = 0x4000_0000;
const DATA_B = 0x5000_0000;
const DEV_A = 0x0010; // 00:02.0
const DEV_B = 0x0318; // 03:03.0

/** A 4-level second-stage chain for one 4 KiB page: PML4 -> PDPT -> PD -> PT at base..base+0x3000. */
function mapOne(mem: PhysicalMemory, base: number, iova: number, hpa: number, rw: bigint): void {
  const idx = (l: number) => Math.floor(iova / 2 ** (12 + 9 * (l - 1))) % 512;
  for (let l = 4; l > 1; l--) {
    const table = base + (4 - l) * 0x1000;
    mem.write(table + idx(l) * 8, entry64(BigInt(table + 0x1000) | 3n), Initiator.Host);
  }
  mem.write(base + 0x3000 + idx(1) * 8, entry64(BigInt(hpa) | rw), Initiator.Host);
}

function setup() {
  const mem = PhysicalMemory.sparseAll({ physAddrBits: 46 });
  const unit = new VtdUnit({ mem, profile: { faultRecords: 4 } });
  // Root entries for bus 0 and bus 3 (P=1, CTP), context entries (P=1, TT=00, AW=2 (48-bit), DID).
  mem.write(ROOT + 0 * 16, entry128(BigInt(CTX_BUS0) | 1n, 0n), Initiator.Host);
  mem.write(ROOT + 3 * 16, entry128(BigInt(CTX_BUS3) | 1n, 0n), Initiator.Host);
  mem.write(CTX_BUS0 + (DEV_A & 0xff) * 16, entry128(BigInt(PT_A) | 1n, 2n | (1n << 8n)), Initiator.Host);
  mem.write(CTX_BUS3 + (DEV_B & 0xff) * 16, entry128(BigInt(PT_B) | 1n, 2n | (2n << 8n)), Initiator.Host);
  mapOne(mem, PT_A, 0x1000_0000, DATA_A, 3n);
  mapOne(mem, PT_B, 0x2000_0000, DATA_B, 3n);
  mem.write(DATA_A, new TextEncoder().encode("domain one data."), Initiator.Host);
  mem.write(DATA_B, new TextEncoder().encode("domain two data."), Initiator.Host);
  return { mem, unit };
}

/** Program the unit the way a driver does: one command per GCMD write, polling GSTS. */
function enable(unit: VtdUnit): void {
  unit.writeRegister(Reg.RTADDR, 8, BigInt(ROOT));
  unit.writeRegister(Reg.GCMD, 4, BigInt(Gcmd.SRTP));
  expect(Number(unit.readRegister(Reg.GSTS, 4)) & Gcmd.SRTP).toBe(Gcmd.SRTP);
  // Global context-cache and IOTLB invalidation through the registers (QI is off).
  unit.writeRegister(Reg.CCMD, 8, (1n << 63n) | (1n << 61n));
  const ccmd = unit.readRegister(Reg.CCMD, 8);
  expect(ccmd >> 63n).toBe(0n); // ICC cleared: done
  expect((ccmd >> 59n) & 3n).toBe(1n); // CAIG = global
  unit.writeRegister(unit.layout.iotlb, 8, (1n << 63n) | (1n << 60n));
  const iotlb = unit.readRegister(unit.layout.iotlb, 8);
  expect(iotlb >> 63n).toBe(0n); // IVT cleared
  expect((iotlb >> 57n) & 3n).toBe(1n); // IAIG = global
  unit.writeRegister(Reg.GCMD, 4, BigInt(Gcmd.TE));
  expect(unit.readRegister(Reg.GSTS, 4) >> 31n).toBe(1n); // TES
}

describe("VT-d unit: two devices in two domains", () => {
  it("passes DMA through untranslated before TE and translates after", () => {
    const { unit } = setup();
    const buf = new Uint8Array(16);
    expect(unit.port.dmaRead({ sid: DEV_A, pasid: -1 }, DATA_A, buf).ok).toBe(true);
    expect(new TextDecoder().decode(buf)).toBe("domain one data.");
    enable(unit);
    expect(unit.port.dmaRead({ sid: DEV_A, pasid: -1 }, DATA_A, buf).ok).toBe(false);
    expect(unit.port.dmaRead({ sid: DEV_A, pasid: -1 }, 0x1000_0000, buf).ok).toBe(true);
    expect(new TextDecoder().decode(buf)).toBe("domain one data.");
  });

  it("gives each device only its own memory and records the other's IOVAs as faults", () => {
    const { unit } = setup();
    enable(unit);
    // Unmask the fault event so the MSI is sent.
    unit.writeRegister(Reg.FEDATA, 4, 0x41n);
    unit.writeRegister(Reg.FEADDR, 4, 0xfee0_0000n);
    unit.writeRegister(Reg.FECTL, 4, 0n);
    const a = { sid: DEV_A, pasid: -1 };
    const b = { sid: DEV_B, pasid: -1 };
    const buf = new Uint8Array(16);
    expect(unit.port.dmaRead(b, 0x2000_0000, buf).ok).toBe(true);
    expect(new TextDecoder().decode(buf)).toBe("domain two data.");

    const r1 = unit.port.dmaRead(a, 0x2000_0000, buf);
    expect(r1.ok).toBe(false);
    const w1 = unit.port.dmaWrite(b, 0x1000_0008, Uint8Array.of(1, 2, 3));
    expect(w1.ok).toBe(false);
    if (r1.ok || w1.ok) return;
    expect(r1.fault?.code).toBe(0x06); // PTE read access is not set (not-present)
    expect(w1.fault?.code).toBe(0x05); // PTE write access is not set

    // FRCD[0]: the read by 00:02.0; FRCD[1]: the write by 03:03.0.
    const fro = unit.layout.frcd;
    const lo0 = unit.readRegister(fro, 8);
    const hi0 = unit.readRegister(fro + 8, 8);
    expect(lo0).toBe(0x2000_0000n);
    expect(hi0 & 0xffffn).toBe(BigInt(DEV_A));
    expect((hi0 >> 32n) & 0xffn).toBe(0x06n);
    expect((hi0 >> 62n) & 1n).toBe(1n); // T = read
    expect(hi0 >> 63n).toBe(1n); // F
    const lo1 = unit.readRegister(fro + 16, 8);
    const hi1 = unit.readRegister(fro + 24, 8);
    expect(lo1).toBe(0x1000_0000n); // the faulting page, offset cleared
    expect(hi1 & 0xffffn).toBe(BigInt(DEV_B));
    expect((hi1 >> 32n) & 0xffn).toBe(0x05n);
    expect((hi1 >> 62n) & 1n).toBe(0n); // T = write
    const fsts = Number(unit.readRegister(Reg.FSTS, 4));
    expect(fsts & Fsts.PPF).toBe(Fsts.PPF);
    expect((fsts >> 8) & 0xff).toBe(0); // FRI: the first record
    // One fault event (the first fault set PPF), sent as an MSI.
    expect(unit.msis).toEqual([{ event: "fault", address: 0xfee0_0000, data: 0x41 }]);
    // Domain two's memory is untouched.
    expect(unit.port.dmaRead(b, 0x2000_0000, buf).ok).toBe(true);
    expect(new TextDecoder().decode(buf)).toBe("domain two data.");

    // Software clears the records (F, then FSTS) as Linux dmar_fault() does; PPF drops.
    unit.writeRegister(fro + 12, 4, 0x8000_0000n);
    unit.writeRegister(fro + 28, 4, 0x8000_0000n);
    expect(Number(unit.readRegister(Reg.FSTS, 4)) & Fsts.PPF).toBe(0);
  });

  it("puts several devices in one domain through one domain-id", () => {
    const { mem, unit } = setup();
    // 03:03.1 joins domain 1: same SLPTPTR and DID.
    mem.write(CTX_BUS3 + 0x19 * 16, entry128(BigInt(PT_A) | 1n, 2n | (1n << 8n)), Initiator.Host);
    enable(unit);
    const buf = new Uint8Array(16);
    expect(unit.port.dmaRead({ sid: 0x0319, pasid: -1 }, 0x1000_0000, buf).ok).toBe(true);
    expect(new TextDecoder().decode(buf)).toBe("domain one data.");
    // The second device hits the IOTLB entry the first one filled: the IOTLB is tagged by DID.
    expect(unit.translateFast(DEV_A, -1, 0x1000_0000, false)).toBe(0);
    expect(unit.lastTranslation.hit).toBe(true);
    expect(unit.lastTranslation.did).toBe(1);
  });
});
