/**
 * The trace of a whole `tdx-sim run`: well formed for Perfetto (checker), one event per thing the
 * report counts (SEAMCALLs, TD exits, TDVMCALLs, #VEs, MMIO round trips, DMA transfers, VT-d
 * faults), the virtual clock ending where the cost model's total does, named tracks, the same
 * bytes for the same seed, a report unchanged by tracing, and the cap.
 */
import { describe, expect, it } from "vitest";
import { runScenario } from "../scenario/run-scenario";
import { checkChromeTrace, type TraceEvent } from "./trace-check";
import { Track } from "./trace-points";
import { MemorySink } from "./trace-writer";

const OPTS = { dmaCount: 3, dmaSize: 6000, seed: 7 } as const;

function traced(opts: object = OPTS, maxEvents?: number) {
  const sink = new MemorySink();
  const run = runScenario(opts, { sink, ...(maxEvents === undefined ? {} : { maxEvents }) });
  return { run, text: sink.text(), check: checkChromeTrace(sink.text()), sink };
}

const sum = (r: Record<string, number>) => Object.values(r).reduce((a, b) => a + b, 0);
const count = (ev: readonly TraceEvent[], ph: string, cat: string) =>
  ev.filter((e) => e.ph === ph && e.cat === cat).length;

describe("tdx-sim run --trace", () => {
  const { run, text, check, sink } = traced();
  const r = run.report;
  const ev = check.events;

  it("is well-formed Chrome trace-event JSON whose slices nest on every track", () => {
    expect(sink.closed).toBe(true);
    expect(check.problems).toEqual([]);
    expect(ev.every((e) => e.pid === 1)).toBe(true);
    expect(new Set(ev.filter((e) => e.ph === "X").map((e) => e.tid))).toEqual(
      new Set([Track.HOST, Track.VCPU0, Track.DEVICE, Track.VTD]),
    );
    expect(run.trace).toMatchObject({ capped: false, events: ev.filter((e) => e.ph !== "M").length });
  });

  it("names the process and every track", () => {
    expect(check.processNames.get(1)).toMatch(/tdx-sim platform/);
    expect([...check.threadNames.values()]).toEqual([
      expect.stringMatching(/^host/),
      expect.stringMatching(/^vCPU 0/),
      expect.stringMatching(/^device 0000:00:04\.0/),
      expect.stringMatching(/^VT-d/),
    ]);
  });

  it("has one event per thing the report counts", () => {
    const c = r.counts;
    expect(count(ev, "X", "seamcall")).toBe(c.seamcalls.launchTotal + c.seamcalls.runTotal);
    expect(ev.filter((e) => e.name === "TDH.VP.ENTER").length).toBe(c.seamcalls.run["TDH.VP.ENTER"]);
    expect(count(ev, "X", "td")).toBe(sum(c.tdExits));
    expect(count(ev, "X", "tdvmcall")).toBe(sum(c.tdvmcalls));
    expect(count(ev, "X", "ve")).toBe(sum(c.ves));
    expect(count(ev, "X", "mmio")).toBe(c.mmio.roundTrips);
    expect(count(ev, "X", "device")).toBe(c.device.mmioReads + c.device.mmioWrites);
    expect(count(ev, "X", "dma")).toBe(c.device.dmaReads + c.device.dmaWrites);
    expect(count(ev, "i", "vtd-fault")).toBe(c.vtd.faults);
    expect(count(ev, "X", "mapgpa")).toBe(c.mapGpa.calls);
    expect(count(ev, "X", "accept")).toBe(c.accepted.pages4k + c.accepted.pages2m);
    expect(ev.filter((e) => e.name === "dma_map_single").length).toBe(c.swiotlb.maps);
    expect(ev.filter((e) => e.name === "dma_unmap_single").length).toBe(c.swiotlb.unmaps);
    expect(count(ev, "i", "probe")).toBe(r.security.attempts.length + r.security.hostCpuReads.length);
    const translated = ev.filter((e) => e.cat === "vtd" && String(e.name).startsWith("translate"));
    expect(translated.reduce((a, e) => a + Number(e.args?.requests), 0)).toBe(c.vtd.translations);
    expect(translated.reduce((a, e) => a + Number(e.args?.iotlbHits), 0)).toBe(c.vtd.iotlbHits);
    expect(translated.reduce((a, e) => a + Number(e.args?.walkReads), 0)).toBe(c.vtd.walkReads);
  });

  it("carries what each event is about", () => {
    const mmio = ev.filter((e) => e.cat === "mmio");
    expect(mmio.filter((e) => e.args?.dir === "write").length).toBe(r.counts.mmio.writes);
    expect(mmio[0]?.args).toMatchObject({ size: 4, dir: "read", value: "0x45414d44", inDevice: true });
    expect(ev.filter((e) => e.cat === "td").map((e) => e.name)).toContain("TD run → TDVMCALL<REQUEST_MMIO>");
    expect(ev.find((e) => e.cat === "ve")?.args).toMatchObject({ reason: "EPT_VIOLATION", exitReason: 48 });
    const faults = ev.filter((e) => e.cat === "vtd-fault").map((e) => e.args?.reason);
    expect(faults).toEqual(r.security.faultRecords.map((f) => `0x${f.reason.toString(16)}`));
    const maps = ev.filter((e) => e.name === "dma_map_single");
    expect(maps.every((e) => e.args?.size === OPTS.dmaSize && e.args?.ok === true)).toBe(true);
    expect(
      maps.filter((e) => e.args?.dir === "to-device").every((e) => e.args?.bouncedBytes === OPTS.dmaSize),
    ).toBe(true);
    const slots = ev
      .filter((e) => e.ph === "C" && e.name === "SWIOTLB slots in use")
      .map((e) => e.args?.inUse);
    expect(Math.max(...(slots as number[]))).toBe(r.counts.swiotlb.hiwaterSlots);
    expect(slots.at(-1)).toBe(0);
  });

  it("runs on the cost model's clock: the trace ends at the report's predicted time", () => {
    expect((run.trace?.endNs ?? 0) / 1000).toBeCloseTo(r.time.totalUs, 2);
    expect(check.otherData).toMatchObject({ reportTotalUs: r.time.totalUs, capped: false });
    const costly = traced({ ...OPTS, costs: { veNs: 5000 } });
    expect((costly.run.trace?.endNs ?? 0) / 1000).toBeCloseTo(costly.run.report.time.totalUs, 2);
    expect(costly.run.trace!.endNs - run.trace!.endNs).toBeCloseTo(4000 * sum(r.counts.ves), 3);
  });

  it("gives byte-identical files for the same options and seed, different ones for another seed", () => {
    expect(traced().text).toBe(text);
    expect(traced({ ...OPTS, seed: 8 }).text).not.toBe(text);
  });

  it("does not change the report", () => {
    expect(runScenario(OPTS).report).toEqual(r);
  });

  it("traces scalable mode as well", () => {
    const s = traced({ ...OPTS, iommu: "scalable" });
    expect(s.check.problems).toEqual([]);
    expect(count(s.check.events, "i", "vtd-fault")).toBe(s.run.report.counts.vtd.faults);
  });

  it("stops at --trace-max-events with a final event saying so, still well formed", () => {
    const capped = traced(OPTS, 500);
    expect(capped.check.problems).toEqual([]);
    const body = capped.check.events.filter((e) => e.ph !== "M");
    expect(body.length).toBe(501);
    expect(body.at(-1)).toMatchObject({ name: "trace capped", ph: "i", s: "g", args: { maxEvents: 500 } });
    expect(capped.run.trace).toMatchObject({ capped: true, events: 500 });
    expect(capped.text.startsWith(text.slice(0, 2000))).toBe(true);
    expect(capped.run.report).toEqual(r);
  });
});
