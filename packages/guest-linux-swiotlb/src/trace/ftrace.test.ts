/**
 * ftrace captures of swiotlb:swiotlb_bounced (TP_printk of Linux 6.12) and their conversion into
 * a replayable trace.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { TdxSimError } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { DmaDevice } from "../device";
import { DmaDirection } from "../dma/constants";
import { DmaApi, type SwiotlbBouncedEvent } from "../dma/dma-api";
import { RecordingEncryptionOps } from "../memory/conversion";
import { FlatGuestMemory } from "../memory/guest-memory";
import { RangePageAllocator } from "../memory/page-allocator";
import { createLinuxPolicy } from "../policy/linux";
import { formatResult, formatTrace, parseTrace } from "./format";
import { formatFtraceLine, ftraceToTrace, looksLikeFtrace, parseFtrace } from "./ftrace";
import { replayTrace } from "./replay";

const CAPTURE = readFileSync(
  join(import.meta.dirname, "../../fixtures/ftrace/tdx-guest-bounced.trace"),
  "utf8",
);

function thrown(f: () => unknown): TdxSimError {
  try {
    f();
  } catch (e) {
    if (e instanceof TdxSimError) return e;
    throw e;
  }
  throw new Error("expected a TdxSimError");
}

describe("parsing a capture", () => {
  it("reads every swiotlb_bounced event, the CPU count, lost and other events", () => {
    const c = parseFtrace(CAPTURE, "cap");
    expect(c.events.length).toBe(56);
    expect(c.otherEvents).toBe(3);
    expect(c.lostEvents).toBe(3);
    expect(c.headerCpus).toBe(4);
    expect(c.events[0]).toEqual({
      line: 13,
      task: "<idle>",
      pid: 0,
      cpu: 1,
      timeNs: 104_116_234_000,
      devName: "0000:00:03.0",
      dmaMaskBits: 64,
      devAddr: 0x10c0c7c02,
      size: 4096,
      force: true,
    });
    expect(c.events.every((e, i) => i === 0 || e.timeNs >= c.events[i - 1]!.timeNs)).toBe(true);
  });

  it("reads trace-cmd report lines (padded event text, no flags column)", () => {
    const text = [
      "cpus=2",
      "     kworker/1:2-88    [001]   512.000100: swiotlb_bounced:      dev_name: virtio1 dma_mask=ffffffff dev_addr=7f001000 size=512 NORMAL",
    ].join("\n");
    const c = parseFtrace(text);
    expect(c.headerCpus).toBe(2);
    expect(c.events[0]).toMatchObject({
      task: "kworker/1:2",
      pid: 88,
      cpu: 1,
      devName: "virtio1",
      dmaMaskBits: 32,
      force: false,
    });
  });

  it("names the line of anything it cannot read", () => {
    const bad1 = thrown(() => parseFtrace("# x\nhello world\n", "cap"));
    expect(bad1.code).toBe("E_FTRACE_LINE");
    expect(bad1.message).toMatch(/^cap:2: not an ftrace event line/);
    const bad2 = thrown(() =>
      parseFtrace(
        "  a-1 [000] .... 1.000001: swiotlb_bounced: dev_name: x dma_mask=ff dev_addr=zz size=1 FORCE",
        "cap",
      ),
    );
    expect(bad2.message).toMatch(/^cap:1: swiotlb_bounced text/);
    const bad3 = thrown(() =>
      parseFtrace(
        "  a-1 [000] .... 1.000001: swiotlb_bounced: dev_name: x dma_mask=fff0 dev_addr=10 size=1 FORCE",
        "cap",
      ),
    );
    expect(bad3.message).toContain("dma_mask=fff0 is not DMA_BIT_MASK(n)");
    const bad4 = thrown(() =>
      parseFtrace(
        "  a-1 [000] .... 1.000001: swiotlb_bounced: dev_name: x dma_mask=ff dev_addr=10 size=0 FORCE",
        "cap",
      ),
    );
    expect(bad4.message).toContain("size=0");
  });

  it("tells a capture from a JSON Lines trace", () => {
    expect(looksLikeFtrace(CAPTURE)).toBe(true);
    expect(looksLikeFtrace('\n{"nslabs":128,"nareas":1}\n')).toBe(false);
  });
});

describe("turning a capture into a run", () => {
  it("maps every event and unmaps it holdUs later, in time order, with per-device min_align_mask", () => {
    const c = parseFtrace(CAPTURE, "cap");
    const t = ftraceToTrace(c, {
      nslabs: 8192,
      nareas: 4,
      holdUs: 50,
      minAlignMask: { "0000:00:04.0": 0xfff },
    });
    expect(t.ops.length).toBe(112);
    const maps = t.ops.filter((o) => o.op === "map");
    expect(maps[0]).toEqual({
      op: "map",
      id: "L13",
      cpu: 1,
      orig: 0x10c0c7c02,
      size: 4096,
      minAlignMask: 0,
      allocAlignMask: 0,
      line: 13,
    });
    const nvme = maps.filter((m) => m.op === "map" && m.minAlignMask === 0xfff);
    expect(nvme.length).toBe(c.events.filter((e) => e.devName === "0000:00:04.0").length);
    // An unmap comes after its map, and every id is unmapped exactly once.
    const seen = new Set<string>();
    for (const o of t.ops) {
      if (o.op === "map") seen.add(o.id);
      else {
        expect(seen.has(o.id)).toBe(true);
        seen.delete(o.id);
      }
    }
    expect(seen.size).toBe(0);
    // The converted trace replays, and survives its own text format.
    const run = replayTrace(t);
    expect(run.results.length).toBe(112);
    const again = replayTrace(parseTrace(formatTrace(t)));
    expect(again.results.map(formatResult)).toEqual(run.results.map(formatResult));
    expect(run.stats.liveMappings).toBe(0);
  });

  it("a longer hold keeps more mappings live at once", () => {
    const c = parseFtrace(CAPTURE);
    const short = replayTrace(ftraceToTrace(c, { nslabs: 8192, nareas: 4, holdUs: 1 }));
    const long = replayTrace(ftraceToTrace(c, { nslabs: 8192, nareas: 4, holdUs: 5000 }));
    expect(long.stats.peakInUseBytes).toBeGreaterThan(short.stats.peakInUseBytes);
  });

  it("checks the hold time", () => {
    expect(() => ftraceToTrace(parseFtrace(CAPTURE), { nslabs: 128, nareas: 1, holdUs: -1 })).toThrow(
      /hold time/,
    );
  });
});

describe("round trip with the DMA API's tracepoint", () => {
  it("events the model emits print and parse back identically", () => {
    const memory = new FlatGuestMemory(8 * 1024 * 1024);
    const events: SwiotlbBouncedEvent[] = [];
    const api = new DmaApi({
      bounce: createLinuxPolicy({ nslabs: 1024, nareas: 2, poolBase: 4 * 1024 * 1024, memory }),
      memory,
      pageAllocator: new RangePageAllocator(6 * 1024 * 1024, 1024 * 1024),
      conversions: new RecordingEncryptionOps(),
      onBounced: (e) => events.push(e),
    });
    const dev = new DmaDevice({ name: "0000:00:04.0", driver: "nvme", dmaMaskBits: 48, minAlignMask: 0xfff });
    for (let i = 0; i < 5; i++) {
      api.cpu = i % 2;
      api.mapSingle(dev, 0x1000 * (i + 1) + 0x10, 512 * (i + 1), DmaDirection.ToDevice);
    }
    const text = events
      .map((e, i) =>
        formatFtraceLine({
          task: "fio",
          pid: 2300,
          cpu: e.cpu,
          timeNs: 1e9 + i * 1000,
          devName: e.devName,
          dmaMaskBits: e.dmaMaskBits,
          devAddr: e.devAddr,
          size: e.size,
          force: e.force,
        }),
      )
      .join("\n");
    const back = parseFtrace(text).events;
    expect(back.map((e) => [e.cpu, e.devName, e.dmaMaskBits, e.devAddr, e.size, e.force])).toEqual(
      events.map((e) => [e.cpu, e.devName, e.dmaMaskBits, e.devAddr, e.size, e.force]),
    );
  });
});
