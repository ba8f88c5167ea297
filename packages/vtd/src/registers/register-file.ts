/**
 * The unit's register window as bytes with per-bit write semantics, the way QEMU's intel-iommu
 * keeps it: a value array plus a writable mask, a write-1-to-clear mask and a write-only mask
 * (bits that read as zero). A software write merges `(old & ~wmask) | (new & wmask)` and then
 * clears `w1c & new`; reserved and read-only bits keep their value. Hardware-side updates use the
 * raw setters and bypass the masks.
 *
 * @spec reference/vtd.md §6.1 "Register file: csr[] plus parallel wmask, w1cmask and womask"
 *   (QEMU vtd_define_quad/long, vtd_set_quad/long, vtd_get_quad/long)
 */

export class RegisterFile {
  readonly size: number;
  private readonly csr: Uint32Array;
  private readonly wmask: Uint32Array;
  private readonly w1c: Uint32Array;
  private readonly wo: Uint32Array;

  constructor(size: number) {
    this.size = size;
    const dwords = size >>> 2;
    this.csr = new Uint32Array(dwords);
    this.wmask = new Uint32Array(dwords);
    this.w1c = new Uint32Array(dwords);
    this.wo = new Uint32Array(dwords);
  }

  /** Clear every value and mask (reset). */
  clear(): void {
    this.csr.fill(0);
    this.wmask.fill(0);
    this.w1c.fill(0);
    this.wo.fill(0);
  }

  /** Define a 32-bit register: reset value, writable bits, write-1-clear bits, write-only bits. */
  define32(off: number, value: number, wmask: number, w1c = 0, wo = 0): void {
    const i = off >>> 2;
    this.csr[i] = value >>> 0;
    this.wmask[i] = wmask >>> 0;
    this.w1c[i] = w1c >>> 0;
    this.wo[i] = wo >>> 0;
  }

  /** Define a 64-bit register from 32-bit halves (lo, hi) of each mask. */
  define64(
    off: number,
    value: readonly [number, number],
    wmask: readonly [number, number],
    w1c: readonly [number, number] = [0, 0],
    wo: readonly [number, number] = [0, 0],
  ): void {
    this.define32(off, value[0], wmask[0], w1c[0], wo[0]);
    this.define32(off + 4, value[1], wmask[1], w1c[1], wo[1]);
  }

  /** Software read of one dword (write-only bits read as zero). */
  read32(off: number): number {
    const i = off >>> 2;
    return (this.csr[i]! & ~this.wo[i]!) >>> 0;
  }

  /** Software write of one dword through the masks. */
  write32(off: number, value: number): void {
    const i = off >>> 2;
    const old = this.csr[i]!;
    const wm = this.wmask[i]!;
    const merged = (old & ~wm) | (value & wm);
    this.csr[i] = (merged & ~(this.w1c[i]! & value)) >>> 0;
  }

  /** Hardware-side raw access (no masks). */
  raw32(off: number): number {
    return this.csr[off >>> 2]!;
  }
  setRaw32(off: number, value: number): void {
    this.csr[off >>> 2] = value >>> 0;
  }
  /** Set and clear bits of one dword (hardware side); returns the new value. */
  update32(off: number, clear: number, set: number): number {
    const i = off >>> 2;
    const v = ((this.csr[i]! & ~clear) | set) >>> 0;
    this.csr[i] = v;
    return v;
  }
  /** Change the writable mask of one dword (e.g. when a feature gates a field). */
  setWriteMask32(off: number, wmask: number): void {
    this.wmask[off >>> 2] = wmask >>> 0;
  }
}
