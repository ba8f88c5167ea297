/**
 * The register-level script runner behind `tdx-sim smmu script FILE`: one SMMUv3 on a sparse host
 * memory where every address is RAM, driven by JSON Lines operations (reset with ID register
 * values, mem.write/mem.read by the CPU, reg.write/reg.read in the two register pages, dma by a
 * device through the unit), one JSON answer per operation. The whole script is parsed and checked
 * first, so a malformed line fails before anything runs, with an error naming the line. A later
 * `reset` builds a fresh unit on the same memory.
 *
 * @spec /work/shared/ARCHITECTURE.md "External contracts" (vtd/smmu script formats)
 */
import { Initiator, PhysicalMemory, parseAddress, TdxSimError } from "@tdx/hw-cpu-seam";
import type { IdRegisterValues } from "./idr";
import { REG_SPACE_SIZE } from "./regs";
import { type SmmuOptions, SmmuV3 } from "./smmu";

/** A checked script operation. */
export type ScriptOp =
  | { readonly op: "reset"; readonly line: number; readonly idr: Partial<IdRegisterValues> }
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
      readonly op: "dma";
      readonly line: number;
      readonly sid: number;
      readonly ssid: number;
      readonly write: boolean;
      readonly iova: number;
      readonly len: number;
      readonly bytes: Uint8Array | null;
      readonly priv: boolean;
      readonly instr: boolean;
    }
  | { readonly op: "other"; readonly line: number };

/** One answer line. */
export type ScriptAnswer = Readonly<Record<string, string | boolean>>;

/** Largest mem.read / dma length accepted (bytes). */
export const SCRIPT_MAX_LEN = 1 << 24;

function bad(where: string, msg: string): never {
  throw new TdxSimError("E_SMMU_SCRIPT", `${where}: ${msg}`);
}

function hexString(v: unknown, where: string, field: string): string {
  if (typeof v !== "string") bad(where, `"${field}" must be a string such as "0x1000"`);
  return v;
}

function addrField(o: Record<string, unknown>, field: string, where: string, limit = 2 ** 52): number {
  const s = hexString(o[field], where, field);
  let v: number;
  try {
    v = parseAddress(s, field);
  } catch (e) {
    bad(where, e instanceof Error ? e.message : String(e));
  }
  if (v >= limit) bad(where, `"${field}" ${s} must be below 0x${limit.toString(16)}`);
  return v;
}

function bytesField(o: Record<string, unknown>, where: string): Uint8Array {
  const s = hexString(o.hex, where, "hex");
  if (s.length % 2 !== 0 || !/^[0-9a-fA-F]*$/.test(s))
    bad(where, `"hex" must be an even number of hex digits, without 0x`);
  if (s.length / 2 > SCRIPT_MAX_LEN) bad(where, `"hex" is longer than ${SCRIPT_MAX_LEN} bytes`);
  return Uint8Array.from({ length: s.length / 2 }, (_, i) => Number.parseInt(s.slice(2 * i, 2 * i + 2), 16));
}

function lenField(o: Record<string, unknown>, where: string): number {
  const n = o.len;
  if (typeof n !== "number" || !Number.isInteger(n) || n < 0 || n > SCRIPT_MAX_LEN)
    bad(where, `"len" must be an integer in 0..${SCRIPT_MAX_LEN}`);
  return n;
}

function sizeField(o: Record<string, unknown>, where: string): 4 | 8 {
  if (o.size !== 4 && o.size !== 8) bad(where, `"size" must be 4 or 8`);
  return o.size;
}

function offField(o: Record<string, unknown>, size: number, where: string): number {
  const off = addrField(o, "off", where, REG_SPACE_SIZE);
  if (off % size !== 0 || off + size > REG_SPACE_SIZE)
    bad(
      where,
      `"off" ${hexString(o.off, where, "off")} must be ${size}-byte aligned within the register pages (0x0-0x1ffff)`,
    );
  return off;
}

function boolField(o: Record<string, unknown>, field: string, where: string): boolean {
  const v = o[field];
  if (v === undefined) return false;
  if (typeof v !== "boolean") bad(where, `"${field}" must be true or false`);
  return v;
}

const IDR_KEYS = { "0": "idr0", "1": "idr1", "2": "idr2", "3": "idr3", "4": "idr4", "5": "idr5" } as const;

/** Check one parsed JSON value as an operation. */
export function checkOp(value: unknown, line: number, source: string, first: boolean): ScriptOp {
  const where = `${source}:${line}`;
  if (typeof value !== "object" || value === null || Array.isArray(value))
    bad(where, "each line must be a JSON object");
  const o = value as Record<string, unknown>;
  if (typeof o.op !== "string") bad(where, `"op" must be a string`);
  if (first && o.op !== "reset")
    bad(where, `the first operation must be {"op":"reset","idr":{...}}, not "${o.op}"`);
  switch (o.op) {
    case "reset": {
      const idrIn = o.idr;
      if (typeof idrIn !== "object" || idrIn === null || Array.isArray(idrIn))
        bad(where, `"idr" must be an object such as {"0":"0x...","1":"0x...","3":"0x...","5":"0x..."}`);
      const idr: Record<string, number> = {};
      for (const [k, v] of Object.entries(idrIn)) {
        const name = IDR_KEYS[k as keyof typeof IDR_KEYS];
        if (name === undefined) bad(where, `"idr" key "${k}" is not an ID register number (0-5)`);
        idr[name] = addrField({ v }, "v", where, 2 ** 32);
      }
      return { op: "reset", line, idr };
    }
    case "mem.write":
      return { op: "mem.write", line, addr: addrField(o, "addr", where), bytes: bytesField(o, where) };
    case "mem.read":
      return { op: "mem.read", line, addr: addrField(o, "addr", where), len: lenField(o, where) };
    case "reg.write": {
      const size = sizeField(o, where);
      const s = hexString(o.value, where, "value");
      if (!/^(0x[0-9a-fA-F]+|[0-9]+)$/.test(s))
        bad(where, `"value" ${s} is not a hex (0x...) or decimal number`);
      const value = BigInt(s);
      if (value >= 1n << BigInt(size * 8)) bad(where, `"value" ${s} does not fit in ${size} bytes`);
      return { op: "reg.write", line, off: offField(o, size, where), size, value };
    }
    case "reg.read": {
      const size = sizeField(o, where);
      return { op: "reg.read", line, off: offField(o, size, where), size };
    }
    case "dma": {
      const dir = o.dir;
      if (dir !== "read" && dir !== "write") bad(where, `"dir" must be "read" or "write"`);
      const write = dir === "write";
      const bytes = write ? bytesField(o, where) : null;
      return {
        op: "dma",
        line,
        sid: addrField(o, "sid", where, 2 ** 32),
        ssid: o.ssid === undefined ? -1 : addrField(o, "ssid", where, 2 ** 20),
        write,
        iova: addrField(o, "iova", where),
        len: write ? bytes!.length : lenField(o, where),
        bytes,
        priv: boolField(o, "priv", where),
        instr: boolField(o, "instr", where),
      };
    }
    default:
      return { op: "other", line };
  }
}

/** Parse and check a whole JSON Lines script; blank lines are skipped. */
export function parseSmmuScript(text: string, source = "script"): ScriptOp[] {
  const ops: ScriptOp[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw === "") continue;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (e) {
      bad(`${source}:${i + 1}`, `not valid JSON (${e instanceof Error ? e.message : String(e)})`);
    }
    ops.push(checkOp(value, i + 1, source, ops.length === 0));
  }
  return ops;
}

function toHex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

/** Runs checked operations against one unit. */
export class SmmuScriptRunner {
  readonly mem = new PhysicalMemory({ physAddrBits: 52, ram: "all" });
  private unit: SmmuV3 | null = null;

  constructor(private readonly options: Omit<SmmuOptions, "idr"> = {}) {}

  get smmu(): SmmuV3 | null {
    return this.unit;
  }

  step(op: ScriptOp, source = "script"): ScriptAnswer {
    const where = `${source}:${op.line}`;
    try {
      return this.exec(op);
    } catch (e) {
      if (e instanceof TdxSimError) throw new TdxSimError(e.code, `${where}: ${e.message}`);
      throw e;
    }
  }

  private exec(op: ScriptOp): ScriptAnswer {
    switch (op.op) {
      case "reset":
        this.unit = new SmmuV3(this.mem, { ...this.options, idr: op.idr });
        return { ok: true };
      case "mem.write":
        this.mustMem(this.mem.write(op.addr, op.bytes, Initiator.Host));
        return { ok: true };
      case "mem.read": {
        const b = new Uint8Array(op.len);
        this.mustMem(this.mem.read(op.addr, b, Initiator.Host));
        return { hex: toHex(b) };
      }
      case "reg.write":
        this.smmuOrThrow().writeRegister(op.off, op.size, op.value);
        return { ok: true };
      case "reg.read":
        return { value: `0x${this.smmuOrThrow().readRegister(op.off, op.size).toString(16)}` };
      case "dma": {
        const s = this.smmuOrThrow();
        const req = { sid: op.sid, pasid: op.ssid, priv: op.priv, instr: op.instr };
        if (op.write) {
          const r = s.dmaWrite(req, op.iova, op.bytes!);
          return r.ok ? { ok: true } : r.stalled === true ? { ok: false, stalled: true } : { ok: false };
        }
        const b = new Uint8Array(op.len);
        const r = s.dmaRead(req, op.iova, b);
        return r.ok
          ? { ok: true, hex: toHex(b) }
          : r.stalled === true
            ? { ok: false, stalled: true }
            : { ok: false };
      }
      default:
        return { ok: true };
    }
  }

  private smmuOrThrow(): SmmuV3 {
    if (this.unit === null)
      throw new TdxSimError("E_SMMU_SCRIPT", "no unit: the script must start with reset");
    return this.unit;
  }

  private mustMem(st: number): void {
    if (st !== 0)
      throw new TdxSimError("E_SMMU_SCRIPT", `memory access failed: ${this.mem.lastFault()?.message ?? st}`);
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
