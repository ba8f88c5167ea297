/**
 * `GuestMemory` for the DMA layer running inside a TD: every access by Linux physical address
 * goes through the vCPU's synchronous accessors (`TdGuestContext.read/write`) at the private GPA,
 * or at its shared alias (the shared bit set) when the kernel maps the page shared
 * (`SharedPageMap`). So a bounce copy really moves bytes between a private page (read through
 * the Secure EPT with the TD's private KeyID) and a shared slot (written through the VMM's shared
 * EPT with a shared KeyID) in the simulated physical memory.
 *
 * The accessors never exit: an access that would take an EPT violation (a shared page the VMM has
 * not mapped, a private page not yet accepted), a #VE or an EPT misconfiguration does nothing and
 * reports `MemStatus.Hole`; MMIO reports `Mmio`, a poisoned line `MachineCheck`.
 * `lastGuestStatus` / `lastFaultGpa` keep the TD's own status and GPA of the last failure. Linux's
 * memcpy would instead fault and be retried after the VMM maps the page; here the VMM must have
 * mapped the shared pages by the time they are touched (QEMU pre-faults after a conversion).
 * Copies move at most one page per step through a scratch page, views cached per length: no
 * allocation per copy.
 *
 * @spec shared/reference/kvm-guest-qemu.md §3.5 (shared bit in the PTE), §4.7 (QEMU's
 *   KVM_PRE_FAULT_MEMORY after a conversion), §1.5 (shared EPT violations); shared/reference/
 *   swiotlb.md §d.2 (bounce copies are plain memcpy between the two mappings);
 *   packages/hw-cpu-seam/src/tdx/guest-interface.ts (synchronous accesses, GuestMem)
 */
import { GuestMem, MemStatus, PAGE_SIZE, type TdGuestContext, TdxSimError } from "@tdx/hw-cpu-seam";
import type { GuestMemory } from "../memory/guest-memory";
import type { SharedPageMap } from "./shared-pages";

/** The synchronous, never-exiting accesses of a TD vCPU. */
export type TdMemoryAccess = Pick<TdGuestContext, "read" | "write">;

/** Subarray views of one page-sized buffer, one per length, made on first use. */
class PageViews {
  readonly page = new Uint8Array(PAGE_SIZE);
  private readonly views: (Uint8Array | undefined)[] = new Array(PAGE_SIZE + 1);

  of(len: number): Uint8Array {
    let v = this.views[len];
    if (v === undefined) {
      v = len === PAGE_SIZE ? this.page : this.page.subarray(0, len);
      this.views[len] = v;
    }
    return v;
  }
}

export class TdGuestMemory implements GuestMemory {
  readonly sharedMask: number;
  readonly pages: SharedPageMap;
  /** The TD's status of the last access that failed (GuestMem.Ok until one does). */
  lastGuestStatus: GuestMem = GuestMem.Ok;
  /** The GPA (shared bit included when it was the shared alias) of that access. */
  lastFaultGpa = -1;
  private readonly access: TdMemoryAccess;
  private readonly scratch = new PageViews();
  private readonly filler = new PageViews();
  private fillByte = 0;

  constructor(access: TdMemoryAccess, sharedMask: number, pages: SharedPageMap) {
    if (
      !Number.isSafeInteger(sharedMask) ||
      sharedMask <= 0 ||
      2 ** Math.round(Math.log2(sharedMask)) !== sharedMask
    ) {
      throw new TdxSimError(
        "E_TD_GUEST_MEMORY",
        `shared bit ${String(sharedMask)} must be a power of two (2^(GPAW-1))`,
      );
    }
    if (pages.limit > sharedMask) {
      throw new TdxSimError(
        "E_TD_GUEST_MEMORY",
        `guest RAM up to 0x${pages.limit.toString(16)} reaches the shared bit 0x${sharedMask.toString(16)}: RAM must lie below it`,
      );
    }
    this.access = access;
    this.sharedMask = sharedMask;
    this.pages = pages;
  }

  /** The GPA the CPU uses for physical address `pa`: its shared alias when the page is mapped shared. */
  alias(pa: number): number {
    return this.pages.isShared(pa) ? pa + this.sharedMask : pa;
  }

  copy(dst: number, src: number, len: number): MemStatus {
    const pages = this.pages;
    if (!pages.covers(dst, len) || !pages.covers(src, len)) return MemStatus.Hole;
    const access = this.access;
    for (let done = 0; done < len; ) {
      const d = dst + done;
      const s = src + done;
      const n = Math.min(len - done, PAGE_SIZE - (d % PAGE_SIZE), PAGE_SIZE - (s % PAGE_SIZE));
      const buf = this.scratch.of(n);
      const from = this.alias(s);
      let st: GuestMem = access.read(from, buf);
      if (st !== GuestMem.Ok) return this.fail(st, from);
      const to = this.alias(d);
      st = access.write(to, buf);
      if (st !== GuestMem.Ok) return this.fail(st, to);
      done += n;
    }
    return MemStatus.Ok;
  }

  read(gpa: number, dst: Uint8Array): MemStatus {
    return this.pageWise(gpa, dst, false);
  }

  write(gpa: number, src: Uint8Array): MemStatus {
    return this.pageWise(gpa, src, true);
  }

  fill(gpa: number, len: number, byte: number): MemStatus {
    if (!this.pages.covers(gpa, len)) return MemStatus.Hole;
    const b = byte & 0xff;
    if (b !== this.fillByte) {
      this.filler.page.fill(b);
      this.fillByte = b;
    }
    for (let done = 0; done < len; ) {
      const a = gpa + done;
      const n = Math.min(len - done, PAGE_SIZE - (a % PAGE_SIZE));
      const to = this.alias(a);
      const st = this.access.write(to, this.filler.of(n));
      if (st !== GuestMem.Ok) return this.fail(st, to);
      done += n;
    }
    return MemStatus.Ok;
  }

  private pageWise(gpa: number, buf: Uint8Array, write: boolean): MemStatus {
    const len = buf.length;
    if (!this.pages.covers(gpa, len)) return MemStatus.Hole;
    for (let done = 0; done < len; ) {
      const a = gpa + done;
      const n = Math.min(len - done, PAGE_SIZE - (a % PAGE_SIZE));
      const part = n === len ? buf : buf.subarray(done, done + n);
      const at = this.alias(a);
      const st = write ? this.access.write(at, part) : this.access.read(at, part);
      if (st !== GuestMem.Ok) return this.fail(st, at);
      done += n;
    }
    return MemStatus.Ok;
  }

  private fail(st: GuestMem, gpa: number): MemStatus {
    this.lastGuestStatus = st;
    this.lastFaultGpa = gpa;
    if (st === GuestMem.Mmio) return MemStatus.Mmio;
    if (st === GuestMem.MachineCheck) return MemStatus.MachineCheck;
    return MemStatus.Hole;
  }
}
