/**
 * Running a VT-d script: the register-script core of @tdx/hw-cpu-seam with a VtdUnit (HAW 48 by
 * default, so every script address is reachable) built by each `reset` from its CAP/ECAP, its
 * DMA port as the device path (requests without PASID). A faulting DMA answers {"ok":false}, the
 * fault being recorded in the fault registers exactly as the unit records it.
 *
 * @spec /work/shared/ARCHITECTURE.md "External contracts" (tdx-sim vtd script FILE)
 */
import { type RegisterScriptOutput, RegisterScriptRunner } from "@tdx/hw-cpu-seam";
import type { VtdPolicy } from "../unit/options";
import { VtdUnit } from "../unit/vtd-unit";
import { parseScript, type ScriptOp, VTD_SCRIPT_SYNTAX, type VtdScriptReset } from "./script-ops";

/** One output object of a script. */
export type ScriptOutput = RegisterScriptOutput;

export interface ScriptRunnerOptions {
  /** Policies for the unit (defaults: the unit's own). */
  readonly policy?: Partial<VtdPolicy>;
  /** Host address width of the unit. Default 48: every script address is below 2^48. */
  readonly hawBits?: number;
}

export class VtdScriptRunner extends RegisterScriptRunner<VtdScriptReset, VtdUnit> {
  constructor(opts: ScriptRunnerOptions = {}) {
    super({
      ...VTD_SCRIPT_SYNTAX,
      createUnit: (reset, mem) =>
        new VtdUnit({
          mem,
          cap: reset.cap,
          ecap: reset.ecap,
          hawBits: opts.hawBits ?? 48,
          policy: opts.policy,
        }),
      dmaPort: (unit) => unit.port,
    });
  }

  /** Execute one operation. */
  exec(op: ScriptOp): ScriptOutput {
    return this.step(op);
  }
}

/** Parse and run a whole script; every line parses before anything runs. */
export function runVtdScript(text: string, opts: ScriptRunnerOptions = {}): ScriptOutput[] {
  const ops = parseScript(text);
  const runner = new VtdScriptRunner(opts);
  return ops.map((op) => runner.exec(op));
}
