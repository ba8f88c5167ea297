import { Gpr, TdcallLeaf } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { TdxGuest } from "./guest";
import { LazyAcceptZone, MAX_ORDER_NR_PAGES } from "./lazy-accept";
import { ScriptedTd } from "./scripted-td";
import { UnacceptedMemory } from "./unaccepted-memory";
import { TdxVcpu } from "./vcpu";

const M2 = 0x200000;
const G1 = 0x40000000;
const BASE = 4 * G1; // memory above 4 GiB left unaccepted by the firmware

function setup() {
  const td = new ScriptedTd();
  const guest = new TdxGuest();
  guest.assumeInit(52);
  const v = new TdxVcpu(guest, td);
  const table = new UnacceptedMemory({ physBase: BASE, coveredBytes: 64 * M2 });
  table.markUnaccepted(BASE, BASE + 64 * M2);
  const accepted = () =>
    td.calls(TdcallLeaf.MEM_PAGE_ACCEPT).map((c) => {
      const rcx = Number(c.regs[Gpr.RCX]);
      return [(rcx - (rcx % 8) - BASE) / M2, rcx % 8];
    });
  return { td, guest, v, table, accepted };
}

function units(table: UnacceptedMemory): number[] {
  const out: number[] = [];
  for (let u = 0; u < table.size * 8; u++) if (!table.isUnitUnaccepted(u)) out.push(u);
  return out;
}

describe("the unaccepted-memory bitmap (2 MiB units)", () => {
  it("has one bit per unit from phys_base; the table size is the bitmap's bytes", () => {
    const { table } = setup();
    expect(table.size).toBe(8);
    expect(table.unacceptedUnits()).toBe(64);
    expect(table.bitmap[0]).toBe(0xff);
    table.markUnaccepted(BASE, BASE); // empty range: nothing
    expect(() => table.markUnaccepted(BASE + 0x1000, BASE + M2)).toThrow(/unit-aligned/);
  });

  it("accept_memory with a unit-aligned end also accepts the next unit (the guard)", () => {
    const { td, v, table, accepted } = setup();
    td.run(table.acceptMemory(v, BASE + 2 * M2, 2 * M2));
    expect(units(table)).toEqual([2, 3, 4]);
    expect(accepted()).toEqual([
      [2, 1],
      [3, 1],
      [4, 1],
    ]);
  });

  it("an unaligned end is rounded up to its unit, with no guard unit", () => {
    const { td, v, table } = setup();
    td.run(table.acceptMemory(v, BASE + 0x1000, M2));
    expect(units(table)).toEqual([0, 1]);
  });

  it("accepts each run of still-set bits once, and nothing for accepted units", () => {
    const { td, v, table, accepted } = setup();
    td.run(table.acceptMemory(v, BASE + 5 * M2 + 0x1000, 0x1000)); // unit 5 only
    td.run(table.acceptMemory(v, BASE + 4 * M2, 4 * M2)); // units 4..8 (8 = guard): runs [4], [6..8]
    expect(units(table)).toEqual([4, 5, 6, 7, 8]);
    expect(accepted().map(([u]) => u)).toEqual([5, 4, 6, 7, 8]);
    const before = td.tdcalls.length;
    td.run(table.acceptMemory(v, BASE + 6 * M2, 0x1000));
    expect(td.tdcalls.length).toBe(before);
  });

  it("clips to the bitmap: below phys_base is ignored, the guard stops at its end", () => {
    const { td, v, table } = setup();
    td.run(table.acceptMemory(v, 0, 0x1000)); // entirely below
    expect(table.unacceptedUnits()).toBe(64);
    td.run(table.acceptMemory(v, BASE - M2, 2 * M2)); // clipped to unit 0, + guard unit 1
    expect(units(table)).toEqual([0, 1]);
    td.run(table.acceptMemory(v, BASE + 63 * M2, M2)); // last unit; the guard would be past the end
    expect(units(table)).toEqual([0, 1, 63]);
  });

  it("range_contains_unaccepted_memory applies the same guard", () => {
    const { td, v, table } = setup();
    td.run(table.acceptMemory(v, BASE, M2 + 0x1000)); // units 0, 1
    expect(table.rangeContainsUnacceptedMemory(BASE, M2)).toBe(false); // unit 0 (+ guard 1)
    expect(table.rangeContainsUnacceptedMemory(BASE, 2 * M2)).toBe(true); // guard unit 2 is unaccepted
    expect(table.rangeContainsUnacceptedMemory(BASE + M2, M2 - 0x1000)).toBe(false);
    expect(table.rangeContainsUnacceptedMemory(0, 0x1000)).toBe(false);
  });

  it("a failed acceptance panics the guest (TDX: Failed to accept memory)", () => {
    const { td, v, table } = setup();
    td.accept = () => 0xc000010000000001n;
    expect(td.run(table.acceptMemory(v, BASE, 0x1000))).toEqual({
      done: false,
      fatal: "TDX: Failed to accept memory",
    });
  });
});

describe("lazy acceptance in MAX_PAGE_ORDER (4 MiB) blocks", () => {
  it("defers whole blocks with unaccepted memory, accepts partial blocks at once, then accepts blocks on demand", () => {
    const { td, v, table } = setup();
    const zone = new LazyAcceptZone(table);
    const r = td.run(zone.freeRange(v, BASE + 0x1000, BASE + 16 * M2));
    expect(r).toEqual({ done: true, value: 7 }); // blocks 1..7 deferred; block 0 is partial
    expect(units(table)).toEqual([0, 1, 2]); // the partial block 0, and unit 2 as its guard
    expect(zone.nrUnacceptedPages).toBe(7 * MAX_ORDER_NR_PAGES);
    expect(td.run(zone.acceptPages(v, 1500))).toEqual({ done: true, value: 2 * MAX_ORDER_NR_PAGES });
    // blocks 1 and 2 (units 2..5; unit 2 already accepted) plus the guard unit 6 of block 3
    expect(units(table)).toEqual([0, 1, 2, 3, 4, 5, 6]);
    expect(zone.deferredBlocks()[0]).toBe(BASE + 6 * M2);
  });

  it("accept_memory=eager accepts while freeing", () => {
    const { td, v, table } = setup();
    const zone = new LazyAcceptZone(table, true);
    expect(td.run(zone.freeRange(v, BASE, BASE + 8 * M2))).toEqual({ done: true, value: 0 });
    expect(zone.nrUnacceptedPages).toBe(0);
    expect(units(table)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
  });
});
