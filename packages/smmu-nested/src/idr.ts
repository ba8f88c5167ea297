/**
 * ID registers: the raw IDR0-IDR5 values a unit is built with, their decoded feature set, and the
 * model's default configuration (stage 1 + stage 2 + stall + PASIDs, as a vSVA host needs).
 *
 * @spec reference/smmu.md §1.2 (IDR0/1/3/5 fields, OAS encoding); sources: torvalds/linux
 *   drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3.h (IDR0_*, IDR1_*, IDR3_RIL, IDR5_*);
 *   qemu/qemu hw/arm/smmuv3.c smmuv3_init_regs()
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";

/** IDR0 fields. */
export const Idr0 = {
  S2P: 1 << 0,
  S1P: 1 << 1,
  TTF_SHIFT: 2,
  COHACC: 1 << 4,
  BTM: 1 << 5,
  HTTU_SHIFT: 6,
  HYP: 1 << 9,
  ATS: 1 << 10,
  NS1ATS: 1 << 11,
  ASID16: 1 << 12,
  MSI: 1 << 13,
  SEV: 1 << 14,
  ATOS: 1 << 15,
  PRI: 1 << 16,
  VMW: 1 << 17,
  VMID16: 1 << 18,
  CD2L: 1 << 19,
  TTENDIAN_SHIFT: 21,
  STALL_MODEL_SHIFT: 24,
  TERM_MODEL: 1 << 26,
  ST_LEVEL_SHIFT: 27,
} as const;

/** IDR0.TTF encodings. */
export const Ttf = { AARCH32: 1, AARCH64: 2, BOTH: 3 } as const;
/** IDR0.TTENDIAN encodings. */
export const TtEndian = { MIXED: 0, LE: 2, BE: 3 } as const;
/** IDR0.STALL_MODEL encodings. */
export const StallModel = { STALL_AND_TERMINATE: 0, TERMINATE_ONLY: 1, STALL_FORCED: 2 } as const;

/** IDR3 fields. */
export const Idr3 = {
  HAD: 1 << 2,
  XNX: 1 << 4,
  FWB: 1 << 8,
  STT: 1 << 9,
  RIL: 1 << 10,
} as const;

/** IDR5 fields. */
export const Idr5 = {
  OAS_MASK: 0x7,
  GRAN4K: 1 << 4,
  GRAN16K: 1 << 5,
  GRAN64K: 1 << 6,
  VAX_SHIFT: 10,
  STALL_MAX_SHIFT: 16,
} as const;

/**
 * OAS / IPS / S2PS encoding to a bit count: 0 -> 32, 1 -> 36, 2 -> 40, 3 -> 42, 4 -> 44, 5 -> 48,
 * 6 -> 52. Encoding 7 is reserved; callers clamp it to the unit's OAS.
 */
const PA_SIZE_BITS = [32, 36, 40, 42, 44, 48, 52] as const;
export function paSizeBits(enc: number): number {
  return PA_SIZE_BITS[enc] ?? 0;
}

/** The six ID register values a unit reports (IDR2 and IDR4 are IMPLEMENTATION DEFINED here: 0). */
export interface IdRegisterValues {
  readonly idr0: number;
  readonly idr1: number;
  readonly idr2: number;
  readonly idr3: number;
  readonly idr4: number;
  readonly idr5: number;
}

/** The decoded capabilities the model acts on. */
export interface SmmuFeatures {
  readonly s1p: boolean;
  readonly s2p: boolean;
  /** IDR0.TTF (2 = AArch64 only, 3 = both). */
  readonly ttf: number;
  readonly cohacc: boolean;
  readonly btm: boolean;
  /** IDR0.HTTU: 0 none, 1 access flag, 2 access flag + dirty. */
  readonly httu: number;
  readonly hyp: boolean;
  readonly ats: boolean;
  readonly asid16: boolean;
  readonly msi: boolean;
  readonly sev: boolean;
  readonly pri: boolean;
  readonly vmid16: boolean;
  readonly cd2l: boolean;
  readonly ttEndian: number;
  readonly stallModel: number;
  readonly termModel: boolean;
  readonly twoLevelStreamTable: boolean;
  readonly sidBits: number;
  readonly ssidBits: number;
  readonly priqLog2Max: number;
  readonly eventqLog2Max: number;
  readonly cmdqLog2Max: number;
  readonly had: boolean;
  readonly xnx: boolean;
  readonly fwb: boolean;
  readonly stt: boolean;
  readonly ril: boolean;
  /** IDR5.OAS as bits. */
  readonly oasBits: number;
  /** Input address size of the unit: OAS, or at least 40 when AArch32 tables exist. */
  readonly iasBits: number;
  readonly gran4k: boolean;
  readonly gran16k: boolean;
  readonly gran64k: boolean;
  readonly vax: number;
  readonly stallMax: number;
}

export function decodeFeatures(r: IdRegisterValues): SmmuFeatures {
  const { idr0, idr1, idr3, idr5 } = r;
  const ttf = (idr0 >>> Idr0.TTF_SHIFT) & 3;
  const oasEnc = idr5 & Idr5.OAS_MASK;
  const oasBits = oasEnc === 7 ? 48 : paSizeBits(oasEnc);
  return {
    s1p: (idr0 & Idr0.S1P) !== 0,
    s2p: (idr0 & Idr0.S2P) !== 0,
    ttf,
    cohacc: (idr0 & Idr0.COHACC) !== 0,
    btm: (idr0 & Idr0.BTM) !== 0,
    httu: (idr0 >>> Idr0.HTTU_SHIFT) & 3,
    hyp: (idr0 & Idr0.HYP) !== 0,
    ats: (idr0 & Idr0.ATS) !== 0,
    asid16: (idr0 & Idr0.ASID16) !== 0,
    msi: (idr0 & Idr0.MSI) !== 0,
    sev: (idr0 & Idr0.SEV) !== 0,
    pri: (idr0 & Idr0.PRI) !== 0,
    vmid16: (idr0 & Idr0.VMID16) !== 0,
    cd2l: (idr0 & Idr0.CD2L) !== 0,
    ttEndian: (idr0 >>> Idr0.TTENDIAN_SHIFT) & 3,
    stallModel: (idr0 >>> Idr0.STALL_MODEL_SHIFT) & 3,
    termModel: (idr0 & Idr0.TERM_MODEL) !== 0,
    twoLevelStreamTable: ((idr0 >>> Idr0.ST_LEVEL_SHIFT) & 3) === 1,
    sidBits: Math.min(idr1 & 0x3f, 32),
    ssidBits: Math.min((idr1 >>> 6) & 0x1f, 20),
    priqLog2Max: (idr1 >>> 11) & 0x1f,
    eventqLog2Max: (idr1 >>> 16) & 0x1f,
    cmdqLog2Max: (idr1 >>> 21) & 0x1f,
    had: (idr3 & Idr3.HAD) !== 0,
    xnx: (idr3 & Idr3.XNX) !== 0,
    fwb: (idr3 & Idr3.FWB) !== 0,
    stt: (idr3 & Idr3.STT) !== 0,
    ril: (idr3 & Idr3.RIL) !== 0,
    oasBits,
    iasBits: (ttf & Ttf.AARCH32) !== 0 ? Math.max(oasBits, 40) : oasBits,
    gran4k: (idr5 & Idr5.GRAN4K) !== 0,
    gran16k: (idr5 & Idr5.GRAN16K) !== 0,
    gran64k: (idr5 & Idr5.GRAN64K) !== 0,
    vax: (idr5 >>> Idr5.VAX_SHIFT) & 3,
    stallMax: idr5 >>> Idr5.STALL_MAX_SHIFT,
  };
}

/** Friendly description of a configuration; every field has a default (see DEFAULT_FEATURE_CONFIG). */
export interface FeatureConfig {
  readonly s1p?: boolean;
  readonly s2p?: boolean;
  readonly ttf?: number;
  readonly httu?: number;
  readonly hyp?: boolean;
  readonly ats?: boolean;
  readonly pri?: boolean;
  readonly asid16?: boolean;
  readonly vmid16?: boolean;
  readonly msi?: boolean;
  readonly sev?: boolean;
  readonly cd2l?: boolean;
  readonly ttEndian?: number;
  readonly stallModel?: number;
  readonly termModel?: boolean;
  readonly twoLevelStreamTable?: boolean;
  readonly sidBits?: number;
  readonly ssidBits?: number;
  readonly cmdqLog2Max?: number;
  readonly eventqLog2Max?: number;
  readonly priqLog2Max?: number;
  readonly had?: boolean;
  readonly xnx?: boolean;
  readonly stt?: boolean;
  readonly ril?: boolean;
  /** IDR5.OAS encoding (0..6). */
  readonly oas?: number;
  readonly gran4k?: boolean;
  readonly gran16k?: boolean;
  readonly gran64k?: boolean;
  readonly stallMax?: number;
}

/**
 * The model's default unit: S1P + S2P (nesting), AArch64 tables, coherent, 16-bit ASID/VMID,
 * MSI, two-level CD and stream tables, little-endian walks, stall supported (STALL_MODEL 0,
 * TERM_MODEL 0), 16-bit StreamIDs, 20-bit SubstreamIDs, 2^19-entry queues (QEMU's sizes), range
 * invalidation, all three granules, 48-bit OAS and 64 outstanding stalls.
 */
export const DEFAULT_FEATURE_CONFIG: Required<FeatureConfig> = {
  s1p: true,
  s2p: true,
  ttf: Ttf.AARCH64,
  httu: 0,
  hyp: false,
  ats: true,
  pri: true,
  asid16: true,
  vmid16: true,
  msi: true,
  sev: false,
  cd2l: true,
  ttEndian: TtEndian.LE,
  stallModel: StallModel.STALL_AND_TERMINATE,
  termModel: false,
  twoLevelStreamTable: true,
  sidBits: 16,
  ssidBits: 20,
  cmdqLog2Max: 19,
  eventqLog2Max: 19,
  priqLog2Max: 19,
  had: true,
  xnx: false,
  stt: false,
  ril: true,
  oas: 5,
  gran4k: true,
  gran16k: true,
  gran64k: true,
  stallMax: 64,
};

function bit(on: boolean, mask: number): number {
  return on ? mask : 0;
}

function checkRange(name: string, v: number, max: number): number {
  if (!Number.isInteger(v) || v < 0 || v > max) {
    throw new TdxSimError("E_SMMU_IDR", `${name} = ${String(v)} is out of range: allowed 0..${max}`);
  }
  return v;
}

/** Encode a feature configuration as ID register values. */
export function encodeIdRegisters(cfg: FeatureConfig = {}): IdRegisterValues {
  const c = { ...DEFAULT_FEATURE_CONFIG, ...cfg };
  const idr0 =
    (bit(c.s2p, Idr0.S2P) |
      bit(c.s1p, Idr0.S1P) |
      (checkRange("ttf", c.ttf, 3) << Idr0.TTF_SHIFT) |
      Idr0.COHACC |
      (checkRange("httu", c.httu, 2) << Idr0.HTTU_SHIFT) |
      bit(c.hyp, Idr0.HYP) |
      bit(c.ats, Idr0.ATS) |
      bit(c.asid16, Idr0.ASID16) |
      bit(c.msi, Idr0.MSI) |
      bit(c.sev, Idr0.SEV) |
      bit(c.pri, Idr0.PRI) |
      bit(c.vmid16, Idr0.VMID16) |
      bit(c.cd2l, Idr0.CD2L) |
      (checkRange("ttEndian", c.ttEndian, 3) << Idr0.TTENDIAN_SHIFT) |
      (checkRange("stallModel", c.stallModel, 2) << Idr0.STALL_MODEL_SHIFT) |
      bit(c.termModel, Idr0.TERM_MODEL) |
      (c.twoLevelStreamTable ? 1 << Idr0.ST_LEVEL_SHIFT : 0)) >>>
    0;
  const idr1 =
    (checkRange("sidBits", c.sidBits, 32) |
      (checkRange("ssidBits", c.ssidBits, 20) << 6) |
      (checkRange("priqLog2Max", c.priqLog2Max, 19) << 11) |
      (checkRange("eventqLog2Max", c.eventqLog2Max, 19) << 16) |
      (checkRange("cmdqLog2Max", c.cmdqLog2Max, 19) << 21)) >>>
    0;
  const idr3 =
    (bit(c.had, Idr3.HAD) | bit(c.xnx, Idr3.XNX) | bit(c.stt, Idr3.STT) | bit(c.ril, Idr3.RIL)) >>> 0;
  const idr5 =
    (checkRange("oas", c.oas, 6) |
      bit(c.gran4k, Idr5.GRAN4K) |
      bit(c.gran16k, Idr5.GRAN16K) |
      bit(c.gran64k, Idr5.GRAN64K) |
      (checkRange("stallMax", c.stallMax, 0xffff) << Idr5.STALL_MAX_SHIFT)) >>>
    0;
  return { idr0, idr1, idr2: 0, idr3, idr4: 0, idr5 };
}

/** IIDR / AIDR the model reports: implementer 0x43b (Arm), SMMUv3.1 (AIDR minor 1). */
export const MODEL_IIDR = 0x0000043b;
export const MODEL_AIDR = 0x00000001;
