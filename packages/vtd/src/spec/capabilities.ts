/**
 * CAP and ECAP: decoding the 64-bit capability registers into the fields the model acts on, and
 * composing them from a readable profile. CAP/ECAP are bigint at this ABI edge only; everything
 * else works from the decoded numbers.
 *
 * @spec reference/vtd.md §1.2 (CAP bits, Linux cap_* macros, QEMU VTD_CAP_*) and §1.3 (ECAP bits,
 *   Linux ecap_* macros, QEMU VTD_ECAP_*)
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";

const bit = (v: bigint, n: number): boolean => ((v >> BigInt(n)) & 1n) === 1n;
const field = (v: bigint, hi: number, lo: number): number =>
  Number((v >> BigInt(lo)) & ((1n << BigInt(hi - lo + 1)) - 1n));

/** CAP, decoded. */
export interface VtdCap {
  readonly raw: bigint;
  /** ND [2:0]: number of domain-id bits = 4 + 2*ND. */
  readonly nd: number;
  readonly didBits: number;
  readonly afl: boolean;
  readonly rwbf: boolean;
  readonly plmr: boolean;
  readonly phmr: boolean;
  /** CM bit 7: caching mode. */
  readonly cm: boolean;
  /** SAGAW [12:8] bitmap: bit1 = 3-level, bit2 = 4-level, bit3 = 5-level. */
  readonly sagaw: number;
  /** MGAW [21:16] + 1: maximum guest address width in bits. */
  readonly mgaw: number;
  readonly zlr: boolean;
  /** FRO [33:24]: first FRCD offset in 16-byte units. */
  readonly fro: number;
  /** SLLPS [37:34]: bit 0 = 2 MiB, bit 1 = 1 GiB second-stage superpages. */
  readonly sllps: number;
  readonly psi: boolean;
  /** NFR [47:40] + 1: number of fault recording registers. */
  readonly nfr: number;
  /** MAMV [53:48]. */
  readonly mamv: number;
  readonly dwd: boolean;
  readonly drd: boolean;
  readonly fs1gp: boolean;
  readonly pi: boolean;
  readonly fs5lp: boolean;
  readonly ecmds: boolean;
  readonly esirtps: boolean;
  readonly esrtps: boolean;
}

/** ECAP, decoded. */
export interface VtdEcap {
  readonly raw: bigint;
  readonly c: boolean;
  readonly qi: boolean;
  readonly dt: boolean;
  readonly ir: boolean;
  readonly eim: boolean;
  readonly pt: boolean;
  readonly sc: boolean;
  /** IRO [17:8]: IOTLB register offset in 16-byte units. */
  readonly iro: number;
  readonly mhmv: number;
  readonly mts: boolean;
  readonly nest: boolean;
  readonly prs: boolean;
  readonly ers: boolean;
  readonly srs: boolean;
  readonly nwfs: boolean;
  readonly eafs: boolean;
  /** PSS [39:35]: PASID width = PSS + 1 bits. */
  readonly pss: number;
  readonly pasid: boolean;
  readonly dit: boolean;
  readonly pds: boolean;
  readonly smts: boolean;
  readonly vcs: boolean;
  readonly ssads: boolean;
  readonly ssts: boolean;
  readonly fsts: boolean;
  readonly smpwcs: boolean;
  readonly rps: boolean;
  /** Bit 50: TDX Connect support (per the TDX Connect Linux patches). */
  readonly tdxcs: boolean;
  readonly pms: boolean;
}

export function decodeCap(raw: bigint): VtdCap {
  const nd = field(raw, 2, 0);
  return {
    raw,
    nd,
    didBits: 4 + 2 * nd,
    afl: bit(raw, 3),
    rwbf: bit(raw, 4),
    plmr: bit(raw, 5),
    phmr: bit(raw, 6),
    cm: bit(raw, 7),
    sagaw: field(raw, 12, 8),
    mgaw: field(raw, 21, 16) + 1,
    zlr: bit(raw, 22),
    fro: field(raw, 33, 24),
    sllps: field(raw, 37, 34),
    psi: bit(raw, 39),
    nfr: field(raw, 47, 40) + 1,
    mamv: field(raw, 53, 48),
    dwd: bit(raw, 54),
    drd: bit(raw, 55),
    fs1gp: bit(raw, 56),
    pi: bit(raw, 59),
    fs5lp: bit(raw, 60),
    ecmds: bit(raw, 61),
    esirtps: bit(raw, 62),
    esrtps: bit(raw, 63),
  };
}

export function decodeEcap(raw: bigint): VtdEcap {
  return {
    raw,
    c: bit(raw, 0),
    qi: bit(raw, 1),
    dt: bit(raw, 2),
    ir: bit(raw, 3),
    eim: bit(raw, 4),
    pt: bit(raw, 6),
    sc: bit(raw, 7),
    iro: field(raw, 17, 8),
    mhmv: field(raw, 23, 20),
    mts: bit(raw, 25),
    nest: bit(raw, 26),
    prs: bit(raw, 29),
    ers: bit(raw, 30),
    srs: bit(raw, 31),
    nwfs: bit(raw, 33),
    eafs: bit(raw, 34),
    pss: field(raw, 39, 35),
    pasid: bit(raw, 40),
    dit: bit(raw, 41),
    pds: bit(raw, 42),
    smts: bit(raw, 43),
    vcs: bit(raw, 44),
    ssads: bit(raw, 45),
    ssts: bit(raw, 46),
    fsts: bit(raw, 47),
    smpwcs: bit(raw, 48),
    rps: bit(raw, 49),
    tdxcs: bit(raw, 50),
    pms: bit(raw, 51),
  };
}

/** A readable description of a unit's capabilities, composed into CAP/ECAP by `composeCapabilities`. */
export interface VtdProfile {
  /** Domain-id bits: 4, 6, 8, 10, 12, 14 or 16 (CAP.ND). Default 16. */
  readonly domainIdBits?: number;
  /** Supported second-stage levels (CAP.SAGAW). Default [3, 4]. */
  readonly levels?: readonly (3 | 4 | 5)[];
  /** Maximum guest address width in bits (CAP.MGAW + 1). Default 48. */
  readonly mgaw?: number;
  /** Second-stage superpages (CAP.SLLPS). Default both. */
  readonly superpages?: { readonly twoMiB: boolean; readonly oneGiB: boolean };
  /** CAP.CM. Default false. */
  readonly cachingMode?: boolean;
  /** CAP.RWBF. Default false. */
  readonly requiredWriteBufferFlush?: boolean;
  /** Number of fault recording registers (CAP.NFR + 1). Default 1 (QEMU). */
  readonly faultRecords?: number;
  /** Register offset of FRCD[0] in bytes, a multiple of 16 (CAP.FRO*16). Default 0x220 (QEMU). */
  readonly frcdOffset?: number;
  /** Register offset of the IOTLB register pair, a multiple of 16 (ECAP.IRO*16). Default 0xF0 (QEMU). */
  readonly iotlbOffset?: number;
  /** CAP.PSI and CAP.MAMV. Default PSI with MAMV 18 (QEMU). */
  readonly pageSelectiveInvalidation?: boolean;
  readonly maxAddressMask?: number;
  /** CAP.DRD/DWD. Default true (QEMU dma-drain=on). */
  readonly drain?: boolean;
  /** CAP.ESRTPS: SRTP also invalidates the DMA-remapping caches. Default false. */
  readonly esrtps?: boolean;
  /** ECAP.QI. Default true. */
  readonly queuedInvalidation?: boolean;
  /** ECAP.DT (device-TLB / ATS). Default false. */
  readonly deviceTlb?: boolean;
  /** ECAP.PT. Default true. */
  readonly passThrough?: boolean;
  /** ECAP.IR (+ EIM). Default false. */
  readonly interruptRemapping?: boolean;
  /** ECAP.SC. Default false. */
  readonly snoopControl?: boolean;
  /** Scalable mode (ECAP.SMTS) with the stages it supports (FSTS, SSTS, NEST). Default off. */
  readonly scalable?: {
    readonly firstStage?: boolean;
    readonly secondStage?: boolean;
    readonly nested?: boolean;
    /** PASID width in bits (ECAP.PSS + 1), 1..20. Default 20. */
    readonly pasidBits?: number;
    /** First-stage 1 GiB pages (CAP.FS1GP) and 5-level paging (CAP.FS5LP). */
    readonly fs1gp?: boolean;
    readonly fs5lp?: boolean;
    /** ECAP.SRS / ERS / SSADS. */
    readonly supervisorRequests?: boolean;
    readonly executeRequests?: boolean;
    readonly secondStageAd?: boolean;
  };
}

function requireInt(v: number, lo: number, hi: number, what: string): number {
  if (!Number.isInteger(v) || v < lo || v > hi) {
    throw new TdxSimError("E_VTD_PROFILE", `${what} ${String(v)} is out of range: allowed ${lo}..${hi}`);
  }
  return v;
}

/** Compose CAP and ECAP from a profile (defaults follow QEMU's intel-iommu where one exists). */
export function composeCapabilities(p: VtdProfile = {}): { cap: bigint; ecap: bigint } {
  const didBits = p.domainIdBits ?? 16;
  if (![4, 6, 8, 10, 12, 14, 16].includes(didBits)) {
    throw new TdxSimError("E_VTD_PROFILE", `domainIdBits ${didBits} is not one of 4, 6, 8, 10, 12, 14, 16`);
  }
  const levels = p.levels ?? [3, 4];
  let sagaw = 0;
  for (const l of levels) sagaw |= 1 << (l - 2);
  const mgaw = requireInt(p.mgaw ?? 48, 30, 57, "mgaw");
  const nfr = requireInt(p.faultRecords ?? 1, 1, 256, "faultRecords");
  const fro = requireInt((p.frcdOffset ?? 0x220) / 16, 1, 0x3ff, "frcdOffset/16");
  const iro = requireInt((p.iotlbOffset ?? 0xf0) / 16, 1, 0x3ff, "iotlbOffset/16");
  const mamv = requireInt(p.maxAddressMask ?? 18, 0, 63, "maxAddressMask");
  const sp = p.superpages ?? { twoMiB: true, oneGiB: true };
  let cap = BigInt((didBits - 4) / 2);
  if (p.requiredWriteBufferFlush) cap |= 1n << 4n;
  if (p.cachingMode) cap |= 1n << 7n;
  cap |= BigInt(sagaw) << 8n;
  cap |= BigInt(mgaw - 1) << 16n;
  cap |= BigInt(fro) << 24n;
  cap |= BigInt((sp.twoMiB ? 1 : 0) | (sp.oneGiB ? 2 : 0)) << 34n;
  if (p.pageSelectiveInvalidation ?? true) cap |= (1n << 39n) | (BigInt(mamv) << 48n);
  cap |= BigInt(nfr - 1) << 40n;
  if (p.drain ?? true) cap |= (1n << 54n) | (1n << 55n);
  if (p.esrtps) cap |= 1n << 63n;

  let ecap = BigInt(iro) << 8n;
  if (p.queuedInvalidation ?? true) ecap |= 1n << 1n;
  if (p.deviceTlb) ecap |= 1n << 2n;
  if (p.interruptRemapping) ecap |= (1n << 3n) | (1n << 4n) | (0xfn << 20n);
  if (p.passThrough ?? true) ecap |= 1n << 6n;
  if (p.snoopControl) ecap |= 1n << 7n;
  const s = p.scalable;
  if (s) {
    const pasidBits = requireInt(s.pasidBits ?? 20, 1, 20, "pasidBits");
    ecap |= (1n << 43n) | (1n << 40n) | (BigInt(pasidBits - 1) << 35n);
    if (s.firstStage ?? true) ecap |= 1n << 47n;
    if (s.secondStage ?? true) ecap |= 1n << 46n;
    if (s.nested) ecap |= 1n << 26n;
    if (s.supervisorRequests ?? true) ecap |= 1n << 31n;
    if (s.executeRequests) ecap |= 1n << 30n;
    if (s.secondStageAd) ecap |= 1n << 45n;
    ecap |= 1n << 49n; // RPS: RID_PASID supported
    if (s.fs1gp ?? true) cap |= 1n << 56n;
    if (s.fs5lp) cap |= 1n << 60n;
  }
  return { cap, ecap };
}
