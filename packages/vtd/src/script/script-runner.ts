/**
 * Running a VT-d script against one unit on a sparse host memory in which every address below 2^48
 * is RAM: `mem.*` is the CPU's untranslated access, `dma` the device's path through the unit
 * (requests without PASID), `reg.*` the register window at the architectural offsets. Each
 * operation yields one JSON object, in order; a faulting DMA answers {"ok":false}, the fault being
 * recorded in the fault registers exactly as the unit records it, and nothing else of it happens.
 *
 * @spec /work/shared/ARCHITECTURE.md "External contracts" (tdx-sim vtd script FILE: ops, outputs,
 *   reg.read values lower-case hex without leading zeros, unknown ops answered {"ok":true})
 */
import { Initiator, PhysicalMemory, TdxSimError } from "@tdx/hw-cpu-seam";
import type { VtdPolicy } from "../unit/options";
import { VtdUnit } from "../unit/vtd-unit";
import { parseScript, type ScriptOp, VtdScriptError } from "./script-ops";

/** One output object of a script. */
export type ScriptOutput =
  | { readonly ok: true }
  | { readonly ok: true; readonly hex: string }
  | { readonly ok: false }
  | { readonly hex: string }
  | { readonly value: string };

export interface ScriptRunnerOptions {
  /** Policies for the unit (defaults: the unit's own). */
  readonly policy?: Partial<VtdPolicy>;
  /** Host address width of the unit. Default 48: every script address is below 2^48. */
  readonly hawBits?: number;
}

function toHex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += b[i]!.toString(16).padStart(2, "0");
  return s;
}

export class VtdScriptRunner {
  readonly mem = PhysicalMemory.sparseAll({ physAddrBits: 48 });
  private unitOrUndefined: VtdUnit | undefined;

  constructor(private readonly opts: ScriptRunnerOptions = {}) {}

  /** The unit created by the last reset. */
  get unit(): VtdUnit | undefined {
    return this.unitOrUndefined;
  }

  private requireUnit(op: ScriptOp): VtdUnit {
    if (this.unitOrUndefined === undefined) {
      throw new VtdScriptError(
        op.line,
        `"${op.op}" before any "reset": the script must reset the unit first`,
      );
    }
    return this.unitOrUndefined;
  }

  /** Execute one operation. */
  exec(op: ScriptOp): ScriptOutput {
    try {
      return this.run(op);
    } catch (err) {
      if (err instanceof VtdScriptError || !(err instanceof TdxSimError)) throw err;
      throw new VtdScriptError(op.line, err.message);
    }
  }

  private run(op: ScriptOp): ScriptOutput {
    switch (op.op) {
      case "reset":
        this.unitOrUndefined = new VtdUnit({
          mem: this.mem,
          cap: op.cap,
          ecap: op.ecap,
          hawBits: this.opts.hawBits ?? 48,
          policy: this.opts.policy,
        });
        return { ok: true };
      case "mem.write":
        this.mem.write(op.addr, op.bytes, Initiator.Host);
        return { ok: true };
      case "mem.read": {
        const b = new Uint8Array(op.len);
        this.mem.read(op.addr, b, Initiator.Host);
        return { hex: toHex(b) };
      }
      case "reg.write":
        this.requireUnit(op).writeRegister(op.off, op.size, op.value);
        return { ok: true };
      case "reg.read":
        return { value: `0x${this.requireUnit(op).readRegister(op.off, op.size).toString(16)}` };
      case "dma.read": {
        const b = new Uint8Array(op.len);
        const r = this.requireUnit(op).port.dmaRead({ sid: op.sid, pasid: -1 }, op.iova, b);
        return r.ok ? { ok: true, hex: toHex(b) } : { ok: false };
      }
      case "dma.write": {
        const r = this.requireUnit(op).port.dmaWrite({ sid: op.sid, pasid: -1 }, op.iova, op.bytes);
        return r.ok ? { ok: true } : { ok: false };
      }
      case "other":
        return { ok: true };
    }
  }
}

/** Parse and run a whole script; every line parses before anything runs. */
export function runVtdScript(text: string, opts: ScriptRunnerOptions = {}): ScriptOutput[] {
  const ops = parseScript(text);
  const runner = new VtdScriptRunner(opts);
  return ops.map((op) => runner.exec(op));
}
