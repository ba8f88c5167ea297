/**
 * The register file of an SMMUv3 programming interface (pages 0 and 1): storage, read-only and
 * write-masked fields, CR0 -> CR0ACK, GBPA's UPDATE handshake, IRQ_CTRL -> IRQ_CTRLACK, the
 * GERROR/GERRORN toggle protocol, queue pointers (writable by software only on its own side or
 * while the queue is disabled). Side effects (consuming commands, ...) go to hooks, so the
 * physical unit and the vSMMU front end share this file.
 *
 * @spec reference/smmu.md §1.1 (register map; page 1 holds EVENTQ/PRIQ PROD/CONS, QEMU aliases
 *   them in page 0), §1.3 (CR0ACK, GBPA UPDATE, GERROR/GERRORN), §1.4 (queue pointers); sources:
 *   qemu/qemu hw/arm/smmuv3.c (smmu_writel/smmu_readl, smmuv3_write_gerrorn)
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";
import type { IdRegisterValues } from "./idr";
import { MODEL_AIDR, MODEL_IIDR } from "./idr";
import {
  CMDQ_ENTRY_BYTES,
  EVENTQ_ENTRY_BYTES,
  PRIQ_ENTRY_BYTES,
  ptrMask,
  type QueueGeometry,
  queueGeometry,
} from "./queue";
import {
  CMDQ_CONS_ERR_MASK,
  CMDQ_CONS_ERR_SHIFT,
  CR0_WRITABLE,
  CR1_WRITABLE,
  CR2_WRITABLE,
  Cr0,
  Gbpa,
  GERROR_MASK,
  Gerror,
  Q_OVERFLOW_FLAG,
  REG_PAGE_SIZE,
  REG_SPACE_SIZE,
  Reg,
  STRTAB_BASE_CFG_WRITABLE,
} from "./regs";

export interface RegisterHooks {
  /** CR0 was written (CR0ACK already follows). */
  cr0Written(prev: number, next: number): void;
  /** Software advanced CMDQ_PROD. */
  cmdqProdWritten(): void;
  /** GERRORN was written; `cmdqErrCleared` when that ended an active CMDQ_ERR. */
  gerrornWritten(cmdqErrCleared: boolean): void;
  /** STRTAB_BASE or STRTAB_BASE_CFG changed. */
  strtabWritten(): void;
}

export interface RegisterFileOptions {
  /** Answer EVENTQ/PRIQ PROD/CONS also at their page-0 offsets (0xA8...), as QEMU does. Default true. */
  readonly page0QueueAlias: boolean;
  readonly gbpaReset: number;
  /** IDR1 maxima for queue sizes. */
  readonly cmdqLog2Max: number;
  readonly eventqLog2Max: number;
  readonly priqLog2Max: number;
}

const Q_BASE_HI_MASK = 0x400fffff; // RA[62], ADDR[51:32]
const STRTAB_LO_MASK = 0xffffffc0;
const QBASE_LO_MASK = 0xffffffff; // ADDR[31:5] + LOG2SIZE[4:0]
const MSI_LO_MASK = 0xfffffffc;
const MSI_HI_MASK = 0x000fffff;

export class RegisterFile {
  readonly idr: Uint32Array;
  cr0 = 0;
  cr1 = 0;
  cr2 = 0;
  gbpa: number;
  irqCtrl = 0;
  gerror = 0;
  gerrorn = 0;
  /** GERROR_IRQ_CFG0 (lo, hi), CFG1, CFG2; same for EVENTQ and PRIQ. */
  readonly gerrorIrq = new Uint32Array(4);
  readonly eventqIrq = new Uint32Array(4);
  readonly priqIrq = new Uint32Array(4);
  strtabBaseLo = 0;
  strtabBaseHi = 0;
  strtabBaseCfg = 0;
  cmdqBaseLo = 0;
  cmdqBaseHi = 0;
  cmdqProd = 0;
  cmdqCons = 0;
  cmdqErr = 0;
  eventqBaseLo = 0;
  eventqBaseHi = 0;
  eventqProd = 0;
  eventqCons = 0;
  priqBaseLo = 0;
  priqBaseHi = 0;
  priqProd = 0;
  priqCons = 0;

  constructor(
    idr: IdRegisterValues,
    private readonly opts: RegisterFileOptions,
    private readonly hooks: RegisterHooks,
  ) {
    this.idr = Uint32Array.of(idr.idr0, idr.idr1, idr.idr2, idr.idr3, idr.idr4, idr.idr5);
    this.gbpa = opts.gbpaReset & Gbpa.FIELDS_MASK;
  }

  get cmdq(): QueueGeometry {
    return queueGeometry(this.cmdqBaseLo, this.cmdqBaseHi, this.opts.cmdqLog2Max, CMDQ_ENTRY_BYTES);
  }
  get eventq(): QueueGeometry {
    return queueGeometry(this.eventqBaseLo, this.eventqBaseHi, this.opts.eventqLog2Max, EVENTQ_ENTRY_BYTES);
  }
  get priq(): QueueGeometry {
    return queueGeometry(this.priqBaseLo, this.priqBaseHi, this.opts.priqLog2Max, PRIQ_ENTRY_BYTES);
  }
  /** STRTAB_BASE.ADDR[51:6]. */
  get strtabBase(): number {
    return (this.strtabBaseHi & 0xfffff) * 4294967296 + ((this.strtabBaseLo & STRTAB_LO_MASK) >>> 0);
  }
  /** Whether CMDQ_ERR is active (GERROR and GERRORN differ in bit 0). */
  get cmdqErrActive(): boolean {
    return ((this.gerror ^ this.gerrorn) & Gerror.CMDQ_ERR) !== 0;
  }
  /** Raise global errors: toggle GERROR bits that are not already active; returns the bits raised. */
  raiseGerror(bits: number): number {
    const active = this.gerror ^ this.gerrorn;
    const fresh = bits & ~active & GERROR_MASK;
    this.gerror = (this.gerror ^ fresh) >>> 0;
    return fresh;
  }

  private check(off: number, size: number): void {
    if (!Number.isInteger(off) || off < 0 || off + size > REG_SPACE_SIZE || off % size !== 0) {
      throw new TdxSimError(
        "E_SMMU_REG_OFFSET",
        `register offset ${String(off)} (size ${size}) is not a naturally aligned offset within the two 64 KiB register pages (0x0-0x1ffff)`,
      );
    }
  }

  /** Page-1 offsets of the queue registers, and (with the alias) their page-0 twins, to one key. */
  private canon(off: number): number {
    if (off >= REG_PAGE_SIZE) {
      const o = off - REG_PAGE_SIZE;
      return o === 0xa8 || o === 0xac || o === 0xc8 || o === 0xcc ? off : -1;
    }
    if (this.opts.page0QueueAlias && (off === 0xa8 || off === 0xac || off === 0xc8 || off === 0xcc))
      return off + REG_PAGE_SIZE;
    return off;
  }

  read32(offset: number): number {
    return this.readRaw(offset) >>> 0;
  }

  private readRaw(offset: number): number {
    this.check(offset, 4);
    const off = this.canon(offset);
    switch (off) {
      case Reg.IDR0:
      case Reg.IDR1:
      case Reg.IDR2:
      case Reg.IDR3:
      case Reg.IDR4:
      case Reg.IDR5:
        return this.idr[off >>> 2]!;
      case Reg.IIDR:
        return MODEL_IIDR;
      case Reg.AIDR:
        return MODEL_AIDR;
      case Reg.CR0:
      case Reg.CR0ACK:
        return this.cr0;
      case Reg.CR1:
        return this.cr1;
      case Reg.CR2:
        return this.cr2;
      case Reg.GBPA:
        return this.gbpa;
      case Reg.IRQ_CTRL:
      case Reg.IRQ_CTRLACK:
        return this.irqCtrl;
      case Reg.GERROR:
        return this.gerror;
      case Reg.GERRORN:
        return this.gerrorn;
      case Reg.GERROR_IRQ_CFG0:
      case Reg.GERROR_IRQ_CFG0 + 4:
      case Reg.GERROR_IRQ_CFG1:
      case Reg.GERROR_IRQ_CFG2:
        return this.gerrorIrq[(off - Reg.GERROR_IRQ_CFG0) >>> 2]!;
      case Reg.STRTAB_BASE:
        return this.strtabBaseLo;
      case Reg.STRTAB_BASE + 4:
        return this.strtabBaseHi;
      case Reg.STRTAB_BASE_CFG:
        return this.strtabBaseCfg;
      case Reg.CMDQ_BASE:
        return this.cmdqBaseLo;
      case Reg.CMDQ_BASE + 4:
        return this.cmdqBaseHi;
      case Reg.CMDQ_PROD:
        return this.cmdqProd;
      case Reg.CMDQ_CONS:
        return (this.cmdqCons | (this.cmdqErr << CMDQ_CONS_ERR_SHIFT)) >>> 0;
      case Reg.EVENTQ_BASE:
        return this.eventqBaseLo;
      case Reg.EVENTQ_BASE + 4:
        return this.eventqBaseHi;
      case Reg.EVENTQ_PROD:
        return this.eventqProd;
      case Reg.EVENTQ_CONS:
        return this.eventqCons;
      case Reg.EVENTQ_IRQ_CFG0:
      case Reg.EVENTQ_IRQ_CFG0 + 4:
      case Reg.EVENTQ_IRQ_CFG1:
      case Reg.EVENTQ_IRQ_CFG2:
        return this.eventqIrq[(off - Reg.EVENTQ_IRQ_CFG0) >>> 2]!;
      case Reg.PRIQ_BASE:
        return this.priqBaseLo;
      case Reg.PRIQ_BASE + 4:
        return this.priqBaseHi;
      case Reg.PRIQ_PROD:
        return this.priqProd;
      case Reg.PRIQ_CONS:
        return this.priqCons;
      case Reg.PRIQ_IRQ_CFG0:
      case Reg.PRIQ_IRQ_CFG0 + 4:
      case Reg.PRIQ_IRQ_CFG1:
      case Reg.PRIQ_IRQ_CFG2:
        return this.priqIrq[(off - Reg.PRIQ_IRQ_CFG0) >>> 2]!;
      default:
        return 0;
    }
  }

  write32(offset: number, value: number): void {
    this.check(offset, 4);
    const off = this.canon(offset);
    const v = value >>> 0;
    switch (off) {
      case Reg.CR0: {
        const prev = this.cr0;
        this.cr0 = v & CR0_WRITABLE;
        this.hooks.cr0Written(prev, this.cr0);
        return;
      }
      case Reg.CR1:
        this.cr1 = v & CR1_WRITABLE;
        return;
      case Reg.CR2:
        this.cr2 = v & CR2_WRITABLE;
        return;
      case Reg.GBPA:
        // Only a write with UPDATE set changes GBPA; the update completes at once (UPDATE reads 0).
        if ((v & Gbpa.UPDATE) !== 0) this.gbpa = v & Gbpa.FIELDS_MASK;
        return;
      case Reg.IRQ_CTRL:
        this.irqCtrl = v & 0x7;
        return;
      case Reg.GERRORN: {
        const wasActive = this.cmdqErrActive;
        this.gerrorn = v & GERROR_MASK;
        this.hooks.gerrornWritten(wasActive && !this.cmdqErrActive);
        return;
      }
      case Reg.GERROR_IRQ_CFG0:
      case Reg.EVENTQ_IRQ_CFG0:
      case Reg.PRIQ_IRQ_CFG0:
        this.irqCfg(off)[0] = v & MSI_LO_MASK;
        return;
      case Reg.GERROR_IRQ_CFG0 + 4:
      case Reg.EVENTQ_IRQ_CFG0 + 4:
      case Reg.PRIQ_IRQ_CFG0 + 4:
        this.irqCfg(off - 4)[1] = v & MSI_HI_MASK;
        return;
      case Reg.GERROR_IRQ_CFG1:
      case Reg.EVENTQ_IRQ_CFG1:
      case Reg.PRIQ_IRQ_CFG1:
        this.irqCfg(off - 8)[2] = v;
        return;
      case Reg.GERROR_IRQ_CFG2:
      case Reg.EVENTQ_IRQ_CFG2:
      case Reg.PRIQ_IRQ_CFG2:
        this.irqCfg(off - 12)[3] = v & 0x3f;
        return;
      case Reg.STRTAB_BASE:
        this.strtabBaseLo = v & STRTAB_LO_MASK;
        this.hooks.strtabWritten();
        return;
      case Reg.STRTAB_BASE + 4:
        this.strtabBaseHi = v & Q_BASE_HI_MASK;
        this.hooks.strtabWritten();
        return;
      case Reg.STRTAB_BASE_CFG:
        this.strtabBaseCfg = v & STRTAB_BASE_CFG_WRITABLE;
        this.hooks.strtabWritten();
        return;
      case Reg.CMDQ_BASE:
        this.cmdqBaseLo = v & QBASE_LO_MASK;
        return;
      case Reg.CMDQ_BASE + 4:
        this.cmdqBaseHi = v & Q_BASE_HI_MASK;
        return;
      case Reg.CMDQ_PROD:
        this.cmdqProd = v & ptrMask(this.cmdq.log2);
        this.hooks.cmdqProdWritten();
        return;
      case Reg.CMDQ_CONS:
        // The SMMU owns CONS while the queue is enabled.
        if ((this.cr0 & Cr0.CMDQEN) === 0) {
          this.cmdqCons = v & ptrMask(this.cmdq.log2);
          this.cmdqErr = (v >>> CMDQ_CONS_ERR_SHIFT) & CMDQ_CONS_ERR_MASK;
        }
        return;
      case Reg.EVENTQ_BASE:
        this.eventqBaseLo = v & QBASE_LO_MASK;
        return;
      case Reg.EVENTQ_BASE + 4:
        this.eventqBaseHi = v & Q_BASE_HI_MASK;
        return;
      case Reg.EVENTQ_PROD:
        if ((this.cr0 & Cr0.EVENTQEN) === 0)
          this.eventqProd = ((v & ptrMask(this.eventq.log2)) | (v & Q_OVERFLOW_FLAG)) >>> 0;
        return;
      case Reg.EVENTQ_CONS:
        this.eventqCons = ((v & ptrMask(this.eventq.log2)) | (v & Q_OVERFLOW_FLAG)) >>> 0;
        return;
      case Reg.PRIQ_BASE:
        this.priqBaseLo = v & QBASE_LO_MASK;
        return;
      case Reg.PRIQ_BASE + 4:
        this.priqBaseHi = v & Q_BASE_HI_MASK;
        return;
      case Reg.PRIQ_PROD:
        if ((this.cr0 & Cr0.PRIQEN) === 0)
          this.priqProd = ((v & ptrMask(this.priq.log2)) | (v & Q_OVERFLOW_FLAG)) >>> 0;
        return;
      case Reg.PRIQ_CONS:
        this.priqCons = ((v & ptrMask(this.priq.log2)) | (v & Q_OVERFLOW_FLAG)) >>> 0;
        return;
      default:
        // IDRs, IIDR, AIDR, CR0ACK, IRQ_CTRLACK, GERROR, STATUSR and unassigned offsets: RO / RAZ-WI.
        return;
    }
  }

  private irqCfg(base: number): Uint32Array {
    return base === Reg.GERROR_IRQ_CFG0
      ? this.gerrorIrq
      : base === Reg.EVENTQ_IRQ_CFG0
        ? this.eventqIrq
        : this.priqIrq;
  }

  /** 64-bit read as [lo, hi] (two 32-bit reads: lo at `off`, hi at `off + 4`). */
  read64(off: number): [number, number] {
    this.check(off, 8);
    return [this.read32(off), this.read32(off + 4)];
  }
  write64(off: number, lo: number, hi: number): void {
    this.check(off, 8);
    this.write32(off, lo);
    this.write32(off + 4, hi);
  }
}
