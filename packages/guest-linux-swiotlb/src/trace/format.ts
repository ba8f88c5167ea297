/**
 * The SWIOTLB trace format of shared/data/swiotlb-traces/README.md: JSON Lines, a pool header
 * `{"nslabs","nareas"}`, then `map` and `unmap` operations; results are one JSON object per
 * operation (`{"id","offset"}`, `{"id","error":"full"}`, `{"id","ok":true}`, and as this model's
 * extension `{"id","error":"not-mapped"}` for the unmap of an id whose map failed in this run). Parsing checks
 * every field and reports the first problem as a TdxSimError naming the line.
 *
 * @spec shared/data/swiotlb-traces/README.md (format, fixed assumptions)
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";
import { isPow2 } from "../swiotlb/cmdline";
import { IO_TLB_SEGSIZE } from "../swiotlb/constants";

export interface TraceHeader {
  readonly nslabs: number;
  readonly nareas: number;
}

export interface TraceMapOp {
  readonly op: "map";
  readonly id: string;
  readonly cpu: number;
  readonly orig: number;
  readonly size: number;
  readonly minAlignMask: number;
  readonly allocAlignMask: number;
  /** 1-based line in the source. */
  readonly line: number;
}

export interface TraceUnmapOp {
  readonly op: "unmap";
  readonly id: string;
  readonly line: number;
}

export type TraceOp = TraceMapOp | TraceUnmapOp;

export interface SwiotlbTrace {
  readonly header: TraceHeader;
  readonly ops: readonly TraceOp[];
  /** Where the trace came from (for messages). */
  readonly source: string;
}

export type TraceResult =
  | { readonly id: string; readonly offset: number }
  | { readonly id: string; readonly error: "full" | "not-mapped" }
  | { readonly id: string; readonly ok: true };

function fail(code: string, source: string, line: number, what: string): never {
  throw new TdxSimError(code, `${source}:${line}: ${what}`);
}

function intField(
  o: Record<string, unknown>,
  key: string,
  min: number,
  max: number,
  source: string,
  line: number,
): number {
  const v = o[key];
  if (v === undefined) fail("E_TRACE_FIELD", source, line, `missing field "${key}"`);
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < min || v > max) {
    fail(
      "E_TRACE_FIELD",
      source,
      line,
      `field "${key}" is ${JSON.stringify(v)}: it must be an integer in [${min}, ${max}]`,
    );
  }
  return v;
}

function idField(o: Record<string, unknown>, source: string, line: number): string {
  const v = o["id"];
  if (typeof v !== "string" || v === "")
    fail("E_TRACE_FIELD", source, line, `field "id" must be a non-empty string`);
  return v;
}

/** Parse a whole trace. Blank lines are skipped. */
export function parseTrace(text: string, source = "trace"): SwiotlbTrace {
  const lines = text.split("\n");
  let header: TraceHeader | undefined;
  const ops: TraceOp[] = [];
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw === "") continue;
    const line = i + 1;
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (err) {
      fail(
        "E_TRACE_JSON",
        source,
        line,
        `not valid JSON (${err instanceof Error ? err.message : String(err)})`,
      );
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      fail("E_TRACE_LINE", source, line, "each line must be one JSON object");
    }
    const o = value as Record<string, unknown>;
    if (header === undefined) {
      if ("op" in o)
        fail(
          "E_TRACE_HEADER",
          source,
          line,
          `the first line must be the pool header {"nslabs":N,"nareas":A}, not an operation`,
        );
      const nslabs = intField(o, "nslabs", IO_TLB_SEGSIZE, 2 ** 26, source, line);
      const nareas = intField(o, "nareas", 1, 2 ** 19, source, line);
      if (nslabs % IO_TLB_SEGSIZE !== 0)
        fail("E_TRACE_HEADER", source, line, `nslabs ${nslabs} must be a multiple of 128`);
      if (!isPow2(nareas)) fail("E_TRACE_HEADER", source, line, `nareas ${nareas} must be a power of two`);
      if (nslabs < IO_TLB_SEGSIZE * nareas) {
        fail(
          "E_TRACE_HEADER",
          source,
          line,
          `nslabs ${nslabs} must be at least 128 * nareas (${IO_TLB_SEGSIZE * nareas})`,
        );
      }
      header = { nslabs, nareas };
      continue;
    }
    const op = o["op"];
    if (op === "map") {
      const id = idField(o, source, line);
      const cpu = intField(o, "cpu", 0, 2 ** 31 - 1, source, line);
      const orig = intField(o, "orig", 0, 2 ** 52 - 1, source, line);
      const size = intField(o, "size", 1, 2 ** 31 - 1, source, line);
      const minAlignMask = intField(o, "minAlignMask", 0, 0xffff_ffff, source, line);
      const allocAlignMask = intField(o, "allocAlignMask", 0, 0xffff_ffff, source, line);
      if (!isPow2(allocAlignMask + 1)) {
        fail(
          "E_TRACE_FIELD",
          source,
          line,
          `allocAlignMask ${allocAlignMask} must be 2^k - 1 (an alignment mask)`,
        );
      }
      ops.push({ op: "map", id, cpu, orig, size, minAlignMask, allocAlignMask, line });
    } else if (op === "unmap") {
      ops.push({ op: "unmap", id: idField(o, source, line), line });
    } else {
      fail("E_TRACE_OP", source, line, `unknown op ${JSON.stringify(op)}: allowed "map" and "unmap"`);
    }
  }
  if (header === undefined)
    throw new TdxSimError("E_TRACE_HEADER", `${source}: empty trace: the first line must be the pool header`);
  return { header, ops, source };
}

/** One result line, with the key order of the reference outputs. */
export function formatResult(r: TraceResult): string {
  if ("offset" in r) return `{"id":${JSON.stringify(r.id)},"offset":${r.offset}}`;
  if ("error" in r) return `{"id":${JSON.stringify(r.id)},"error":"${r.error}"}`;
  return `{"id":${JSON.stringify(r.id)},"ok":true}`;
}

/** Serialise a trace back to its JSON Lines text. */
export function formatTrace(trace: SwiotlbTrace): string {
  const out = [JSON.stringify({ nslabs: trace.header.nslabs, nareas: trace.header.nareas })];
  for (const o of trace.ops) {
    if (o.op === "map") {
      out.push(
        JSON.stringify({
          op: "map",
          id: o.id,
          cpu: o.cpu,
          orig: o.orig,
          size: o.size,
          minAlignMask: o.minAlignMask,
          allocAlignMask: o.allocAlignMask,
        }),
      );
    } else {
      out.push(JSON.stringify({ op: "unmap", id: o.id }));
    }
  }
  return `${out.join("\n")}\n`;
}
