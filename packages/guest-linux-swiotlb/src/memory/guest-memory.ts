/**
 * The guest's access to its own memory by guest-physical address, as a TD sees it: the only
 * memory interface the SWIOTLB and DMA layers use. Addresses are Linux physical addresses (GPAs
 * without the TDX shared bit: the kernel keeps the shared bit in its page tables, set by
 * set_memory_decrypted, never in phys_addr_t). The composing app implements this through the TD's
 * view (GPA -> private or shared alias -> HPA with KeyID); for tests and standalone use there is
 * an ArrayBuffer-backed implementation and an adapter over @tdx/hw-cpu-seam's PhysicalMemoryAccess.
 *
 * @spec shared/reference/kvm-guest-qemu.md §3.5 (shared bit in the PTE, cc_mkdec);
 *   shared/reference/swiotlb.md §d.2 (bounce copies are plain memcpy between the two mappings)
 */
import { Initiator, MemStatus, type PhysicalMemoryAccess, TdxSimError } from "@tdx/hw-cpu-seam";

/** Guest memory accessed by GPA. Outcomes are MemStatus values (0 = Ok), never exceptions. */
export interface GuestMemory {
  /** Copy `len` bytes from GPA `src` to GPA `dst` (one bounce copy). */
  copy(dst: number, src: number, len: number): MemStatus;
  read(gpa: number, dst: Uint8Array): MemStatus;
  write(gpa: number, src: Uint8Array): MemStatus;
  fill(gpa: number, len: number, byte: number): MemStatus;
}

/**
 * Guest RAM as one ArrayBuffer covering [base, base + size). Accesses outside it return
 * MemStatus.Hole. A bounce copy is one `copyWithin`.
 */
export class FlatGuestMemory implements GuestMemory {
  readonly base: number;
  readonly size: number;
  readonly bytes: Uint8Array;

  constructor(size: number, base = 0) {
    if (!Number.isSafeInteger(size) || size <= 0 || size > 2 ** 31) {
      throw new TdxSimError(
        "E_GUEST_MEMORY",
        `flat guest memory of ${String(size)} bytes is not allowed: use 1 byte to 2 GiB`,
      );
    }
    if (!Number.isSafeInteger(base) || base < 0 || base + size > 2 ** 52) {
      throw new TdxSimError(
        "E_GUEST_MEMORY",
        `flat guest memory base ${String(base)} must be in [0, 2^52 - size]`,
      );
    }
    this.base = base;
    this.size = size;
    this.bytes = new Uint8Array(size);
  }

  private inRange(gpa: number, len: number): boolean {
    return gpa >= this.base && len >= 0 && gpa + len <= this.base + this.size;
  }

  copy(dst: number, src: number, len: number): MemStatus {
    if (!this.inRange(dst, len) || !this.inRange(src, len)) return MemStatus.Hole;
    this.bytes.copyWithin(dst - this.base, src - this.base, src - this.base + len);
    return MemStatus.Ok;
  }

  read(gpa: number, dst: Uint8Array): MemStatus {
    if (!this.inRange(gpa, dst.length)) return MemStatus.Hole;
    dst.set(this.bytes.subarray(gpa - this.base, gpa - this.base + dst.length));
    return MemStatus.Ok;
  }

  write(gpa: number, src: Uint8Array): MemStatus {
    if (!this.inRange(gpa, src.length)) return MemStatus.Hole;
    this.bytes.set(src, gpa - this.base);
    return MemStatus.Ok;
  }

  fill(gpa: number, len: number, byte: number): MemStatus {
    if (!this.inRange(gpa, len)) return MemStatus.Hole;
    this.bytes.fill(byte & 0xff, gpa - this.base, gpa - this.base + len);
    return MemStatus.Ok;
  }
}

/** GPA (4 KiB page base) -> HPA of that page (KeyID bits included), or -1 when not mapped. */
export type GpaToHpa = (gpaPage: number) => number;

const PAGE = 4096;

/**
 * GuestMemory over host physical memory through the TD's translation: each 4 KiB page is
 * translated separately (GPA-contiguous is not HPA-contiguous) and copied with
 * PhysicalMemoryAccess.copy as the TD (Initiator.Td), so KeyID and TD-owner checks apply.
 */
export class TranslatedGuestMemory implements GuestMemory {
  private readonly phys: PhysicalMemoryAccess;
  private readonly translate: GpaToHpa;

  constructor(phys: PhysicalMemoryAccess, translate: GpaToHpa) {
    this.phys = phys;
    this.translate = translate;
  }

  copy(dst: number, src: number, len: number): MemStatus {
    let done = 0;
    while (done < len) {
      const d = dst + done;
      const s = src + done;
      const chunk = Math.min(len - done, PAGE - (d % PAGE), PAGE - (s % PAGE));
      const dh = this.translate(d - (d % PAGE));
      const sh = this.translate(s - (s % PAGE));
      if (dh < 0 || sh < 0) return MemStatus.Hole;
      const st = this.phys.copy(dh + (d % PAGE), sh + (s % PAGE), chunk, Initiator.Td);
      if (st !== MemStatus.Ok) return st;
      done += chunk;
    }
    return MemStatus.Ok;
  }

  read(gpa: number, dst: Uint8Array): MemStatus {
    return this.pageWise(gpa, dst.length, (hpa, off, n) =>
      this.phys.read(hpa, dst.subarray(off, off + n), Initiator.Td),
    );
  }

  write(gpa: number, src: Uint8Array): MemStatus {
    return this.pageWise(gpa, src.length, (hpa, off, n) =>
      this.phys.write(hpa, src.subarray(off, off + n), Initiator.Td),
    );
  }

  fill(gpa: number, len: number, byte: number): MemStatus {
    return this.pageWise(gpa, len, (hpa, _off, n) => this.phys.fill(hpa, n, byte, Initiator.Td));
  }

  private pageWise(
    gpa: number,
    len: number,
    op: (hpa: number, off: number, n: number) => MemStatus,
  ): MemStatus {
    let done = 0;
    while (done < len) {
      const a = gpa + done;
      const n = Math.min(len - done, PAGE - (a % PAGE));
      const h = this.translate(a - (a % PAGE));
      if (h < 0) return MemStatus.Hole;
      const st = op(h + (a % PAGE), done, n);
      if (st !== MemStatus.Ok) return st;
      done += n;
    }
    return MemStatus.Ok;
  }
}
