/**
 * The stall model on the physical unit: which faults stall, the event software reads (Stall = 1,
 * a unique STAG), CMD_RESUME retry after the fix completing the DMA with the right data, the
 * abort path failing it, RAZ/WI termination, CMD_STALL_TERM, and when a fault does not stall.
 */
import { Initiator } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { ResumeAction } from "./commands";
import { EventId } from "./events";
import { StallModel } from "./idr";
import type { CompletedTransaction } from "./stall";
import { installStage1Stream, makeRig, makeStage1 } from "./testing/rig";

const SID = 4;
const DEV = { sid: SID, pasid: -1 };
const VA = 0x5555_0000_0000;

function setup(cd: Parameters<typeof makeStage1>[4] = { s: true }, ste = {}, features = {}) {
  const rig = makeRig({ features });
  const ctx = makeStage1(rig.host, 11, 12, 48, cd);
  installStage1Stream(rig, SID, ctx, ste);
  const done: CompletedTransaction[] = [];
  rig.smmu.onTransactionComplete((c) => done.push(c));
  return { rig, ctx, done };
}

describe("stall and resume", () => {
  it("holds a faulting write, reports Stall/STAG, and completes it with the right data after the fix and CMD_RESUME", () => {
    const { rig, ctx, done } = setup();
    const src = Uint8Array.from({ length: 6000 }, (_, i) => (i * 7) & 0xff);
    const p0 = rig.host.alloc(4096, 4096);
    ctx.pt.map(VA, p0, 12); // first page mapped, second missing
    const r = rig.smmu.dmaWrite(DEV, VA + 0x100, src);
    expect(r).toMatchObject({ ok: false, stalled: true });
    expect(rig.smmu.stalled()).toHaveLength(1);
    const [ev] = rig.driver.readEvents();
    expect(ev).toMatchObject({ id: EventId.F_TRANSLATION, stall: true, sid: SID, s2: false, rnw: false });
    expect(ev!.inputAddr).toBe(VA + 0x1000);
    // the software fix: map the missing page, then resume (no CMD_SYNC needed)
    const p1 = rig.host.alloc(4096, 4096);
    ctx.pt.map(VA + 0x1000, p1, 12);
    expect(
      rig.driver.submit([{ op: "RESUME", sid: SID, stag: ev!.stag, action: ResumeAction.RETRY }], false),
    ).toEqual({
      ok: true,
    });
    expect(done).toHaveLength(1);
    expect(done[0]).toMatchObject({ kind: "write", how: "retry", result: { ok: true } });
    expect(rig.smmu.stalled()).toHaveLength(0);
    const a = new Uint8Array(4096 - 0x100);
    const b = new Uint8Array(6000 - a.length);
    rig.mem.read(p0 + 0x100, a, Initiator.Host);
    rig.mem.read(p1, b, Initiator.Host);
    expect([...a, ...b]).toEqual([...src]);
  });

  it("fails the DMA when software resumes with abort, and STALL_TERM ends every stall of the stream", () => {
    const { rig, done } = setup();
    const dst = new Uint8Array(16);
    expect(rig.smmu.dmaRead(DEV, VA, dst)).toMatchObject({ stalled: true });
    expect(rig.smmu.dmaRead(DEV, VA + 0x3000, dst)).toMatchObject({ stalled: true });
    expect(rig.smmu.dmaRead(DEV, VA + 0x5000, dst)).toMatchObject({ stalled: true });
    const evs = rig.driver.readEvents();
    expect(new Set(evs.map((e) => e.stag)).size).toBe(3); // unique STAGs
    rig.driver.mustSubmit([{ op: "RESUME", sid: SID, stag: evs[0]!.stag, action: ResumeAction.ABORT }]);
    expect(done[0]).toMatchObject({ how: "abort", result: { ok: false } });
    rig.driver.mustSubmit([{ op: "STALL_TERM", sid: SID }]);
    expect(done.slice(1).map((d) => d.how)).toEqual(["stall-term", "stall-term"]);
    expect(rig.smmu.stalled()).toHaveLength(0);
    // a RESUME for a STAG nobody holds has no effect
    rig.driver.mustSubmit([{ op: "RESUME", sid: SID, stag: evs[1]!.stag, action: ResumeAction.RETRY }]);
    expect(done).toHaveLength(3);
  });

  it("terminates as RAZ/WI when resumed with terminate on a CD.A = 0 context: the read completes with zeros", () => {
    const { rig, done } = setup({ s: true, a: false });
    const dst = new Uint8Array(8).fill(0xee);
    expect(rig.smmu.dmaRead(DEV, VA, dst)).toMatchObject({ stalled: true });
    const [ev] = rig.driver.readEvents();
    rig.driver.mustSubmit([{ op: "RESUME", sid: SID, stag: ev!.stag, action: ResumeAction.TERMINATE }]);
    expect(done[0]).toMatchObject({ how: "terminate", result: { ok: true } });
    expect([...dst]).toEqual([0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it("does not stall with S1STALLD = 1, with CD.S = 0, or for configuration errors", () => {
    const a = setup({ s: true }, { s1StallD: true });
    expect(a.rig.smmu.dmaRead(DEV, VA, new Uint8Array(4))).toMatchObject({
      ok: false,
      fault: { code: EventId.F_TRANSLATION },
    });
    expect(a.rig.driver.readEvents()[0]).toMatchObject({ stall: false });
    const b = setup({ s: false });
    expect(b.rig.smmu.dmaRead(DEV, VA, new Uint8Array(4))).not.toHaveProperty("stalled", true);
    expect(b.rig.smmu.dmaRead({ sid: 200, pasid: -1 }, VA, new Uint8Array(4))).toMatchObject({
      ok: false,
      fault: { name: "C_BAD_STE" },
    });
  });

  it("refuses CD.S = 1 on a unit that cannot stall (C_BAD_CD), and CMD_RESUME there is illegal", () => {
    const { rig } = setup({ s: true }, {}, { stallModel: StallModel.TERMINATE_ONLY });
    expect(rig.smmu.dmaRead(DEV, VA, new Uint8Array(4))).toMatchObject({ fault: { name: "C_BAD_CD" } });
    const r = rig.driver.submit([{ op: "RESUME", sid: SID, stag: 0, action: 1 }]);
    expect(r).toMatchObject({ ok: false, cerror: 1 });
  });

  it("stalls regardless of CD.S when STALL_MODEL forces stalls", () => {
    const { rig } = setup({ s: true }, {}, { stallModel: StallModel.STALL_FORCED });
    expect(rig.smmu.dmaRead(DEV, VA, new Uint8Array(4))).toMatchObject({ stalled: true });
  });

  it("terminates instead of stalling when the event queue cannot take the stall event", () => {
    const { rig } = setup();
    rig.smmu.write32(0x20, rig.smmu.read32(0x20) & ~0b100); // EVENTQEN off
    expect(rig.smmu.dmaRead(DEV, VA, new Uint8Array(4))).toMatchObject({
      ok: false,
      fault: { code: EventId.F_TRANSLATION },
    });
    expect(rig.smmu.stalled()).toHaveLength(0);
  });

  it("holds a translate() request too and reports its retry", () => {
    const { rig, ctx, done } = setup();
    expect(rig.smmu.translate(DEV, VA, 1).ok).toBe(false);
    const [ev] = rig.driver.readEvents();
    const pa = rig.host.alloc(4096, 4096);
    ctx.pt.map(VA, pa, 12);
    rig.driver.mustSubmit([{ op: "RESUME", sid: SID, stag: ev!.stag, action: ResumeAction.RETRY }]);
    expect(done[0]).toMatchObject({ kind: "translate", result: { ok: true, entry: { translatedAddr: pa } } });
  });
});
