/**
 * The tracer the scenario's hooks call: a virtual clock that each traced event advances by its
 * modelled cost (the run's cost model), slices kept per track on a stack so they nest, instants
 * and counters. `NO_TRACE` is the default: every method is empty and hooks test `enabled` before
 * computing arguments, so a run without --trace does no trace work.
 *
 * A slice is written when it ends, as a complete event (`ph:"X"`) with integer-nanosecond
 * bounds, so a child always lies within its parent; a track's events are released when its
 * outermost open slice ends, parent before children (pre-order), so viewers that order by file
 * position at equal timestamps still nest them right. Timestamps never come from a wall clock:
 * the same run gives the same bytes.
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";
import { type CostModel, DEFAULT_COSTS } from "../scenario/cost-model";
import {
  type ArgValue,
  COUNTER_NAMES,
  TRACE_PID,
  TRACE_POINTS,
  TRACE_PROCESS_NAME,
  TRACK_NAMES,
  type TraceArgs,
  type TracePointName,
  Track,
} from "./trace-points";
import type { TraceEventWriter } from "./trace-writer";

export interface Tracer {
  /** False for NO_TRACE: hooks skip their work. */
  readonly enabled: boolean;
  /** The prices the clock advances by. */
  readonly costs: CostModel;
  /** The virtual clock (ns since the platform's power-on). */
  readonly nowNs: number;
  /** Advance the clock by a modelled cost (ns). */
  advance(ns: number): void;
  /** Open a slice of `point` named `name` on the point's track at the current time. */
  begin<K extends TracePointName>(point: K, name: string, args: TraceArgs[K]): void;
  /**
   * Close the innermost open slice of the point's track (which must be `point`), adding `more`
   * args and, when given, renaming it (a name known only at the end, e.g. the TD exit).
   */
  end<K extends TracePointName>(point: K, more?: Partial<TraceArgs[K]>, name?: string): void;
  /** A slice that costs `costNs`: begin, advance, end. */
  complete<K extends TracePointName>(point: K, name: string, args: TraceArgs[K], costNs: number): void;
  /** An instant event at the current time. */
  instant<K extends TracePointName>(point: K, name: string, args: TraceArgs[K]): void;
  /** A counter sample at the current time. */
  counter<K extends TracePointName>(point: K, args: TraceArgs[K]): void;
}

/** The tracer of a run without --trace. */
export const NO_TRACE: Tracer = {
  enabled: false,
  costs: DEFAULT_COSTS,
  nowNs: 0,
  advance() {},
  begin() {},
  end() {},
  complete() {},
  instant() {},
  counter() {},
};

/** Microseconds with nanosecond resolution, from integer nanoseconds, as a JSON number. */
export function usText(ns: number): string {
  const q = Math.floor(ns / 1000);
  const r = ns - q * 1000;
  return r === 0 ? String(q) : `${q}.${String(r).padStart(3, "0").replace(/0+$/, "")}`;
}

interface OpenSlice {
  readonly point: TracePointName;
  name: string;
  readonly startNs: number;
  args: Record<string, ArgValue>;
  /** Finished events of descendants (and instants inside), in pre-order. */
  readonly inner: string[];
}

function eventJson(
  name: string,
  cat: string,
  ph: string,
  tsNs: number,
  tid: number,
  args: Readonly<Record<string, ArgValue>>,
  extra = "",
): string {
  return `{"name":${JSON.stringify(name)},"cat":"${cat}","ph":"${ph}","ts":${usText(tsNs)}${extra},"pid":${TRACE_PID},"tid":${tid},"args":${JSON.stringify(args)}}`;
}

/** A tracer writing Chrome trace-event JSON through a TraceEventWriter. */
export class ChromeTracer implements Tracer {
  readonly enabled = true;
  private clock = 0;
  private readonly open = new Map<Track, OpenSlice[]>();

  constructor(
    private readonly writer: TraceEventWriter,
    readonly costs: CostModel,
  ) {
    writer.metadata(
      `{"name":"process_name","ph":"M","pid":${TRACE_PID},"tid":0,"args":{"name":${JSON.stringify(TRACE_PROCESS_NAME)}}}`,
    );
    for (const t of Object.values(Track)) {
      this.open.set(t, []);
      writer.metadata(
        `{"name":"thread_name","ph":"M","pid":${TRACE_PID},"tid":${t},"args":{"name":${JSON.stringify(TRACK_NAMES[t])}}}`,
      );
      writer.metadata(
        `{"name":"thread_sort_index","ph":"M","pid":${TRACE_PID},"tid":${t},"args":{"sort_index":${t}}}`,
      );
    }
  }

  get nowNs(): number {
    return this.clock;
  }

  /** Events written so far, and whether the cap stopped the writer. */
  get events(): number {
    return this.writer.events;
  }
  get capped(): boolean {
    return this.writer.capped;
  }

  advance(ns: number): void {
    if (!(ns >= 0)) throw new TdxSimError("E_TRACE_CLOCK", `a modelled cost must be >= 0 ns (got ${ns})`);
    this.clock += ns;
  }

  private stackOf(point: TracePointName, kind: string): OpenSlice[] {
    const spec = TRACE_POINTS[point];
    if (spec.kind !== kind) {
      throw new TdxSimError("E_TRACE_POINT", `trace point ${point} is a ${spec.kind}, not a ${kind}`);
    }
    return this.open.get(spec.track)!;
  }

  begin<K extends TracePointName>(point: K, name: string, args: TraceArgs[K]): void {
    this.stackOf(point, "slice").push({ point, name, startNs: this.clock, args: { ...args }, inner: [] });
  }

  end<K extends TracePointName>(point: K, more?: Partial<TraceArgs[K]>, name?: string): void {
    const stack = this.stackOf(point, "slice");
    const s = stack.pop();
    if (s?.point !== point) {
      throw new TdxSimError(
        "E_TRACE_NESTING",
        `end(${point}) but the innermost open slice on its track is ${s ? s.point : "none"}`,
      );
    }
    if (more) Object.assign(s.args, more);
    if (name !== undefined) s.name = name;
    this.close(stack, s);
  }

  private close(stack: OpenSlice[], s: OpenSlice): void {
    const point = s.point;
    const t0 = Math.round(s.startNs);
    const t1 = Math.round(this.clock);
    const json = eventJson(
      s.name,
      TRACE_POINTS[point].cat,
      "X",
      t0,
      TRACE_POINTS[point].track,
      s.args,
      `,"dur":${usText(t1 - t0)}`,
    );
    this.release(stack, [json, ...s.inner]);
  }

  complete<K extends TracePointName>(point: K, name: string, args: TraceArgs[K], costNs: number): void {
    this.begin(point, name, args);
    this.advance(costNs);
    this.end(point);
  }

  instant<K extends TracePointName>(point: K, name: string, args: TraceArgs[K]): void {
    const stack = this.stackOf(point, "instant");
    const spec = TRACE_POINTS[point];
    this.release(stack, [
      eventJson(
        name,
        spec.cat,
        "i",
        Math.round(this.clock),
        spec.track,
        args as Record<string, ArgValue>,
        ',"s":"t"',
      ),
    ]);
  }

  counter<K extends TracePointName>(point: K, args: TraceArgs[K]): void {
    const spec = TRACE_POINTS[point];
    if (spec.kind !== "counter") {
      throw new TdxSimError("E_TRACE_POINT", `trace point ${point} is a ${spec.kind}, not a counter`);
    }
    const name = COUNTER_NAMES[point] ?? point;
    this.emit(
      eventJson(name, spec.cat, "C", Math.round(this.clock), spec.track, args as Record<string, ArgValue>),
    );
  }

  /** Events go into the enclosing open slice of their track, or out when none is open. */
  private release(stack: OpenSlice[], events: readonly string[]): void {
    const parent = stack[stack.length - 1];
    if (parent) parent.inner.push(...events);
    else for (const e of events) this.emit(e);
  }

  private emit(json: string): void {
    this.writer.event(json, () =>
      eventJson(
        "trace capped",
        TRACE_POINTS.traceCapped.cat,
        "i",
        Math.round(this.clock),
        TRACE_POINTS.traceCapped.track,
        { maxEvents: this.writer.maxEvents },
        ',"s":"g"',
      ),
    );
  }

  /**
   * End the trace: close any slice still open at the current time (a run that stopped inside
   * one), then the file, with `otherData` (run metadata) and the final clock.
   */
  finish(otherData: Readonly<Record<string, unknown>>): void {
    for (const stack of this.open.values()) {
      for (let s = stack.pop(); s; s = stack.pop()) {
        s.args.unfinished = true;
        this.close(stack, s);
      }
    }
    this.writer.finish({
      ...otherData,
      endUs: Number(usText(Math.round(this.clock))),
      events: this.writer.events,
      capped: this.writer.capped,
    });
  }
}
