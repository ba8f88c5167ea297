/**
 * The two Linux policies: "linux" (one default pool, CONFIG_SWIOTLB_DYNAMIC off, the distro
 * default) and "linux-dynamic" (the same default pool plus grown and transient pools). Both place
 * the default pool at a given GPA and decrypt it once, as swiotlb_update_mem_attributes does.
 * Each constructor is guest code (`...Op`, composed with `yield*` inside a TD, where the pool's
 * MapGPA exits to the VMM) with a synchronous form that runs the same code without an exit.
 *
 * @spec shared/reference/swiotlb.md §b.4 step 4 (one set_memory_decrypted over the page-aligned
 *   pool), §e (dynamic pools: can_grow on x86 CoCo, phys_limit 4 GiB - 1)
 */
import { type GuestOp, TdxSimError } from "@tdx/hw-cpu-seam";
import {
  type AnyMemoryEncryptionOps,
  CountingEncryptionOps,
  RecordingEncryptionOps,
} from "../memory/conversion";
import type { GuestMemory } from "../memory/guest-memory";
import type { BootMemblock } from "../memory/memblock";
import type { GuestPageAllocator } from "../memory/page-allocator";
import { IoTlbMem } from "../swiotlb/allocator";
import { ARCH_LOW_ADDRESS_LIMIT, IO_TLB_SIZE, PAGE_SIZE_BYTES } from "../swiotlb/constants";
import { DynamicPoolGrower, type WorkItemMode } from "../swiotlb/dynamic";
import { KernelLog } from "../swiotlb/log";
import { IoTlbPool } from "../swiotlb/pool";
import { computeSwiotlbSizing, type SwiotlbSizing, type SwiotlbSizingInput } from "../swiotlb/sizing";
import { Swiotlb } from "../swiotlb/swiotlb";
import { runWithoutExit } from "../tdx-guest/conversion";

export interface LinuxPolicyOptions {
  /** Default pool slots (0: no pool, as after swiotlb=noforce or a failed boot allocation). */
  readonly nslabs: number;
  /** Areas of the default pool (a power of two, or nslabs / 128 after limit_nareas). */
  readonly nareas: number;
  /** default_nareas if it differs from the pool's (after limit_nareas); default: nareas. */
  readonly defaultNareas?: number;
  /** GPA of the pool (slot aligned; page aligned as memblock gives it). */
  readonly poolBase: number;
  /** Guest memory for the copies, or null to count copies without moving bytes. */
  readonly memory: GuestMemory | null;
  /**
   * Where pool decryption goes (default: a RecordingEncryptionOps); either form. Inside a TD pass
   * the guest-code form and use the `...Op` constructors.
   */
  readonly conversions?: AnyMemoryEncryptionOps;
  /** A TDX/SEV guest (default true): forces bouncing and decrypts the pool. */
  readonly memEncrypted?: boolean;
  /** io_tlb_mem.force_bounce (default: memEncrypted). */
  readonly forceBounce?: boolean;
  readonly log?: KernelLog;
}

export interface LinuxDynamicPolicyOptions extends LinuxPolicyOptions {
  /** Pages for grown pools (below 4 GiB on x86 CoCo). */
  readonly pageAllocator: GuestPageAllocator;
  /** The atomic DMA coherent pool (pre-decrypted) transient pools come from. */
  readonly atomicPool: GuestPageAllocator;
  /** default_nslabs for grown pools (default: nslabs). */
  readonly defaultNslabs?: number;
  /** Virtual delay of the growth work item in operations (default 16). */
  readonly workDelayOps?: number;
  /** io_tlb_mem.phys_limit (default 4 GiB - 1). */
  readonly physLimit?: number;
  /** Where the growth work item runs (default "inline"; "deferred" inside a TD). */
  readonly workItems?: WorkItemMode;
}

const POOL_DECRYPT = "swiotlb_update_mem_attributes (set_memory_decrypted of the default pool)";

function* buildOp(
  opts: LinuxPolicyOptions,
  dynamic: boolean,
  physLimit = ARCH_LOW_ADDRESS_LIMIT,
): GuestOp<{ mem: IoTlbMem; counting: CountingEncryptionOps; log: KernelLog }> {
  const memEncrypted = opts.memEncrypted ?? true;
  const log = opts.log ?? new KernelLog();
  const counting = new CountingEncryptionOps(opts.conversions ?? new RecordingEncryptionOps());
  if (!Number.isInteger(opts.nslabs) || opts.nslabs < 0) {
    throw new TdxSimError("E_SWIOTLB_POOL", `nslabs ${String(opts.nslabs)} must be an integer >= 0`);
  }
  const mem = new IoTlbMem({
    dynamic,
    defaultNareas: opts.defaultNareas ?? Math.max(1, opts.nareas),
    forceBounce: opts.forceBounce ?? memEncrypted,
    physLimit,
  });
  if (opts.nslabs > 0) {
    const pool = new IoTlbPool(opts.poolBase, opts.nslabs, opts.nareas, "default");
    mem.addPool(pool, true);
    if (memEncrypted) {
      // swiotlb_update_mem_attributes: the whole page-aligned pool in one request.
      const pages = Math.ceil((opts.nslabs * IO_TLB_SIZE) / PAGE_SIZE_BYTES);
      // Linux ignores the result: a failure leaves a pool the device cannot reach.
      yield* counting.setMemoryDecryptedOp(opts.poolBase, pages);
    }
  }
  return { mem, counting, log };
}

/** The Linux allocator with one static pool. */
export function createLinuxPolicy(opts: LinuxPolicyOptions): Swiotlb {
  return runWithoutExit(createLinuxPolicyOp(opts), POOL_DECRYPT);
}

/** `createLinuxPolicy` as guest code (the pool's decryption may exit to the VMM). */
export function* createLinuxPolicyOp(opts: LinuxPolicyOptions): GuestOp<Swiotlb> {
  const { mem, counting, log } = yield* buildOp(opts, false);
  return new Swiotlb({
    mem,
    memory: opts.memory,
    log,
    memEncrypted: opts.memEncrypted ?? true,
    conversions: counting,
  });
}

/** The Linux allocator with CONFIG_SWIOTLB_DYNAMIC. */
export function createLinuxDynamicPolicy(opts: LinuxDynamicPolicyOptions): Swiotlb {
  return runWithoutExit(createLinuxDynamicPolicyOp(opts), POOL_DECRYPT);
}

/** `createLinuxDynamicPolicy` as guest code (the pool's decryption may exit to the VMM). */
export function* createLinuxDynamicPolicyOp(opts: LinuxDynamicPolicyOptions): GuestOp<Swiotlb> {
  const { mem, counting, log } = yield* buildOp(opts, true, opts.physLimit);
  mem.grower = new DynamicPoolGrower({
    pageAllocator: opts.pageAllocator,
    atomicPool: opts.atomicPool,
    conversions: counting,
    log,
    defaultNslabs: opts.defaultNslabs ?? opts.nslabs,
    memEncrypted: opts.memEncrypted ?? true,
    ...(opts.workDelayOps !== undefined ? { workDelayOps: opts.workDelayOps } : {}),
    ...(opts.workItems !== undefined ? { workItems: opts.workItems } : {}),
  });
  return new Swiotlb({
    mem,
    memory: opts.memory,
    log,
    memEncrypted: opts.memEncrypted ?? true,
    conversions: counting,
  });
}

export interface BootLinuxSwiotlbOptions {
  /** The sizing inputs (RAM, CPUs, swiotlb=, encryption); `memblock` places the pool. */
  readonly sizing: SwiotlbSizingInput & { readonly memblock: BootMemblock };
  readonly memory: GuestMemory | null;
  readonly conversions?: AnyMemoryEncryptionOps;
  /** CONFIG_SWIOTLB_DYNAMIC: with it, the allocators grown and transient pools come from. */
  readonly dynamic?: {
    readonly pageAllocator: GuestPageAllocator;
    readonly atomicPool: GuestPageAllocator;
    readonly workDelayOps?: number;
    readonly workItems?: WorkItemMode;
  };
}

export interface BootedSwiotlb {
  readonly sizing: SwiotlbSizing;
  readonly policy: Swiotlb;
}

/**
 * The guest kernel's SWIOTLB bring-up in one call: size the default pool (command line, 6 % rule,
 * areas), place it below 4 GiB with the halving fallback, decrypt it (swiotlb_update_mem_attributes)
 * and return the policy, its log starting with the boot lines. Without a pool (noforce, no low
 * memory) every map fails with the kernel's "Can not allocate SWIOTLB buffer earlier" message.
 */
export function bootLinuxSwiotlb(opts: BootLinuxSwiotlbOptions): BootedSwiotlb {
  return runWithoutExit(bootLinuxSwiotlbOp(opts), POOL_DECRYPT);
}

/** `bootLinuxSwiotlb` as guest code: inside a TD the pool's MapGPA exits to the VMM. */
export function* bootLinuxSwiotlbOp(opts: BootLinuxSwiotlbOptions): GuestOp<BootedSwiotlb> {
  const sizing = computeSwiotlbSizing(opts.sizing);
  const log = new KernelLog();
  for (const line of sizing.log) log.info(line);
  const memEncrypted = opts.sizing.memEncrypted ?? true;
  const common: LinuxPolicyOptions = {
    nslabs: sizing.nslabs,
    nareas: Math.max(1, sizing.nareas),
    defaultNareas: Math.max(1, sizing.defaultNareas),
    poolBase: sizing.base ?? 0,
    memory: opts.memory,
    memEncrypted,
    forceBounce: sizing.forceBounce,
    log,
    ...(opts.conversions ? { conversions: opts.conversions } : {}),
  };
  const d = opts.dynamic;
  const policy = d
    ? yield* createLinuxDynamicPolicyOp({
        ...common,
        pageAllocator: d.pageAllocator,
        atomicPool: d.atomicPool,
        defaultNslabs: sizing.requestedNslabs,
        ...(d.workDelayOps !== undefined ? { workDelayOps: d.workDelayOps } : {}),
        ...(d.workItems !== undefined ? { workItems: d.workItems } : {}),
      })
    : yield* createLinuxPolicyOp(common);
  return { sizing, policy };
}
