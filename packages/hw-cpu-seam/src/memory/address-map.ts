/**
 * The host physical address map: which KeyID-stripped addresses are RAM, which are MMIO (owned by
 * a device, no bytes in memory) and which are holes. Consulted only for frames that have no
 * backing yet (the frame table answers every touched frame directly), so a sorted-array binary
 * search is enough.
 */
import { hex } from "../addr";
import { TdxSimError } from "../errors";

export interface RamRange {
  readonly base: number;
  readonly size: number;
}
export interface MmioRange {
  readonly base: number;
  readonly size: number;
  readonly name: string;
}

export const Region = { Ram: 0, Hole: 1, Mmio: 2 } as const;
export type Region = (typeof Region)[keyof typeof Region];

function sortedChecked<T extends RamRange>(what: string, ranges: readonly T[], limit: number): T[] {
  const out = [...ranges].sort((x, y) => x.base - y.base);
  let prevEnd = 0;
  for (const r of out) {
    if (
      !Number.isSafeInteger(r.base) ||
      !Number.isSafeInteger(r.size) ||
      r.size <= 0 ||
      r.base < 0 ||
      r.base % 4096 !== 0 ||
      r.size % 4096 !== 0 ||
      r.base + r.size > limit
    ) {
      throw new TdxSimError(
        "E_MEMORY_CONFIG",
        `${what} range {base: ${hex(r.base)}, size: ${hex(r.size)}} is invalid: base and size must be 4 KiB-aligned integers, size > 0, and the range must end at or below ${hex(limit)} (2^(physAddrBits - keyIdBits))`,
      );
    }
    if (r.base < prevEnd) {
      throw new TdxSimError(
        "E_MEMORY_CONFIG",
        `${what} ranges overlap at ${hex(r.base)}: ranges of one kind must be disjoint`,
      );
    }
    prevEnd = r.base + r.size;
  }
  return out;
}

/** Sorted, disjoint RAM and MMIO ranges below `limit`; MMIO wins where both claim an address. */
export class AddressMap {
  private readonly ramBase: Float64Array;
  private readonly ramEnd: Float64Array;
  private readonly mmioBase: Float64Array;
  private readonly mmioEnd: Float64Array;
  private readonly mmioNames: readonly string[];
  /** The index of the MMIO range found by the last `classify` that returned Mmio. */
  lastMmio = -1;

  constructor(
    readonly limit: number,
    ram: readonly RamRange[] | "all",
    mmio: readonly MmioRange[],
  ) {
    const r = ram === "all" ? [{ base: 0, size: limit }] : sortedChecked("RAM", ram, limit);
    const m = sortedChecked("MMIO", mmio, limit);
    this.ramBase = Float64Array.from(r, (x) => x.base);
    this.ramEnd = Float64Array.from(r, (x) => x.base + x.size);
    this.mmioBase = Float64Array.from(m, (x) => x.base);
    this.mmioEnd = Float64Array.from(m, (x) => x.base + x.size);
    this.mmioNames = m.map((x) => x.name);
  }

  /** Classify a KeyID-stripped address. */
  classify(a: number): Region {
    const mi = find(this.mmioBase, this.mmioEnd, a);
    if (mi >= 0) {
      this.lastMmio = mi;
      return Region.Mmio;
    }
    return find(this.ramBase, this.ramEnd, a) >= 0 ? Region.Ram : Region.Hole;
  }

  mmioName(i: number): string {
    return this.mmioNames[i] ?? "?";
  }
}

/** Index of the last base <= a, or -1. */
function upperBound(base: Float64Array, a: number): number {
  let lo = 0;
  let hi = base.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((base[mid] as number) <= a) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function find(base: Float64Array, end: Float64Array, a: number): number {
  const i = upperBound(base, a) - 1;
  return i >= 0 && a < (end[i] as number) ? i : -1;
}
