/**
 * The 64-byte Stream Table Entry: its field layout, a decoder into a reusable `SteConfig`
 * (no allocation when refilled), the ILLEGAL-STE rules that raise C_BAD_STE, and an encoder used
 * by drivers and tests to write real STEs into memory.
 *
 * @spec reference/smmu.md §2.1 (field map), §2.2 (Config), §2.4 (C_BAD_STE rules), §4.4 (S2SL0
 *   and concatenation); sources: torvalds/linux arm-smmu-v3.h (STRTAB_STE_*), qemu/qemu
 *   hw/arm/smmuv3.c (decode_ste, decode_ste_s2_cfg, s2t0sz_valid, s2_pgtable_config_valid)
 */
import { addr51, addrHalves, bit, fieldU } from "./entry-fields";
import { s2ConcatenatedTables, s2StartLevel, s2tgToLog2 } from "./granule";
import { paSizeBits, type SmmuFeatures, StallModel, TtEndian, Ttf } from "./idr";

export const STE_BYTES = 64;
export const STE_WORDS = 16;

/** STE.Config encodings (dw0[3:1]). */
export const SteConfigKind = {
  ABORT: 0b000,
  BYPASS: 0b100,
  S1_TRANS: 0b101,
  S2_TRANS: 0b110,
  NESTED: 0b111,
} as const;

/** STE.S1DSS (dw1[1:0]): behaviour of transactions without a SubstreamID when S1CDMax != 0. */
export const S1Dss = { TERMINATE: 0, BYPASS: 1, SSID0: 2 } as const;
/** STE.S1Fmt (dw0[5:4]). */
export const S1Fmt = { LINEAR: 0, L2_4K: 1, L2_64K: 2 } as const;

/** How reserved Config values (0b001-0b011) are treated. */
export type ReservedConfigPolicy = "bad-ste" | "abort";

/**
 * A decoded STE. One instance is refilled in place by `decodeSte` (config-cache slots reuse it).
 * `illegal` is "" for a usable STE, else the rule it broke (then the transaction gets C_BAD_STE).
 */
export class SteConfig {
  valid = false;
  config = 0;
  s1Fmt = 0;
  s1ContextPtr = 0;
  s1CdMax = 0;
  s1Dss = 0;
  mev = false;
  s2Fwb = false;
  s1StallD = false;
  eats = 0;
  strw = 0;
  vmid = 0;
  s2T0sz = 0;
  s2Sl0 = 0;
  s2Tg = 0;
  s2Ps = 0;
  s2Aa64 = false;
  s2Endi = false;
  s2Affd = false;
  s2Ptw = false;
  s2Hd = false;
  s2Ha = false;
  s2S = false;
  s2R = false;
  s2Ttb = 0;
  // derived
  abort = false;
  bypass = false;
  s1Enabled = false;
  s2Enabled = false;
  /** Stage-2 granule log2 (12, 14, 16). */
  s2G = 12;
  /** Stage-2 input size in bits (64 - S2T0SZ). */
  s2Ias = 0;
  s2StartLevel = 0;
  s2Concat = 1;
  /** Effective stage-2 output size: min(S2PS, OAS). */
  s2PsBits = 0;
  illegal = "";
  /** The raw words as fetched (a copy; tests and the vSVA host read them). */
  readonly words = new Uint32Array(STE_WORDS);
}

/** Decode (and validate) an STE from 16 little-endian 32-bit words into `out`. */
export function decodeSte(
  w: Uint32Array,
  f: SmmuFeatures,
  out: SteConfig,
  reserved: ReservedConfigPolicy,
): void {
  out.words.set(w.subarray(0, STE_WORDS));
  const w0 = w[0]!;
  const w1 = w[1]!;
  const w2 = w[2]!;
  const w4 = w[4]!;
  const w5 = w[5]!;
  out.valid = (w0 & 1) === 1;
  out.config = (w0 >>> 1) & 7;
  out.s1Fmt = (w0 >>> 4) & 3;
  out.s1ContextPtr = addr51(w0, w1, 6);
  out.s1CdMax = (w1 >>> 27) & 0x1f;
  out.s1Dss = w2 & 3;
  out.mev = ((w2 >>> 19) & 1) === 1;
  out.s2Fwb = ((w2 >>> 25) & 1) === 1;
  out.s1StallD = ((w2 >>> 27) & 1) === 1;
  out.eats = (w2 >>> 28) & 3;
  out.strw = (w2 >>> 30) & 3;
  out.vmid = f.vmid16 ? w4 & 0xffff : w4 & 0xff;
  out.s2T0sz = w5 & 0x3f;
  out.s2Sl0 = (w5 >>> 6) & 3;
  out.s2Tg = (w5 >>> 14) & 3;
  out.s2Ps = (w5 >>> 16) & 7;
  out.s2Aa64 = ((w5 >>> 19) & 1) === 1;
  out.s2Endi = ((w5 >>> 20) & 1) === 1;
  out.s2Affd = ((w5 >>> 21) & 1) === 1;
  out.s2Ptw = ((w5 >>> 22) & 1) === 1;
  out.s2Hd = ((w5 >>> 23) & 1) === 1;
  out.s2Ha = ((w5 >>> 24) & 1) === 1;
  out.s2S = ((w5 >>> 25) & 1) === 1;
  out.s2R = ((w5 >>> 26) & 1) === 1;
  out.s2Ttb = addr51(w[6]!, w[7]!, 4);
  out.abort = false;
  out.bypass = false;
  out.s1Enabled = false;
  out.s2Enabled = false;
  out.illegal = validate(out, f, reserved);
}

function validate(s: SteConfig, f: SmmuFeatures, reserved: ReservedConfigPolicy): string {
  if (!s.valid) return "STE.V is 0";
  const cfg = s.config;
  if ((cfg & 0b100) === 0) {
    if (cfg === SteConfigKind.ABORT || reserved === "abort") {
      s.abort = true;
      return "";
    }
    return `STE.Config ${cfg.toString(2).padStart(3, "0")} is reserved`;
  }
  s.s1Enabled = (cfg & 1) === 1;
  s.s2Enabled = (cfg & 2) === 2;
  s.bypass = !s.s1Enabled && !s.s2Enabled;
  if (s.s1Enabled && !f.s1p) return "STE enables stage 1 but IDR0.S1P is 0";
  if (s.s2Enabled && !f.s2p) return "STE enables stage 2 but IDR0.S2P is 0";
  if (s.s1Enabled) {
    if (s.s1CdMax > f.ssidBits) return `STE.S1CDMax ${s.s1CdMax} exceeds IDR1.SSIDSIZE ${f.ssidBits}`;
    if (s.s1CdMax !== 0) {
      if (s.s1Fmt === 3) return "STE.S1Fmt 0b11 is reserved";
      if (s.s1Fmt !== S1Fmt.LINEAR && !f.cd2l)
        return "STE.S1Fmt selects a two-level CD table but IDR0.CD2L is 0";
      if (s.s1Dss === 3) return "STE.S1DSS 0b11 is reserved";
    }
    if (!s.s2Enabled && s.s1ContextPtr >= 2 ** f.oasBits)
      return "STE.S1ContextPtr is beyond the output address size";
  }
  if (s.s2Enabled) {
    const r = validateStage2(s, f);
    if (r !== "") return r;
  }
  return "";
}

function validateStage2(s: SteConfig, f: SmmuFeatures): string {
  if (!s.s2Aa64) {
    return (f.ttf & Ttf.AARCH32) === 0
      ? "STE.S2AA64 is 0 but IDR0.TTF has no AArch32 tables"
      : "STE.S2AA64 is 0: VMSAv8-32 stage-2 tables are not modelled";
  }
  if (!f.s2p) return "stage 2 not implemented";
  const g = s2tgToLog2(s.s2Tg);
  if (g === 0) return "STE.S2TG 0b11 is reserved";
  if ((g === 12 && !f.gran4k) || (g === 14 && !f.gran16k) || (g === 16 && !f.gran64k))
    return `STE.S2TG selects a ${2 ** (g - 10)} KiB granule that IDR5 does not advertise`;
  if (s.s2Endi && f.ttEndian === TtEndian.LE) return "STE.S2ENDI is 1 on a little-endian-only unit";
  if (!s.s2Endi && f.ttEndian === TtEndian.BE) return "STE.S2ENDI is 0 on a big-endian-only unit";
  if (s.s2S && f.stallModel === StallModel.TERMINATE_ONLY) return "STE.S2S is 1 but the unit cannot stall";
  if (s.s2Ha && f.httu < 1) return "STE.S2HA is 1 but IDR0.HTTU is 0";
  if (s.s2Hd && f.httu < 2) return "STE.S2HD is 1 but IDR0.HTTU does not include dirty state";
  if (s.s2Fwb && !f.fwb) return "STE.S2FWB is 1 but IDR3.FWB is 0";
  // S2T0SZ: at most 39 without IDR3.STT (48 with); at least 64 - IAS (and 16 for 4K/16K).
  const maxTsz = f.stt ? 48 : 39;
  const minTsz = g === 16 ? 64 - f.iasBits : Math.max(16, 64 - f.iasBits);
  if (s.s2T0sz > maxTsz || s.s2T0sz < minTsz) return `STE.S2T0SZ ${s.s2T0sz} is outside ${minTsz}..${maxTsz}`;
  const start = s2StartLevel(g, s.s2Sl0, f.stt);
  if (start < 0) return `STE.S2SL0 ${s.s2Sl0} is reserved for this granule`;
  const ias = 64 - s.s2T0sz;
  const concat = s2ConcatenatedTables(g, start, ias);
  if (concat === 0) return `STE.S2SL0/S2T0SZ need more than 16 concatenated tables or too few bits`;
  const ps = s.s2Ps === 7 ? f.oasBits : Math.min(paSizeBits(s.s2Ps), f.oasBits);
  if (s.s2Ttb >= 2 ** ps) return "STE.S2TTB is beyond the effective stage-2 output size";
  s.s2G = g;
  s.s2Ias = ias;
  s.s2StartLevel = start;
  s.s2Concat = concat;
  s.s2PsBits = ps;
  return "";
}

/** STE fields for the encoder (names follow the architecture; all default to 0/false). */
export interface SteFields {
  readonly v?: boolean;
  readonly config?: number;
  readonly s1Fmt?: number;
  readonly s1ContextPtr?: number;
  readonly s1CdMax?: number;
  readonly s1Dss?: number;
  readonly s1Cir?: number;
  readonly s1Cor?: number;
  readonly s1Csh?: number;
  readonly mev?: boolean;
  readonly s2Fwb?: boolean;
  readonly s1StallD?: boolean;
  readonly eats?: number;
  readonly strw?: number;
  readonly shcfg?: number;
  readonly s2Vmid?: number;
  readonly s2T0sz?: number;
  readonly s2Sl0?: number;
  readonly s2Ir0?: number;
  readonly s2Or0?: number;
  readonly s2Sh0?: number;
  readonly s2Tg?: number;
  readonly s2Ps?: number;
  readonly s2Aa64?: boolean;
  readonly s2Endi?: boolean;
  readonly s2Affd?: boolean;
  readonly s2Ptw?: boolean;
  readonly s2Hd?: boolean;
  readonly s2Ha?: boolean;
  readonly s2S?: boolean;
  readonly s2R?: boolean;
  readonly s2Ttb?: number;
}

/** Encode an STE as 16 little-endian words. */
export function encodeSte(s: SteFields): Uint32Array {
  const w = new Uint32Array(STE_WORDS);
  const [ctxLo, ctxHi] = addrHalves(s.s1ContextPtr, 6, "S1ContextPtr");
  w[0] = (bit(s.v) | (fieldU(s.config, 3, "Config") << 1) | (fieldU(s.s1Fmt, 2, "S1Fmt") << 4) | ctxLo) >>> 0;
  w[1] = (ctxHi | (fieldU(s.s1CdMax, 5, "S1CDMax") << 27)) >>> 0;
  w[2] =
    (fieldU(s.s1Dss, 2, "S1DSS") |
      (fieldU(s.s1Cir, 2, "S1CIR") << 2) |
      (fieldU(s.s1Cor, 2, "S1COR") << 4) |
      (fieldU(s.s1Csh, 2, "S1CSH") << 6) |
      (bit(s.mev) << 19) |
      (bit(s.s2Fwb) << 25) |
      (bit(s.s1StallD) << 27) |
      (fieldU(s.eats, 2, "EATS") << 28) |
      (fieldU(s.strw, 2, "STRW") << 30)) >>>
    0;
  w[3] = (fieldU(s.shcfg, 2, "SHCFG") << 12) >>> 0;
  w[4] = fieldU(s.s2Vmid, 16, "S2VMID");
  w[5] =
    (fieldU(s.s2T0sz, 6, "S2T0SZ") |
      (fieldU(s.s2Sl0, 2, "S2SL0") << 6) |
      (fieldU(s.s2Ir0, 2, "S2IR0") << 8) |
      (fieldU(s.s2Or0, 2, "S2OR0") << 10) |
      (fieldU(s.s2Sh0, 2, "S2SH0") << 12) |
      (fieldU(s.s2Tg, 2, "S2TG") << 14) |
      (fieldU(s.s2Ps, 3, "S2PS") << 16) |
      (bit(s.s2Aa64) << 19) |
      (bit(s.s2Endi) << 20) |
      (bit(s.s2Affd) << 21) |
      (bit(s.s2Ptw) << 22) |
      (bit(s.s2Hd) << 23) |
      (bit(s.s2Ha) << 24) |
      (bit(s.s2S) << 25) |
      (bit(s.s2R) << 26)) >>>
    0;
  const [ttbLo, ttbHi] = addrHalves(s.s2Ttb, 4, "S2TTB");
  w[6] = ttbLo;
  w[7] = ttbHi;
  return w;
}
