/**
 * Running a register-level script: one unit on a sparse host memory in which every address below
 * 2^physAddrBits is RAM. `mem.*` is the CPU's untranslated access (Initiator.Host), `reg.*` the
 * unit's register window, `dma` the device's path through the unit (its DeviceDmaPort); any other
 * op is answered {"ok":true}. A `reset` builds a fresh unit on the same memory. Each operation
 * yields one JSON object, in order: {"ok":true}, {"hex":…}, {"value":"0x…"} (lower-case, no
 * leading zeros), and for dma {"ok":true[,"hex"]}, {"ok":false} when it faults, or
 * {"ok":false,"stalled":true} when the unit holds it (SMMU stall model). A misuse (a register
 * access the unit refuses, a reg/dma before any reset) is a RegisterScriptError naming the line.
 *
 * @spec /work/shared/ARCHITECTURE.md "External contracts" (tdx-sim vtd/smmu script: outputs, the
 *   sparse "every address is RAM" memory, mem.* untranslated and dma through the unit)
 */
import type { DeviceDmaPort } from "../dma/types";
import { TdxSimError } from "../errors";
import { PhysicalMemory } from "../memory/physical-memory";
import { Initiator, MemStatus } from "../memory/types";
import { RegisterScriptError } from "./script-error";
import { bytesToHex } from "./script-fields";
import type { RegisterScriptOp, RegisterScriptSyntax } from "./script-parse";

/** One answer of a script, in the contract's format. */
export type RegisterScriptOutput =
  | { readonly ok: true }
  | { readonly ok: true; readonly hex: string }
  | { readonly ok: false }
  | { readonly ok: false; readonly stalled: true }
  | { readonly hex: string }
  | { readonly value: string };

/** A unit's register window, as a driver (or a script) accesses it. */
export interface ScriptRegisters {
  readRegister(off: number, size: 4 | 8): bigint;
  writeRegister(off: number, size: 4 | 8, value: bigint): void;
}

/** The device-facing path a script's `dma` takes. */
export type ScriptDmaPort = Pick<DeviceDmaPort, "dmaRead" | "dmaWrite">;

/** A unit's dialect and how to build one: what the runner needs of VT-d, SMMUv3, ... */
export interface RegisterScriptUnitKind<R, U extends ScriptRegisters> extends RegisterScriptSyntax<R> {
  /** A unit in its reset state on the script's memory. Throws TdxSimError for values it refuses. */
  createUnit(reset: R, mem: PhysicalMemory): U;
  /** The unit's device-facing DMA port. */
  dmaPort(unit: U): ScriptDmaPort;
}

/** Runs checked operations against one unit (rebuilt by each reset) and its memory. */
export class RegisterScriptRunner<R, U extends ScriptRegisters> {
  /** The host memory every script address lies in. */
  readonly mem: PhysicalMemory;
  private current: U | undefined;

  constructor(private readonly kind: RegisterScriptUnitKind<R, U>) {
    this.mem = PhysicalMemory.sparseAll({ physAddrBits: kind.physAddrBits });
  }

  /** The unit built by the last reset, if any. */
  get unit(): U | undefined {
    return this.current;
  }

  /**
   * Execute one operation. A TdxSimError from the unit or the memory becomes a RegisterScriptError
   * with the dialect's code, located at the operation's line (in `source` when given).
   */
  step(op: RegisterScriptOp<R>, source?: string): RegisterScriptOutput {
    try {
      return this.run(op);
    } catch (err) {
      if (err instanceof RegisterScriptError || !(err instanceof TdxSimError)) throw err;
      throw new RegisterScriptError(this.kind.errorCode, op.line, err.message, source);
    }
  }

  private run(op: RegisterScriptOp<R>): RegisterScriptOutput {
    switch (op.op) {
      case "reset":
        this.current = this.kind.createUnit(op.reset, this.mem);
        return { ok: true };
      case "mem.write":
        this.checkMem(this.mem.write(op.addr, op.bytes, Initiator.Host));
        return { ok: true };
      case "mem.read": {
        const b = new Uint8Array(op.len);
        this.checkMem(this.mem.read(op.addr, b, Initiator.Host));
        return { hex: bytesToHex(b) };
      }
      case "reg.write":
        this.requireUnit(op).writeRegister(op.off, op.size, op.value);
        return { ok: true };
      case "reg.read":
        return { value: `0x${this.requireUnit(op).readRegister(op.off, op.size).toString(16)}` };
      case "dma.read": {
        const b = new Uint8Array(op.len);
        const r = this.kind.dmaPort(this.requireUnit(op)).dmaRead(op.req, op.iova, b);
        if (r.ok) return { ok: true, hex: bytesToHex(b) };
        return r.stalled === true ? { ok: false, stalled: true } : { ok: false };
      }
      case "dma.write": {
        const r = this.kind.dmaPort(this.requireUnit(op)).dmaWrite(op.req, op.iova, op.bytes);
        if (r.ok) return { ok: true };
        return r.stalled === true ? { ok: false, stalled: true } : { ok: false };
      }
      case "other":
        return { ok: true };
    }
  }

  private requireUnit(op: RegisterScriptOp<R>): U {
    if (this.current === undefined) {
      throw new TdxSimError(
        this.kind.errorCode,
        `"${op.op}" before any "reset": the script must reset the unit first`,
      );
    }
    return this.current;
  }

  /** The script memory is RAM everywhere below its limit, so a failure here is a misuse. */
  private checkMem(st: MemStatus): void {
    if (st !== MemStatus.Ok) {
      throw new TdxSimError(
        this.kind.errorCode,
        `memory access failed: ${this.mem.lastFault()?.message ?? String(st)}`,
      );
    }
  }
}

/** Run checked operations on a fresh runner; one answer per operation. */
export function runRegisterScript<R, U extends ScriptRegisters>(
  ops: readonly RegisterScriptOp<R>[],
  kind: RegisterScriptUnitKind<R, U>,
  source?: string,
): RegisterScriptOutput[] {
  const runner = new RegisterScriptRunner(kind);
  return ops.map((op) => runner.step(op, source));
}
