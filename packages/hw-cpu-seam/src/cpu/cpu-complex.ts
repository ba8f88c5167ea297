/**
 * All logical processors of a platform, built from a topology and the BIOS-programmed MSR state:
 * MKTME/TDX KeyID partitioning (MSR 0x87), TME activation (0x982) and capability (0x981), SEAMRR
 * (0x1400/0x1401), feature control, APIC base, PAT, EFER, MTRRCAP. MSRs are shared per thread,
 * core or package as on hardware; every LP gets its own CPUID (its x2APIC ID differs). The TSC
 * advances only through `tick` (a virtual clock: deterministic runs).
 *
 * @spec sources as in ./msrs.ts and ./cpuid.ts; /work/shared/reference/tdx-module.md §5.4
 */
import { TdxSimError } from "../errors";
import type { KeyIdPartition } from "../memory/keyids";
import { CpuidTable, CpuModel, type CpuModelInfo } from "./cpuid";
import { LogicalProcessor } from "./logical-processor";
import { MsrBank, MsrFile } from "./msr-file";
import {
  ApicBase,
  Efer,
  FeatureControl,
  keyIdPartitioningValue,
  Msr,
  MtrrCap,
  PAT_POWER_UP,
  Seamrr,
  type TmeConfig,
  tmeActivateValue,
  tmeCapabilityValue,
} from "./msrs";
import { CpuTopology, type CpuTopologyConfig } from "./topology";

export interface CpuComplexConfig {
  readonly topology: CpuTopologyConfig;
  /** Default Sapphire Rapids-X. */
  readonly model?: CpuModelInfo;
  /** MAXPHYADDR including KeyID bits (must match the PhysicalMemory). */
  readonly physAddrBits: number;
  /** Default 57: these server parts support 5-level paging. */
  readonly linearAddrBits?: 48 | 57;
  /** KeyID partition (use the PhysicalMemory's `keyIds` so both agree). */
  readonly keyIds: KeyIdPartition;
  readonly tme?: TmeConfig;
  /**
   * SEAMRR range programmed by the BIOS (size a power of two >= 4 KiB, base aligned to it); absent
   * = not configured, so SEAMCALL fails with VMfailInvalid.
   */
  readonly seamrr?: { readonly base: number; readonly size: number };
  /** Variable-range MTRR count reported in MTRRCAP; default 10. */
  readonly variableMtrrs?: number;
}

export class CpuComplex {
  readonly topology: CpuTopology;
  readonly lps: readonly LogicalProcessor[];
  readonly model: CpuModelInfo;
  private moduleLoaded = false;

  constructor(readonly config: CpuComplexConfig) {
    this.topology = new CpuTopology(config.topology);
    this.model = config.model ?? CpuModel.SapphireRapidsX;
    const seamrr = config.seamrr;
    if (seamrr !== undefined) checkSeamrr(seamrr, config.physAddrBits);
    const pkgBanks = Array.from({ length: this.topology.packages }, () => new MsrBank());
    const coreBanks = new Map<string, MsrBank>();
    const lps: LogicalProcessor[] = [];
    for (const place of this.topology.lps) {
      const ck = `${place.packageId}.${place.coreId}`;
      let core = coreBanks.get(ck);
      if (core === undefined) {
        core = new MsrBank();
        coreBanks.set(ck, core);
      }
      const msrs = new MsrFile(
        config.physAddrBits,
        new MsrBank(),
        core,
        pkgBanks[place.packageId] as MsrBank,
      );
      this.initMsrs(msrs, place.index === 0, place.x2apicId);
      const cpuid = CpuidTable.native(
        {
          model: this.model,
          physAddrBits: config.physAddrBits,
          linearAddrBits: config.linearAddrBits ?? 57,
          tme: true,
        },
        {
          x2apicId: place.x2apicId,
          threadsPerCore: this.topology.threadsPerCore,
          coresPerPackage: this.topology.coresPerPackage,
        },
      );
      lps.push(new LogicalProcessor(place, msrs, cpuid, () => this.moduleLoaded));
    }
    this.lps = lps;
  }

  private initMsrs(m: MsrFile, bsp: boolean, x2apicId: number): void {
    const c = this.config;
    m.poke(Msr.IA32_MKTME_KEYID_PARTITIONING, keyIdPartitioningValue(c.keyIds));
    m.poke(Msr.IA32_TME_ACTIVATE, tmeActivateValue(c.keyIds, c.tme));
    m.poke(Msr.IA32_TME_CAPABILITY, tmeCapabilityValue(c.keyIds, c.tme));
    m.poke(Msr.IA32_FEATURE_CONTROL, FeatureControl.LOCKED | FeatureControl.VMX_OUTSIDE_SMX);
    m.poke(
      Msr.IA32_APIC_BASE,
      ApicBase.DEFAULT_BASE | ApicBase.EN | ApicBase.EXTD | (bsp ? ApicBase.BSP : 0n),
    );
    m.poke(Msr.IA32_X2APIC_APICID, BigInt(x2apicId));
    m.poke(Msr.IA32_PAT, PAT_POWER_UP);
    m.poke(Msr.IA32_EFER, Efer.SCE | Efer.LME | Efer.LMA | Efer.NXE);
    m.poke(
      Msr.IA32_MTRRCAP,
      (BigInt(c.variableMtrrs ?? 10) & MtrrCap.VCNT_MASK) |
        MtrrCap.FIX |
        MtrrCap.WC |
        MtrrCap.SMRR |
        MtrrCap.SEAMRR,
    );
    if (c.seamrr !== undefined) {
      const addrMask = (1n << BigInt(c.physAddrBits)) - 1n;
      m.poke(Msr.IA32_SEAMRR_PHYS_BASE, BigInt(c.seamrr.base) | Seamrr.BASE_CONFIGURED);
      m.poke(
        Msr.IA32_SEAMRR_PHYS_MASK,
        (addrMask & ~(BigInt(c.seamrr.size) - 1n)) | Seamrr.MASK_ENABLED | Seamrr.MASK_LOCKED,
      );
    }
  }

  lp(index: number): LogicalProcessor {
    const lp = this.lps[index];
    if (lp === undefined) {
      throw new TdxSimError("E_BAD_CPU", `CPU ${index} does not exist: CPUs are 0..${this.lps.length - 1}`);
    }
    return lp;
  }

  /** LPs of one package. */
  packageLps(packageId: number): LogicalProcessor[] {
    return this.topology.lpsOfPackage(packageId).map((i) => this.lp(i));
  }

  /** The SEAM loader has put a TDX module into SEAMRR: SEAMCALL now enters it. */
  loadSeamModule(): void {
    if (this.config.seamrr === undefined) {
      throw new TdxSimError(
        "E_NO_SEAMRR",
        "cannot load a TDX module: SEAMRR is not configured (set CpuComplexConfig.seamrr)",
      );
    }
    this.moduleLoaded = true;
  }
  get seamModuleLoaded(): boolean {
    return this.moduleLoaded;
  }

  /** Whether a KeyID-stripped physical address lies in SEAMRR (only SEAM may access it). */
  inSeamrr(pa: number): boolean {
    const s = this.config.seamrr;
    return s !== undefined && pa >= s.base && pa < s.base + s.size;
  }

  /** Advance every LP's TSC by `cycles` (the virtual clock). */
  tick(cycles: bigint): void {
    for (const lp of this.lps) lp.msrs.adjustRaw(Msr.IA32_TSC, cycles);
  }
}

function checkSeamrr(s: { base: number; size: number }, physAddrBits: number): void {
  const pow2 = Number.isSafeInteger(s.size) && s.size >= 4096 && Number.isInteger(Math.log2(s.size));
  if (
    !pow2 ||
    !Number.isSafeInteger(s.base) ||
    s.base % s.size !== 0 ||
    s.base + s.size > 2 ** physAddrBits
  ) {
    throw new TdxSimError(
      "E_CPU_CONFIG",
      `SEAMRR {base: 0x${s.base.toString(16)}, size: 0x${s.size.toString(16)}} is invalid: size must be a power of two >= 4 KiB, base aligned to size, inside the physical address space`,
    );
  }
}
