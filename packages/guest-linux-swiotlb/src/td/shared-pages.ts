/**
 * Which guest pages the kernel maps shared: the TDX shared bit (cc_mask) in the direct map's
 * PTEs, which set_memory_decrypted sets and set_memory_encrypted clears. The kernel keeps the bit
 * in its page tables, never in a physical address, so every access by a Linux physical address
 * consults this record to pick the private GPA or its shared alias. One byte per 4 KiB page over
 * [0, limit): no Map on the per-access path.
 *
 * @spec shared/reference/kvm-guest-qemu.md §3.5 (the PTE gets the shared bit; to shared: PTE
 *   change, then MapGPA; to private: MapGPA and acceptance before the PTE change); torvalds/linux
 *   arch/x86/mm/pat/set_memory.c __set_memory_enc_pgtable() (a failed finish hook leaves the
 *   PTEs changed)
 */
import { PAGE_SIZE, TdxSimError } from "@tdx/hw-cpu-seam";

export class SharedPageMap {
  /** End (exclusive) of the guest-physical range the map covers. */
  readonly limit: number;
  private readonly shared: Uint8Array;
  private count = 0;

  constructor(limitBytes: number) {
    if (
      !Number.isSafeInteger(limitBytes) ||
      limitBytes <= 0 ||
      limitBytes % PAGE_SIZE !== 0 ||
      limitBytes > 2 ** 44
    ) {
      throw new TdxSimError(
        "E_SHARED_PAGE_MAP",
        `guest-physical limit ${String(limitBytes)} is invalid: a positive multiple of 4096 up to 2^44 (16 TiB)`,
      );
    }
    this.limit = limitBytes;
    this.shared = new Uint8Array(limitBytes / PAGE_SIZE);
  }

  /** Whether the page holding `gpa` is mapped shared (false outside the range). */
  isShared(gpa: number): boolean {
    return this.shared[Math.floor(gpa / PAGE_SIZE)] === 1;
  }

  /** Whether [gpa, gpa + len) lies inside the range the map covers. */
  covers(gpa: number, len: number): boolean {
    return gpa >= 0 && len >= 0 && gpa + len <= this.limit;
  }

  /** Set or clear the shared bit of `numPages` pages from the page holding `gpa`. */
  set(gpa: number, numPages: number, shared: boolean): void {
    const first = Math.floor(gpa / PAGE_SIZE);
    if (
      !Number.isSafeInteger(numPages) ||
      numPages < 1 ||
      first < 0 ||
      first + numPages > this.shared.length
    ) {
      throw new TdxSimError(
        "E_SHARED_PAGE_MAP",
        `pages [0x${gpa.toString(16)}, +${String(numPages)}) are outside guest RAM [0, 0x${this.limit.toString(16)})`,
      );
    }
    const v = shared ? 1 : 0;
    const s = this.shared;
    for (let i = first; i < first + numPages; i++) {
      if (s[i] !== v) {
        this.count += shared ? 1 : -1;
        s[i] = v;
      }
    }
  }

  /** Pages currently mapped shared. */
  get sharedPages(): number {
    return this.count;
  }
}
