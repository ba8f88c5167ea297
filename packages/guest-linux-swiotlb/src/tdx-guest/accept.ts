/**
 * Private-memory acceptance (`tdx_accept_memory()`): walk [start, end) and at each position try
 * TDG.MEM.PAGE.ACCEPT at 1 GiB, then 2 MiB, then 4 KiB, each only when the position is aligned
 * to that size and at least that much remains; any non-zero status falls through to the next
 * size (including PAGE_ALREADY_ACCEPTED and PAGE_SIZE_MISMATCH); a 4 KiB failure stops the walk.
 *
 * @spec shared/reference/kvm-guest-qemu.md §3.5 "Acceptance"; shared/reference/tdx-module.md
 *   §4.1 (RCX = GPA | level), §6.3 (ACCEPT outcomes); torvalds/linux arch/x86/coco/tdx/
 *   tdx-shared.c try_accept_one(), tdx_accept_memory()
 */
import { Gpr, type GuestOp, LEVEL_BYTES, PageLevel, TdcallLeaf } from "@tdx/hw-cpu-seam";
import type { TdxVcpu } from "./vcpu";

/** try_accept_one(): bytes accepted at `level`, 0 if not tried or refused. */
export function* tryAcceptOne(v: TdxVcpu, start: number, len: number, level: PageLevel): GuestOp<number> {
  const size = LEVEL_BYTES[level]!;
  if (start % size !== 0 || len < size) return 0;
  const args = v.args;
  args.fill(0n);
  args[Gpr.RCX] = BigInt(start) | BigInt(level);
  const stats = v.guest.stats;
  stats.acceptTried[level]!++;
  const st = yield* v.tdcall(TdcallLeaf.MEM_PAGE_ACCEPT, args);
  if (st !== 0n) return 0;
  stats.acceptDone[level]!++;
  return size;
}

/** tdx_accept_memory(start, end): true when every page in [start, end) was accepted. */
export function* tdxAcceptMemory(v: TdxVcpu, start: number, end: number): GuestOp<boolean> {
  while (start < end) {
    const len = end - start;
    let done = yield* tryAcceptOne(v, start, len, PageLevel.L1G);
    if (!done) done = yield* tryAcceptOne(v, start, len, PageLevel.L2M);
    if (!done) done = yield* tryAcceptOne(v, start, len, PageLevel.L4K);
    if (!done) return false;
    start += done;
  }
  return true;
}
