/**
 * The project's one seeded pseudo-random source (mulberry32): runs, workloads, contract suites and
 * benchmarks draw from it so the same seed gives the same bytes and the same results. Model code
 * never uses Math.random or the wall clock. Not for anything security-relevant.
 */

export class SeededRandom {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** The next 32-bit value. */
  nextU32(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A number in [0, 1). */
  next(): number {
    return this.nextU32() / 4294967296;
  }

  /** An integer in [0, n) (n >= 1, below 2^32). */
  below(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Fill `out` with pseudo-random bytes (four per draw). */
  fill(out: Uint8Array): Uint8Array {
    let i = 0;
    for (; i + 4 <= out.length; i += 4) {
      const v = this.nextU32();
      out[i] = v & 0xff;
      out[i + 1] = (v >>> 8) & 0xff;
      out[i + 2] = (v >>> 16) & 0xff;
      out[i + 3] = v >>> 24;
    }
    if (i < out.length) {
      const v = this.nextU32();
      for (let k = 0; i < out.length; i++, k++) out[i] = (v >>> (8 * k)) & 0xff;
    }
    return out;
  }

  /** A derived, independent stream (for a second party: a device, an attacker). */
  fork(salt: number): SeededRandom {
    return new SeededRandom((this.nextU32() ^ Math.imul(salt, 0x9e3779b1)) >>> 0);
  }
}

/** `count` multiples of `align` below `range`, drawn from `seed` (benchmarks' access patterns). */
export function seededOffsets(count: number, range: number, align: number, seed: number): Float64Array {
  const r = new SeededRandom(seed);
  const slots = Math.floor(range / align);
  const out = new Float64Array(count);
  for (let i = 0; i < count; i++) out[i] = r.below(slots) * align;
  return out;
}
