/**
 * The default scenario end to end: the counts that follow from the workload, byte-exact DMA both
 * ways through SWIOTLB and VT-d, the security probe blocked with its VT-d faults recorded, and
 * determinism (same options -> identical JSON).
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";
import { FaultReason } from "@tdx/vtd";
import { describe, expect, it } from "vitest";
import { DESCRIPTOR_BYTES } from "./guest-program";
import { DEVICE_SID, TdLayout } from "./layout";
import { runScenario } from "./run-scenario";
import { PROBE_BYTES } from "./security-probe";

const N = 5;
const SIZE = 4096;
/** Pages converted to shared at boot and by the coherent allocation: 1 MiB pool, 128 KiB atomic pool, 1 page. */
const SHARED_PAGES = 256 + 32 + 1;

describe("the default platform scenario", () => {
  const run = runScenario({ dmaCount: N, dmaSize: SIZE, seed: 7 });
  const r = run.report;
  const c = r.counts;

  it("launches the TD through the module, runs the workload and halts", () => {
    expect(r.end).toEqual({ kind: "halted" });
    expect(r.guest.errors).toEqual([]);
    expect(r.td).toMatchObject({ gpaw: 48, sharedBit: "0x800000000000", hkid: run.host.td.hkid });
    expect(r.td.mrtd).toMatch(/^[0-9a-f]{96}$/);
    expect(r.td.mrtd).not.toBe("0".repeat(96));
    expect(r.guest.deviceId).toBe("0x45414d44");
    expect(c.seamcalls.launch).toMatchObject({
      "TDH.SYS.INIT": 1,
      "TDH.SYS.LP.INIT": 4,
      "TDH.SYS.CONFIG": 1,
      "TDH.SYS.KEY.CONFIG": 2,
      "TDH.SYS.TDMR.INIT": 256, // 1 GiB TDMR, 4 MiB per call
      "TDH.MR.EXTEND": 16, // the kernel text page, 16 x 256 B
      "TDH.MR.FINALIZE": 1,
    });
  });

  it("counts exits, #VEs, TDVMCALLs and MMIO exactly as the workload implies", () => {
    // ID read; 2 coherent commands and 2N streaming ones, each writeq + writel + writel + readl.
    const commands = 2 + 2 * N;
    const mmio = 1 + 4 * commands;
    expect(c.mmio).toEqual({ roundTrips: mmio, reads: 1 + commands, writes: 3 * commands });
    expect(c.ves).toEqual({ EPT_VIOLATION: mmio });
    expect(c.vesFailed).toBe(0);
    // MapGPA: the SWIOTLB pool, the atomic pool, the coherent page to shared and back.
    expect(c.tdvmcalls).toEqual({ REQUEST_MMIO: mmio, MAP_GPA: 4, HLT: 2 });
    expect(c.tdExits).toEqual({ tdvmcall: mmio + 6 });
    expect(c.seamcalls.run["TDH.VP.ENTER"]).toBe(mmio + 6);
    expect(run.guest.guest?.stats.vmcalls).toBe(mmio + 6); // what the guest issued is what the host saw
    expect(c.mapGpa).toEqual({ calls: 4, userspaceExits: 4, pagesToShared: SHARED_PAGES, pagesToPrivate: 1 });
    for (const leaf of ["TDH.MEM.RANGE.BLOCK", "TDH.MEM.TRACK", "TDH.MEM.PAGE.REMOVE"])
      expect(c.seamcalls.run[leaf]).toBe(SHARED_PAGES);
    expect(c.seamcalls.run["TDH.MEM.PAGE.AUG"]).toBe(1);
    expect(c.accepted).toEqual({ pages4k: 1, pages2m: 0 });
    expect(r.guest.swiotlbBootLog).toContain(
      "software IO TLB: mapped [mem 0x0000000000400000-0x0000000000500000] (1MB)",
    );
  });

  it("bounces every streaming transfer through SWIOTLB and translates every device access through VT-d", () => {
    expect(c.swiotlb).toMatchObject({
      poolBytes: 1024 * 1024,
      maps: 2 * N,
      unmaps: 2 * N,
      mapFailures: 0,
      bounces: 3 * N, // to-device map; from-device map (CVE-2022-0854) and unmap
      bytesBounced: 3 * N * SIZE,
    });
    expect(c.swiotlb.hiwaterSlots).toBeGreaterThanOrEqual(SIZE / 2048);
    // One page per streaming transfer, one per coherent command, four probe accesses.
    expect(c.vtd.translations).toBe(2 * N + 2 + 4);
    expect(c.vtd.iotlbHits + c.vtd.iotlbMisses).toBeLessThanOrEqual(c.vtd.translations);
    expect(c.vtd.pagesMapped).toBe(SHARED_PAGES);
    expect(c.vtd.pagesUnmapped).toBe(1);
    expect(c.device).toMatchObject({
      bytesRead: N * SIZE + DESCRIPTOR_BYTES + PROBE_BYTES,
      bytesWritten: N * SIZE + DESCRIPTOR_BYTES,
      dmaFaults: 3,
    });
  });

  it("moves the bytes exactly: what the driver sent the device read, what the device wrote the driver got", () => {
    const t = run.host.device.transfers;
    const inPool = (a: number) => a >= TdLayout.SWIOTLB_LOW && a < TdLayout.SWIOTLB_HIGH;
    const toDev = t.filter((x) => x.dir === "to-device" && inPool(x.iova));
    const fromDev = t.filter((x) => x.dir === "from-device" && inPool(x.iova));
    expect(toDev.map((x) => x.data)).toEqual(run.guest.sent);
    expect(fromDev.map((x) => x.data)).toEqual(run.guest.received);
    expect(run.guest.sent).toHaveLength(N);
    expect(run.guest.received).toHaveLength(N);
    expect(new Set(run.guest.sent.map((b) => b.join())).size).toBe(N); // distinct payloads
    expect(r.dma.toDevice).toEqual({ transfers: N, bytes: N * SIZE, mismatches: 0 });
    expect(r.dma.fromDevice).toEqual({ transfers: N, bytes: N * SIZE, mismatches: 0 });
    // Coherent: the device read the descriptor in place and its reply landed in place.
    const coh = run.guest.coherent!;
    expect(coh.buffer.dmaAddr).toBe(TdLayout.COHERENT);
    expect(t[0]).toMatchObject({ dir: "to-device", iova: TdLayout.COHERENT, data: coh.sent });
    expect(t[1]).toMatchObject({
      dir: "from-device",
      iova: TdLayout.COHERENT + DESCRIPTOR_BYTES,
      data: coh.received,
    });
    expect(r.dma.coherent).toEqual({ bytesEachWay: DESCRIPTOR_BYTES, mismatches: 0, freed: true });
  });

  it("blocks the malicious host's DMA into the TD's private page and records the VT-d faults", () => {
    const s = r.security;
    expect(s.attempts.map((a) => [a.keyId, a.access, a.blocked, a.faultCode ?? a.sawOnlyZeros])).toEqual([
      [run.host.td.hkid, "write", true, FaultReason.TdxPrivateKeyId],
      [run.host.td.hkid, "read", true, FaultReason.TdxPrivateKeyId],
      [0, "write", true, FaultReason.TdxOwnedLines],
      [0, "read", false, true],
    ]);
    expect(s.faultRecords).toEqual([
      expect.objectContaining({ reason: 0xf0, sid: DEVICE_SID, address: TdLayout.SWIOTLB_LOW, write: true }),
      expect.objectContaining({ reason: 0xf0, sid: DEVICE_SID, address: TdLayout.SWIOTLB_LOW, write: false }),
      expect.objectContaining({ reason: 0xf2, sid: DEVICE_SID, address: TdLayout.SWIOTLB_LOW, write: true }),
    ]);
    expect(c.vtd.faults).toBe(3);
    expect(c.vtd.faultsRecorded).toBe(3);
    expect(s.hostCpuReads).toEqual([
      { keyId: 0, status: "Ok", sawOnlyZeros: true },
      { keyId: run.host.td.hkid, status: "KeyIdNotAllowed", sawOnlyZeros: false },
    ]);
    expect(s.restored).toBe(true);
    expect(s.tdSecretIntact).toBe(true);
    expect(run.guest.secret!.afterProbe).toEqual(run.guest.secret!.written);
    expect(run.guest.secret!.written.some((b) => b !== 0)).toBe(true);
  });

  it("prices the run with the cost model", () => {
    const t = r.time;
    expect(t.launch.breakdownNs.seamcalls).toBe(c.seamcalls.launchTotal * t.costModel.seamcallNs);
    expect(t.run.breakdownNs.tdEnterExit).toBe((c.mmio.roundTrips + 6) * t.costModel.tdEnterExitNs);
    expect(t.run.breakdownNs.ve).toBe(c.mmio.roundTrips * t.costModel.veNs);
    expect(t.totalUs).toBeCloseTo(t.launch.totalUs + t.run.totalUs, 3);
    const slower = runScenario({
      dmaCount: N,
      dmaSize: SIZE,
      seed: 7,
      costs: { tdEnterExitNs: 4000 },
    }).report;
    expect(slower.time.run.totalUs - t.run.totalUs).toBeCloseTo(((c.mmio.roundTrips + 6) * 1000) / 1000, 3);
  });

  it("is deterministic: the same options give identical JSON; another seed other payloads", () => {
    const again = runScenario({ dmaCount: N, dmaSize: SIZE, seed: 7 }).report;
    expect(JSON.stringify(again)).toBe(JSON.stringify(r));
    const other = runScenario({ dmaCount: N, dmaSize: SIZE, seed: 8 }).report;
    expect(other.dma.payloadSha256).not.toBe(r.dma.payloadSha256);
    expect(other.counts).toEqual(r.counts);
  });

  it("runs the same workload with a scalable-mode unit (second-stage through a RID_PASID entry)", () => {
    const s = runScenario({ dmaCount: 2, dmaSize: 10_000, iommu: "scalable" }).report;
    expect(s.end).toEqual({ kind: "halted" });
    expect([s.dma.toDevice.mismatches, s.dma.fromDevice.mismatches, s.dma.coherent.mismatches]).toEqual([
      0, 0, 0,
    ]);
    expect(s.dma.toDevice.bytes).toBe(20_000);
    expect(s.security.attempts.map((a) => a.blocked)).toEqual([true, true, true, false]);
    expect(s.security.tdSecretIntact).toBe(true);
  });

  it("rejects bad options with what is allowed", () => {
    expect(() => runScenario({ dmaCount: 0 })).toThrow(/dma-count 0 must be an integer from 1 to 10000/);
    expect(() => runScenario({ dmaSize: 262_145 })).toThrow(
      /dma-size 262145 must be an integer from 1 to 262144/,
    );
    expect(() => runScenario({ iommu: "nested" as never })).toThrow(TdxSimError);
    expect(() => runScenario({ costs: { warpNs: 1 } })).toThrow(/unknown cost "warpNs"/);
  });
});
