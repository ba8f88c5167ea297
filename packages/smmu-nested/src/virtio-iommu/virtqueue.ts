/**
 * Split virtqueues in guest memory (virtio 1.x): the device side pops descriptor chains from the
 * available ring and returns them on the used ring; the driver side (for drivers and tests)
 * places buffers and reads completions. Indirect descriptors and event suppression are not
 * negotiated.
 *
 * Layout: descriptor table of 16-byte {addr le64, len le32, flags le16, next le16}; available ring
 * {flags le16, idx le16, ring[size] le16}; used ring {flags le16, idx le16, ring[size] {id le32,
 * len le32}}. Flags: NEXT = 1, WRITE = 2 (device-writable), INDIRECT = 4.
 *
 * @spec virtio 1.2 §2.7 (split virtqueues), as used by torvalds/linux drivers/virtio/virtio_ring.c
 */
import { Initiator, type PhysicalMemoryAccess, TdxSimError } from "@tdx/hw-cpu-seam";

export const VirtqDescFlag = { NEXT: 1, WRITE: 2, INDIRECT: 4 } as const;

export interface VirtqueueLayout {
  /** Number of entries (a power of two up to 32768). */
  readonly size: number;
  readonly desc: number;
  readonly avail: number;
  readonly used: number;
}

/** One buffer of a chain. */
export interface VirtqBuffer {
  readonly addr: number;
  readonly len: number;
}

/** A popped chain: its head index and its device-readable and device-writable buffers, in order. */
export interface VirtqChain {
  readonly head: number;
  readonly readable: readonly VirtqBuffer[];
  readonly writable: readonly VirtqBuffer[];
}

function check(st: number, what: string, mem: PhysicalMemoryAccess): void {
  if (st !== 0)
    throw new TdxSimError("E_VIRTQ_MEMORY", `${what}: ${mem.lastFault()?.message ?? `status ${st}`}`);
}

class Ring {
  protected readonly w = new Uint32Array(2);
  protected readonly b2 = new Uint8Array(2);
  protected readonly b4 = new Uint8Array(4);
  constructor(
    protected readonly mem: PhysicalMemoryAccess,
    readonly layout: VirtqueueLayout,
  ) {
    const n = layout.size;
    if (!Number.isInteger(n) || n < 1 || n > 32768 || (n & (n - 1)) !== 0) {
      throw new TdxSimError("E_VIRTQ", `virtqueue size ${n} must be a power of two in 1..32768`);
    }
  }
  protected r16(a: number): number {
    check(this.mem.read(a, this.b2, Initiator.Host), "virtqueue read", this.mem);
    return this.b2[0]! | (this.b2[1]! << 8);
  }
  protected w16(a: number, v: number): void {
    this.b2[0] = v & 0xff;
    this.b2[1] = (v >>> 8) & 0xff;
    check(this.mem.write(a, this.b2, Initiator.Host), "virtqueue write", this.mem);
  }
  protected r32(a: number): number {
    check(this.mem.read32(a, Initiator.Host, this.w), "virtqueue read", this.mem);
    return this.w[0]!;
  }
  protected w32(a: number, v: number): void {
    check(this.mem.write32(a, v, Initiator.Host), "virtqueue write", this.mem);
  }
  protected desc(i: number): { addr: number; len: number; flags: number; next: number } {
    const a = this.layout.desc + i * 16;
    check(this.mem.read64(a, Initiator.Host, this.w), "descriptor read", this.mem);
    const addr = this.w[1]! * 4294967296 + this.w[0]!;
    return { addr, len: this.r32(a + 8), flags: this.r16(a + 12), next: this.r16(a + 14) };
  }
}

/** The device's view of one virtqueue. */
export class VirtqueueDevice extends Ring {
  private lastAvail = 0;

  /** The next available chain, or null when the driver has posted nothing new. */
  pop(): VirtqChain | null {
    const L = this.layout;
    const idx = this.r16(L.avail + 2);
    if (idx === this.lastAvail) return null;
    const head = this.r16(L.avail + 4 + (this.lastAvail % L.size) * 2);
    this.lastAvail = (this.lastAvail + 1) & 0xffff;
    const readable: VirtqBuffer[] = [];
    const writable: VirtqBuffer[] = [];
    let i = head;
    for (let n = 0; n < L.size; n++) {
      if (i >= L.size)
        throw new TdxSimError("E_VIRTQ", `descriptor index ${i} is beyond the queue size ${L.size}`);
      const d = this.desc(i);
      if ((d.flags & VirtqDescFlag.INDIRECT) !== 0)
        throw new TdxSimError("E_VIRTQ", "indirect descriptors were not negotiated");
      if ((d.flags & VirtqDescFlag.WRITE) !== 0) writable.push({ addr: d.addr, len: d.len });
      else {
        if (writable.length > 0)
          throw new TdxSimError("E_VIRTQ", "a device-readable buffer follows a writable one");
        readable.push({ addr: d.addr, len: d.len });
      }
      if ((d.flags & VirtqDescFlag.NEXT) === 0) return { head, readable, writable };
      i = d.next;
    }
    throw new TdxSimError("E_VIRTQ", "descriptor chain loops");
  }

  /** Return a chain on the used ring with the number of bytes written into its writable buffers. */
  push(head: number, written: number): void {
    const L = this.layout;
    const idx = this.r16(L.used + 2);
    const e = L.used + 4 + (idx % L.size) * 8;
    this.w32(e, head);
    this.w32(e + 4, written);
    this.w16(L.used + 2, (idx + 1) & 0xffff);
  }

  /** Gather a chain's readable bytes. */
  gather(c: VirtqChain): Uint8Array {
    const total = c.readable.reduce((s, b) => s + b.len, 0);
    const out = new Uint8Array(total);
    let off = 0;
    for (const b of c.readable) {
      check(this.mem.read(b.addr, out.subarray(off, off + b.len), Initiator.Host), "buffer read", this.mem);
      off += b.len;
    }
    return out;
  }

  /** Scatter bytes into a chain's writable buffers; returns how many fit. */
  scatter(c: VirtqChain, data: Uint8Array): number {
    let off = 0;
    for (const b of c.writable) {
      const n = Math.min(b.len, data.length - off);
      if (n <= 0) break;
      check(this.mem.write(b.addr, data.subarray(off, off + n), Initiator.Host), "buffer write", this.mem);
      off += n;
    }
    return off;
  }

  /** Total writable bytes of a chain. */
  static writableBytes(c: VirtqChain): number {
    return c.writable.reduce((s, b) => s + b.len, 0);
  }
}

/** The driver's view: post chains of buffers, collect used entries. */
export class VirtqueueDriver extends Ring {
  private freeHead = 0;
  private availIdx = 0;
  private lastUsed = 0;

  /** Lay out a queue of `size` entries from `alloc` (16-byte table, 2-byte aligned avail, 4-byte aligned used). */
  static create(
    mem: PhysicalMemoryAccess,
    size: number,
    alloc: (bytes: number, align: number) => number,
  ): VirtqueueDriver {
    const desc = alloc(16 * size, 16);
    const avail = alloc(6 + 2 * size, 2);
    const used = alloc(6 + 8 * size, 4);
    return new VirtqueueDriver(mem, { size, desc, avail, used });
  }

  /** Post one chain: readable buffers first, then writable ones. Returns the head index. */
  post(readable: readonly VirtqBuffer[], writable: readonly VirtqBuffer[]): number {
    const L = this.layout;
    const all = [...readable.map((b) => ({ ...b, w: false })), ...writable.map((b) => ({ ...b, w: true }))];
    if (all.length === 0 || all.length > L.size)
      throw new TdxSimError("E_VIRTQ", "a chain needs 1..size buffers");
    const head = this.freeHead;
    for (let k = 0; k < all.length; k++) {
      const i = (head + k) % L.size;
      const b = all[k]!;
      const a = L.desc + i * 16;
      check(
        this.mem.write64(a, b.addr >>> 0, Math.floor(b.addr / 4294967296), Initiator.Host),
        "descriptor write",
        this.mem,
      );
      this.w32(a + 8, b.len);
      const last = k === all.length - 1;
      this.w16(a + 12, (last ? 0 : VirtqDescFlag.NEXT) | (b.w ? VirtqDescFlag.WRITE : 0));
      this.w16(a + 14, (head + k + 1) % L.size);
    }
    this.freeHead = (head + all.length) % L.size;
    this.w16(L.avail + 4 + (this.availIdx % L.size) * 2, head);
    this.availIdx = (this.availIdx + 1) & 0xffff;
    this.w16(L.avail + 2, this.availIdx);
    return head;
  }

  /** Used entries not yet collected. */
  collect(): { head: number; len: number }[] {
    const L = this.layout;
    const idx = this.r16(L.used + 2);
    const out: { head: number; len: number }[] = [];
    while (this.lastUsed !== idx) {
      const e = L.used + 4 + (this.lastUsed % L.size) * 8;
      out.push({ head: this.r32(e), len: this.r32(e + 4) });
      this.lastUsed = (this.lastUsed + 1) & 0xffff;
    }
    return out;
  }
}
