/**
 * virtio-iommu address spaces: per-domain sorted mapping ranges (typed arrays, binary search on
 * the translation path), the endpoint -> domain table (open-addressed typed arrays, no Map on a
 * lookup), and the MAP/UNMAP rules QEMU pins (overlap is INVAL; an UNMAP that cuts a mapping is
 * RANGE and removes nothing).
 *
 * @spec reference/smmu.md §8.3 (semantics pinned by QEMU's qtest)
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";

/** One domain: mappings sorted by start, inclusive ends. */
export class Domain {
  bypass = false;
  count = 0;
  start = new Float64Array(16);
  end = new Float64Array(16);
  phys = new Float64Array(16);
  flags = new Uint8Array(16);
  /** Endpoints attached. */
  endpoints = 0;

  constructor(
    readonly id: number,
    /** Dense index the endpoint table refers to. */
    readonly slot: number,
  ) {}

  /** Index of the mapping containing `a`, or -1. */
  find(a: number): number {
    let lo = 0;
    let hi = this.count - 1;
    while (lo <= hi) {
      const mid = (lo + hi) >>> 1;
      if (this.end[mid]! < a) lo = mid + 1;
      else if (this.start[mid]! > a) hi = mid - 1;
      else return mid;
    }
    return -1;
  }

  /** First mapping whose end is >= a. */
  private lowerBound(a: number): number {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.end[mid]! < a) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  overlaps(s: number, e: number): boolean {
    const i = this.lowerBound(s);
    return i < this.count && this.start[i]! <= e;
  }

  insert(s: number, e: number, p: number, f: number): void {
    if (this.count === this.start.length) this.grow();
    const i = this.lowerBound(s);
    for (let k = this.count; k > i; k--) {
      this.start[k] = this.start[k - 1]!;
      this.end[k] = this.end[k - 1]!;
      this.phys[k] = this.phys[k - 1]!;
      this.flags[k] = this.flags[k - 1]!;
    }
    this.start[i] = s;
    this.end[i] = e;
    this.phys[i] = p;
    this.flags[i] = f;
    this.count++;
  }

  /**
   * Remove the mappings inside [s, e]. Returns false (and removes nothing) when a mapping straddles
   * an edge of the range.
   */
  removeRange(s: number, e: number): boolean {
    const first = this.lowerBound(s);
    let last = first;
    while (last < this.count && this.start[last]! <= e) {
      if (this.start[last]! < s || this.end[last]! > e) return false;
      last++;
    }
    const n = last - first;
    if (n === 0) return true;
    this.start.copyWithin(first, last, this.count);
    this.end.copyWithin(first, last, this.count);
    this.phys.copyWithin(first, last, this.count);
    this.flags.copyWithin(first, last, this.count);
    this.count -= n;
    return true;
  }

  private grow(): void {
    const n = this.start.length * 2;
    const g = <T extends Float64Array | Uint8Array>(a: T, make: (n: number) => T): T => {
      const b = make(n);
      b.set(a);
      return b;
    };
    this.start = g(this.start, (k) => new Float64Array(k));
    this.end = g(this.end, (k) => new Float64Array(k));
    this.phys = g(this.phys, (k) => new Float64Array(k));
    this.flags = g(this.flags, (k) => new Uint8Array(k));
  }
}

/** Endpoint id -> domain id, open addressing over typed arrays (-1 = not attached). */
export class EndpointTable {
  private keys: Float64Array;
  private vals: Int32Array;
  private used = 0;

  constructor(capacity = 64) {
    this.keys = new Float64Array(capacity).fill(-1);
    this.vals = new Int32Array(capacity);
  }

  private slot(ep: number): number {
    const mask = this.keys.length - 1;
    let i = (Math.imul(ep, 0x9e3779b1) >>> 0) & mask;
    while (this.keys[i] !== -1 && this.keys[i] !== ep) i = (i + 1) & mask;
    return i;
  }

  get(ep: number): number {
    const i = this.slot(ep);
    return this.keys[i] === ep ? this.vals[i]! : -1;
  }

  set(ep: number, domain: number): void {
    if (domain < 0) throw new TdxSimError("E_VIOMMU", "use delete() to detach");
    if ((this.used + 1) * 2 > this.keys.length) this.rehash(this.keys.length * 2);
    const i = this.slot(ep);
    if (this.keys[i] !== ep) this.used++;
    this.keys[i] = ep;
    this.vals[i] = domain;
  }

  delete(ep: number): void {
    // rebuild without the key (deletions are rare: DETACH)
    const entries: [number, number][] = [];
    for (let i = 0; i < this.keys.length; i++)
      if (this.keys[i] !== -1 && this.keys[i] !== ep) entries.push([this.keys[i]!, this.vals[i]!]);
    this.keys.fill(-1);
    this.used = 0;
    for (const [k, v] of entries) this.set(k, v);
  }

  private rehash(n: number): void {
    const old = [this.keys, this.vals] as const;
    this.keys = new Float64Array(n).fill(-1);
    this.vals = new Int32Array(n);
    this.used = 0;
    for (let i = 0; i < old[0].length; i++) if (old[0][i] !== -1) this.set(old[0][i]!, old[1][i]!);
  }
}
