/**
 * The streaming half of the trace: Chrome trace-event JSON written event by event to a sink (a
 * file through a small write buffer, or memory for tests), with a cap on the number of events.
 * At the cap the writer stops, writes one final global instant event saying so and drops the
 * rest; metadata events (process/thread names) do not count. The file is one JSON object:
 * `{"traceEvents":[...],"displayTimeUnit":"ns","otherData":{...}}`, one event per line.
 *
 * @spec shared/reference/ecosystem.md §3 "Trace export" (JSON object form, a size cap because
 *   traces of hundreds of MB crash viewers)
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { TdxSimError } from "@tdx/hw-cpu-seam";

/** Where trace text goes. */
export interface TraceSink {
  write(chunk: string): void;
  close(): void;
}

/** The default --trace-max-events. */
export const DEFAULT_MAX_TRACE_EVENTS = 1_000_000;
/** The largest cap accepted (about 200 bytes an event: a few GB of JSON). */
export const MAX_TRACE_EVENTS_LIMIT = 20_000_000;

const FLUSH_AT = 1 << 16;

/** A file sink: created (or truncated) now, so a bad path fails before any work is done. */
export function fileSink(path: string): TraceSink {
  let fd: number;
  try {
    fd = openSync(path, "w");
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new TdxSimError("E_TRACE_FILE", `cannot write the trace file ${path}: ${why}`);
  }
  let parts: string[] = [];
  let pending = 0;
  const flush = () => {
    if (pending === 0) return;
    writeSync(fd, parts.join(""));
    parts = [];
    pending = 0;
  };
  return {
    write(chunk) {
      parts.push(chunk);
      pending += chunk.length;
      if (pending >= FLUSH_AT) flush();
    },
    close() {
      flush();
      closeSync(fd);
    },
  };
}

/** An in-memory sink (tests, library callers). */
export class MemorySink implements TraceSink {
  private readonly parts: string[] = [];
  closed = false;
  write(chunk: string): void {
    this.parts.push(chunk);
  }
  close(): void {
    this.closed = true;
  }
  text(): string {
    return this.parts.join("");
  }
}

export class TraceEventWriter {
  private first = true;
  private done = false;
  /** Events written, metadata and the cap marker excluded. */
  events = 0;
  /** The cap was reached: later events were dropped. */
  capped = false;

  constructor(
    private readonly sink: TraceSink,
    readonly maxEvents: number = DEFAULT_MAX_TRACE_EVENTS,
  ) {
    if (!Number.isSafeInteger(maxEvents) || maxEvents < 1 || maxEvents > MAX_TRACE_EVENTS_LIMIT) {
      throw new TdxSimError(
        "E_TRACE_OPTION",
        `trace-max-events ${String(maxEvents)} must be an integer from 1 to ${MAX_TRACE_EVENTS_LIMIT}`,
      );
    }
    sink.write('{"traceEvents":[');
  }

  private put(json: string): void {
    this.sink.write(this.first ? `\n${json}` : `,\n${json}`);
    this.first = false;
  }

  /** A metadata event (not counted, never dropped before the cap). */
  metadata(json: string): void {
    if (!this.capped && !this.done) this.put(json);
  }

  /**
   * One event; at the cap, `marker()` (the final event saying so) is written instead and this
   * and every later event are dropped. Returns whether the event was written.
   */
  event(json: string, marker: () => string): boolean {
    if (this.capped || this.done) return false;
    if (this.events >= this.maxEvents) {
      this.put(marker());
      this.capped = true;
      return false;
    }
    this.put(json);
    this.events++;
    return true;
  }

  /** Close the array, add `otherData` and close the sink. */
  finish(otherData: Readonly<Record<string, unknown>>): void {
    if (this.done) return;
    this.done = true;
    this.sink.write(`\n],"displayTimeUnit":"ns","otherData":${JSON.stringify(otherData)}}\n`);
    this.sink.close();
  }
}
