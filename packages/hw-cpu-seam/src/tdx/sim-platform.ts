/**
 * A small, standard platform for exercising the TDX module: sparse PhysicalMemory (46-bit PAs,
 * 6 KeyID bits, MKTME KeyIDs 1..31, TDX private KeyIDs 32..63), 3 GiB of RAM in one CMR above
 * the first MiB, LPs grouped in packages, and a TdxModule wired to them. Tests, the contract
 * suite's self-test and benchmarks use it; `apps/sim` composes its own platforms.
 *
 * @spec shared/reference/tdx-module.md §5.4 (KeyID partitioning: private KeyIDs follow the MKTME
 *   ones; the first becomes the module's global KeyID), §5.1 (CMRs)
 */
import { PhysicalMemory, type PhysicalMemoryConfig } from "../memory/physical-memory";
import type { MmioPort, TdxModuleOptions } from "./core";
import type { TdxPlatformUnderTest } from "./host-driver";
import { TdxModule } from "./module";
import type { PhysRange } from "./tdmr";

const GIB = 1024 * 1024 * 1024;
const MIB = 1024 * 1024;

export interface SimTdxPlatformOptions {
  /** Package of each LP; default two packages of two LPs. */
  readonly lpPackages?: readonly number[];
  readonly options?: TdxModuleOptions;
  readonly mmio?: MmioPort;
  /** Extra PhysicalMemory settings (integrity mode, erratum, MMIO ranges). */
  readonly memory?: Partial<Omit<PhysicalMemoryConfig, "physAddrBits" | "keyIdBits" | "tdxKeyIds" | "ram">>;
}

export interface SimTdxPlatform extends TdxPlatformUnderTest {
  readonly memory: PhysicalMemory;
  readonly module: TdxModule;
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
  const lpPackages = o.lpPackages ?? [0, 0, 1, 1];
  const cmrs: PhysRange[] = [{ base: MIB, size: 3 * GIB - MIB }];
  const module = new TdxModule({
    memory,
    lpPackages,
    cmrs,
    keyIdPartitioning: memory.keyIdPartitioningMsr(),
    ...(o.mmio ? { mmio: o.mmio } : {}),
    ...(o.options ? { options: o.options } : {}),
  });
  return {
    memory,
    module,
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
