/**
 * The tracer and writer on their own: the JSON shape, slices nesting per track (parent written
 * before its children), instants inside slices, the clock, the event cap and its marker, misuse
 * refused; and the checker catching what Perfetto would reject.
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { DEFAULT_COSTS } from "../scenario/cost-model";
import { checkChromeTrace } from "./trace-check";
import { TRACK_NAMES, Track } from "./trace-points";
import { MemorySink, TraceEventWriter } from "./trace-writer";
import { ChromeTracer, NO_TRACE, usText } from "./tracer";

function tracer(maxEvents?: number) {
  const sink = new MemorySink();
  const writer = new TraceEventWriter(sink, maxEvents);
  return { sink, writer, t: new ChromeTracer(writer, DEFAULT_COSTS) };
}

const seamcall = { leaf: "TDH.VP.ENTER", lp: 0, status: "" };

describe("ChromeTracer", () => {
  it("writes nested complete slices on the right tracks, parent first, with ns-exact µs", () => {
    const { sink, t } = tracer();
    t.advance(1500);
    t.begin("seamcall", "TDH.VP.ENTER", seamcall);
    t.advance(250.4);
    t.begin("tdRun", "TD run", { exit: "" });
    t.complete("ve", "#VE EPT_VIOLATION", { reason: "EPT_VIOLATION", exitReason: 48, gpa: "0x1000" }, 1000);
    t.instant("swiotlbBounced", "swiotlb_bounced", { dev: "d", devAddr: "0x0", size: 4, force: true });
    t.end("tdRun", { exit: "TDVMCALL<HLT>" }, "TD run → TDVMCALL<HLT>");
    t.advance(249.6);
    t.end("seamcall", { status: "TDX_SUCCESS" });
    t.counter("sharedPages", { pages: 3 });
    t.finish({ run: "unit" });
    const c = checkChromeTrace(sink.text());
    expect(c.problems).toEqual([]);
    const body = c.events.filter((e) => e.ph !== "M");
    expect(body.map((e) => [e.ph, e.name, e.tid, e.ts, e.dur])).toEqual([
      // A track's events leave when its outermost slice ends: the vCPU's before the host's.
      ["X", "TD run → TDVMCALL<HLT>", Track.VCPU0, 1.75, 1],
      ["X", "#VE EPT_VIOLATION", Track.VCPU0, 1.75, 1],
      ["i", "swiotlb_bounced", Track.VCPU0, 2.75, undefined],
      ["X", "TDH.VP.ENTER", Track.HOST, 1.5, 1.5],
      ["C", "TD shared pages", Track.HOST, 3, undefined],
    ]);
    expect(body[3]!.args).toEqual({ leaf: "TDH.VP.ENTER", lp: 0, status: "TDX_SUCCESS" });
    expect(body[0]!.args).toEqual({ exit: "TDVMCALL<HLT>" });
    expect(c.processNames.get(1)).toMatch(/tdx-sim/);
    for (const [tid, name] of Object.entries(TRACK_NAMES)) expect(c.threadNames.get(`1:${tid}`)).toBe(name);
    expect(c.otherData).toMatchObject({ run: "unit", endUs: 3, events: 5, capped: false });
  });

  it("formats integer nanoseconds as µs without float noise", () => {
    expect([usText(0), usText(1), usText(999), usText(1000), usText(1_234_560), usText(3_235_941)]).toEqual([
      "0",
      "0.001",
      "0.999",
      "1",
      "1234.56",
      "3235.941",
    ]);
  });

  it("refuses ending a slice that is not the innermost on its track, and a negative cost", () => {
    const { t } = tracer();
    t.begin("seamcall", "TDH.VP.ENTER", seamcall);
    t.begin("tdvmcall", "TDVMCALL<HLT>", { subfunction: "HLT", r10: "" });
    expect(() => t.end("seamcall")).toThrow(TdxSimError);
    expect(() => t.advance(-1)).toThrow(/>= 0/);
    expect(() => t.instant("seamcall", "x", seamcall)).toThrow(/is a slice, not a instant/);
  });

  it("closes slices still open at finish, marked unfinished", () => {
    const { sink, t } = tracer();
    t.begin("seamcall", "TDH.VP.ENTER", seamcall);
    t.advance(10);
    t.finish({});
    const x = checkChromeTrace(sink.text()).events.find((e) => e.ph === "X");
    expect(x?.args).toMatchObject({ unfinished: true });
    expect(x?.dur).toBe(0.01);
  });

  it("stops at the cap with one final global instant saying so", () => {
    const { sink, writer, t } = tracer(3);
    for (let i = 0; i < 10; i++) t.complete("seamcall", `call ${i}`, seamcall, 100);
    t.finish({});
    const c = checkChromeTrace(sink.text());
    expect(c.problems).toEqual([]);
    const body = c.events.filter((e) => e.ph !== "M");
    expect(body.map((e) => e.name)).toEqual(["call 0", "call 1", "call 2", "trace capped"]);
    expect(body[3]).toMatchObject({ ph: "i", s: "g", args: { maxEvents: 3 } });
    expect(writer.capped).toBe(true);
    expect(c.otherData).toMatchObject({ events: 3, capped: true });
  });

  it("writes no marker when the run fits the cap exactly", () => {
    const { sink, writer, t } = tracer(2);
    t.complete("seamcall", "a", seamcall, 1);
    t.complete("seamcall", "b", seamcall, 1);
    t.finish({});
    expect(writer.capped).toBe(false);
    expect(sink.text()).not.toContain("trace capped");
  });

  it("refuses a cap outside 1..limit", () => {
    expect(() => new TraceEventWriter(new MemorySink(), 0)).toThrow(/trace-max-events 0 must be an integer/);
  });

  it("NO_TRACE does nothing and says so", () => {
    expect(NO_TRACE.enabled).toBe(false);
    NO_TRACE.begin("seamcall", "x", seamcall);
    NO_TRACE.end("tdRun");
    expect(NO_TRACE.nowNs).toBe(0);
  });
});

describe("checkChromeTrace", () => {
  const doc = (events: unknown[]) => JSON.stringify({ traceEvents: events });
  const x = (ts: number, dur: number, tid = 1) => ({ name: "s", ph: "X", ts, dur, pid: 1, tid });

  it("accepts nesting and siblings, rejects a partial overlap on one tid", () => {
    expect(checkChromeTrace(doc([x(0, 10), x(2, 3), x(5, 5), x(10, 1)])).problems).toEqual([]);
    expect(checkChromeTrace(doc([x(0, 10), x(5, 10, 2)])).problems).toEqual([]);
    expect(checkChromeTrace(doc([x(0, 10), x(5, 10)])).problems[0]).toMatch(/slices overlap on 1:1/);
  });

  it("rejects negative durations, unknown phases, unmatched B/E and non-JSON", () => {
    expect(checkChromeTrace(doc([x(0, -1)])).problems[0]).toMatch(/dur/);
    expect(checkChromeTrace(doc([{ name: "a", ph: "Q", ts: 0, pid: 1, tid: 1 }])).problems[0]).toMatch(
      /unknown ph/,
    );
    expect(
      checkChromeTrace(
        doc([
          { name: "a", ph: "B", ts: 5, pid: 1, tid: 1 },
          { name: "a", ph: "E", ts: 4, pid: 1, tid: 1 },
        ]),
      ).problems[0],
    ).toMatch(/backwards/);
    expect(checkChromeTrace(doc([{ name: "a", ph: "B", ts: 5, pid: 1, tid: 1 }])).problems[0]).toMatch(
      /never ended/,
    );
    expect(checkChromeTrace("{").problems[0]).toMatch(/not JSON/);
    expect(checkChromeTrace("[]").problems[0]).toMatch(/no traceEvents/);
  });
});
