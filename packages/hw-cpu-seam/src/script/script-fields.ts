/**
 * Field parsers of the register-level script format, shared by every unit's dialect: numbers as
 * hex strings "0x…" (decimal strings and non-negative JSON integers are accepted too) below a
 * limit, byte strings as hex pairs without 0x, access sizes 4 or 8, lengths, optional booleans.
 * A bad field is a RegisterScriptError naming the field, what it got and what is allowed.
 *
 * @spec /work/shared/ARCHITECTURE.md "External contracts" (tdx-sim vtd/smmu script: addresses and
 *   values are hex strings; "hex" is the data as byte pairs; "size" 4|8; "len" N)
 */
import { type ScriptLine, scriptFail } from "./script-error";

/** Largest `len` of a read and largest `hex` of a write, in bytes (16 MiB). */
export const REGISTER_SCRIPT_MAX_LEN = 16 * 1024 * 1024;

/** One decoded JSON Lines object. */
export type ScriptObject = Readonly<Record<string, unknown>>;

const NUMBER_TEXT = /^(0[xX][0-9a-fA-F]+|[0-9]+)$/;
const HEX_PAIRS = /^([0-9a-fA-F]{2})*$/;

/** A field the operation cannot do without. */
export function scriptField(at: ScriptLine, o: ScriptObject, name: string): unknown {
  if (!(name in o)) scriptFail(at, `"${String(o.op)}" needs a "${name}" field`);
  return o[name];
}

/**
 * A number below `limit` (a bigint: register values reach 2^64). `tooLarge` says what is allowed
 * when it is not below; default "it must be below 0x<limit>".
 */
export function scriptInteger(
  at: ScriptLine,
  name: string,
  v: unknown,
  limit: bigint,
  tooLarge?: string,
): bigint {
  let n: bigint | undefined;
  if (typeof v === "string" && NUMBER_TEXT.test(v.trim())) n = BigInt(v.trim());
  else if (typeof v === "number" && Number.isSafeInteger(v) && v >= 0) n = BigInt(v);
  if (n === undefined) {
    scriptFail(
      at,
      `"${name}" must be a hex string "0x…" (or a non-negative integer): ${JSON.stringify(v)} is not a hex (0x…) or decimal number`,
    );
  }
  if (n >= limit) {
    scriptFail(
      at,
      `"${name}" ${String(v)} is too large: ${tooLarge ?? `it must be below 0x${limit.toString(16)}`}`,
    );
  }
  return n;
}

/** A number below `limit` (at most 2^53), as a number: addresses, offsets, ids. */
export function scriptNumber(
  at: ScriptLine,
  name: string,
  v: unknown,
  limit: number,
  tooLarge?: string,
): number {
  return Number(scriptInteger(at, name, v, BigInt(limit), tooLarge));
}

/** Bytes written as hex pairs without 0x ("0a1b"), at most REGISTER_SCRIPT_MAX_LEN of them. */
export function scriptBytes(at: ScriptLine, name: string, v: unknown): Uint8Array {
  if (typeof v !== "string" || !HEX_PAIRS.test(v)) {
    scriptFail(
      at,
      `"${name}" must be a string of hex byte pairs (an even number of hex digits, without 0x, e.g. "0a1b"), got ${JSON.stringify(v)}`,
    );
  }
  if (v.length / 2 > REGISTER_SCRIPT_MAX_LEN) {
    scriptFail(at, `"${name}" is longer than ${REGISTER_SCRIPT_MAX_LEN} bytes`);
  }
  const b = new Uint8Array(v.length / 2);
  for (let i = 0; i < b.length; i++) b[i] = Number.parseInt(v.slice(2 * i, 2 * i + 2), 16);
  return b;
}

/** A register access size: 4 or 8 (also as the strings "4", "8"). */
export function scriptSize(at: ScriptLine, v: unknown): 4 | 8 {
  if (v === 4 || v === 8 || v === "4" || v === "8") return Number(v) as 4 | 8;
  return scriptFail(at, `"size" must be 4 or 8, got ${JSON.stringify(v)}`);
}

/** A read length: an integer in 0..REGISTER_SCRIPT_MAX_LEN. */
export function scriptLen(at: ScriptLine, v: unknown): number {
  if (typeof v === "number" && Number.isInteger(v) && v >= 0 && v <= REGISTER_SCRIPT_MAX_LEN) return v;
  return scriptFail(
    at,
    `"len" must be an integer in 0..${REGISTER_SCRIPT_MAX_LEN}, got ${JSON.stringify(v)}`,
  );
}

/** An optional flag: absent is false. */
export function scriptBool(at: ScriptLine, name: string, v: unknown): boolean {
  if (v === undefined) return false;
  if (typeof v !== "boolean") scriptFail(at, `"${name}" must be true or false, got ${JSON.stringify(v)}`);
  return v;
}

/** Bytes as lower-case hex pairs, the format of every "hex" answer. */
export function bytesToHex(b: Uint8Array): string {
  let s = "";
  for (let i = 0; i < b.length; i++) s += (b[i] as number).toString(16).padStart(2, "0");
  return s;
}
