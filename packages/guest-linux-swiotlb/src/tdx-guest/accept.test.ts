import { Gpr, TdcallLeaf } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { tdxAcceptMemory } from "./accept";
import { TdxGuest } from "./guest";
import { ScriptedTd } from "./scripted-td";
import { TdxVcpu } from "./vcpu";

const K4 = 0x1000;
const M2 = 0x200000;
const G1 = 0x40000000;
const OPERAND_INVALID_RCX = 0xc000010000000001n;
const PAGE_SIZE_MISMATCH = 0xc0000b0b00000001n;

function setup(refuse: (gpa: number, level: number) => boolean = () => false) {
  const td = new ScriptedTd();
  td.accept = (gpa, level) => (refuse(gpa, level) ? OPERAND_INVALID_RCX : 0n);
  const guest = new TdxGuest();
  guest.assumeInit(52);
  const v = new TdxVcpu(guest, td);
  const attempts = () =>
    td.calls(TdcallLeaf.MEM_PAGE_ACCEPT).map((c) => {
      const rcx = Number(c.regs[Gpr.RCX]);
      return [rcx - (rcx % K4), rcx % 8];
    });
  return { td, guest, v, attempts };
}

describe("tdx_accept_memory", () => {
  it("tries 1 GiB, then 2 MiB, then 4 KiB at each position, as alignment and length allow", () => {
    const { td, v, attempts } = setup();
    const start = G1 - M2 - K4;
    const r = td.run(tdxAcceptMemory(v, start, 2 * G1 + M2));
    expect(r).toEqual({ done: true, value: true });
    expect(attempts()).toEqual([
      [G1 - M2 - K4, 0], // neither 1G- nor 2M-aligned
      [G1 - M2, 1], // 2M-aligned, 1G not
      [G1, 2], // 1G-aligned and 1G long
      [2 * G1, 1], // 1G-aligned but only 2 MiB left
    ]);
  });

  it("falls through 1G -> 2M -> 4K at the same position when the module refuses a size", () => {
    const { td, v, attempts, guest } = setup((_gpa, level) => level > 0);
    const r = td.run(tdxAcceptMemory(v, G1, G1 + 2 * K4));
    expect(r).toEqual({ done: true, value: true });
    expect(attempts()).toEqual([
      [G1, 0],
      [G1 + K4, 0],
    ]); // len < 2M: only 4K tried
    const big = setup((_gpa, level) => level === 2);
    big.td.run(tdxAcceptMemory(big.v, G1, 2 * G1));
    expect(big.attempts().slice(0, 3)).toEqual([
      [G1, 2],
      [G1, 1],
      [G1 + M2, 1],
    ]);
    expect(big.guest.stats.acceptTried[2]).toBe(1);
    expect(big.guest.stats.acceptDone[1]).toBe(512);
    expect(guest.stats.acceptDone[0]).toBe(2);
  });

  it("any non-zero status falls through (e.g. PAGE_SIZE_MISMATCH); a 4 KiB failure stops the walk", () => {
    const { td, v, attempts } = setup();
    td.accept = (gpa, level) =>
      level === 1 ? PAGE_SIZE_MISMATCH : gpa === M2 + K4 ? OPERAND_INVALID_RCX : 0n;
    const r = td.run(tdxAcceptMemory(v, M2, 2 * M2));
    expect(r).toEqual({ done: true, value: false });
    expect(attempts()).toEqual([
      [M2, 1],
      [M2, 0],
      [M2 + K4, 0],
    ]);
  });
});
