/**
 * The two conversion forms: a synchronous implementation lifted into guest code completes without
 * a TD exit; a guest-code one passes its exits through; the counting wrapper counts requests and
 * the pages of successful ones in either case.
 */
import { describe, expect, it } from "vitest";
import { runGuestOp, ScriptedEncryptionGuestOps } from "../td/scripted-encryption-ops";
import { CountingEncryptionOps, EIO, RecordingEncryptionOps, toGuestEncryptionOps } from "./conversion";

describe("toGuestEncryptionOps", () => {
  it("lifts a synchronous implementation into guest code that completes at the first step", () => {
    const rec = new RecordingEncryptionOps();
    const ops = toGuestEncryptionOps(rec);
    const step = ops.setMemoryDecryptedOp(0x10000, 4).next();
    expect(step).toEqual({ done: true, value: 0 });
    rec.failNext(EIO);
    expect(ops.setMemoryEncryptedOp(0x10000, 4).next()).toEqual({ done: true, value: EIO });
    expect(rec.records.map((r) => [r.kind, r.status])).toEqual([
      ["decrypt", 0],
      ["encrypt", EIO],
    ]);
  });

  it("returns a guest-code implementation itself", () => {
    const scripted = new ScriptedEncryptionGuestOps();
    expect(toGuestEncryptionOps(scripted)).toBe(scripted);
  });
});

describe("CountingEncryptionOps", () => {
  it("forwards each TD exit and counts requests and the pages of successful conversions", () => {
    const vmm = new ScriptedEncryptionGuestOps((kind) => (kind === "encrypt" ? EIO : 0));
    const counting = new CountingEncryptionOps(vmm);
    expect(runGuestOp(counting.setMemoryDecryptedOp(0x200000, 8))).toEqual({ value: 0, exits: 1 });
    expect(runGuestOp(counting.setMemoryEncryptedOp(0x200000, 8))).toEqual({ value: EIO, exits: 1 });
    expect([counting.requests, counting.pagesDecrypted, counting.pagesEncrypted]).toEqual([2, 8, 0]);
    expect(vmm.records).toEqual([
      { kind: "decrypt", gpa: 0x200000, pages: 8, status: 0 },
      { kind: "encrypt", gpa: 0x200000, pages: 8, status: EIO },
    ]);
  });

  it("counts a synchronous implementation the same way, without exits", () => {
    const counting = new CountingEncryptionOps(new RecordingEncryptionOps());
    expect(runGuestOp(counting.setMemoryEncryptedOp(0, 3))).toEqual({ value: 0, exits: 0 });
    expect(counting.pagesEncrypted).toBe(3);
  });
});

describe("ScriptedEncryptionGuestOps", () => {
  it("refuses a VMM answer that is not 0 or a negative errno", () => {
    const ops = new ScriptedEncryptionGuestOps(() => 1);
    expect(() => runGuestOp(ops.setMemoryDecryptedOp(0, 1))).toThrow(/use 0 or a negative errno/);
  });
});
