/**
 * A checker of Chrome trace-event JSON as far as it can be done offline: the object form with a
 * `traceEvents` array; every event with a name, a known phase, numeric pid/tid and a ts >= 0;
 * complete slices (`X`) with dur >= 0 that nest properly per (pid, tid) — a slice that starts
 * inside another must end inside it, which is what Perfetto's JSON importer needs; B/E pairs
 * matched and ordered per thread; counters with numeric values; process and thread names from
 * the metadata events. Used by the tests on every trace the run writes, and usable on any file.
 *
 * @spec shared/reference/ecosystem.md §3 "Trace export" (slices must nest, no overlapping B/E/X;
 *   ts/dur in µs; M events thread_name/process_name)
 */

export interface TraceEvent {
  readonly name: string;
  readonly cat?: string;
  readonly ph: string;
  readonly ts?: number;
  readonly dur?: number;
  readonly pid: number;
  readonly tid: number;
  readonly s?: string;
  readonly args?: Record<string, unknown>;
}

export interface TraceCheck {
  /** Everything wrong, one line each (empty: the trace is well formed). */
  readonly problems: string[];
  readonly events: readonly TraceEvent[];
  readonly processNames: ReadonlyMap<number, string>;
  /** Thread names by `pid:tid`. */
  readonly threadNames: ReadonlyMap<string, string>;
  readonly otherData: Record<string, unknown> | undefined;
}

const PHASES = new Set(["X", "B", "E", "i", "I", "C", "M"]);
const MAX_PROBLEMS = 50;

/** Integer nanoseconds of a µs value (the writer's resolution). */
const ns = (us: number) => Math.round(us * 1000);

export function checkChromeTrace(text: string): TraceCheck {
  const problems: string[] = [];
  const note = (p: string) => {
    if (problems.length < MAX_PROBLEMS) problems.push(p);
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    note(`not JSON: ${err instanceof Error ? err.message : String(err)}`);
    return { problems, events: [], processNames: new Map(), threadNames: new Map(), otherData: undefined };
  }
  const obj = doc as { traceEvents?: unknown; otherData?: Record<string, unknown> };
  const raw = Array.isArray(obj?.traceEvents) ? (obj.traceEvents as unknown[]) : undefined;
  if (!raw) note("no traceEvents array");
  const events: TraceEvent[] = [];
  const processNames = new Map<number, string>();
  const threadNames = new Map<string, string>();
  const slices = new Map<string, { t0: number; t1: number; i: number }[]>();
  const openBE = new Map<string, { name: string; t: number }[]>();
  const lastBE = new Map<string, number>();
  const all = raw ?? [];
  for (let i = 0; i < all.length; i++) {
    const v = all[i];
    const e = v as TraceEvent;
    const at = `event ${i} (${JSON.stringify(e?.name)})`;
    if (typeof e !== "object" || e === null || typeof e.name !== "string") {
      note(`${at}: no name`);
      continue;
    }
    if (!PHASES.has(e.ph)) {
      note(`${at}: unknown ph ${JSON.stringify(e.ph)}`);
      continue;
    }
    if (!Number.isInteger(e.pid) || !Number.isInteger(e.tid)) {
      note(`${at}: pid/tid not integers`);
      continue;
    }
    events.push(e);
    const key = `${e.pid}:${e.tid}`;
    if (e.ph === "M") {
      const name = (e.args as { name?: unknown } | undefined)?.name;
      if (e.name === "process_name" && typeof name === "string") processNames.set(e.pid, name);
      if (e.name === "thread_name" && typeof name === "string") threadNames.set(key, name);
      continue;
    }
    if (typeof e.ts !== "number" || !Number.isFinite(e.ts) || e.ts < 0) {
      note(`${at}: ts missing or < 0`);
      continue;
    }
    switch (e.ph) {
      case "X": {
        if (typeof e.dur !== "number" || !Number.isFinite(e.dur) || e.dur < 0) {
          note(`${at}: dur missing or < 0`);
          continue;
        }
        const list = slices.get(key) ?? [];
        list.push({ t0: ns(e.ts), t1: ns(e.ts + e.dur), i });
        slices.set(key, list);
        continue;
      }
      case "B":
      case "E": {
        const t = ns(e.ts);
        if (t < (lastBE.get(key) ?? 0)) note(`${at}: B/E timestamps go backwards on ${key}`);
        lastBE.set(key, t);
        const st = openBE.get(key) ?? [];
        openBE.set(key, st);
        if (e.ph === "B") st.push({ name: e.name, t });
        else if (!st.pop()) note(`${at}: E without B on ${key}`);
        continue;
      }
      case "C": {
        const vals = Object.values(e.args ?? {});
        if (vals.length === 0 || !vals.every((x) => typeof x === "number"))
          note(`${at}: counter args not numbers`);
        continue;
      }
      default:
        continue;
    }
  }
  for (const [key, st] of openBE) if (st.length > 0) note(`${st.length} B event(s) never ended on ${key}`);
  for (const [key, list] of slices) {
    // Parents first: by start, then longer first, then file order.
    list.sort((a, b) => a.t0 - b.t0 || b.t1 - a.t1 || a.i - b.i);
    const stack: { t0: number; t1: number; i: number }[] = [];
    for (const s of list) {
      while (stack.length > 0 && stack[stack.length - 1]!.t1 <= s.t0) stack.pop();
      const top = stack[stack.length - 1];
      if (top && s.t1 > top.t1) {
        note(
          `slices overlap on ${key}: event ${s.i} [${s.t0}, ${s.t1}] ns crosses the end of event ${top.i} [${top.t0}, ${top.t1}] ns`,
        );
      }
      stack.push(s);
    }
  }
  return { problems, events, processNames, threadNames, otherData: obj?.otherData };
}
