/**
 * The VT-d dialect of the register-level script format (`tdx-sim vtd script`): `reset` carries the
 * unit's CAP and ECAP values, a DMA's "sid" is a 16-bit PCI requester id and the request carries
 * no PASID, host memory is RAM below 2^48, and the unit itself checks each register offset against
 * its window. Everything else (field parsers, the shared ops, line-numbered errors) is the
 * register-script core of @tdx/hw-cpu-seam; errors have the code E_VTD_SCRIPT and read
 * "line N: …" (the CLI adds the file name).
 *
 * @spec /work/shared/ARCHITECTURE.md "External contracts" (tdx-sim vtd script FILE);
 *   reference/vtd.md (source-id = bus:dev.fn, 16 bits; CAP/ECAP are 64-bit registers)
 */
import {
  parseRegisterScript,
  parseRegisterScriptOp,
  REGISTER_SCRIPT_MAX_LEN,
  RegisterScriptError,
  type RegisterScriptOp,
  type RegisterScriptSyntax,
  scriptField,
  scriptInteger,
} from "@tdx/hw-cpu-seam";

/** A malformed VT-d script line (or an operation the unit cannot take): the core's error class. */
export const VtdScriptError = RegisterScriptError;
export type VtdScriptError = RegisterScriptError;

/** What a VT-d `reset` sets: the CAP and ECAP register values. */
export interface VtdScriptReset {
  readonly cap: bigint;
  readonly ecap: bigint;
}

export type ScriptOp = RegisterScriptOp<VtdScriptReset>;

/** Largest length a mem.read / dma read may ask for. */
export const MAX_SCRIPT_LEN = REGISTER_SCRIPT_MAX_LEN;
/** Script addresses are below 2^48 (the contract's sparse host memory). */
export const SCRIPT_ADDRESS_LIMIT = 2 ** 48;

/** The VT-d dialect. */
export const VTD_SCRIPT_SYNTAX: RegisterScriptSyntax<VtdScriptReset> = {
  errorCode: "E_VTD_SCRIPT",
  physAddrBits: 48,
  sidLimit: 0x1_0000,
  parseReset: (o, at) => ({
    cap: scriptInteger(at, "cap", scriptField(at, o, "cap"), 1n << 64n),
    ecap: scriptInteger(at, "ecap", scriptField(at, o, "ecap"), 1n << 64n),
  }),
};

/** Parse one JSON value (already decoded) into an operation. */
export function parseOp(line: number, v: unknown): ScriptOp {
  return parseRegisterScriptOp(
    v,
    { code: VTD_SCRIPT_SYNTAX.errorCode, line, source: undefined },
    VTD_SCRIPT_SYNTAX,
  );
}

/** Parse a whole script (JSON Lines; blank lines skipped). */
export function parseScript(text: string): ScriptOp[] {
  return parseRegisterScript(text, undefined, VTD_SCRIPT_SYNTAX);
}
