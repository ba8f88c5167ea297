/**
 * CPUID as a logical processor answers it: vendor and version, the feature bits the TDX stack
 * checks (VMX, x2APIC, MTRR, TME, MOVDIR64B, ...), x2APIC topology (leaves 0xB/0x1F), and address
 * widths (0x80000008). `tdGuestView` derives what a TD sees for the leaves the guest firmware and
 * kernel use to detect TDX (0x21 "IntelTDX    ", the hypervisor bit, GPAW); the TDX module's
 * per-TD CPUID virtualisation (TD_PARAMS CPUID_CONFIG) is the TDX model's and can override any
 * leaf through `withOverrides`. Registers are 32-bit, so they are plain numbers.
 *
 * @spec Intel SDM Vol. 2A CPUID (leaf layouts; out-of-range leaves return the highest basic leaf);
 *   /work/shared/reference/kvm-guest-qemu.md (CPUID 0x21.0 = "IntelTDX    " in EBX, EDX, ECX;
 *   0x80000008 EAX[23:16] = GPAW), ovmf.md (TDX detection: GenuineIntel, CPUID.1:ECX[31], 0x21);
 *   tdx-module.md §5.5 (X86_BUG_TDX_PW_MCE on Sapphire Rapids-X and Emerald Rapids-X); Linux
 *   arch/x86/include/asm/intel-family.h (06_8F SPR-X, 06_CF EMR-X, 06_AD GNR-X);
 *   intel/tdx-module pseamldr (MAX_PA = CPUID.80000008:EAX[7:0], KeyID bits included)
 */
import { TdxSimError } from "../errors";

export interface CpuidRegs {
  readonly eax: number;
  readonly ebx: number;
  readonly ecx: number;
  readonly edx: number;
}

/** Known server CPU models (family 6). */
export const CpuModel = {
  SapphireRapidsX: { family: 6, model: 0x8f, stepping: 8, name: "Sapphire Rapids-X", pwErratum: true },
  EmeraldRapidsX: { family: 6, model: 0xcf, stepping: 2, name: "Emerald Rapids-X", pwErratum: true },
  GraniteRapidsX: { family: 6, model: 0xad, stepping: 1, name: "Granite Rapids-X", pwErratum: false },
} as const;
export type CpuModelInfo = (typeof CpuModel)[keyof typeof CpuModel];

/** Bit positions used below. @spec Intel SDM Vol. 2A, CPUID feature tables */
export const CpuidBit = {
  /** leaf 1 ECX */
  VMX: 5,
  X2APIC: 21,
  XSAVE: 26,
  HYPERVISOR: 31,
  /** leaf 1 EDX */
  FPU: 0,
  TSC: 4,
  MSR: 5,
  APIC: 9,
  MTRR: 12,
  PAT: 16,
  CLFSH: 19,
  /** leaf 7.0 ECX */
  TME: 13,
  MOVDIRI: 27,
  MOVDIR64B: 28,
  /** leaf 0x80000001 EDX */
  NX: 20,
  LM: 29,
} as const;

/** The TDX guest leaf. @spec kvm-guest-qemu.md (Linux TDX_CPUID_LEAF_ID) */
export const TDX_CPUID_LEAF = 0x21;

const GENUINE_INTEL = "GenuineIntel";
const INTEL_TDX = "IntelTDX    ";

/** Little-endian 32-bit value of 4 ASCII characters. */
function fourcc(s: string, at: number): number {
  let v = 0;
  for (let i = 3; i >= 0; i--) v = v * 256 + s.charCodeAt(at + i);
  return v >>> 0;
}

/** The x2APIC topology of the LP CPUID describes. */
export interface CpuidTopology {
  readonly x2apicId: number;
  readonly threadsPerCore: number;
  readonly coresPerPackage: number;
}

export interface CpuidConfig {
  readonly model: CpuModelInfo;
  /** MAXPHYADDR, KeyID bits included. */
  readonly physAddrBits: number;
  /** 48 (4-level paging) or 57 (5-level). */
  readonly linearAddrBits: 48 | 57;
  /** Whether TME/MKTME is supported (CPUID.7.0:ECX[13]). */
  readonly tme: boolean;
}

const SUBLEAF_LEAVES = new Set([0x4, 0x7, 0xb, 0xd, 0x1f]);
const key = (leaf: number, sub: number) => `${leaf.toString(16)}.${SUBLEAF_LEAVES.has(leaf) ? sub : 0}`;

/** Bits needed to number `n` items (SDM topology: shift width). */
export function bitsFor(n: number): number {
  return n <= 1 ? 0 : Math.ceil(Math.log2(n));
}

/** A table of CPUID leaves; lookups follow the SDM's out-of-range rule. */
export class CpuidTable {
  private readonly leaves: Map<string, CpuidRegs>;

  private constructor(leaves: Map<string, CpuidRegs>) {
    this.leaves = leaves;
  }

  /** Native CPUID of one logical processor. */
  static native(cfg: CpuidConfig, topo: CpuidTopology): CpuidTable {
    if (!Number.isInteger(cfg.physAddrBits) || cfg.physAddrBits < 36 || cfg.physAddrBits > 52) {
      throw new TdxSimError(
        "E_CPU_CONFIG",
        `physAddrBits ${cfg.physAddrBits} is invalid: it must be in 36..52`,
      );
    }
    const m = cfg.model;
    const t = new Map<string, CpuidRegs>();
    const set = (leaf: number, sub: number, r: CpuidRegs) => t.set(key(leaf, sub), r);
    set(0, 0, {
      eax: 0x1f,
      ebx: fourcc(GENUINE_INTEL, 0),
      edx: fourcc(GENUINE_INTEL, 4),
      ecx: fourcc(GENUINE_INTEL, 8),
    });
    const version =
      (m.stepping & 0xf) | ((m.model & 0xf) << 4) | ((m.family & 0xf) << 8) | ((m.model >> 4) << 16);
    const lpsPerPackage = 2 ** (bitsFor(topo.threadsPerCore) + bitsFor(topo.coresPerPackage));
    set(1, 0, {
      eax: version,
      ebx: (8 | (Math.min(lpsPerPackage, 255) << 16) | ((topo.x2apicId & 0xff) << 24)) >>> 0,
      ecx: ((1 << CpuidBit.VMX) | (1 << CpuidBit.X2APIC) | (1 << CpuidBit.XSAVE)) >>> 0,
      edx:
        ((1 << CpuidBit.FPU) |
          (1 << CpuidBit.TSC) |
          (1 << CpuidBit.MSR) |
          (1 << CpuidBit.APIC) |
          (1 << CpuidBit.MTRR) |
          (1 << CpuidBit.PAT) |
          (1 << CpuidBit.CLFSH)) >>>
        0,
    });
    set(7, 0, {
      eax: 0,
      ebx: 0,
      ecx: ((cfg.tme ? 1 << CpuidBit.TME : 0) | (1 << CpuidBit.MOVDIRI) | (1 << CpuidBit.MOVDIR64B)) >>> 0,
      edx: 0,
    });
    const smtShift = bitsFor(topo.threadsPerCore);
    const coreShift = smtShift + bitsFor(topo.coresPerPackage);
    for (const leaf of [0xb, 0x1f]) {
      set(leaf, 0, { eax: smtShift, ebx: topo.threadsPerCore, ecx: (1 << 8) | 0, edx: topo.x2apicId });
      set(leaf, 1, {
        eax: coreShift,
        ebx: topo.threadsPerCore * topo.coresPerPackage,
        ecx: (2 << 8) | 1,
        edx: topo.x2apicId,
      });
      set(leaf, 2, { eax: 0, ebx: 0, ecx: 2, edx: topo.x2apicId });
    }
    set(0x80000000, 0, { eax: 0x80000008, ebx: 0, ecx: 0, edx: 0 });
    set(0x80000001, 0, { eax: 0, ebx: 0, ecx: 1, edx: ((1 << CpuidBit.NX) | (1 << CpuidBit.LM)) >>> 0 });
    set(0x80000008, 0, { eax: cfg.physAddrBits | (cfg.linearAddrBits << 8), ebx: 0, ecx: 0, edx: 0 });
    return new CpuidTable(t);
  }

  /**
   * What a TD sees for the TDX-detection leaves: max basic leaf >= 0x21, the hypervisor bit set
   * and VMX clear in leaf 1, leaf 0x21 = "IntelTDX    " (EBX, EDX, ECX), and the GPAW in
   * 0x80000008 EAX[23:16].
   */
  tdGuestView(gpaw: 48 | 52): CpuidTable {
    const t = new Map(this.leaves);
    const l0 = this.get(0, 0);
    t.set(key(0, 0), { ...l0, eax: Math.max(l0.eax, TDX_CPUID_LEAF) });
    const l1 = this.get(1, 0);
    t.set(key(1, 0), { ...l1, ecx: ((l1.ecx | (1 << CpuidBit.HYPERVISOR)) & ~(1 << CpuidBit.VMX)) >>> 0 });
    t.set(key(TDX_CPUID_LEAF, 0), {
      eax: 0,
      ebx: fourcc(INTEL_TDX, 0),
      edx: fourcc(INTEL_TDX, 4),
      ecx: fourcc(INTEL_TDX, 8),
    });
    const l8 = this.get(0x80000008, 0);
    t.set(key(0x80000008, 0), { ...l8, eax: ((l8.eax & 0xffff) | (gpaw << 16)) >>> 0 });
    return new CpuidTable(t);
  }

  /** A copy with some leaves replaced (e.g. the TDX module's CPUID configuration for a TD). */
  withOverrides(entries: readonly { leaf: number; subleaf?: number; regs: CpuidRegs }[]): CpuidTable {
    const t = new Map(this.leaves);
    for (const e of entries) t.set(key(e.leaf, e.subleaf ?? 0), e.regs);
    return new CpuidTable(t);
  }

  /** Execute CPUID with EAX = leaf, ECX = subleaf. */
  get(leaf: number, subleaf = 0): CpuidRegs {
    const maxBasic = this.leaves.get(key(0, 0))?.eax ?? 0;
    const maxExt = this.leaves.get(key(0x80000000, 0))?.eax ?? 0x80000000;
    let l = leaf >>> 0;
    const inBasic = l <= maxBasic;
    const inExt = l >= 0x80000000 && l <= maxExt;
    if (!inBasic && !inExt) l = maxBasic; // SDM: highest basic leaf's data
    return this.leaves.get(key(l, subleaf >>> 0)) ?? ZERO;
  }
}

const ZERO: CpuidRegs = { eax: 0, ebx: 0, ecx: 0, edx: 0 };

/** Decode a 12-character vendor string from EBX, EDX, ECX (leaf 0 and leaf 0x21 order). */
export function vendorString(r: CpuidRegs): string {
  let s = "";
  for (const v of [r.ebx, r.edx, r.ecx])
    for (let i = 0; i < 4; i++) s += String.fromCharCode((v >>> (8 * i)) & 0xff);
  return s;
}
