import { Gpr, TdVmcall, TdVmcallStatus } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { TdxGuest } from "./guest";
import { tdxMapGpa } from "./map-gpa";
import { ScriptedTd } from "./scripted-td";
import { TdxVcpu } from "./vcpu";

const SHARED = 2 ** 47;
const MIB = 1024 * 1024;

function setup(replies: [bigint, number?][]) {
  const td = new ScriptedTd({ gpaw: 48 });
  const guest = new TdxGuest();
  guest.assumeInit(48);
  const v = new TdxVcpu(guest, td);
  let i = 0;
  td.vmm = (r) => {
    const [status, resume] = replies[Math.min(i++, replies.length - 1)]!;
    r[Gpr.R10] = status;
    r[Gpr.R11] = BigInt(resume ?? 0);
  };
  const starts = () =>
    td.vmcalls(TdVmcall.MAP_GPA).map((c) => [Number(c.regs[Gpr.R12]), Number(c.regs[Gpr.R13])]);
  return { td, guest, v, starts };
}

describe("MapGPA (tdx_map_gpa)", () => {
  it("to shared: start and end carry the shared bit; SUCCESS in one call", () => {
    const { td, v, starts } = setup([[0n]]);
    const r = td.run(tdxMapGpa(v, 0x10000000, 0x10000000 + 4 * MIB, false));
    expect(r).toEqual({ done: true, value: { ok: true } });
    expect(starts()).toEqual([[SHARED + 0x10000000, 4 * MIB]]);
  });

  it("to private: the plain GPA; a non-RETRY error status fails at once", () => {
    const { td, v, starts } = setup([[TdVmcallStatus.INVALID_OPERAND, 0x10000000]]);
    const r = td.run(tdxMapGpa(v, 0x10000000, 0x10200000, true));
    expect(r).toEqual({
      done: true,
      value: { ok: false, reason: "status", status: TdVmcallStatus.INVALID_OPERAND },
    });
    expect(starts()).toEqual([[0x10000000, 2 * MIB]]);
  });

  it("RETRY with progress resumes from R11 with the remaining length, until SUCCESS", () => {
    const base = SHARED + 0x40000000;
    const { td, v, guest, starts } = setup([
      [TdVmcallStatus.RETRY, base + 2 * MIB],
      [TdVmcallStatus.RETRY, base + 4 * MIB],
      [0n],
    ]);
    const r = td.run(tdxMapGpa(v, 0x40000000, 0x40000000 + 6 * MIB, false));
    expect(r).toEqual({ done: true, value: { ok: true } });
    expect(starts()).toEqual([
      [base, 6 * MIB],
      [base + 2 * MIB, 4 * MIB],
      [base + 4 * MIB, 2 * MIB],
    ]);
    expect(guest.stats.mapGpaRetries).toBe(2);
  });

  it("gives up after 3 RETRYs in a row without progress (three calls, no fourth)", () => {
    const { td, v, starts } = setup([[TdVmcallStatus.RETRY, 0x40000000]]);
    const r = td.run(tdxMapGpa(v, 0x40000000, 0x40400000, true));
    expect(r).toEqual({ done: true, value: { ok: false, reason: "no-progress", resume: 0x40000000 } });
    expect(starts()).toHaveLength(3);
  });

  it("progress resets the no-progress count", () => {
    const { td, v, starts } = setup([
      [TdVmcallStatus.RETRY, 0x40000000],
      [TdVmcallStatus.RETRY, 0x40000000],
      [TdVmcallStatus.RETRY, 0x40200000],
      [TdVmcallStatus.RETRY, 0x40200000],
      [TdVmcallStatus.RETRY, 0x40200000],
      [0n],
    ]);
    const r = td.run(tdxMapGpa(v, 0x40000000, 0x40400000, true));
    expect(r).toEqual({ done: true, value: { ok: true } });
    expect(starts().map(([s]) => s)).toEqual([
      0x40000000, 0x40000000, 0x40000000, 0x40200000, 0x40200000, 0x40200000,
    ]);
  });

  it("a resume address outside [start, end) from the untrusted VMM fails the conversion", () => {
    for (const bad of [0x3ffff000, 0x40400000]) {
      const { td, v } = setup([[TdVmcallStatus.RETRY, bad]]);
      const r = td.run(tdxMapGpa(v, 0x40000000, 0x40400000, true));
      expect(r).toEqual({ done: true, value: { ok: false, reason: "resume-out-of-range", resume: bad } });
    }
  });
});
