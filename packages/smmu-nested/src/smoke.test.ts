import { Initiator, Perm } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { installStage1Stream, makeRig, makeStage1 } from "./testing/rig";

describe("smoke", () => {
  it("translates a stage-1 page", () => {
    const rig = makeRig();
    const ctx = makeStage1(rig.host, 5);
    const pa = rig.host.alloc(4096, 4096);
    ctx.pt.map(0x4000_0000, pa, 12);
    installStage1Stream(rig, 3, ctx);
    const r = rig.smmu.translate({ sid: 3, pasid: -1 }, 0x4000_0123, Perm.Read);
    expect(r).toMatchObject({ ok: true, entry: { translatedAddr: pa, iova: 0x4000_0000 } });
    rig.mem.write(pa, Uint8Array.of(1, 2, 3), Initiator.Host);
    const d = new Uint8Array(3);
    expect(rig.smmu.dmaRead({ sid: 3, pasid: -1 }, 0x4000_0000, d)).toEqual({ ok: true });
    expect([...d]).toEqual([1, 2, 3]);
  });
});
