/**
 * A guest's RAM as its VMM and its kernel see it: an IPA window backed by host pages through a
 * host-owned stage-2 table. The VMM reaches guest memory by walking that table in software (as
 * KVM/QEMU translate GPAs); the guest writes its own structures (CD tables, page tables, queues)
 * at IPAs through the same view. Never on the SMMU's translation path.
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";
import { BumpAllocator, type TableMemory } from "../alloc";
import type { MapAttrs, PageTable } from "../pgtable";

export class GuestRam implements TableMemory {
  private readonly allocator: BumpAllocator;

  /**
   * Map [ipaBase, ipaBase + size) with 4 KiB stage-2 pages onto one host block allocated from
   * `host`, and hand out guest allocations from it.
   */
  constructor(
    private readonly host: TableMemory,
    readonly s2: PageTable,
    readonly ipaBase: number,
    readonly size: number,
    attrs: MapAttrs = {},
  ) {
    if (ipaBase % 4096 !== 0 || size % 4096 !== 0 || size <= 0) {
      throw new TdxSimError("E_GUEST_RAM", "guest RAM must be a non-empty, 4 KiB aligned IPA window");
    }
    const hostBase = host.alloc(size, 4096);
    for (let off = 0; off < size; off += 4096) s2.map(ipaBase + off, hostBase + off, 12, attrs);
    this.allocator = new BumpAllocator(ipaBase, ipaBase + size);
  }

  /** The host physical address behind an IPA (software stage-2 walk). */
  ipaToPa(ipa: number): number {
    const pa = this.s2.lookup(ipa);
    if (pa < 0) throw new TdxSimError("E_GUEST_RAM", `IPA 0x${ipa.toString(16)} is not mapped at stage 2`);
    return pa;
  }

  read64(addr: number, out: Uint32Array): void {
    this.host.read64(this.ipaToPa(addr), out);
  }
  write64(addr: number, lo: number, hi: number): void {
    this.host.write64(this.ipaToPa(addr), lo, hi);
  }
  read(addr: number, dst: Uint8Array): void {
    this.each(addr, dst.length, (pa, off, n) => this.host.read(pa, dst.subarray(off, off + n)));
  }
  write(addr: number, src: Uint8Array): void {
    this.each(addr, src.length, (pa, off, n) => this.host.write(pa, src.subarray(off, off + n)));
  }
  alloc(bytes: number, align: number): number {
    const a = this.allocator.alloc(bytes, align);
    this.write(a, new Uint8Array(bytes));
    return a;
  }

  private each(addr: number, len: number, fn: (pa: number, off: number, n: number) => void): void {
    let off = 0;
    while (off < len) {
      const a = addr + off;
      const n = Math.min(len - off, 4096 - (a % 4096));
      fn(this.ipaToPa(a), off, n);
      off += n;
    }
  }
}
