/**
 * The guest kernel's DMA bring-up inside a TD, as guest code: the SWIOTLB default pool is sized,
 * placed and decrypted (swiotlb_init, then swiotlb_update_mem_attributes: one MapGPA exit for the
 * whole pool), then the atomic DMA coherent pool is allocated and decrypted (dma_atomic_pool_init,
 * a postcore initcall: one more MapGPA), and the DMA API is assembled over the TD's memory
 * (`TdGuestMemory`) and the TDX conversions (`TdxGuestEncryptionOps`). With CONFIG_SWIOTLB_DYNAMIC
 * the growth work item is deferred: guest code runs it with `swiotlb.runBackgroundOp()` where a
 * kworker would get the vCPU, since its decryption exits to the VMM.
 *
 * The model has one atomic pool (Linux keeps up to three, per zone) and never grows it.
 *
 * @spec shared/reference/swiotlb.md §b.4 steps 3-4 (pool allocation, then one
 *   set_memory_decrypted), §e (transient pools from the pre-decrypted atomic pool);
 *   shared/reference/kvm-guest-qemu.md §3.7; torvalds/linux kernel/dma/pool.c
 *   dma_atomic_pool_init(), atomic_pool_expand() (order = min(get_order(size), MAX_PAGE_ORDER),
 *   one set_memory_decrypted of the block, pages leaked when it fails, the pr_info/pr_err lines)
 */
import { type GuestOp, TdxSimError } from "@tdx/hw-cpu-seam";
import { DmaApi, type SwiotlbBouncedEvent } from "../dma/dma-api";
import type { BootMemblock } from "../memory/memblock";
import {
  atomicPoolDefaultBytes,
  type GuestPageAllocator,
  RangePageAllocator,
} from "../memory/page-allocator";
import { bootLinuxSwiotlbOp } from "../policy/linux";
import { MAX_PAGE_ORDER, PAGE_SIZE_BYTES } from "../swiotlb/constants";
import type { SwiotlbSizing, SwiotlbSizingInput } from "../swiotlb/sizing";
import type { Swiotlb } from "../swiotlb/swiotlb";
import type { TdxVcpu } from "../tdx-guest/vcpu";
import { SharedPageMap } from "./shared-pages";
import { TdGuestMemory, type TdMemoryAccess } from "./td-guest-memory";
import { TdxGuestEncryptionOps } from "./tdx-encryption-ops";

export interface TdDmaBootOptions {
  /** The boot vCPU, after tdx_early_init (or `TdxGuest.assumeInit`): the shared bit comes from it. */
  readonly vcpu: TdxVcpu;
  /** The same vCPU's synchronous memory accessors (its `TdGuestContext`). */
  readonly access: TdMemoryAccess;
  /** End of guest RAM (exclusive, 4 KiB multiple): the shared-page record covers [0, ramTop). */
  readonly ramTop: number;
  /** SWIOTLB sizing (RAM, CPUs, `swiotlb=`) and the early memory the pool is placed in. */
  readonly sizing: SwiotlbSizingInput & { readonly memblock: BootMemblock };
  /** Pages dma_alloc_coherent takes (the buddy allocator). */
  readonly pageAllocator: GuestPageAllocator;
  /**
   * Where alloc_pages puts the atomic pool, and its requested size (default: 128 KiB per GiB of
   * RAM, 128 KiB-4 MiB); the pool is 2^order pages, order = min(get_order(bytes), MAX_PAGE_ORDER).
   */
  readonly atomicPool: { readonly base: number; readonly bytes?: number };
  /** CONFIG_SWIOTLB_DYNAMIC: grown pools come from this allocator. */
  readonly dynamic?: { readonly pageAllocator: GuestPageAllocator; readonly workDelayOps?: number };
  readonly onBounced?: (ev: SwiotlbBouncedEvent) => void;
}

/** The DMA layer of a booted TD guest. */
export interface TdDma {
  readonly sharedPages: SharedPageMap;
  readonly memory: TdGuestMemory;
  readonly conversions: TdxGuestEncryptionOps;
  readonly sizing: SwiotlbSizing;
  readonly swiotlb: Swiotlb;
  readonly atomicPool: AtomicDmaPool;
  readonly dma: DmaApi;
}

/**
 * The atomic DMA coherent pool (a gen_pool): empty until dma_atomic_pool_init has decrypted its
 * block, and for good when that failed (the pages are leaked).
 */
export class AtomicDmaPool implements GuestPageAllocator {
  /** The block once it is decrypted and usable, else null. */
  block: { readonly base: number; readonly bytes: number } | null = null;
  private pages: RangePageAllocator | null = null;

  /** Hand the decrypted block to the pool (gen_pool_add_virt). */
  add(base: number, bytes: number): void {
    if (this.pages !== null)
      throw new TdxSimError(
        "E_ATOMIC_POOL",
        "the atomic pool is already populated: it is expanded once at boot in this model",
      );
    this.pages = new RangePageAllocator(base, bytes, { buddyAligned: false });
    this.block = { base, bytes };
  }

  alloc(bytes: number, physLimit: number): number {
    return this.pages === null ? -1 : this.pages.alloc(bytes, physLimit);
  }

  free(gpa: number, bytes: number): void {
    if (this.pages === null) {
      throw new TdxSimError(
        "E_ATOMIC_POOL",
        `free(0x${gpa.toString(16)}): the atomic pool has no memory, nothing was allocated from it`,
      );
    }
    this.pages.free(gpa, bytes);
  }

  allocatedBytes(): number {
    return this.pages === null ? 0 : this.pages.allocatedBytes();
  }
}

/** get_order(bytes) capped at MAX_PAGE_ORDER. */
function atomicOrder(bytes: number): number {
  const pages = Math.ceil(bytes / PAGE_SIZE_BYTES);
  return Math.min(Math.ceil(Math.log2(pages)), MAX_PAGE_ORDER);
}

/** Boot the TD guest's SWIOTLB, atomic pool and DMA API; every conversion is a MapGPA exit. */
export function* bootTdDma(opts: TdDmaBootOptions): GuestOp<TdDma> {
  const sharedPages = new SharedPageMap(opts.ramTop);
  const memory = new TdGuestMemory(opts.access, opts.vcpu.guest.tdx.sharedMask, sharedPages);
  const conversions = new TdxGuestEncryptionOps(opts.vcpu, sharedPages);
  const atomicPool = new AtomicDmaPool();
  const requested = opts.atomicPool.bytes ?? atomicPoolDefaultBytes(opts.sizing.ramBytes);
  if (!Number.isSafeInteger(requested) || requested <= 0) {
    throw new TdxSimError(
      "E_ATOMIC_POOL",
      `atomic pool size ${String(requested)} must be a positive byte count`,
    );
  }
  const base = opts.atomicPool.base;
  if (!Number.isSafeInteger(base) || base < 0 || base % PAGE_SIZE_BYTES !== 0) {
    throw new TdxSimError("E_ATOMIC_POOL", `atomic pool base ${String(base)} must be a page-aligned GPA`);
  }
  // mm_core_init -> swiotlb_init; arch_cpu_finalize_init -> swiotlb_update_mem_attributes.
  const d = opts.dynamic;
  const { sizing, policy } = yield* bootLinuxSwiotlbOp({
    sizing: opts.sizing,
    memory,
    conversions,
    ...(d
      ? {
          dynamic: {
            pageAllocator: d.pageAllocator,
            atomicPool,
            workItems: "deferred" as const,
            ...(d.workDelayOps !== undefined ? { workDelayOps: d.workDelayOps } : {}),
          },
        }
      : {}),
  });
  // postcore_initcall(dma_atomic_pool_init): one block, decrypted in one request.
  const order = atomicOrder(requested);
  const poolPages = 2 ** order;
  const kib = (poolPages * PAGE_SIZE_BYTES) / 1024;
  if ((yield* conversions.setMemoryDecryptedOp(base, poolPages)) === 0) {
    atomicPool.add(base, poolPages * PAGE_SIZE_BYTES);
    policy.log.info(`DMA: preallocated ${kib} KiB GFP_KERNEL pool for atomic allocations`);
  } else {
    policy.log.warn(`DMA: failed to allocate ${kib} KiB GFP_KERNEL pool for atomic allocation`);
  }
  const dma = new DmaApi({
    bounce: policy,
    memory,
    pageAllocator: opts.pageAllocator,
    atomicPool,
    conversions,
    memEncrypted: true,
    log: policy.log,
    ...(opts.onBounced ? { onBounced: opts.onBounced } : {}),
  });
  return { sharedPages, memory, conversions, sizing, swiotlb: policy, atomicPool, dma };
}
