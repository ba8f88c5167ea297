/**
 * The TD's view of its memory for the DMA layer: accesses by Linux physical address go to the
 * private GPA or, for pages the kernel maps shared, to the shared alias; failures of the vCPU's
 * synchronous accessors become MemStatus values with the TD's own status kept.
 */
import { GuestMem, MemStatus } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { SharedPageMap } from "./shared-pages";
import { TdGuestMemory } from "./td-guest-memory";

const SHARED = 2 ** 47;
const RAM = 64 * 1024;

/** A vCPU's synchronous accessors over two backings: private GPAs and shared GPAs. */
class FakeTdAccess {
  readonly priv = new Uint8Array(RAM);
  readonly shared = new Uint8Array(RAM);
  /** Shared pages the VMM has not mapped (an access would exit). */
  readonly unmappedShared = new Set<number>();
  readonly log: string[] = [];

  private place(gpa: number, len: number): { mem: Uint8Array; off: number } | number {
    const isShared = gpa >= SHARED;
    const off = isShared ? gpa - SHARED : gpa;
    if (off + len > RAM) return GuestMem.Exit;
    if (isShared && this.unmappedShared.has(Math.floor(off / 4096))) return GuestMem.Exit;
    return { mem: isShared ? this.shared : this.priv, off };
  }

  read(gpa: number, dst: Uint8Array): GuestMem {
    this.log.push(`r ${gpa.toString(16)} ${dst.length}`);
    const p = this.place(gpa, dst.length);
    if (typeof p === "number") return p as GuestMem;
    dst.set(p.mem.subarray(p.off, p.off + dst.length));
    return GuestMem.Ok;
  }

  write(gpa: number, src: Uint8Array): GuestMem {
    this.log.push(`w ${gpa.toString(16)} ${src.length}`);
    const p = this.place(gpa, src.length);
    if (typeof p === "number") return p as GuestMem;
    p.mem.set(src, p.off);
    return GuestMem.Ok;
  }
  read32(): GuestMem {
    return GuestMem.Ok;
  }
}

function setup() {
  const access = new FakeTdAccess();
  const pages = new SharedPageMap(RAM);
  const memory = new TdGuestMemory(access, SHARED, pages);
  return { access, pages, memory };
}

describe("SharedPageMap", () => {
  it("records the shared bit per page and counts shared pages", () => {
    const m = new SharedPageMap(RAM);
    m.set(0x2000, 3, true);
    m.set(0x3000, 1, true);
    expect([m.isShared(0x1fff), m.isShared(0x2000), m.isShared(0x4fff), m.isShared(0x5000)]).toEqual([
      false,
      true,
      true,
      false,
    ]);
    expect(m.sharedPages).toBe(3);
    m.set(0x2000, 2, false);
    expect(m.sharedPages).toBe(1);
    expect(() => m.set(RAM - 0x1000, 2, true)).toThrow(/outside guest RAM/);
    expect(() => new SharedPageMap(1000)).toThrow(/multiple of 4096/);
  });
});

describe("TdGuestMemory", () => {
  it("a bounce copy reads the private original and writes the shared slot through its alias", () => {
    const { access, pages, memory } = setup();
    access.priv.fill(0xab, 0x1100, 0x1100 + 300);
    pages.set(0x8000, 1, true);
    expect(memory.copy(0x8040, 0x1100, 300)).toBe(MemStatus.Ok);
    expect(access.log).toEqual([`r 1100 300`, `w ${(SHARED + 0x8040).toString(16)} 300`]);
    expect(access.shared.subarray(0x8040, 0x8040 + 300).every((b) => b === 0xab)).toBe(true);
    expect(access.priv[0x8040]).toBe(0); // the private page at the slot's GPA is untouched
    // ...and back: the device's reply copied from the shared slot into the private original.
    access.shared.fill(0xcd, 0x8040, 0x8040 + 300);
    expect(memory.copy(0x1100, 0x8040, 300)).toBe(MemStatus.Ok);
    expect(access.priv[0x1100 + 299]).toBe(0xcd);
  });

  it("splits at every page boundary of either side, each page through its own alias", () => {
    const { access, pages, memory } = setup();
    pages.set(0x9000, 1, true); // destination pages 0x8000 private, 0x9000 shared
    expect(memory.copy(0x8f00, 0x2f80, 0x200)).toBe(MemStatus.Ok);
    expect(access.log).toEqual([
      "r 2f80 128",
      "w 8f00 128",
      "r 3000 128",
      "w 8f80 128",
      "r 3080 256",
      `w ${(SHARED + 0x9000).toString(16)} 256`,
    ]);
  });

  it("read, write and fill use the alias too; fill zeroes a coherent buffer", () => {
    const { access, pages, memory } = setup();
    pages.set(0x4000, 2, true);
    access.shared.fill(0xee, 0x4000, 0x6000);
    expect(memory.fill(0x4000, 0x2000, 0)).toBe(MemStatus.Ok);
    expect(access.shared.subarray(0x4000, 0x6000).every((b) => b === 0)).toBe(true);
    expect(memory.write(0x5ffe, Uint8Array.of(1, 2, 3, 4))).toBe(MemStatus.Ok);
    expect([access.shared[0x5fff], access.priv[0x6000], access.priv[0x6001]]).toEqual([2, 3, 4]);
    const back = new Uint8Array(4);
    expect(memory.read(0x5ffe, back)).toBe(MemStatus.Ok);
    expect([...back]).toEqual([1, 2, 3, 4]);
  });

  it("an access the vCPU cannot make without exiting does nothing and reports Hole with the TD's status", () => {
    const { access, pages, memory } = setup();
    pages.set(0x8000, 1, true);
    access.unmappedShared.add(8);
    expect(memory.copy(0x8000, 0x1000, 16)).toBe(MemStatus.Hole);
    expect([memory.lastGuestStatus, memory.lastFaultGpa]).toEqual([GuestMem.Exit, SHARED + 0x8000]);
    expect(memory.read(RAM - 8, new Uint8Array(16))).toBe(MemStatus.Hole); // beyond guest RAM
  });

  it("refuses a shared bit at or below the end of RAM", () => {
    expect(() => new TdGuestMemory(new FakeTdAccess(), RAM / 2, new SharedPageMap(RAM))).toThrow(
      /must lie below it/,
    );
    expect(() => new TdGuestMemory(new FakeTdAccess(), SHARED + 1, new SharedPageMap(RAM))).toThrow(
      /power of two/,
    );
  });
});
