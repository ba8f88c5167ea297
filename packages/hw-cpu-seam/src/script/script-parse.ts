/**
 * Parsing a register-level script: JSON Lines, one operation per line (reset, mem.write,
 * mem.read, reg.write, reg.read, dma; any other op is kept as "other" and answered {"ok":true}).
 * The operations every unit shares are parsed here; what differs per unit (the fields of `reset`,
 * the extra fields of a DMA request, id and address widths, the register window, whether the
 * script must begin with a reset) comes from the unit's `RegisterScriptSyntax`. The whole script
 * parses before anything runs, so a malformed line fails with nothing executed.
 *
 * @spec /work/shared/ARCHITECTURE.md "External contracts" (tdx-sim vtd script, tdx-sim smmu script)
 */
import { ADDRESS_LIMIT } from "../addr";
import type { DmaRequester } from "../dma/types";
import { type ScriptLine, scriptFail } from "./script-error";
import {
  type ScriptObject,
  scriptBytes,
  scriptField,
  scriptInteger,
  scriptLen,
  scriptNumber,
  scriptSize,
} from "./script-fields";

/** What a unit's script dialect adds to the shared format. */
export interface RegisterScriptSyntax<R> {
  /** Error code of every error of this dialect (e.g. "E_VTD_SCRIPT"). */
  readonly errorCode: string;
  /** The script's host memory is RAM below 2^physAddrBits; `mem.*` must stay below it. */
  readonly physAddrBits: number;
  /** A DMA "sid" must be below this (2^16 for a PCI requester id, 2^32 for a StreamID). */
  readonly sidLimit: number;
  /**
   * The register window, when it is checked as the script parses; without it the unit checks
   * each access itself (reg offsets must then be below 2^32).
   */
  readonly registerSpace?: { readonly size: number; readonly name: string };
  /** When set, the first operation must be a reset; the text shows one (e.g. `{"op":"reset",...}`). */
  readonly resetFirst?: string;
  /** The unit's reset fields (CAP/ECAP, ID registers, ...). */
  parseReset(o: ScriptObject, at: ScriptLine): R;
  /** The requester of a DMA from its extra fields; default `{ sid, pasid: -1 }` (no PASID). */
  dmaRequester?(o: ScriptObject, at: ScriptLine, sid: number): DmaRequester;
}

/** One checked operation; `line` is its 1-based line in the script. */
export type RegisterScriptOp<R> =
  | { readonly op: "reset"; readonly line: number; readonly reset: R }
  | { readonly op: "mem.write"; readonly line: number; readonly addr: number; readonly bytes: Uint8Array }
  | { readonly op: "mem.read"; readonly line: number; readonly addr: number; readonly len: number }
  | {
      readonly op: "reg.write";
      readonly line: number;
      readonly off: number;
      readonly size: 4 | 8;
      readonly value: bigint;
    }
  | { readonly op: "reg.read"; readonly line: number; readonly off: number; readonly size: 4 | 8 }
  | {
      readonly op: "dma.read";
      readonly line: number;
      readonly req: DmaRequester;
      readonly iova: number;
      readonly len: number;
    }
  | {
      readonly op: "dma.write";
      readonly line: number;
      readonly req: DmaRequester;
      readonly iova: number;
      readonly bytes: Uint8Array;
    }
  | { readonly op: "other"; readonly line: number; readonly name: string };

/** A CPU memory address of the script: below 2^bits. */
function memAddress(at: ScriptLine, o: ScriptObject, bits: number): number {
  return scriptNumber(at, "addr", scriptField(at, o, "addr"), 2 ** bits);
}

/** A CPU access of `len` bytes at `addr` must end at or below 2^bits. */
function checkMemEnd(at: ScriptLine, addr: number, len: number, bits: number, what: string): void {
  if (addr + len > 2 ** bits) scriptFail(at, `the ${what} runs past 2^${bits}`);
}

/** A register offset, aligned to the access size and inside the window when the syntax has one. */
function registerOffset<R>(
  at: ScriptLine,
  o: ScriptObject,
  size: 4 | 8,
  syntax: RegisterScriptSyntax<R>,
): number {
  const space = syntax.registerSpace;
  const within = space === undefined ? "" : ` within ${space.name} (0x0-0x${(space.size - 1).toString(16)})`;
  const off = scriptNumber(
    at,
    "off",
    scriptField(at, o, "off"),
    space?.size ?? 2 ** 32,
    space === undefined ? undefined : `it must lie${within}`,
  );
  if (off % size !== 0) {
    scriptFail(
      at,
      `"off" 0x${off.toString(16)} is not aligned to the access size ${size}: it must be ${size}-byte aligned${within}`,
    );
  }
  return off;
}

function parseDma<R>(at: ScriptLine, o: ScriptObject, syntax: RegisterScriptSyntax<R>): RegisterScriptOp<R> {
  const line = at.line;
  const sid = scriptNumber(at, "sid", scriptField(at, o, "sid"), syntax.sidLimit);
  const iova = scriptNumber(at, "iova", scriptField(at, o, "iova"), ADDRESS_LIMIT);
  const dir = o.dir;
  if (dir !== "read" && dir !== "write") {
    scriptFail(at, `"dir" must be "read" or "write", got ${JSON.stringify(dir)}`);
  }
  const req = syntax.dmaRequester?.(o, at, sid) ?? { sid, pasid: -1 };
  if (dir === "read")
    return { op: "dma.read", line, req, iova, len: scriptLen(at, scriptField(at, o, "len")) };
  return { op: "dma.write", line, req, iova, bytes: scriptBytes(at, "hex", scriptField(at, o, "hex")) };
}

/** Check one decoded JSON value as an operation; `first` when no operation came before it. */
export function parseRegisterScriptOp<R>(
  value: unknown,
  at: ScriptLine,
  syntax: RegisterScriptSyntax<R>,
  first = false,
): RegisterScriptOp<R> {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    scriptFail(at, `each line must be a JSON object with an "op" field, got ${JSON.stringify(value)}`);
  }
  const o = value as ScriptObject;
  const op = o.op;
  if (typeof op !== "string") scriptFail(at, `the "op" field must be a string, got ${JSON.stringify(op)}`);
  if (first && syntax.resetFirst !== undefined && op !== "reset") {
    scriptFail(at, `the first operation must be ${syntax.resetFirst}, not "${op}"`);
  }
  const line = at.line;
  switch (op) {
    case "reset":
      return { op, line, reset: syntax.parseReset(o, at) };
    case "mem.write": {
      const addr = memAddress(at, o, syntax.physAddrBits);
      const bytes = scriptBytes(at, "hex", scriptField(at, o, "hex"));
      checkMemEnd(at, addr, bytes.length, syntax.physAddrBits, "write");
      return { op, line, addr, bytes };
    }
    case "mem.read": {
      const addr = memAddress(at, o, syntax.physAddrBits);
      const len = scriptLen(at, scriptField(at, o, "len"));
      checkMemEnd(at, addr, len, syntax.physAddrBits, "read");
      return { op, line, addr, len };
    }
    case "reg.read":
    case "reg.write": {
      const size = scriptSize(at, scriptField(at, o, "size"));
      const off = registerOffset(at, o, size, syntax);
      if (op === "reg.read") return { op, line, off, size };
      const value = scriptInteger(
        at,
        "value",
        scriptField(at, o, "value"),
        1n << BigInt(8 * size),
        `it does not fit in ${size} bytes`,
      );
      return { op, line, off, size, value };
    }
    case "dma":
      return parseDma(at, o, syntax);
    default:
      return { op: "other", line, name: op };
  }
}

/**
 * Parse and check a whole script (JSON Lines; blank lines skipped). Errors name the line as
 * "source:N" when `source` is given, "line N" when it is undefined.
 */
export function parseRegisterScript<R>(
  text: string,
  source: string | undefined,
  syntax: RegisterScriptSyntax<R>,
): RegisterScriptOp<R>[] {
  const ops: RegisterScriptOp<R>[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = (lines[i] as string).trim();
    if (raw === "") continue;
    const at: ScriptLine = { code: syntax.errorCode, line: i + 1, source };
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      scriptFail(at, `not valid JSON (${err instanceof Error ? err.message : String(err)})`);
    }
    ops.push(parseRegisterScriptOp(value, at, syntax, ops.length === 0));
  }
  return ops;
}
