/**
 * A device as the guest's DMA layer sees it (the DMA-relevant part of Linux `struct device`):
 * its name for messages, DMA and coherent masks, bus limit, min_align_mask, segment boundary,
 * and the CONFIG_SWIOTLB_DYNAMIC per-device state (transient pools, dma_uses_io_tlb).
 *
 * @spec shared/reference/swiotlb.md §a (per-device state), §c (min_align_mask, segment boundary);
 *   Linux include/linux/device.h, include/linux/dma-mapping.h (DMA_BIT_MASK, dma_get_min_align_mask,
 *   dma_get_seg_boundary)
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";
import { NO_SEG_BOUNDARY, PCI_DEFAULT_SEG_BOUNDARY_MASK } from "./swiotlb/constants";
import type { IoTlbPool } from "./swiotlb/pool";
import { boundarySlotsOf } from "./swiotlb/search";

export interface DmaDeviceConfig {
  /** dev_name(), e.g. "0000:00:04.0" or "virtio0". */
  readonly name: string;
  /** dev_driver_string() for message prefixes (default "pci"). */
  readonly driver?: string;
  /** Streaming DMA mask as DMA_BIT_MASK(n), n in 1..64 (default 64). */
  readonly dmaMaskBits?: number;
  /** Coherent DMA mask bits (default: dmaMaskBits). */
  readonly coherentDmaMaskBits?: number;
  /** bus_dma_limit (0: none). */
  readonly busDmaLimit?: number;
  /** dma_parms->min_align_mask (default 0; NVMe sets 0xFFF). */
  readonly minAlignMask?: number;
  /** Segment boundary mask 2^k - 1 (default 0xFFFFFFFF as for PCI; >= 2^52 means none). */
  readonly segBoundaryMask?: number;
  /** dev_is_dma_coherent (x86: always true). */
  readonly coherent?: boolean;
}

/** Largest address the model represents; DMA masks of 52 bits or more are capped here. */
const ADDRESS_MAX = 2 ** 52 - 1;

/** DMA_BIT_MASK(n) as a number, capped at 2^52 - 1 (all addresses the model holds). */
export function dmaBitMask(bits: number): number {
  return bits >= 52 ? ADDRESS_MAX : 2 ** bits - 1;
}

/** DMA_BIT_MASK(n) as lower-case hex without 0x, as %llx prints it (exact for 64 bits). */
export function dmaBitMaskHex(bits: number): string {
  if (bits === 0) return "0";
  return ((1n << BigInt(bits)) - 1n).toString(16);
}

function checkMask(what: string, v: number, max: number): void {
  if (!Number.isSafeInteger(v) || v < 0 || v > max) {
    throw new TdxSimError(
      "E_DMA_DEVICE",
      `${what} ${String(v)} is invalid: it must be an integer in [0, ${max}]`,
    );
  }
}

export class DmaDevice {
  readonly name: string;
  readonly driver: string;
  readonly dmaMaskBits: number;
  readonly coherentDmaMaskBits: number;
  readonly dmaMask: number;
  readonly coherentDmaMask: number;
  readonly busDmaLimit: number;
  readonly minAlignMask: number;
  readonly segBoundaryMask: number;
  /** Slots per segment-boundary window (get_max_slots), 0 when the mask is all ones. */
  readonly boundarySlots: number;
  readonly coherent: boolean;
  /** CONFIG_SWIOTLB_DYNAMIC: this device's transient pools (dma_io_tlb_pools). */
  readonly transientPools: IoTlbPool[] = [];
  /** CONFIG_SWIOTLB_DYNAMIC: set on the first bounce (dma_uses_io_tlb). */
  usesIoTlb = false;

  constructor(cfg: DmaDeviceConfig) {
    if (typeof cfg.name !== "string" || cfg.name === "" || /\s/.test(cfg.name)) {
      throw new TdxSimError(
        "E_DMA_DEVICE",
        `device name "${String(cfg.name)}" is invalid: a non-empty name without spaces`,
      );
    }
    const bits = cfg.dmaMaskBits ?? 64;
    const cbits = cfg.coherentDmaMaskBits ?? bits;
    for (const [w, b] of [
      ["dmaMaskBits", bits],
      ["coherentDmaMaskBits", cbits],
    ] as const) {
      if (!Number.isInteger(b) || b < 1 || b > 64) {
        throw new TdxSimError(
          "E_DMA_DEVICE",
          `${w} ${String(b)} is invalid: DMA_BIT_MASK(n) takes n in 1..64`,
        );
      }
    }
    const minAlign = cfg.minAlignMask ?? 0;
    checkMask("minAlignMask", minAlign, 0xffff_ffff);
    const boundary = cfg.segBoundaryMask ?? PCI_DEFAULT_SEG_BOUNDARY_MASK;
    if (boundary < NO_SEG_BOUNDARY) {
      checkMask("segBoundaryMask", boundary, NO_SEG_BOUNDARY);
      if (boundary < 2047 || !Number.isInteger(Math.log2(boundary + 1))) {
        throw new TdxSimError(
          "E_DMA_DEVICE",
          `segBoundaryMask ${boundary.toString(16)} is invalid: it must be 2^k - 1 with k >= 11`,
        );
      }
    }
    const bus = cfg.busDmaLimit ?? 0;
    checkMask("busDmaLimit", bus, ADDRESS_MAX);
    this.name = cfg.name;
    this.driver = cfg.driver ?? "pci";
    this.dmaMaskBits = bits;
    this.coherentDmaMaskBits = cbits;
    this.dmaMask = dmaBitMask(bits);
    this.coherentDmaMask = dmaBitMask(cbits);
    this.busDmaLimit = bus;
    this.minAlignMask = minAlign;
    this.segBoundaryMask = boundary;
    this.boundarySlots = boundarySlotsOf(boundary);
    this.coherent = cfg.coherent ?? true;
  }

  /** min_not_zero(*dev->dma_mask, dev->bus_dma_limit): the highest address a streaming DMA may reach. */
  dmaLimit(): number {
    return this.busDmaLimit === 0 ? this.dmaMask : Math.min(this.dmaMask, this.busDmaLimit);
  }

  /** The same for coherent allocations. */
  coherentLimit(): number {
    return this.busDmaLimit === 0 ? this.coherentDmaMask : Math.min(this.coherentDmaMask, this.busDmaLimit);
  }

  /** dev_printk prefix: "<driver> <name>: ". */
  prefix(): string {
    return `${this.driver} ${this.name}: `;
  }
}
