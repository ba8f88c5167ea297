/**
 * A small, standard platform for exercising the TDX module: sparse PhysicalMemory (46-bit PAs,
 * 6 KeyID bits, MKTME KeyIDs 1..31, TDX private KeyIDs 32..63), 3 GiB of RAM, one CMR above
 * the first MiB (SEAMRR above it), LPs grouped in packages (optionally a full CpuComplex), and a
 * TdxModule wired to them. Tests, the contract suite's self-test and benchmarks use it; `apps/sim`
 * composes its own platforms.
 *
 * @spec shared/reference/tdx-module.md §5.4 (KeyID partitioning: private KeyIDs follow the MKTME
 *   ones; the first becomes the module's global KeyID), §5.1 (CMRs)
 */
import { CpuComplex } from "../cpu/cpu-complex";
import { PhysicalMemory, type PhysicalMemoryConfig } from "../memory/physical-memory";
import type { MmioPort, TdxModuleOptions } from "./core";
import type { TdxPlatformUnderTest } from "./host-driver";
import { TdxModule } from "./module";
import type { PhysRange } from "./tdmr";

const GIB = 1024 * 1024 * 1024;
const MIB = 1024 * 1024;

export interface SimTdxPlatformOptions {
  /** Package of each LP; default two packages of two LPs. Ignored with `cpus`. */
  readonly lpPackages?: readonly number[];
  /**
   * Model the CPUs too: a CpuComplex (2 packages x 2 cores), SEAMRR set and the module loaded,
   * every LP in VMX root; SEAMCALL then runs through the LP's mode machine.
   */
  readonly cpus?: boolean;
  readonly options?: TdxModuleOptions;
  readonly mmio?: MmioPort;
  /** Extra PhysicalMemory settings (integrity mode, erratum, MMIO ranges). */
  readonly memory?: Partial<Omit<PhysicalMemoryConfig, "physAddrBits" | "keyIdBits" | "tdxKeyIds" | "ram">>;
}

export interface SimTdxPlatform extends TdxPlatformUnderTest {
  readonly memory: PhysicalMemory;
  readonly module: TdxModule;
  readonly cpus: CpuComplex | undefined;
  readonly cmrs: readonly PhysRange[];
}

export function makeSimTdxPlatform(o: SimTdxPlatformOptions = {}): SimTdxPlatform {
  const memory = new PhysicalMemory({
    physAddrBits: 46,
    keyIdBits: 6,
    tdxKeyIds: { first: 32, count: 32 },
    ram: [{ base: 0, size: 3 * GIB }],
    ...o.memory,
  });
  let cpus: CpuComplex | undefined;
  if (o.cpus) {
    cpus = new CpuComplex({
      topology: { packages: 2, coresPerPackage: 2, threadsPerCore: 1 },
      physAddrBits: 46,
      keyIds: memory.keyIds,
      seamrr: { base: 3 * GIB - 32 * MIB, size: 32 * MIB },
    });
    cpus.loadSeamModule();
    for (const lp of cpus.lps) lp.vmxon();
  }
  const lpPackages = cpus ? cpus.lps.map((l) => l.packageId) : (o.lpPackages ?? [0, 0, 1, 1]);
  const cmrs: PhysRange[] = [{ base: MIB, size: 3 * GIB - 64 * MIB }];
  const module = new TdxModule({
    memory,
    cmrs,
    ...(cpus ? { cpus } : { lpPackages, keyIdPartitioning: memory.keyIdPartitioningMsr() }),
    ...(o.mmio ? { mmio: o.mmio } : {}),
    ...(o.options ? { options: o.options } : {}),
  });
  return {
    memory,
    module,
    cpus,
    cmrs,
    lpPackages,
    seamcall: (lp, regs) => module.seamcall(lp, regs),
    loadGuestCode: (tdr, program) => module.loadGuestCode(tdr, program),
    tdmrRange: { base: GIB, size: GIB },
    sharedRange: { base: 16 * MIB, size: GIB - 16 * MIB },
    globalHkid: 32,
    tdHkids: Array.from({ length: 31 }, (_, i) => 33 + i),
  };
}
