/**
 * Address helpers: checked constructors of the branded address types, the TDX shared bit as a
 * function of GPAW (47 for 48, 51 for 52), address parsing and the 32-bit split/join used above
 * bit 31.
 */
import { describe, expect, it } from "vitest";
import {
  bitsOf,
  type Gpa,
  gfn,
  gpa,
  gva,
  hex,
  hfn,
  hi32,
  hpa,
  iova,
  ipa,
  isShared,
  join32,
  lo32,
  parseAddress,
  sharedBitIndex,
  sharedBitMask,
  toPrivate,
  toShared,
} from "./addr";
import { TdxSimError } from "./errors";

describe("address constructors", () => {
  it("accept integers in [0, 2^52) and refuse anything else with a typed error", () => {
    for (const make of [hpa, gpa, iova, ipa, gva]) {
      expect(make(0)).toBe(0);
      expect(make(2 ** 52 - 1)).toBe(2 ** 52 - 1);
      for (const bad of [-1, 2 ** 52, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
        expect(() => make(bad)).toThrow(TdxSimError);
      }
    }
    expect(() => hpa(2 ** 52)).toThrow(/HPA 4503599627370496 is not a valid address: .*\[0, 2\^52\)/);
  });

  it("frame numbers are integers below 2^40", () => {
    for (const make of [hfn, gfn]) {
      expect(make(2 ** 40 - 1)).toBe(2 ** 40 - 1);
      for (const bad of [-1, 2 ** 40, 0.5, 1.25]) expect(() => make(bad)).toThrow(TdxSimError);
    }
    expect(() => hfn(1.5)).toThrow(/HFN 1.5 is not a valid frame number/);
  });
});

describe("TDX shared bit", () => {
  it("is bit GPAW-1: 47 for GPAW 48, 51 for GPAW 52", () => {
    expect(sharedBitIndex(48)).toBe(47);
    expect(sharedBitIndex(52)).toBe(51);
    expect(sharedBitMask(48)).toBe(2 ** 47);
    expect(sharedBitMask(52)).toBe(2 ** 51);
    expect(() => sharedBitIndex(47 as 48)).toThrow(/GPAW 47 is not supported: TDX allows 48 or 52/);
  });

  it("sets, tests and clears the bit above 32 bits without touching the others", () => {
    const a = gpa(0x7fff_1234_5000);
    expect(isShared(a, 48)).toBe(false);
    const s = toShared(a, 48);
    expect(s).toBe(0xffff_1234_5000);
    expect(isShared(s, 48)).toBe(true);
    expect(toShared(s, 48)).toBe(s);
    expect(toPrivate(s, 48)).toBe(a);
    expect(toPrivate(a, 48)).toBe(a);
    // bit 47 is an ordinary address bit under GPAW 52
    expect(isShared(s, 52)).toBe(false);
    const s52 = toShared(s, 52);
    expect(s52).toBe(2 ** 51 + 0xffff_1234_5000);
    expect(isShared(s52, 52)).toBe(true);
    expect(toPrivate(s52, 52)).toBe(s);
    expect(isShared((2 ** 48) as Gpa, 48)).toBe(false); // bit 48 is not the shared bit
  });
});

describe("address parsing and 32-bit halves", () => {
  it("parses hex and decimal below 2^52 and names the bad input", () => {
    expect(parseAddress("0xFFFFF000")).toBe(0xfffff000);
    expect(parseAddress(" 4096 ")).toBe(4096);
    expect(parseAddress("0xfffffffffffff")).toBe(2 ** 52 - 1);
    expect(() => parseAddress("0x10000000000000", "iova")).toThrow(
      /iova "0x10000000000000" is not below 2\^52/,
    );
    expect(() => parseAddress("12k")).toThrow(/address "12k" is not a hex/);
    expect(hex(0xabc_0000_0000)).toBe("0xabc00000000");
  });

  it("splits and joins above bit 31 exactly", () => {
    const n = 0x000f_edcb_a987_6543;
    expect(lo32(n)).toBe(0xa9876543);
    expect(hi32(n)).toBe(0x000fedcb);
    expect(join32(lo32(n), hi32(n))).toBe(n);
    expect(bitsOf(n, 51, 32)).toBe(0xfedcb);
    expect(bitsOf(n, 35, 28)).toBe(0xba);
  });
});
