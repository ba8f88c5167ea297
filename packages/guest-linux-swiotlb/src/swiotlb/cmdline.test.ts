/**
 * The swiotlb= grammar as setup_io_tlb_npages reads it: base auto-detection, rounding, optional
 * commas, force/noforce, and what the kernel silently ignores.
 * @spec shared/reference/swiotlb.md §b.1, §b.2; Linux kernel/dma/swiotlb.c setup_io_tlb_npages
 */
import { describe, expect, it } from "vitest";
import { isPow2, parseSwiotlbParam, roundUpPow2, simpleStrtoul } from "./cmdline";

describe("simple_strtoul with base 0", () => {
  it("reads decimal, hex after 0x and octal after a leading 0", () => {
    expect(simpleStrtoul("65536,8", 0)).toEqual({ value: 65536, end: 5 });
    expect(simpleStrtoul("0x10000", 0)).toEqual({ value: 65536, end: 7 });
    expect(simpleStrtoul("0100", 0)).toEqual({ value: 64, end: 4 });
  });
  it("takes 0x without a hex digit after it as octal 0 (the x is not consumed)", () => {
    expect(simpleStrtoul("0xg", 0)).toEqual({ value: 0, end: 1 });
  });
  it("stops octal at 8 or 9", () => {
    expect(simpleStrtoul("08", 0)).toEqual({ value: 0, end: 1 });
  });
});

describe("swiotlb= parameter", () => {
  it("rounds the slot count up to a multiple of 128", () => {
    expect(parseSwiotlbParam("100000")).toMatchObject({
      nslabs: 100096,
      force: false,
      noforce: false,
      ignored: "",
    });
    expect(parseSwiotlbParam("1")).toMatchObject({ nslabs: 128 });
    expect(parseSwiotlbParam("0")).toMatchObject({ nslabs: 0 });
  });
  it("reads slots, areas and force in that order, each comma optional", () => {
    expect(parseSwiotlbParam("65536,8,force")).toEqual({
      nslabs: 65536,
      nareas: 8,
      force: true,
      noforce: false,
      ignored: "",
    });
    expect(parseSwiotlbParam(",4")).toEqual({ nareas: 4, force: false, noforce: false, ignored: "" });
    expect(parseSwiotlbParam("force")).toEqual({ force: true, noforce: false, ignored: "" });
    expect(parseSwiotlbParam("noforce")).toEqual({ force: false, noforce: true, ignored: "" });
    expect(parseSwiotlbParam("65536,force")).toMatchObject({ nslabs: 65536, force: true });
    expect(parseSwiotlbParam(",,force")).toMatchObject({ force: true });
  });
  it("a leading-zero count is octal, and the digit that stops it starts the area count", () => {
    expect(parseSwiotlbParam("08")).toEqual({
      nslabs: 0,
      nareas: 8,
      force: false,
      noforce: false,
      ignored: "",
    });
  });
  it("reports text the kernel ignores instead of failing", () => {
    expect(parseSwiotlbParam("1000x")).toMatchObject({ nslabs: 1024, ignored: "x" });
    expect(parseSwiotlbParam("force,65536")).toMatchObject({ force: false, ignored: "force,65536" });
    expect(parseSwiotlbParam("65536,8,forced")).toMatchObject({ force: false, ignored: "forced" });
  });
  it("refuses numbers beyond 2^53 with a typed error", () => {
    expect(() => parseSwiotlbParam("99999999999999999999")).toThrow(/53 bits/);
  });
});

describe("power-of-two helpers", () => {
  it("are exact for large integers", () => {
    expect(roundUpPow2(100096)).toBe(131072);
    expect(roundUpPow2(1)).toBe(1);
    expect(roundUpPow2(0)).toBe(1);
    expect(isPow2(2 ** 52)).toBe(true);
    expect(isPow2(2 ** 52 + 1)).toBe(false);
    expect(isPow2(0)).toBe(false);
  });
});
