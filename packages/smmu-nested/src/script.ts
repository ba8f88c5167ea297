/**
 * The SMMUv3 dialect of the register-level script format (`tdx-sim smmu script FILE`): the first
 * operation must be `{"op":"reset","idr":{"0":"0x…",…}}` (ID register values; the others keep the
 * model's defaults), register offsets lie in the two register pages (page 0 at 0x0, page 1 at
 * 0x10000) and are checked as the script parses, a DMA's "sid" is a 32-bit StreamID and may carry
 * "ssid" (a 20-bit SubstreamID) and "priv"/"instr" flags, host memory is RAM below 2^52, and a
 * transaction the unit stalls answers {"ok":false,"stalled":true}. Everything else (field
 * parsers, the shared ops, line-numbered errors, running them) is the register-script core of
 * @tdx/hw-cpu-seam; errors have the code E_SMMU_SCRIPT and read "source:N: …". A later `reset`
 * builds a fresh unit on the same memory.
 *
 * @spec /work/shared/ARCHITECTURE.md "External contracts" (vtd/smmu script formats);
 *   reference/smmu.md (SMMU_IDR0-5, register pages, StreamID up to 32 bits, SSID up to 20 bits)
 */
import {
  parseRegisterScript,
  REGISTER_SCRIPT_MAX_LEN,
  type RegisterScriptOp,
  type RegisterScriptOutput,
  RegisterScriptRunner,
  type RegisterScriptSyntax,
  scriptBool,
  scriptFail,
  scriptNumber,
} from "@tdx/hw-cpu-seam";
import type { IdRegisterValues } from "./idr";
import { REG_SPACE_SIZE } from "./regs";
import { type SmmuOptions, SmmuV3 } from "./smmu";

/** A checked script operation; `reset` carries the ID register values it sets. */
export type ScriptOp = RegisterScriptOp<Partial<IdRegisterValues>>;

/** One answer line. */
export type ScriptAnswer = Readonly<Record<string, string | boolean>>;

/** Largest mem.read / dma length accepted (bytes). */
export const SCRIPT_MAX_LEN = REGISTER_SCRIPT_MAX_LEN;

const IDR_KEYS: Readonly<Record<string, keyof IdRegisterValues>> = {
  "0": "idr0",
  "1": "idr1",
  "2": "idr2",
  "3": "idr3",
  "4": "idr4",
  "5": "idr5",
};

/** The SMMUv3 dialect. */
const SMMU_SCRIPT_SYNTAX: RegisterScriptSyntax<Partial<IdRegisterValues>> = {
  errorCode: "E_SMMU_SCRIPT",
  physAddrBits: 52,
  sidLimit: 2 ** 32,
  registerSpace: { size: REG_SPACE_SIZE, name: "the register pages" },
  resetFirst: '{"op":"reset","idr":{...}}',
  parseReset(o, at) {
    const idrIn = o.idr;
    if (typeof idrIn !== "object" || idrIn === null || Array.isArray(idrIn)) {
      scriptFail(at, `"idr" must be an object such as {"0":"0x...","1":"0x...","3":"0x...","5":"0x..."}`);
    }
    const idr: Partial<Record<keyof IdRegisterValues, number>> = {};
    for (const [k, v] of Object.entries(idrIn)) {
      const name = Object.hasOwn(IDR_KEYS, k) ? IDR_KEYS[k] : undefined;
      if (name === undefined) scriptFail(at, `"idr" key "${k}" is not an ID register number (0-5)`);
      idr[name] = scriptNumber(at, `idr.${k}`, v, 2 ** 32);
    }
    return idr;
  },
  dmaRequester: (o, at, sid) => ({
    sid,
    pasid: o.ssid === undefined ? -1 : scriptNumber(at, "ssid", o.ssid, 2 ** 20),
    priv: scriptBool(at, "priv", o.priv),
    instr: scriptBool(at, "instr", o.instr),
  }),
};

/** Parse and check a whole JSON Lines script; blank lines are skipped. */
export function parseSmmuScript(text: string, source = "script"): ScriptOp[] {
  return parseRegisterScript(text, source, SMMU_SCRIPT_SYNTAX);
}

/** Runs checked operations against one unit. */
export class SmmuScriptRunner extends RegisterScriptRunner<Partial<IdRegisterValues>, SmmuV3> {
  constructor(options: Omit<SmmuOptions, "idr"> = {}) {
    super({
      ...SMMU_SCRIPT_SYNTAX,
      createUnit: (idr, mem) => new SmmuV3(mem, { ...options, idr }),
      dmaPort: (unit) => unit,
    });
  }

  /** The unit built by the last reset. */
  get smmu(): SmmuV3 | null {
    return this.unit ?? null;
  }

  /** Execute one operation; errors are located as "source:N" ("script:N" by default). */
  override step(op: ScriptOp, source = "script"): RegisterScriptOutput {
    return super.step(op, source);
  }
}

/** Parse, check and run a script; returns one answer per operation. */
export function runSmmuScript(
  text: string,
  source = "script",
  options: Omit<SmmuOptions, "idr"> = {},
): ScriptAnswer[] {
  const ops = parseSmmuScript(text, source);
  const runner = new SmmuScriptRunner(options);
  return ops.map((op) => runner.step(op, source));
}
