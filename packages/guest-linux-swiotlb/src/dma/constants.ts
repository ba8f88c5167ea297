/**
 * DMA directions and attributes with their Linux values.
 *
 * @spec Linux include/linux/dma-direction.h (enum dma_data_direction),
 *   include/linux/dma-mapping.h (DMA_ATTR_* bits)
 */

export const DmaDirection = {
  Bidirectional: 0,
  ToDevice: 1,
  FromDevice: 2,
  None: 3,
} as const;
export type DmaDirection = (typeof DmaDirection)[keyof typeof DmaDirection];

/** Lower-case names as used in messages and on the command line. */
export const DMA_DIRECTION_NAMES: Readonly<Record<DmaDirection, string>> = {
  0: "bidirectional",
  1: "to-device",
  2: "from-device",
  3: "none",
};

/** DMA_ATTR_* bits (the subset the streaming and coherent paths look at). */
export const DmaAttr = {
  WeakOrdering: 1 << 1,
  WriteCombine: 1 << 2,
  NoKernelMapping: 1 << 4,
  SkipCpuSync: 1 << 5,
  ForceContiguous: 1 << 6,
  AllocSinglePages: 1 << 7,
  NoWarn: 1 << 8,
  Privileged: 1 << 9,
} as const;
