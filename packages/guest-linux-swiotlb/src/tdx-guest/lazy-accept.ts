/**
 * The page allocator's lazy acceptance: when boot memory is handed to the buddy allocator, a
 * MAX_PAGE_ORDER block (4 MiB on x86-64) that still contains unaccepted memory is kept on the
 * zone's `unaccepted_pages` list instead of being accepted (`__free_unaccepted()`); smaller or
 * partial blocks are accepted at once, and so is everything with `accept_memory=eager`. Blocks
 * are accepted, oldest first, one `accept_memory(block, 4 MiB)` each, when the allocator runs
 * short (`cond_accept_memory()` -> `try_to_accept_memory_one()`): with the guard unit, accepting
 * a block also accepts the first unit of the next one.
 *
 * @spec shared/reference/kvm-guest-qemu.md §3.6 (lazy acceptance in MAX_ORDER chunks,
 *   accept_memory=eager); torvalds/linux mm/mm_init.c __free_pages_core(), mm/page_alloc.c
 *   __free_unaccepted(), cond_accept_memory(), try_to_accept_memory_one(), __accept_page();
 *   arch/x86/include/asm/page_types.h (MAX_PAGE_ORDER 10 on x86-64)
 */

import { type GuestOp, PAGE_SIZE, TdxSimError } from "@tdx/hw-cpu-seam";
import { MAX_PAGE_ORDER } from "../swiotlb/constants";
import type { UnacceptedMemory } from "./unaccepted-memory";
import type { TdxVcpu } from "./vcpu";

/** Pages in a MAX_PAGE_ORDER block (1024: 4 MiB). */
export const MAX_ORDER_NR_PAGES = 1 << MAX_PAGE_ORDER;
const BLOCK_BYTES = MAX_ORDER_NR_PAGES * PAGE_SIZE;

export class LazyAcceptZone {
  /** Start GPAs of deferred blocks, in list order (list_add_tail). */
  private readonly blocks: number[] = [];
  private head = 0;

  constructor(
    readonly table: UnacceptedMemory,
    /** `accept_memory=eager`: accept while freeing instead of deferring. Default lazy. */
    readonly eager = false,
  ) {}

  /** Pages on the unaccepted list (NR_UNACCEPTED). */
  get nrUnacceptedPages(): number {
    return (this.blocks.length - this.head) * MAX_ORDER_NR_PAGES;
  }

  /** Block start addresses still deferred, oldest first. */
  deferredBlocks(): readonly number[] {
    return this.blocks.slice(this.head);
  }

  /**
   * Hand [start, end) to the allocator (memblock release): whole aligned 4 MiB blocks with
   * unaccepted memory are deferred unless eager; every other piece with unaccepted memory is
   * accepted now. Returns the number of blocks deferred.
   */
  *freeRange(v: TdxVcpu, start: number, end: number): GuestOp<number> {
    if (start % PAGE_SIZE !== 0 || end % PAGE_SIZE !== 0 || end < start) {
      throw new TdxSimError(
        "E_UNACCEPTED",
        `[0x${start.toString(16)}, 0x${end.toString(16)}) must be page-aligned`,
      );
    }
    let deferred = 0;
    let a = start;
    while (a < end) {
      const blockEnd = Math.min(end, a - (a % BLOCK_BYTES) + BLOCK_BYTES);
      const whole = blockEnd - a === BLOCK_BYTES;
      const size = blockEnd - a;
      if (this.table.rangeContainsUnacceptedMemory(a, size)) {
        if (whole && !this.eager) {
          this.blocks.push(a);
          deferred++;
        } else {
          yield* this.table.acceptMemory(v, a, size);
        }
      }
      a = blockEnd;
    }
    return deferred;
  }

  /** try_to_accept_memory_one(): accept the oldest deferred block; its GPA, or -1 if none. */
  *acceptOne(v: TdxVcpu): GuestOp<number> {
    if (this.head >= this.blocks.length) return -1;
    const block = this.blocks[this.head++]!;
    yield* this.table.acceptMemory(v, block, BLOCK_BYTES);
    if (this.head === this.blocks.length) {
      this.blocks.length = 0;
      this.head = 0;
    }
    return block;
  }

  /**
   * cond_accept_memory(): accept blocks until `toAccept` pages (high watermark minus usable free
   * pages, as the caller computes it) are covered or the list is empty. Returns pages accepted.
   */
  *acceptPages(v: TdxVcpu, toAccept: number): GuestOp<number> {
    let accepted = 0;
    while (toAccept > 0) {
      if ((yield* this.acceptOne(v)) < 0) break;
      accepted += MAX_ORDER_NR_PAGES;
      toAccept -= MAX_ORDER_NR_PAGES;
    }
    return accepted;
  }
}
