/**
 * SMMUv3 register map: offsets within the two 64 KiB register pages and the bit fields of the
 * control registers. Numbers only; behaviour lives in smmu.ts and queue.ts.
 *
 * @spec reference/smmu.md §1.1 (register page 0), §1.3 (control semantics); sources:
 *   torvalds/linux drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h (ARM_SMMU_* offsets, CR0_*, CR2_*,
 *   GBPA_*, GERROR_*, Q_* masks); qemu/qemu hw/arm/smmuv3-internal.h (REG32 map)
 */

/** Offsets in register page 0 (page 1 starts at 0x10000). */
export const Reg = {
  IDR0: 0x000,
  IDR1: 0x004,
  IDR2: 0x008,
  IDR3: 0x00c,
  IDR4: 0x010,
  IDR5: 0x014,
  IIDR: 0x018,
  AIDR: 0x01c,
  CR0: 0x020,
  CR0ACK: 0x024,
  CR1: 0x028,
  CR2: 0x02c,
  STATUSR: 0x040,
  GBPA: 0x044,
  AGBPA: 0x048,
  IRQ_CTRL: 0x050,
  IRQ_CTRLACK: 0x054,
  GERROR: 0x060,
  GERRORN: 0x064,
  /** 64-bit: MSI address [51:2]. */
  GERROR_IRQ_CFG0: 0x068,
  GERROR_IRQ_CFG1: 0x070,
  GERROR_IRQ_CFG2: 0x074,
  /** 64-bit: RA[62], ADDR[51:6]. */
  STRTAB_BASE: 0x080,
  STRTAB_BASE_CFG: 0x088,
  /** 64-bit: RA[62], ADDR[51:5], LOG2SIZE[4:0]. */
  CMDQ_BASE: 0x090,
  CMDQ_PROD: 0x098,
  CMDQ_CONS: 0x09c,
  EVENTQ_BASE: 0x0a0,
  EVENTQ_IRQ_CFG0: 0x0b0,
  EVENTQ_IRQ_CFG1: 0x0b8,
  EVENTQ_IRQ_CFG2: 0x0bc,
  PRIQ_BASE: 0x0c0,
  PRIQ_IRQ_CFG0: 0x0d0,
  PRIQ_IRQ_CFG1: 0x0d8,
  PRIQ_IRQ_CFG2: 0x0dc,
  /** Page 1: the event and PRI queue producer/consumer registers. */
  EVENTQ_PROD: 0x100a8,
  EVENTQ_CONS: 0x100ac,
  PRIQ_PROD: 0x100c8,
  PRIQ_CONS: 0x100cc,
} as const;

/** Size of one register page; the unit decodes two of them. */
export const REG_PAGE_SIZE = 0x10000;
export const REG_SPACE_SIZE = 2 * REG_PAGE_SIZE;

/** Registers that are 64 bits wide (a 32-bit access reaches one half). */
export const REG64_OFFSETS: readonly number[] = [
  Reg.GERROR_IRQ_CFG0,
  Reg.STRTAB_BASE,
  Reg.CMDQ_BASE,
  Reg.EVENTQ_BASE,
  Reg.EVENTQ_IRQ_CFG0,
  Reg.PRIQ_BASE,
  Reg.PRIQ_IRQ_CFG0,
];

/** CR0 / CR0ACK bits. */
export const Cr0 = {
  SMMUEN: 1 << 0,
  PRIQEN: 1 << 1,
  EVENTQEN: 1 << 2,
  CMDQEN: 1 << 3,
  ATSCHK: 1 << 4,
  /** VMW[8:6]: VMID wildcard (VMID matching), stored only. */
  VMW_MASK: 0x7 << 6,
} as const;
export const CR0_WRITABLE = Cr0.SMMUEN | Cr0.PRIQEN | Cr0.EVENTQEN | Cr0.CMDQEN | Cr0.ATSCHK | Cr0.VMW_MASK;

/** CR1: QUEUE_IC/OC/SH[5:0], TABLE_IC/OC/SH[11:6] (stored, attributes are not modelled). */
export const CR1_WRITABLE = 0xfff;

/** CR2 bits. */
export const Cr2 = {
  E2H: 1 << 0,
  /** Record C_BAD_STREAMID events. */
  RECINVSID: 1 << 1,
  /** Private TLB maintenance: ignore broadcast TLB invalidations. */
  PTM: 1 << 2,
} as const;
export const CR2_WRITABLE = Cr2.E2H | Cr2.RECINVSID | Cr2.PTM;

/** GBPA: global bypass attributes, used while SMMUEN = 0. */
export const Gbpa = {
  ABORT: 1 << 20,
  UPDATE: 0x80000000,
  /** Every attribute field below UPDATE (MemAttr, MTCFG, ALLOCCFG, SHCFG, PRIVCFG, INSTCFG, ABORT). */
  FIELDS_MASK: 0x001fffff,
} as const;

/**
 * GBPA reset value: bypass, SHCFG = 0b01 (use incoming). The architecture leaves the reset value
 * IMPLEMENTATION DEFINED; this is QEMU's (SMMU_GBPA_RESET_VAL).
 * @spec reference/smmu.md §1.1 ("QEMU's GBPA reset value means bypass with incoming attributes")
 */
export const GBPA_RESET_QEMU = 0x00001000;

/** IRQ_CTRL bits. */
export const IrqCtrl = {
  GERROR_IRQEN: 1 << 0,
  PRIQ_IRQEN: 1 << 1,
  EVENTQ_IRQEN: 1 << 2,
} as const;

/** GERROR / GERRORN bits: an error is active while the two registers' bits differ. */
export const Gerror = {
  CMDQ_ERR: 1 << 0,
  EVENTQ_ABT_ERR: 1 << 2,
  PRIQ_ABT_ERR: 1 << 3,
  MSI_CMDQ_ABT_ERR: 1 << 4,
  MSI_EVENTQ_ABT_ERR: 1 << 5,
  MSI_PRIQ_ABT_ERR: 1 << 6,
  MSI_GERROR_ABT_ERR: 1 << 7,
  SFM_ERR: 1 << 8,
} as const;
/** The GERROR bits that exist (Linux GERROR_ERR_MASK). */
export const GERROR_MASK = 0x1fd;

/** STRTAB_BASE_CFG fields. */
export const StrtabCfg = {
  LOG2SIZE_MASK: 0x3f,
  SPLIT_SHIFT: 6,
  SPLIT_MASK: 0x1f,
  FMT_SHIFT: 16,
  FMT_MASK: 0x3,
  FMT_LINEAR: 0,
  FMT_2LVL: 1,
} as const;
export const STRTAB_BASE_CFG_WRITABLE = 0x3ffff;

/** Queue base register low-word fields: LOG2SIZE[4:0], ADDR[51:5]. */
export const QBASE_LOG2SIZE_MASK = 0x1f;
/** Queue PROD/CONS flag bits. */
export const Q_OVERFLOW_FLAG = 0x80000000;
/** CMDQ_CONS.ERR[30:24]: the CERROR code of the command at CONS. */
export const CMDQ_CONS_ERR_SHIFT = 24;
export const CMDQ_CONS_ERR_MASK = 0x7f;

/** MSI configuration: CFG0 ADDR[51:2]; CFG1 = data. */
export const MSI_ADDR_LOW_MASK = 0xfffffffc;
