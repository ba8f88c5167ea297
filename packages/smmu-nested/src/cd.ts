/**
 * The 64-byte Context Descriptor: field layout, a decoder into a reusable `CdConfig`, the
 * ILLEGAL-CD rules that raise C_BAD_CD, the two-level CD table's L1 descriptor, and an encoder.
 * Note the TG1 trap: TG1 does not use TG0's encoding.
 *
 * @spec reference/smmu.md §3.1 (field map), §3.2 (CD tables), §3.3 (C_BAD_CD rules); sources:
 *   torvalds/linux arm-smmu-v3.h (CTXDESC_*), qemu/qemu hw/arm/smmuv3.c (decode_cd),
 *   qemu/qemu hw/arm/smmuv3-internal.h (tg2granule)
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";
import { addr51, addrHalves, bit, fieldU } from "./entry-fields";
import { s1StartLevel, tg0ToLog2, tg1ToLog2 } from "./granule";
import { paSizeBits, type SmmuFeatures, StallModel, TtEndian, Ttf } from "./idr";

export const CD_BYTES = 64;
export const CD_WORDS = 16;
/** L1CD: V[0], L2Ptr[51:12]. */
export const L1CD_V = 1;

/** One translation table half (TTB0 or TTB1) of a CD. */
export class CdHalf {
  disabled = true;
  tsz = 0;
  /** Granule log2; 0 when the TG encoding is reserved. */
  g = 12;
  ttb = 0;
  had = false;
  startLevel = 0;
}

/** A decoded CD, refilled in place by `decodeCd`. `illegal` is "" or the rule it broke (C_BAD_CD). */
export class CdConfig {
  valid = false;
  endi = false;
  ips = 0;
  affd = false;
  wxn = false;
  uwxn = false;
  pan = false;
  tbi = 0;
  aa64 = false;
  hd = false;
  ha = false;
  s = false;
  r = false;
  a = false;
  aset = false;
  asid = 0;
  /** Effective stage-1 output size: min(IPS, OAS). */
  ipsBits = 0;
  readonly tt0 = new CdHalf();
  readonly tt1 = new CdHalf();
  illegal = "";
  readonly words = new Uint32Array(CD_WORDS);
}

/** Decode (and validate) a CD from 16 little-endian words into `out`. */
export function decodeCd(w: Uint32Array, f: SmmuFeatures, out: CdConfig): void {
  out.words.set(w.subarray(0, CD_WORDS));
  const w0 = w[0]!;
  const w1 = w[1]!;
  out.valid = w0 >>> 31 === 1;
  out.endi = ((w0 >>> 15) & 1) === 1;
  out.ips = w1 & 7;
  out.affd = ((w1 >>> 3) & 1) === 1;
  out.wxn = ((w1 >>> 4) & 1) === 1;
  out.uwxn = ((w1 >>> 5) & 1) === 1;
  out.tbi = (w1 >>> 6) & 3;
  out.pan = ((w1 >>> 8) & 1) === 1;
  out.aa64 = ((w1 >>> 9) & 1) === 1;
  out.hd = ((w1 >>> 10) & 1) === 1;
  out.ha = ((w1 >>> 11) & 1) === 1;
  out.s = ((w1 >>> 12) & 1) === 1;
  out.r = ((w1 >>> 13) & 1) === 1;
  out.a = ((w1 >>> 14) & 1) === 1;
  out.aset = ((w1 >>> 15) & 1) === 1;
  out.asid = f.asid16 ? w1 >>> 16 : (w1 >>> 16) & 0xff;
  out.ipsBits = out.ips === 7 ? f.oasBits : Math.min(paSizeBits(out.ips), f.oasBits);
  const h0 = out.tt0;
  h0.disabled = ((w0 >>> 14) & 1) === 1;
  h0.tsz = w0 & 0x3f;
  h0.g = tg0ToLog2((w0 >>> 6) & 3);
  h0.had = ((w[2]! >>> 1) & 1) === 1;
  h0.ttb = addr51(w[2]!, w[3]!, 4);
  const h1 = out.tt1;
  h1.disabled = ((w0 >>> 30) & 1) === 1;
  h1.tsz = (w0 >>> 16) & 0x3f;
  h1.g = tg1ToLog2((w0 >>> 22) & 3);
  h1.had = ((w[4]! >>> 1) & 1) === 1;
  h1.ttb = addr51(w[4]!, w[5]!, 4);
  out.illegal = validate(out, f);
}

function validate(c: CdConfig, f: SmmuFeatures): string {
  if (!c.valid) return "CD.V is 0";
  if (!c.aa64) {
    return (f.ttf & Ttf.AARCH32) === 0
      ? "CD.AA64 is 0 but IDR0.TTF has no AArch32 tables"
      : "CD.AA64 is 0: VMSAv8-32 stage-1 tables are not modelled";
  }
  if (!c.a && f.termModel) return "CD.A is 0 but IDR0.TERM_MODEL requires aborts";
  if (c.s && f.stallModel === StallModel.TERMINATE_ONLY) return "CD.S is 1 but the unit cannot stall";
  if (c.ha && f.httu < 1) return "CD.HA is 1 but IDR0.HTTU is 0";
  if (c.hd && f.httu < 2) return "CD.HD is 1 but IDR0.HTTU does not include dirty state";
  if (c.endi && f.ttEndian === TtEndian.LE) return "CD.ENDI is 1 on a little-endian-only unit";
  if (!c.endi && f.ttEndian === TtEndian.BE) return "CD.ENDI is 0 on a big-endian-only unit";
  for (let i = 0; i < 2; i++) {
    const h = i === 0 ? c.tt0 : c.tt1;
    if (h.disabled) continue;
    const name = i === 0 ? "TTB0" : "TTB1";
    if (h.g === 0) return `CD.TG${i} encoding is reserved`;
    if ((h.g === 12 && !f.gran4k) || (h.g === 14 && !f.gran16k) || (h.g === 16 && !f.gran64k))
      return `CD.TG${i} selects a ${2 ** (h.g - 10)} KiB granule that IDR5 does not advertise`;
    const minTsz = h.g === 16 && f.vax === 1 ? 12 : 16;
    const maxTsz = f.stt ? 48 : 39;
    if (h.tsz < minTsz || h.tsz > maxTsz) return `CD.T${i}SZ ${h.tsz} is outside ${minTsz}..${maxTsz}`;
    if (h.ttb >= 2 ** c.ipsBits) return `CD.${name} is beyond the effective IPS`;
    h.startLevel = s1StartLevel(h.g, 64 - h.tsz);
  }
  return "";
}

/** CD fields for the encoder. TG0 uses the TG0 encoding; give `tg1` in the TG1 encoding. */
export interface CdFields {
  readonly v?: boolean;
  readonly t0sz?: number;
  readonly tg0?: number;
  readonly ir0?: number;
  readonly or0?: number;
  readonly sh0?: number;
  readonly epd0?: boolean;
  readonly endi?: boolean;
  readonly t1sz?: number;
  readonly tg1?: number;
  readonly epd1?: boolean;
  readonly ips?: number;
  readonly affd?: boolean;
  readonly wxn?: boolean;
  readonly uwxn?: boolean;
  readonly tbi?: number;
  readonly pan?: boolean;
  readonly aa64?: boolean;
  readonly hd?: boolean;
  readonly ha?: boolean;
  readonly s?: boolean;
  readonly r?: boolean;
  readonly a?: boolean;
  readonly aset?: boolean;
  readonly asid?: number;
  readonly had0?: boolean;
  readonly ttb0?: number;
  readonly had1?: boolean;
  readonly ttb1?: number;
  /** MAIR as [low word, high word]. */
  readonly mair?: readonly [number, number];
}

/** Encode a CD as 16 little-endian words. */
export function encodeCd(c: CdFields): Uint32Array {
  const w = new Uint32Array(CD_WORDS);
  w[0] =
    (fieldU(c.t0sz, 6, "T0SZ") |
      (fieldU(c.tg0, 2, "TG0") << 6) |
      (fieldU(c.ir0, 2, "IR0") << 8) |
      (fieldU(c.or0, 2, "OR0") << 10) |
      (fieldU(c.sh0, 2, "SH0") << 12) |
      (bit(c.epd0) << 14) |
      (bit(c.endi) << 15) |
      (fieldU(c.t1sz, 6, "T1SZ") << 16) |
      (fieldU(c.tg1, 2, "TG1") << 22) |
      (bit(c.epd1) << 30) |
      (bit(c.v) << 31)) >>>
    0;
  w[1] =
    (fieldU(c.ips, 3, "IPS") |
      (bit(c.affd) << 3) |
      (bit(c.wxn) << 4) |
      (bit(c.uwxn) << 5) |
      (fieldU(c.tbi, 2, "TBI") << 6) |
      (bit(c.pan) << 8) |
      (bit(c.aa64) << 9) |
      (bit(c.hd) << 10) |
      (bit(c.ha) << 11) |
      (bit(c.s) << 12) |
      (bit(c.r) << 13) |
      (bit(c.a) << 14) |
      (bit(c.aset) << 15) |
      (fieldU(c.asid, 16, "ASID") << 16)) >>>
    0;
  const [t0lo, t0hi] = addrHalves(c.ttb0, 4, "TTB0");
  w[2] = (t0lo | (bit(c.had0) << 1)) >>> 0;
  w[3] = t0hi;
  const [t1lo, t1hi] = addrHalves(c.ttb1, 4, "TTB1");
  w[4] = (t1lo | (bit(c.had1) << 1)) >>> 0;
  w[5] = t1hi;
  w[6] = c.mair?.[0] ?? 0;
  w[7] = c.mair?.[1] ?? 0;
  return w;
}

/** Encode an L1 CD descriptor {V, L2Ptr[51:12]} as [lo, hi]. */
export function encodeL1Cd(l2Ptr: number, valid = true): [number, number] {
  if (!Number.isSafeInteger(l2Ptr) || l2Ptr < 0 || l2Ptr >= 2 ** 52 || l2Ptr % 4096 !== 0) {
    throw new TdxSimError(
      "E_SMMU_FIELD",
      `L1CD.L2Ptr ${String(l2Ptr)} must be a 4 KiB aligned address below 2^52`,
    );
  }
  return [((l2Ptr >>> 0) | (valid ? L1CD_V : 0)) >>> 0, Math.floor(l2Ptr / 4294967296)];
}
