/**
 * Memory views and a bump allocator for software that builds SMMU structures (drivers, tests,
 * the vSVA host and guest): `TableMemory` is what a table builder needs of an address space
 * (host physical, or a guest's IPA space seen through its stage 2).
 */
import { Initiator, type PhysicalMemoryAccess, TdxSimError } from "@tdx/hw-cpu-seam";

/** An address space software writes structures into (never used on the translation path). */
export interface TableMemory {
  read64(addr: number, out: Uint32Array): void;
  write64(addr: number, lo: number, hi: number): void;
  read(addr: number, dst: Uint8Array): void;
  write(addr: number, src: Uint8Array): void;
  /** Allocate `bytes` zeroed bytes aligned to `align` (a power of two); returns the address. */
  alloc(bytes: number, align: number): number;
}

/** Hands out aligned, never-reused ranges of [base, limit). */
export class BumpAllocator {
  private next: number;
  constructor(
    readonly base: number,
    readonly limit: number,
  ) {
    this.next = base;
  }
  alloc(bytes: number, align: number): number {
    if (!Number.isInteger(bytes) || bytes <= 0 || !(align >= 1 && Number.isInteger(Math.log2(align)))) {
      throw new TdxSimError(
        "E_ALLOC",
        `alloc(${bytes}, ${align}): size must be positive and align a power of two`,
      );
    }
    const a = Math.ceil(this.next / align) * align;
    if (a + bytes > this.limit) {
      throw new TdxSimError(
        "E_ALLOC_EXHAUSTED",
        `allocator [0x${this.base.toString(16)}, 0x${this.limit.toString(16)}) cannot fit ${bytes} more bytes`,
      );
    }
    this.next = a + bytes;
    return a;
  }
}

function check(st: number, what: string, addr: number, mem: PhysicalMemoryAccess): void {
  if (st !== 0) {
    throw new TdxSimError(
      "E_TABLE_MEMORY",
      `${what} at 0x${addr.toString(16)} failed: ${mem.lastFault()?.message ?? `status ${st}`}`,
    );
  }
}

/** Host physical memory as a TableMemory (CPU accesses by the host), with an allocator. */
export function hostTableMemory(mem: PhysicalMemoryAccess, allocator: BumpAllocator): TableMemory {
  return {
    read64(addr, out) {
      check(mem.read64(addr, Initiator.Host, out), "read", addr, mem);
    },
    write64(addr, lo, hi) {
      check(mem.write64(addr, lo, hi, Initiator.Host), "write", addr, mem);
    },
    read(addr, dst) {
      check(mem.read(addr, dst, Initiator.Host), "read", addr, mem);
    },
    write(addr, src) {
      check(mem.write(addr, src, Initiator.Host), "write", addr, mem);
    },
    alloc(bytes, align) {
      const a = allocator.alloc(bytes, align);
      check(mem.fill(a, bytes, 0, Initiator.Host), "zeroing", a, mem);
      return a;
    },
  };
}
