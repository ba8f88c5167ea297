/**
 * Builds any of the three bounce-buffer policies on one guest-physical layout, so the same
 * workload runs on each: the default pool (Linux), the region grown pools come from and the
 * atomic pool transient pools come from (Linux dynamic), and the arena cc-swiotlb refills from.
 *
 * Default layout (GPAs; pools below 4 GiB as on x86, cc-swiotlb above since it may allocate
 * anywhere): atomic pool [1 GiB - 4 MiB, 1 GiB), default pool at 1 GiB, grown pools from the
 * first 4 MiB boundary after the default pool up to 4 GiB, cc-swiotlb arena [4 GiB, 68 GiB).
 *
 * @spec shared/reference/swiotlb.md §b.4 (pool below 4 GiB), §e (phys_limit 4 GiB - 1, atomic
 *   pool), §f (cc-swiotlb allocates anywhere)
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";
import type { MemoryEncryptionOps } from "../memory/conversion";
import type { GuestMemory } from "../memory/guest-memory";
import { type GuestPageAllocator, RangePageAllocator } from "../memory/page-allocator";
import { IO_TLB_SIZE } from "../swiotlb/constants";
import type { KernelLog } from "../swiotlb/log";
import { CcSwiotlb } from "./cc-swiotlb";
import { createLinuxDynamicPolicy, createLinuxPolicy } from "./linux";
import type { BouncePolicy, PolicyKind } from "./types";

export interface PolicyLayout {
  readonly poolBase: number;
  readonly atomicBase: number;
  readonly atomicBytes: number;
  /** Grown pools: [dynamicBase, dynamicEnd). Default: after the default pool, up to 4 GiB. */
  readonly dynamicBase?: number;
  readonly dynamicEnd?: number;
  readonly ccBase: number;
  readonly ccBytes: number;
}

const GIB = 1024 * 1024 * 1024;
const MIB = 1024 * 1024;

export const DEFAULT_POLICY_LAYOUT: PolicyLayout = {
  poolBase: GIB,
  atomicBase: GIB - 4 * MIB,
  atomicBytes: 4 * MIB,
  ccBase: 4 * GIB,
  ccBytes: 64 * GIB,
};

export interface PolicyPlatformOptions {
  readonly kind: PolicyKind;
  /** Default pool of the Linux policies (ignored by cc-swiotlb). */
  readonly nslabs: number;
  readonly nareas: number;
  /** Guest memory for copies (null: count copies only). */
  readonly memory?: GuestMemory | null;
  readonly layout?: PolicyLayout;
  readonly conversions?: MemoryEncryptionOps;
  readonly memEncrypted?: boolean;
  /** linux-dynamic: delay of the growth work item (operations). */
  readonly workDelayOps?: number;
  /** cc-swiotlb: kccd delay (operations), watermarks, the partial-sync fix. */
  readonly kccdDelayOps?: number;
  readonly ccWatermarks?: readonly number[];
  readonly ccFixPartialSync?: boolean;
  readonly log?: KernelLog;
}

export interface PolicyPlatform {
  readonly policy: BouncePolicy;
  /** Address that result offsets are relative to (the default pool, or the cc arena). */
  readonly offsetBase: number;
  readonly layout: PolicyLayout;
}

/** An allocator with no memory (when the layout leaves no room). */
class EmptyAllocator implements GuestPageAllocator {
  alloc(): number {
    return -1;
  }
  free(gpa: number): void {
    throw new TdxSimError("E_PAGE_ALLOCATOR", `free(${gpa}): this allocator has no memory`);
  }
  allocatedBytes(): number {
    return 0;
  }
}

function range(base: number, end: number, buddyAligned: boolean): GuestPageAllocator {
  const b = Math.ceil(base / 4096) * 4096;
  const e = Math.floor(end / 4096) * 4096;
  return e > b ? new RangePageAllocator(b, e - b, { buddyAligned }) : new EmptyAllocator();
}

export function createPolicy(opts: PolicyPlatformOptions): PolicyPlatform {
  const layout = opts.layout ?? DEFAULT_POLICY_LAYOUT;
  const memory = opts.memory ?? null;
  const common = {
    nslabs: opts.nslabs,
    nareas: opts.nareas,
    poolBase: layout.poolBase,
    memory,
    ...(opts.conversions ? { conversions: opts.conversions } : {}),
    ...(opts.memEncrypted !== undefined ? { memEncrypted: opts.memEncrypted } : {}),
    ...(opts.log ? { log: opts.log } : {}),
  };
  switch (opts.kind) {
    case "linux":
      return { policy: createLinuxPolicy(common), offsetBase: layout.poolBase, layout };
    case "linux-dynamic": {
      const poolEnd = layout.poolBase + opts.nslabs * IO_TLB_SIZE;
      const dynBase = layout.dynamicBase ?? Math.ceil(poolEnd / (4 * MIB)) * 4 * MIB;
      const dynEnd = layout.dynamicEnd ?? 4 * GIB;
      const policy = createLinuxDynamicPolicy({
        ...common,
        pageAllocator: range(dynBase, dynEnd, true),
        atomicPool: range(layout.atomicBase, layout.atomicBase + layout.atomicBytes, false),
        ...(opts.workDelayOps !== undefined ? { workDelayOps: opts.workDelayOps } : {}),
      });
      return { policy, offsetBase: layout.poolBase, layout };
    }
    case "cc-swiotlb": {
      const policy = new CcSwiotlb({
        memory,
        pageAllocator: range(layout.ccBase, layout.ccBase + layout.ccBytes, true),
        ...(opts.conversions ? { conversions: opts.conversions } : {}),
        ...(opts.ccWatermarks ? { watermarks: opts.ccWatermarks } : {}),
        ...(opts.kccdDelayOps !== undefined ? { kccdDelayOps: opts.kccdDelayOps } : {}),
        ...(opts.ccFixPartialSync !== undefined ? { fixPartialSync: opts.ccFixPartialSync } : {}),
        ...(opts.memEncrypted !== undefined ? { memEncrypted: opts.memEncrypted } : {}),
        ...(opts.log ? { log: opts.log } : {}),
      });
      return { policy, offsetBase: layout.ccBase, layout };
    }
    default:
      throw new TdxSimError(
        "E_POLICY",
        `unknown bounce-buffer policy "${String(opts.kind)}": allowed linux, linux-dynamic, cc-swiotlb`,
      );
  }
}
