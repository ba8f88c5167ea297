/**
 * KeyID partitioning: layouts from IA32_MKTME_KEYID_PARTITIONING / IA32_TME_ACTIVATE and the
 * per-KeyID kind table the access paths use.
 */
import { describe, expect, it } from "vitest";
import {
  KeyIdKind,
  keyIdKindTable,
  keyIdPartitionFromMsrs,
  makeKeyIdPartition,
  partitioningMsrOf,
} from "./keyids";

describe("KeyID partitioning", () => {
  it("decodes MSR 0x87 (31:0 MKTME, 63:32 TDX) and MK_TME_KEYID_BITS (TME_ACTIVATE 35:32)", () => {
    // the Linux tdx.rst example: "private KeyID range [16, 64)" with 6 KeyID bits
    const p = keyIdPartitionFromMsrs((48n << 32n) | 15n, (6n << 32n) | 1n);
    expect(p).toEqual({ keyIdBits: 6, mktmeKeyIds: 15, tdxFirst: 16, tdxCount: 48 });
    expect(partitioningMsrOf(p)).toBe(0x0000_0030_0000_000fn);
  });

  it("classifies KeyID 0 and MKTME KeyIDs as shared, the TDX range as private, the rest invalid", () => {
    const t = keyIdKindTable(makeKeyIdPartition(4, { first: 6, count: 8 }));
    expect(t.length).toBe(16);
    expect([...t]).toEqual([0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2]);
    expect(t[13]).toBe(KeyIdKind.Private);
    expect(t[14]).toBe(KeyIdKind.Invalid);
  });

  it("defaults to a quarter of the space shared (the [16, 64) example for 6 bits)", () => {
    expect(makeKeyIdPartition(6)).toEqual({ keyIdBits: 6, mktmeKeyIds: 15, tdxFirst: 16, tdxCount: 48 });
    expect(makeKeyIdPartition(0)).toEqual({ keyIdBits: 0, mktmeKeyIds: 0, tdxFirst: 1, tdxCount: 0 });
  });

  it("rejects partitions that do not fit or do not start right after the MKTME KeyIDs", () => {
    expect(() => makeKeyIdPartition(6, { first: 16, count: 49 })).toThrow(/does not fit/);
    expect(() => makeKeyIdPartition(6, { first: 16, count: 8 }, 20)).toThrow(/NUM_MKTME_KIDS \+ 1/);
    expect(() => makeKeyIdPartition(0, { first: 1, count: 2 })).toThrow(/keyIdBits > 0/);
    expect(() => keyIdPartitionFromMsrs(64n << 32n, 6n << 32n)).toThrow(/does not fit/);
  });
});
