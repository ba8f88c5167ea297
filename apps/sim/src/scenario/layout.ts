/**
 * Where things are in the default scenario: the TD's guest-physical layout (kernel text, driver
 * buffers, the SWIOTLB pool's early-memory range, coherent and atomic pools, a secret page for the
 * security probe), the device's MMIO window, its requester ID, and the kernel-text slots holding
 * the instructions the driver's MMIO accessors execute (the #VE handler decodes them at RIP).
 *
 * The GPAs are the model's choice (a small 8 MiB TD, so a run is fast); nothing in the layers
 * depends on them. The MMIO window sits at 0xFEB00000 below 4 GiB as QEMU places PCI BARs in its
 * 32-bit MMIO hole; its GPA carries the TD's shared bit (MMIO is shared memory).
 */
import { IO_TLB_SEGSIZE, IO_TLB_SIZE } from "@tdx/guest-linux-swiotlb";

export const KIB = 1024;
export const MIB = 1024 * KIB;
export const PAGE = 4096;

/** The largest single mapping SWIOTLB allows: IO_TLB_SEGSIZE slots of IO_TLB_SIZE (256 KiB). */
export const MAX_DMA_SIZE = IO_TLB_SEGSIZE * IO_TLB_SIZE;

/** Guest-physical layout of the TD (private unless converted). */
export const TdLayout = {
  /** Kernel text: the MMIO accessor instructions (one measured page). */
  CODE: 0x10_0000,
  /** The driver's private transmit and receive buffers (MAX_DMA_SIZE each). */
  TX_BUF: 0x20_0000,
  RX_BUF: 0x24_0000,
  /** A private page holding a secret the security probe aims at. */
  SECRET: 0x28_0000,
  /** Pages dma_alloc_coherent takes (the buddy allocator's range, 64 KiB). */
  COHERENT: 0x30_0000,
  COHERENT_BYTES: 64 * KIB,
  /** The atomic DMA pool (Linux's default for a TD under 1 GiB: 128 KiB). */
  ATOMIC: 0x38_0000,
  ATOMIC_BYTES: 128 * KIB,
  /** memblock's free range: the 1 MiB SWIOTLB pool is placed here (top down). */
  SWIOTLB_LOW: 0x40_0000,
  SWIOTLB_HIGH: 0x50_0000,
  /** End of guest RAM (exclusive). */
  RAM_TOP: 0x80_0000,
} as const;

/** `swiotlb=512` on the TD's command line: 512 slabs of 2 KiB, a 1 MiB pool. */
export const SWIOTLB_CMDLINE = "512";

/** The device's MMIO window (without the shared bit) and its 4 KiB size. */
export const DEVICE_MMIO_BASE = 0xfeb0_0000;
export const DEVICE_MMIO_SIZE = PAGE;

/** PCI requester ID of the device: bus 0, device 4, function 0 (0000:00:04.0). */
export const DEVICE_SID = (0 << 8) | (4 << 3) | 0;
export const DEVICE_BDF = "0000:00:04.0";

/**
 * Kernel-text slots (offsets in CODE) of the instructions the io.h accessors compile to, with
 * their bytes: writeq = `mov [rdi],rax`, writel = `mov [rdi],eax`, readl = `mov eax,[rdi]`.
 * @spec Intel SDM Vol. 2 MOV (89 /r, 8B /r, REX.W); Linux arch/x86/include/asm/io.h build_mmio_*
 */
export const MmioInsn = {
  WRITEQ: { offset: 0x00, bytes: [0x48, 0x89, 0x07] },
  WRITEL: { offset: 0x10, bytes: [0x89, 0x07] },
  READL: { offset: 0x20, bytes: [0x8b, 0x07] },
} as const;

/** The kernel text page: the accessor instructions at their slots, NOPs elsewhere. */
export function kernelText(): Uint8Array {
  const text = new Uint8Array(PAGE).fill(0x90);
  for (const i of Object.values(MmioInsn)) text.set(i.bytes, i.offset);
  return text;
}

/** Ranges of private RAM the host PAGE.ADDs before finalizing (start, end exclusive). */
export function initialPrivateRanges(): readonly (readonly [number, number])[] {
  const L = TdLayout;
  return [
    [L.TX_BUF, L.RX_BUF + MAX_DMA_SIZE],
    [L.SECRET, L.SECRET + PAGE],
    [L.COHERENT, L.COHERENT + L.COHERENT_BYTES],
    [L.ATOMIC, L.ATOMIC + L.ATOMIC_BYTES],
    [L.SWIOTLB_LOW, L.SWIOTLB_HIGH],
  ];
}
