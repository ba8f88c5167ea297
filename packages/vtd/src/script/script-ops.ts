/**
 * Parsing and validating a VT-d script: JSON Lines, one operation per line, in the exact format of
 * the `tdx-sim vtd script` contract (reset, mem.write, mem.read, reg.write, reg.read, dma; any
 * other op is a no-op answered {"ok":true}). A malformed line is a VtdScriptError naming the line
 * and what is allowed; nothing is executed until every line has parsed.
 *
 * @spec /work/shared/ARCHITECTURE.md "External contracts" (tdx-sim vtd script FILE)
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";

/** A malformed script line (or an operation the unit cannot take), with its 1-based line number. */
export class VtdScriptError extends TdxSimError {
  readonly line: number;
  constructor(line: number, message: string) {
    super("E_VTD_SCRIPT", `line ${line}: ${message}`);
    this.line = line;
  }
}

export type ScriptOp =
  | { readonly op: "reset"; readonly line: number; readonly cap: bigint; readonly ecap: bigint }
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
      readonly sid: number;
      readonly iova: number;
      readonly len: number;
    }
  | {
      readonly op: "dma.write";
      readonly line: number;
      readonly sid: number;
      readonly iova: number;
      readonly bytes: Uint8Array;
    }
  | { readonly op: "other"; readonly line: number; readonly name: string };

/** Largest length a mem.read / dma read may ask for. */
export const MAX_SCRIPT_LEN = 16 * 1024 * 1024;
/** Script addresses are below 2^48 (the contract's sparse host memory). */
export const SCRIPT_ADDRESS_LIMIT = 2 ** 48;

function big(line: number, field: string, v: unknown, limit: bigint): bigint {
  let n: bigint;
  if (typeof v === "string" && /^0x[0-9a-fA-F]+$/.test(v.trim())) n = BigInt(v.trim());
  else if (typeof v === "string" && /^[0-9]+$/.test(v.trim())) n = BigInt(v.trim());
  else if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) n = BigInt(v);
  else
    throw new VtdScriptError(
      line,
      `"${field}" must be a hex string "0x…" (or a non-negative integer), got ${JSON.stringify(v)}`,
    );
  if (n >= limit)
    throw new VtdScriptError(
      line,
      `"${field}" ${String(v)} is too large: it must be below 0x${limit.toString(16)}`,
    );
  return n;
}

function num(line: number, field: string, v: unknown, limit: number): number {
  return Number(big(line, field, v, BigInt(limit)));
}

function hexBytes(line: number, field: string, v: unknown): Uint8Array {
  if (typeof v !== "string" || !/^([0-9a-fA-F]{2})*$/.test(v)) {
    throw new VtdScriptError(
      line,
      `"${field}" must be a string of hex byte pairs (e.g. "0a1b"), got ${JSON.stringify(v)}`,
    );
  }
  const b = new Uint8Array(v.length / 2);
  for (let i = 0; i < b.length; i++) b[i] = Number.parseInt(v.slice(2 * i, 2 * i + 2), 16);
  return b;
}

function size(line: number, v: unknown): 4 | 8 {
  if (v === 4 || v === 8 || v === "4" || v === "8") return Number(v) as 4 | 8;
  throw new VtdScriptError(line, `"size" must be 4 or 8, got ${JSON.stringify(v)}`);
}

function len(line: number, v: unknown): number {
  if (typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= MAX_SCRIPT_LEN) return v;
  throw new VtdScriptError(
    line,
    `"len" must be an integer in 0..${MAX_SCRIPT_LEN}, got ${JSON.stringify(v)}`,
  );
}

function field(line: number, o: Record<string, unknown>, name: string): unknown {
  if (!(name in o)) throw new VtdScriptError(line, `"${String(o.op)}" needs a "${name}" field`);
  return o[name];
}

/** Parse one JSON value (already decoded) into an operation. */
export function parseOp(line: number, v: unknown): ScriptOp {
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new VtdScriptError(
      line,
      `each line must be a JSON object with an "op" field, got ${JSON.stringify(v)}`,
    );
  }
  const o = v as Record<string, unknown>;
  if (typeof o.op !== "string")
    throw new VtdScriptError(line, `the "op" field must be a string, got ${JSON.stringify(o.op)}`);
  switch (o.op) {
    case "reset":
      return {
        op: "reset",
        line,
        cap: big(line, "cap", field(line, o, "cap"), 1n << 64n),
        ecap: big(line, "ecap", field(line, o, "ecap"), 1n << 64n),
      };
    case "mem.write": {
      const addr = num(line, "addr", field(line, o, "addr"), SCRIPT_ADDRESS_LIMIT);
      const bytes = hexBytes(line, "hex", field(line, o, "hex"));
      if (addr + bytes.length > SCRIPT_ADDRESS_LIMIT)
        throw new VtdScriptError(line, "the write runs past 2^48");
      return { op: "mem.write", line, addr, bytes };
    }
    case "mem.read": {
      const addr = num(line, "addr", field(line, o, "addr"), SCRIPT_ADDRESS_LIMIT);
      const n = len(line, field(line, o, "len"));
      if (addr + n > SCRIPT_ADDRESS_LIMIT) throw new VtdScriptError(line, "the read runs past 2^48");
      return { op: "mem.read", line, addr, len: n };
    }
    case "reg.write":
    case "reg.read": {
      const s = size(line, field(line, o, "size"));
      const off = num(line, "off", field(line, o, "off"), 2 ** 32);
      if (off % s !== 0)
        throw new VtdScriptError(line, `"off" 0x${off.toString(16)} is not aligned to the access size ${s}`);
      if (o.op === "reg.read") return { op: "reg.read", line, off, size: s };
      return {
        op: "reg.write",
        line,
        off,
        size: s,
        value: big(line, "value", field(line, o, "value"), 1n << BigInt(8 * s)),
      };
    }
    case "dma": {
      const sid = num(line, "sid", field(line, o, "sid"), 0x1_0000);
      const iova = num(line, "iova", field(line, o, "iova"), 2 ** 52);
      const dir = field(line, o, "dir");
      if (dir === "read") return { op: "dma.read", line, sid, iova, len: len(line, field(line, o, "len")) };
      if (dir === "write")
        return { op: "dma.write", line, sid, iova, bytes: hexBytes(line, "hex", field(line, o, "hex")) };
      throw new VtdScriptError(line, `"dir" must be "read" or "write", got ${JSON.stringify(dir)}`);
    }
    default:
      return { op: "other", line, name: o.op };
  }
}

/** Parse a whole script (JSON Lines; blank lines skipped). */
export function parseScript(text: string): ScriptOp[] {
  const ops: ScriptOp[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw === "") continue;
    let v: unknown;
    try {
      v = JSON.parse(raw);
    } catch (err) {
      throw new VtdScriptError(i + 1, `not valid JSON (${err instanceof Error ? err.message : String(err)})`);
    }
    ops.push(parseOp(i + 1, v));
  }
  return ops;
}
