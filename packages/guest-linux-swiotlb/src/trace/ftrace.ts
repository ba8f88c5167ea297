/**
 * Linux ftrace captures of the `swiotlb:swiotlb_bounced` tracepoint (the text of
 * /sys/kernel/tracing/trace or trace_pipe, or `trace-cmd report`) and their conversion into a
 * SWIOTLB trace. The event text is the tracepoint's TP_printk of 6.12:
 *
 *   dev_name: %s dma_mask=%llx dev_addr=%llx size=%zu %s      (last field FORCE or NORMAL)
 *
 * behind the usual ftrace prefix "TASK-PID [CPU] FLAGS TIMESTAMP: swiotlb_bounced: " (the flags
 * column and a "(TGID)" column are optional). dev_addr is phys_to_dma of the original buffer (on
 * TDX the plain guest-physical address), recorded before the bounce slot is allocated.
 *
 * The tracepoint fires for maps only: unmaps are not traced, so the conversion ends every mapping
 * a fixed hold time after it began (`holdUs`, default 1000 µs), a modelling assumption to state
 * with any result. min_align_mask is not traced either: it comes from the options per device
 * (default 0). alloc_align_mask is 0, as swiotlb_map always passes.
 *
 * @spec include/trace/events/swiotlb.h (torvalds/linux, 6.12: TP_PROTO(dev, dev_addr, size),
 *   TP_printk "dev_name: %s dma_mask=%llx dev_addr=%llx size=%zu %s", force ? "FORCE" : "NORMAL");
 *   kernel/dma/swiotlb.c swiotlb_map (trace_swiotlb_bounced(dev, phys_to_dma(dev, paddr), size));
 *   Documentation/trace/ftrace.rst (output format, "#P:" header, "[LOST n EVENTS]")
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";
import type { SwiotlbTrace, TraceOp } from "./format";

export interface FtraceBouncedEvent {
  /** 1-based line in the capture. */
  readonly line: number;
  readonly task: string;
  readonly pid: number;
  readonly cpu: number;
  /** Timestamp in nanoseconds. */
  readonly timeNs: number;
  readonly devName: string;
  /** dma_mask as DMA_BIT_MASK(n): n (0 when the device had no mask). */
  readonly dmaMaskBits: number;
  readonly devAddr: number;
  readonly size: number;
  readonly force: boolean;
}

export interface FtraceCapture {
  readonly events: readonly FtraceBouncedEvent[];
  /** CPUs from the "#P:N" header line, if present. */
  readonly headerCpus?: number;
  /** Events the ring buffer dropped ("[LOST n EVENTS]"). */
  readonly lostEvents: number;
  /** Event lines of other tracepoints, skipped. */
  readonly otherEvents: number;
}

const PREFIX =
  /^\s*(.+)-(\d+)\s+(?:\(\s*[\d-]+\)\s+)?\[(\d+)\]\s+(?:(\S{4,6})\s+)?(\d+)\.(\d+):\s+([\w:]+):\s*(.*)$/;
const BOUNCED =
  /^dev_name: (\S+) dma_mask=([0-9a-fA-F]+) dev_addr=([0-9a-fA-F]+) size=(\d+) (FORCE|NORMAL)\s*$/;
const LOST = /^CPU:(\d+) \[LOST (\d+) EVENTS\]/;
const HEADER_CPUS = /#P:(\d+)/;

function fail(source: string, line: number, what: string): never {
  throw new TdxSimError("E_FTRACE_LINE", `${source}:${line}: ${what}`);
}

/** Whether `text` looks like an ftrace capture rather than a JSON Lines trace. */
export function looksLikeFtrace(text: string): boolean {
  for (const raw of text.split("\n", 200)) {
    const l = raw.trim();
    if (l === "") continue;
    return !l.startsWith("{");
  }
  return false;
}

/** DMA_BIT_MASK(n) -> n, from the hex the tracepoint prints. */
function maskBits(hex: string, source: string, line: number): number {
  const v = BigInt(`0x${hex}`);
  if (v === 0n) return 0;
  const bits = v.toString(2).length;
  if (bits > 64 || v !== (1n << BigInt(bits)) - 1n) {
    fail(source, line, `dma_mask=${hex} is not DMA_BIT_MASK(n) for n in 1..64`);
  }
  return bits;
}

/** Parse a capture; lines of other events are counted and skipped, anything unreadable is an error. */
export function parseFtrace(text: string, source = "ftrace"): FtraceCapture {
  const lines = text.split("\n");
  const events: FtraceBouncedEvent[] = [];
  let headerCpus: number | undefined;
  let lost = 0;
  let other = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = i + 1;
    const raw = lines[i]!.replace(/\r$/, "");
    const t = raw.trim();
    if (t === "") continue;
    if (t.startsWith("#")) {
      const m = HEADER_CPUS.exec(t);
      if (m) headerCpus = Number(m[1]);
      continue;
    }
    const lm = LOST.exec(t);
    if (lm) {
      lost += Number(lm[2]);
      continue;
    }
    // trace-cmd report starts with "cpus=N" or "version = 6".
    if (/^cpus=\d+$/.test(t)) {
      headerCpus = Number(t.slice(5));
      continue;
    }
    if (/^version = /.test(t)) continue;
    const m = PREFIX.exec(raw);
    if (!m) {
      fail(
        source,
        line,
        'not an ftrace event line: expected "TASK-PID [CPU] FLAGS SECONDS.FRACTION: EVENT: TEXT"',
      );
    }
    const event = m[7]!;
    if (event !== "swiotlb_bounced" && event !== "swiotlb:swiotlb_bounced") {
      other++;
      continue;
    }
    const b = BOUNCED.exec(m[8]!);
    if (!b) {
      fail(
        source,
        line,
        `swiotlb_bounced text "${m[8]}" does not match "dev_name: NAME dma_mask=HEX dev_addr=HEX size=N FORCE|NORMAL"`,
      );
    }
    const frac = m[6]!;
    if (frac.length > 9) fail(source, line, `timestamp fraction "${frac}" has more than 9 digits`);
    const timeNs = Number(m[5]) * 1e9 + Number(frac.padEnd(9, "0"));
    const addr = BigInt(`0x${b[3]}`);
    if (addr >= 1n << 52n) fail(source, line, `dev_addr=${b[3]} is not below 2^52`);
    const size = Number(b[4]);
    if (!Number.isSafeInteger(size) || size < 1 || size > 2 ** 31 - 1) {
      fail(source, line, `size=${b[4]} must be 1 to 2^31 - 1 bytes`);
    }
    events.push({
      line,
      task: m[1]!.trim(),
      pid: Number(m[2]),
      cpu: Number(m[3]),
      timeNs,
      devName: b[1]!,
      dmaMaskBits: maskBits(b[2]!, source, line),
      devAddr: Number(addr),
      size,
      force: b[5] === "FORCE",
    });
  }
  return {
    events,
    ...(headerCpus !== undefined ? { headerCpus } : {}),
    lostEvents: lost,
    otherEvents: other,
  };
}

export interface FtraceConversionOptions {
  /** The pool to replay on. */
  readonly nslabs: number;
  readonly nareas: number;
  /** How long each mapping stays live, in microseconds (default 1000). */
  readonly holdUs?: number;
  /** min_align_mask per device name (e.g. {"0000:00:04.0": 0xfff}), or one value for all. */
  readonly minAlignMask?: number | Readonly<Record<string, number>>;
}

/** Turn a capture into a trace: a map per event (id "L<line>"), an unmap `holdUs` later. */
export function ftraceToTrace(
  capture: FtraceCapture,
  opts: FtraceConversionOptions,
  source = "ftrace",
): SwiotlbTrace {
  const holdUs = opts.holdUs ?? 1000;
  if (!(holdUs >= 0) || !Number.isFinite(holdUs)) {
    throw new TdxSimError("E_FTRACE_OPTIONS", `hold time ${String(holdUs)} µs must be a finite number >= 0`);
  }
  const holdNs = Math.round(holdUs * 1000);
  const maskFor = (dev: string): number => {
    const m = opts.minAlignMask;
    if (m === undefined) return 0;
    if (typeof m === "number") return m;
    return m[dev] ?? 0;
  };
  // Every map and unmap with its time; unmaps sort before maps at the same instant, then by line.
  type Ev = { t: number; kind: 0 | 1; seq: number; op: TraceOp };
  const evs: Ev[] = [];
  for (const e of capture.events) {
    const id = `L${e.line}`;
    evs.push({
      t: e.timeNs,
      kind: 1,
      seq: e.line,
      op: {
        op: "map",
        id,
        cpu: e.cpu,
        orig: e.devAddr,
        size: e.size,
        minAlignMask: maskFor(e.devName),
        allocAlignMask: 0,
        line: e.line,
      },
    });
    evs.push({ t: e.timeNs + holdNs, kind: 0, seq: e.line, op: { op: "unmap", id, line: e.line } });
  }
  evs.sort((a, b) => a.t - b.t || a.kind - b.kind || a.seq - b.seq);
  return { header: { nslabs: opts.nslabs, nareas: opts.nareas }, ops: evs.map((e) => e.op), source };
}

/** Format one event the way the kernel prints it (for fixtures and round trips). */
export function formatFtraceLine(e: Omit<FtraceBouncedEvent, "line">): string {
  const sec = Math.floor(e.timeNs / 1e9);
  const usec = Math.floor((e.timeNs % 1e9) / 1000);
  const mask = e.dmaMaskBits === 0 ? "0" : ((1n << BigInt(e.dmaMaskBits)) - 1n).toString(16);
  const head = `${e.task}-${e.pid}`.padStart(16);
  const cpu = String(e.cpu).padStart(3, "0");
  return `${head} [${cpu}] ..... ${String(sec).padStart(5)}.${String(usec).padStart(6, "0")}: swiotlb_bounced: dev_name: ${e.devName} dma_mask=${mask} dev_addr=${e.devAddr.toString(16)} size=${e.size} ${e.force ? "FORCE" : "NORMAL"}`;
}
