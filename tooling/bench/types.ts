/**
 * The shape of a benchmark file. Each package puts `bench/*.bench.ts` files whose default export
 * is a BenchSuite; `pnpm bench` (tooling/bench/run.ts) finds and runs them all.
 */

export interface BenchCase {
  /** Unique within its suite. */
  readonly name: string;
  /** One call; it may do `opsPerCall` operations in a loop to amortise call overhead. */
  readonly fn: () => void;
  /** Operations one call of `fn` performs (default 1). */
  readonly opsPerCall?: number;
  /** Bytes one operation moves, to report bytes/s. */
  readonly bytesPerOp?: number;
  /** Name of the case in the same suite measured as this case's baseline (in the same run). */
  readonly baseline?: string;
  /** What the issue demands, reported as met or not. */
  readonly target?: { readonly minOpsPerSec?: number; readonly minRatio?: number };
}

export interface BenchSuite {
  readonly name: string;
  readonly cases: readonly BenchCase[];
}

export interface BenchResult {
  readonly suite: string;
  readonly name: string;
  readonly opsPerSec: number;
  readonly bytesPerSec?: number;
  readonly rme: number;
  readonly samples: number;
  readonly baseline?: { readonly name: string; readonly opsPerSec: number; readonly bytesPerSec?: number };
  /** opsPerSec / baseline opsPerSec. */
  readonly ratio?: number;
  readonly target?: BenchCase["target"];
  readonly meetsTarget?: boolean;
}

export interface BenchReport {
  readonly schemaVersion: 1;
  readonly node: string;
  readonly results: readonly BenchResult[];
}
