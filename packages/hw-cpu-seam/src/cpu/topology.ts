/**
 * CPU topology: packages x cores x threads, numbered the way Linux enumerates CPUs here (package
 * major, then core, then thread), with x2APIC IDs built from the SDM's topology fields (thread in
 * the low bits, then core, then package, each field as wide as its count needs). Per-package
 * grouping matters to the TDX module: TDH.SYS.KEY.CONFIG and TDH.PHYMEM.CACHE.WB are per package.
 *
 * @spec Intel SDM Vol. 3A §10.9 (x2APIC ID topology fields, CPUID leaf 0xB/0x1F shift widths);
 *   /work/shared/reference/tdx-module.md §11 item 3 (model packages explicitly)
 */
import { TdxSimError } from "../errors";
import { bitsFor } from "./cpuid";

export interface CpuTopologyConfig {
  readonly packages: number;
  readonly coresPerPackage: number;
  readonly threadsPerCore: number;
}

/** Where one logical processor sits. */
export interface LpPlace {
  /** Linux-style CPU number, 0..n-1. */
  readonly index: number;
  readonly packageId: number;
  /** Core number within its package. */
  readonly coreId: number;
  /** Thread number within its core. */
  readonly threadId: number;
  readonly x2apicId: number;
}

export class CpuTopology {
  readonly packages: number;
  readonly coresPerPackage: number;
  readonly threadsPerCore: number;
  readonly lps: readonly LpPlace[];
  /** Width of the thread field and of thread+core fields in an x2APIC ID. */
  readonly smtShift: number;
  readonly coreShift: number;

  constructor(cfg: CpuTopologyConfig) {
    for (const [k, v] of Object.entries(cfg)) {
      if (!Number.isInteger(v) || v < 1 || v > 1024) {
        throw new TdxSimError(
          "E_CPU_CONFIG",
          `topology ${k} = ${String(v)} is invalid: it must be an integer in 1..1024`,
        );
      }
    }
    this.packages = cfg.packages;
    this.coresPerPackage = cfg.coresPerPackage;
    this.threadsPerCore = cfg.threadsPerCore;
    this.smtShift = bitsFor(cfg.threadsPerCore);
    this.coreShift = this.smtShift + bitsFor(cfg.coresPerPackage);
    const lps: LpPlace[] = [];
    for (let p = 0; p < cfg.packages; p++) {
      for (let c = 0; c < cfg.coresPerPackage; c++) {
        for (let t = 0; t < cfg.threadsPerCore; t++) {
          lps.push({
            index: lps.length,
            packageId: p,
            coreId: c,
            threadId: t,
            x2apicId: p * 2 ** this.coreShift + c * 2 ** this.smtShift + t,
          });
        }
      }
    }
    this.lps = lps;
  }

  get lpCount(): number {
    return this.lps.length;
  }

  /** LP indexes of one package. */
  lpsOfPackage(packageId: number): number[] {
    return this.lps.filter((l) => l.packageId === packageId).map((l) => l.index);
  }

  /** The first LP of every package (one CPU per package, as Linux picks for KEY.CONFIG). */
  firstLpOfEachPackage(): number[] {
    return Array.from({ length: this.packages }, (_, p) => p * this.coresPerPackage * this.threadsPerCore);
  }
}
