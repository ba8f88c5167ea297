/**
 * Boot-time sizing of the default pool, as a pure function of (guest RAM, possible CPUs,
 * `swiotlb=` text, low memory): the command line first, then the x86 confidential-computing
 * 6 % rule through swiotlb_adjust_size (ignored when an explicit slot count other than the default
 * was given), then swiotlb_init_remap: area count from the CPUs, power-of-two re-rounding, the
 * below-4-GiB allocation with its halving fallback, and the kernel log lines in order.
 *
 * @spec shared/reference/swiotlb.md §b.1-§b.5 (and the table at the end of §b);
 *   shared/reference/kvm-guest-qemu.md §3.7; Linux kernel/dma/swiotlb.c swiotlb_adjust_size,
 *   swiotlb_adjust_nareas, round_up_default_nslabs, limit_nareas, swiotlb_init_remap,
 *   swiotlb_print_info; arch/x86/mm/mem_encrypt.c mem_encrypt_setup_arch;
 *   arch/x86/kernel/pci-dma.c pci_swiotlb_detect
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";
import type { BootMemblock } from "../memory/memblock";
import { alignToSegment, isPow2, parseSwiotlbParam, roundUpPow2, type SwiotlbParam } from "./cmdline";
import {
  COCO_SWIOTLB_MAX_BYTES,
  COCO_SWIOTLB_MIN_BYTES,
  COCO_SWIOTLB_PERCENT,
  IO_TLB_DEFAULT_NSLABS,
  IO_TLB_MIN_SLABS,
  IO_TLB_SEGSIZE,
  IO_TLB_SIZE,
  PAGE_SIZE_BYTES,
} from "./constants";
import { limitNareas } from "./pool";

export interface SwiotlbSizingInput {
  /** memblock_phys_mem_size(): guest RAM in bytes as the kernel counts it. */
  readonly ramBytes: number;
  /** num_possible_cpus(). */
  readonly possibleCpus: number;
  /** The value of `swiotlb=` (without "swiotlb="), if the parameter is present. */
  readonly cmdline?: string;
  /** CC_ATTR_GUEST_MEM_ENCRYPT (TDX or SEV guest). Default true. */
  readonly memEncrypted?: boolean;
  /**
   * Whether some device is address-limited without encryption (x86_swiotlb_enable from RAM above
   * 4 GiB). Default: ramBytes > 4 GiB. Irrelevant in an encrypted guest, which always enables it.
   */
  readonly addressingLimit?: boolean;
  /** Early memory to place the pool in (memblock_alloc_low). */
  readonly memblock?: BootMemblock;
  /**
   * Without a memblock: the largest contiguous free block below 4 GiB, in bytes (allocation
   * succeeds when the page-aligned pool fits). Default: unlimited.
   */
  readonly lowMemFreeBytes?: number;
}

export type SwiotlbDisabledReason = "noforce" | "not-needed" | "no-low-memory";

export interface SwiotlbSizing {
  /** Whether a default pool was allocated. */
  readonly enabled: boolean;
  readonly disabledReason?: SwiotlbDisabledReason;
  /** Slots and areas of the pool (0 when disabled). */
  readonly nslabs: number;
  readonly nareas: number;
  readonly bytes: number;
  /** Where memblock placed the pool (with a memblock input), else undefined. */
  readonly base?: number;
  /** default_nslabs before the allocation fallback. */
  readonly requestedNslabs: number;
  /** default_nareas (what dynamic pools and the dynamic area walk use). */
  readonly defaultNareas: number;
  /** io_tlb_mem.force_bounce. */
  readonly forceBounce: boolean;
  /** The 6 % rule, when it ran: raw 6 % of RAM, clamped value, and whether swiotlb_adjust_size applied it. */
  readonly cocoRule?: {
    readonly sixPercentBytes: number;
    readonly clampedBytes: number;
    readonly applied: boolean;
  };
  readonly cmdline?: SwiotlbParam;
  /** Kernel log lines in boot order. */
  readonly log: readonly string[];
}

const PR = "software IO TLB: ";
const MIB = 1024 * 1024;

function checkInput(input: SwiotlbSizingInput): void {
  if (!Number.isSafeInteger(input.ramBytes) || input.ramBytes <= 0 || input.ramBytes >= 2 ** 52) {
    throw new TdxSimError(
      "E_SWIOTLB_SIZING",
      `RAM size ${String(input.ramBytes)} is invalid: 1 byte to 2^52 - 1`,
    );
  }
  if (!Number.isInteger(input.possibleCpus) || input.possibleCpus < 1 || input.possibleCpus > 8192) {
    throw new TdxSimError(
      "E_SWIOTLB_SIZING",
      `possible CPUs ${String(input.possibleCpus)} is invalid: 1 to 8192`,
    );
  }
}

/** 6 % of `bytes`, rounded down as the kernel's integer `total_mem * 6 / 100` (exact below 2^52). */
export function sixPercentOf(bytes: number): number {
  const q = Math.floor(bytes / 100);
  const r = bytes - q * 100;
  return q * COCO_SWIOTLB_PERCENT + Math.floor((r * COCO_SWIOTLB_PERCENT) / 100);
}

/** Run the boot sequence and return the default pool's size, areas and log. */
export function computeSwiotlbSizing(input: SwiotlbSizingInput): SwiotlbSizing {
  checkInput(input);
  const log: string[] = [];
  const memEncrypted = input.memEncrypted ?? true;
  // File-static state of kernel/dma/swiotlb.c.
  let defaultNslabs = IO_TLB_DEFAULT_NSLABS;
  let defaultNareas = 0;
  let forceBounce = false;
  let forceDisable = false;

  const roundUpDefaultNslabs = (): boolean => {
    if (defaultNareas === 0) return false;
    if (defaultNslabs < IO_TLB_SEGSIZE * defaultNareas) defaultNslabs = IO_TLB_SEGSIZE * defaultNareas;
    else if (isPow2(defaultNslabs)) return false;
    defaultNslabs = roundUpPow2(defaultNslabs);
    return true;
  };
  const adjustNareas = (n: number): void => {
    const nareas = n === 0 ? 1 : roundUpPow2(n);
    defaultNareas = nareas;
    log.push(`${PR}area num ${nareas}.`);
    if (roundUpDefaultNslabs()) {
      log.push(
        `${PR}SWIOTLB bounce buffer size roundup to ${Math.floor((defaultNslabs * IO_TLB_SIZE) / MIB)}MB`,
      );
    }
  };

  // 1. parse_early_param -> setup_io_tlb_npages.
  let param: SwiotlbParam | undefined;
  if (input.cmdline !== undefined) {
    param = parseSwiotlbParam(input.cmdline);
    if (param.nslabs !== undefined) defaultNslabs = param.nslabs;
    if (param.nareas !== undefined) adjustNareas(param.nareas);
    if (param.force) forceBounce = true;
    if (param.noforce) forceDisable = true;
  }

  // 2. mem_encrypt_setup_arch -> swiotlb_adjust_size(6 % of RAM clamped to [64 MiB, 1 GiB]).
  let cocoRule: SwiotlbSizing["cocoRule"];
  if (memEncrypted) {
    const six = sixPercentOf(input.ramBytes);
    const clamped = Math.min(Math.max(six, COCO_SWIOTLB_MIN_BYTES), COCO_SWIOTLB_MAX_BYTES);
    const applied = defaultNslabs === IO_TLB_DEFAULT_NSLABS;
    if (applied) {
      let size = Math.ceil(clamped / IO_TLB_SIZE) * IO_TLB_SIZE;
      defaultNslabs = alignToSegment(size / IO_TLB_SIZE);
      if (roundUpDefaultNslabs()) size = defaultNslabs * IO_TLB_SIZE;
      log.push(`${PR}SWIOTLB bounce buffer size adjusted to ${Math.floor(size / MIB)}MB`);
    }
    cocoRule = { sixPercentBytes: six, clampedBytes: clamped, applied };
  }

  // 3. pci_swiotlb_detect + swiotlb_init_remap.
  const addressingLimit = memEncrypted || (input.addressingLimit ?? input.ramBytes > 4 * 1024 * MIB);
  const base = {
    requestedNslabs: defaultNslabs,
    ...(cocoRule ? { cocoRule } : {}),
    ...(param ? { cmdline: param } : {}),
  };
  if (!addressingLimit && !forceBounce) {
    return {
      ...base,
      enabled: false,
      disabledReason: "not-needed",
      nslabs: 0,
      nareas: 0,
      bytes: 0,
      defaultNareas,
      forceBounce,
      log,
    };
  }
  if (forceDisable) {
    return {
      ...base,
      enabled: false,
      disabledReason: "noforce",
      nslabs: 0,
      nareas: 0,
      bytes: 0,
      defaultNareas,
      forceBounce,
      log,
    };
  }
  const forceBounceFinal = forceBounce || memEncrypted;
  if (defaultNareas === 0) adjustNareas(input.possibleCpus);
  const requested = defaultNslabs;
  let nslabs = defaultNslabs;
  let nareas = limitNareas(defaultNareas, nslabs);
  let placed = -1;
  for (;;) {
    const bytes = Math.ceil((nslabs * IO_TLB_SIZE) / PAGE_SIZE_BYTES) * PAGE_SIZE_BYTES;
    const at = input.memblock
      ? input.memblock.allocLow(bytes)
      : input.lowMemFreeBytes === undefined || bytes <= input.lowMemFreeBytes
        ? 0
        : -1;
    if (at >= 0) {
      placed = input.memblock ? at : -1;
      break;
    }
    log.push(`${PR}swiotlb_memblock_alloc: Failed to allocate ${bytes} bytes tlb structure`);
    if (nslabs <= IO_TLB_MIN_SLABS) {
      return {
        ...base,
        requestedNslabs: requested,
        enabled: false,
        disabledReason: "no-low-memory",
        nslabs: 0,
        nareas: 0,
        bytes: 0,
        defaultNareas,
        forceBounce: forceBounceFinal,
        log,
      };
    }
    nslabs = alignToSegment(Math.floor(nslabs / 2));
    nareas = limitNareas(nareas, nslabs);
  }
  if (defaultNslabs !== nslabs) {
    log.push(`${PR}SWIOTLB bounce buffer size adjusted ${defaultNslabs} -> ${nslabs} slabs`);
    defaultNslabs = nslabs;
  }
  const bytes = nslabs * IO_TLB_SIZE;
  log.push("PCI-DMA: Using software bounce buffering for IO (SWIOTLB)");
  if (placed >= 0) {
    const pa = (n: number) => `0x${n.toString(16).padStart(16, "0")}`;
    log.push(`${PR}mapped [mem ${pa(placed)}-${pa(placed + bytes)}] (${Math.floor(bytes / MIB)}MB)`);
  }
  return {
    ...base,
    requestedNslabs: requested,
    enabled: true,
    nslabs,
    nareas,
    bytes,
    ...(placed >= 0 ? { base: placed } : {}),
    defaultNareas,
    forceBounce: forceBounceFinal,
    log,
  };
}
