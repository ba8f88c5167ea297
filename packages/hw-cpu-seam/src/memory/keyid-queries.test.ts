/**
 * The KeyID queries of PhysicalMemoryAccess as PhysicalMemory answers them: where the KeyID bits
 * are, which KeyIDs are private, and which 64-byte lines of a range a TD owns (checked against
 * lineIntegrity over seeded random ranges of a page with owned, foreign and host-written lines).
 */
import { describe, expect, it } from "vitest";
import { seededRandom } from "../testing/memory-contract";
import { PhysicalMemory } from "./physical-memory";
import { Initiator, MemStatus, type PhysicalMemoryAccess } from "./types";

const TD_KEY = 20;
const PAGE = 0x20_0000;

/** 46-bit PAs, 6 KeyID bits (KeyID unit 2^40), private KeyIDs [16, 64). */
function memory(): PhysicalMemory {
  return PhysicalMemory.sparseAll({ physAddrBits: 46, keyIdBits: 6, tdxKeyIds: { first: 16, count: 48 } });
}

describe("KeyID queries", () => {
  it("find the KeyID in the upper PA bits and strip it", () => {
    const m: PhysicalMemoryAccess = memory();
    const pa = TD_KEY * 2 ** 40 + 0x1234_5678;
    expect(m.keyIdOf(pa)).toBe(TD_KEY);
    expect(m.stripKeyId(pa)).toBe(0x1234_5678);
    expect(m.keyIdOf(0x1234_5678)).toBe(0);
    expect(m.keyIdOf(2 ** 46 - 1)).toBe(63);
    expect(m.stripKeyId(2 ** 46 - 1)).toBe(2 ** 40 - 1);
  });

  it("say which KeyIDs are private: the TDX range only, not KeyID 0, MKTME or out-of-range ones", () => {
    const m: PhysicalMemoryAccess = memory();
    const kinds = Array.from({ length: 66 }, (_, k) => m.isPrivateKeyId(k));
    expect(kinds.slice(0, 16).every((p) => !p)).toBe(true);
    expect(kinds.slice(16, 64).every((p) => p)).toBe(true);
    expect(kinds.slice(64)).toEqual([false, false]);
    const noKeys: PhysicalMemoryAccess = PhysicalMemory.sparseAll({ physAddrBits: 46 });
    expect(noKeys.isPrivateKeyId(0)).toBe(false);
  });

  it("take the private range from IA32_MKTME_KEYID_PARTITIONING (MSR 0x87: 31:0 MKTME, 63:32 TDX)", () => {
    // 31 MKTME KeyIDs, 32 TDX KeyIDs [32, 64) in 6 KeyID bits
    const m = PhysicalMemory.sparseAll({
      physAddrBits: 46,
      keyIdBits: 6,
      keyIdPartitioning: (32n << 32n) | 31n,
    });
    expect([m.isPrivateKeyId(0), m.isPrivateKeyId(31), m.isPrivateKeyId(32), m.isPrivateKeyId(63)]).toEqual([
      false,
      false,
      true,
      true,
    ]);
    expect(m.keyIdPartitioningMsr()).toBe((32n << 32n) | 31n);
    const b = new Uint8Array(4);
    expect(m.read(m.withKeyId(PAGE, 31), b, Initiator.Host)).toBe(MemStatus.Ok);
    expect(m.read(m.withKeyId(PAGE, 32), b, Initiator.Host)).toBe(MemStatus.KeyIdNotAllowed);
    // 8 MKTME + 8 TDX KeyIDs leave [17, 64) invalid
    const few = PhysicalMemory.sparseAll({
      physAddrBits: 46,
      keyIdBits: 6,
      keyIdPartitioning: (8n << 32n) | 8n,
    });
    expect(few.read(few.withKeyId(PAGE, 17), b, Initiator.Seam)).toBe(MemStatus.KeyIdInvalid);
    expect(few.isPrivateKeyId(16)).toBe(true);
    expect(few.isPrivateKeyId(17)).toBe(false);
    expect(() =>
      PhysicalMemory.sparseAll({ physAddrBits: 46, keyIdBits: 6, keyIdPartitioning: (48n << 32n) | 16n }),
    ).toThrow(/does not fit 6 KeyID bits/);
    expect(() =>
      PhysicalMemory.sparseAll({
        physAddrBits: 46,
        keyIdBits: 6,
        keyIdPartitioning: (48n << 32n) | 15n,
        tdxKeyIds: { first: 16, count: 48 },
      }),
    ).toThrow(/either as keyIdPartitioning .* or as tdxKeyIds/);
  });

  it("report TD-owned lines in a range, line by line, whatever KeyID the range carries", () => {
    const m = memory();
    const priv = m.withKeyId(PAGE, TD_KEY);
    expect(m.anyTdOwnedLine(PAGE, 8192)).toBe(false); // never touched
    expect(m.write(PAGE, Uint8Array.of(1), Initiator.Host)).toBe(MemStatus.Ok);
    expect(m.anyTdOwnedLine(PAGE, 4096)).toBe(false); // backed, clean
    expect(m.initPage(priv, Initiator.Seam)).toBe(MemStatus.Ok); // all 64 lines owned
    expect(m.anyTdOwnedLine(PAGE + 4095, 1)).toBe(true);
    expect(m.anyTdOwnedLine(m.withKeyId(PAGE, 3), 1)).toBe(true); // KeyID bits ignored
    expect(m.anyTdOwnedLine(PAGE - 64, 64)).toBe(false); // the line before the page
    expect(m.anyTdOwnedLine(PAGE - 64, 65)).toBe(true); // reaching into it
    expect(m.anyTdOwnedLine(PAGE, 0)).toBe(false);
    expect(m.anyTdOwnedLine(PAGE, -1)).toBe(false);
    // Host full-line writes over lines 1..3 and 60..63 drop their ownership.
    expect(m.write(PAGE + 64, new Uint8Array(3 * 64), Initiator.Host)).toBe(MemStatus.Ok);
    expect(m.write(PAGE + 60 * 64, new Uint8Array(4 * 64), Initiator.Host)).toBe(MemStatus.Ok);
    expect(m.anyTdOwnedLine(PAGE + 64, 3 * 64)).toBe(false);
    expect(m.anyTdOwnedLine(PAGE + 64, 3 * 64 + 1)).toBe(true);
    expect(m.anyTdOwnedLine(PAGE + 63, 2)).toBe(true);
    expect(m.anyTdOwnedLine(PAGE + 60 * 64, 4 * 64 + 4096)).toBe(false);

    const rnd = seededRandom(7);
    for (let n = 0; n < 500; n++) {
      const start = PAGE - 256 + Math.floor(rnd() * (4096 + 512));
      const len = 1 + Math.floor(rnd() * 600);
      let expected = false;
      for (let line = start - (start % 64); line < start + len; line += 64) {
        expected ||= m.lineIntegrity(line).owned;
      }
      expect(m.anyTdOwnedLine(start, len)).toBe(expected);
    }
  });
});
