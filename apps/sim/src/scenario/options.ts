/**
 * The scenario's options: workload size, seed, IOMMU mode and cost overrides, with their defaults
 * and the checks that turn bad values into errors that say what is allowed.
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";
import { costModelWith } from "./cost-model";
import { IOMMU_MODES, type IommuMode } from "./host-iommu";
import { MAX_DMA_SIZE } from "./layout";

export interface ScenarioOptions {
  /** Streaming DMA transfers in each direction. */
  readonly dmaCount: number;
  /** Bytes per streaming transfer (one dma_map_single). */
  readonly dmaSize: number;
  /** Seed of the run's pseudo-random payloads. */
  readonly seed: number;
  /** VT-d translation mode the host programs. */
  readonly iommu: IommuMode;
  /** Cost-model overrides by name (nanoseconds). */
  readonly costs: Readonly<Record<string, number>>;
}

export const DEFAULT_SCENARIO: ScenarioOptions = {
  dmaCount: 16,
  dmaSize: 4096,
  seed: 1,
  iommu: "legacy",
  costs: {},
};

/** Upper bound on transfers per direction (each is four MMIO round trips; keeps a run bounded). */
export const MAX_DMA_COUNT = 10_000;

function integerIn(name: string, v: unknown, min: number, max: number): number {
  if (typeof v !== "number" || !Number.isInteger(v) || v < min || v > max) {
    throw new TdxSimError(
      "E_SCENARIO_OPTION",
      `${name} ${String(v)} must be an integer from ${min} to ${max}`,
    );
  }
  return v;
}

/** The defaults with `o` applied, validated. */
export function resolveScenarioOptions(o: Partial<ScenarioOptions> = {}): ScenarioOptions {
  const m = { ...DEFAULT_SCENARIO, ...o };
  if (!IOMMU_MODES.includes(m.iommu)) {
    throw new TdxSimError(
      "E_SCENARIO_OPTION",
      `iommu "${String(m.iommu)}" must be one of ${IOMMU_MODES.join(", ")}`,
    );
  }
  costModelWith(m.costs);
  return {
    dmaCount: integerIn("dma-count", m.dmaCount, 1, MAX_DMA_COUNT),
    dmaSize: integerIn("dma-size", m.dmaSize, 1, MAX_DMA_SIZE),
    seed: integerIn("seed", m.seed, 0, 0xffff_ffff),
    iommu: m.iommu,
    costs: { ...m.costs },
  };
}
