/**
 * Stage-1 and stage-2 walks on their own: start levels and reference counts for the 4K, 16K and
 * 64K granules, block and page descriptors, reserved encodings, AP / XN / PAN / WXN and table
 * attributes, the access flag (AFFD, HTTU), dirty state, region checks, stage-2 SL0 with
 * concatenated tables, S2AP, S2PTW and big-endian tables.
 */
import { Initiator, Perm } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { Acc } from "./access";
import { EventId } from "./events";
import type { GranuleLog2 } from "./granule";
import { TtEndian } from "./idr";
import { Outcome } from "./smmu";
import { encodeSte, SteConfigKind } from "./ste";
import { installStage1Stream, makeRig, makeStage1, makeStage2, s2SteFields } from "./testing/rig";

const SID = 2;

function stage1(g: GranuleLog2, inputBits: number, cd = {}, features = {}) {
  const rig = makeRig({ features });
  const ctx = makeStage1(rig.host, 4, g, inputBits, cd);
  installStage1Stream(rig, SID, ctx);
  const go = (addr: number, acc: number = Acc.READ) => rig.smmu.translateAccess(SID, -1, addr, acc);
  return { rig, ctx, go, e: rig.smmu.engine };
}

describe("stage 1", () => {
  it.each([
    [12, 48, 0, 4],
    [12, 39, 1, 3],
    [14, 48, 0, 4],
    [14, 36, 2, 2],
    [16, 48, 1, 3],
    [16, 42, 2, 2],
  ] as const)(
    "granule 2^%i with %i-bit VAs starts at level %i and reads %i descriptors",
    (g, bits, start, refs) => {
      const { ctx, go, e } = stage1(g, bits);
      expect(ctx.pt.startLevel).toBe(start);
      const va = 2 ** bits - 2 ** g; // the top page of the region
      ctx.pt.map(va, 0x8000_0000, g);
      expect(go(va + 5)).toBe(Outcome.OK);
      expect(e.outAddr).toBe(0x8000_0005);
      expect(e.lastWalkRefs).toBe(refs);
      expect(e.sizeLog2).toBe(g);
    },
  );

  it.each([
    [12, 30],
    [12, 21],
    [14, 25],
    [16, 29],
  ] as const)("maps blocks: granule 2^%i, block 2^%i", (g, size) => {
    const { ctx, go, e, rig } = stage1(g, 48);
    const va = 3 * 2 ** size;
    ctx.pt.map(va, 2 ** 40, size);
    expect(go(va + 2 ** size - 8)).toBe(Outcome.OK);
    expect(e.outAddr).toBe(2 ** 40 + 2 ** size - 8);
    expect(e.sizeLog2).toBe(size);
    expect(rig.smmu.translate({ sid: SID, pasid: -1 }, va + 12, Perm.Read)).toMatchObject({
      entry: { iova: va, translatedAddr: 2 ** 40, addrMask: 2 ** size - 1 },
    });
  });

  it("treats a block at level 0 (4K) and a 0b01 entry at level 3 as translation faults", () => {
    const { ctx, go, rig } = stage1(12, 48);
    rig.host.write64(ctx.pt.root, 0x0000_0401, 0); // L0 "block"
    expect(go(0x10)).toBe(Outcome.ABORT);
    expect(rig.driver.readEvents()[0]).toMatchObject({ id: EventId.F_TRANSLATION });
    ctx.pt.map(0x80_0000_0000, 0x5000, 12);
    const leaf = ctx.pt.leafAddress(0x80_0000_0000, 12);
    rig.host.write64(leaf, 0x5000 | 0x401, 0); // bits[1:0] = 01 at level 3: reserved
    expect(go(0x80_0000_0000)).toBe(Outcome.ABORT);
  });

  it("faults addresses outside the TTB0 region and walks disabled by EPD0", () => {
    const a = stage1(12, 39);
    expect(a.go(2 ** 39)).toBe(Outcome.ABORT);
    expect(a.rig.driver.readEvents()[0]).toMatchObject({ id: EventId.F_TRANSLATION, inputAddr: 2 ** 39 });
    const b = stage1(12, 48, { epd0: true });
    b.ctx.pt.map(0, 0x1000, 12);
    expect(b.go(0)).toBe(Outcome.ABORT);
  });

  it("checks AP: EL0 access, read-only; privileged and unprivileged requests differ", () => {
    const { ctx, go } = stage1(12, 48);
    ctx.pt.map(0x1000, 0x10_0000, 12, { user: false });
    ctx.pt.map(0x2000, 0x20_0000, 12, { write: false });
    expect(go(0x1000)).toBe(Outcome.ABORT); // unprivileged read of a kernel page
    expect(go(0x1000, Acc.READ | Acc.PRIV)).toBe(Outcome.OK);
    expect(go(0x1000, Acc.WRITE | Acc.PRIV)).toBe(Outcome.OK);
    expect(go(0x2000)).toBe(Outcome.OK);
    expect(go(0x2000, Acc.WRITE)).toBe(Outcome.ABORT);
  });

  it("checks XN: instruction fetches need UXN/PXN clear; EL1 never executes EL0-writable memory", () => {
    const { ctx, go } = stage1(12, 48);
    ctx.pt.map(0x1000, 0x10_0000, 12, { exec: false });
    ctx.pt.map(0x2000, 0x20_0000, 12, { exec: true, write: false });
    ctx.pt.map(0x3000, 0x30_0000, 12, { exec: true });
    expect(go(0x1000, Acc.READ | Acc.INSTR)).toBe(Outcome.ABORT);
    expect(go(0x2000, Acc.READ | Acc.INSTR)).toBe(Outcome.OK);
    expect(go(0x2000, Acc.READ | Acc.INSTR | Acc.PRIV)).toBe(Outcome.OK);
    expect(go(0x3000, Acc.READ | Acc.INSTR)).toBe(Outcome.OK);
    expect(go(0x3000, Acc.READ | Acc.INSTR | Acc.PRIV)).toBe(Outcome.ABORT);
  });

  it("applies WXN and PAN from the CD", () => {
    const w = stage1(12, 48, { wxn: true });
    w.ctx.pt.map(0x3000, 0x30_0000, 12, { exec: true });
    expect(w.go(0x3000, Acc.READ | Acc.INSTR)).toBe(Outcome.ABORT);
    const p = stage1(12, 48, { pan: true });
    p.ctx.pt.map(0x3000, 0x30_0000, 12);
    expect(p.go(0x3000, Acc.READ | Acc.PRIV)).toBe(Outcome.ABORT);
    expect(p.go(0x3000, Acc.READ)).toBe(Outcome.OK);
  });

  it("honours APTable read-only in table descriptors unless the CD's HAD0 disables it", () => {
    for (const had0 of [false, true]) {
      const { ctx, go, rig } = stage1(12, 48, { had0 });
      ctx.pt.map(0x1000, 0x10_0000, 12);
      const w = new Uint32Array(2);
      rig.host.read64(ctx.pt.root, w);
      rig.host.write64(ctx.pt.root, w[0]!, (w[1]! | (1 << 30)) >>> 0); // APTable[1]: read-only below
      expect(go(0x1000, Acc.WRITE)).toBe(had0 ? Outcome.OK : Outcome.ABORT);
    }
  });

  it("raises F_ACCESS for AF = 0 unless AFFD, and sets AF in memory with HTTU + CD.HA", () => {
    const a = stage1(12, 48);
    a.ctx.pt.map(0x1000, 0x10_0000, 12, { af: false });
    expect(a.go(0x1000)).toBe(Outcome.ABORT);
    expect(a.rig.driver.readEvents()[0]).toMatchObject({ id: EventId.F_ACCESS });
    const b = stage1(12, 48, { affd: true });
    b.ctx.pt.map(0x1000, 0x10_0000, 12, { af: false });
    expect(b.go(0x1000)).toBe(Outcome.OK);
    const c = stage1(12, 48, { ha: true, hd: true }, { httu: 2 });
    c.ctx.pt.map(0x1000, 0x10_0000, 12, { af: false, write: false, dbm: true });
    expect(c.go(0x1000)).toBe(Outcome.OK);
    const w = new Uint32Array(2);
    const leaf = c.ctx.pt.leafAddress(0x1000, 12);
    c.rig.host.read64(leaf, w);
    expect(w[0]! & (1 << 10)).toBe(1 << 10); // AF set by hardware
    expect(w[0]! & (1 << 7)).toBe(1 << 7); // still clean (read-only)
    expect(c.go(0x1008, Acc.WRITE)).toBe(Outcome.OK); // DBM: a write makes it dirty
    c.rig.host.read64(leaf, w);
    expect(w[0]! & (1 << 7)).toBe(0);
  });

  it("reads big-endian tables when the CD says ENDI on a mixed-endian unit", () => {
    const rig = makeRig({ features: { ttEndian: TtEndian.MIXED } });
    const ctx = makeStage1(rig.host, 1, 12, 39, { endi: true });
    installStage1Stream(rig, SID, ctx);
    // build one L1 -> L2 -> L3 chain by hand, byte-swapped
    const l2 = rig.host.alloc(4096, 4096);
    const l3 = rig.host.alloc(4096, 4096);
    const put = (at: number, v: bigint) => {
      const b = new Uint8Array(8);
      new DataView(b.buffer).setBigUint64(0, v, false);
      rig.host.write(at, b);
    };
    put(ctx.pt.root, BigInt(l2) | 3n);
    put(l2, BigInt(l3) | 3n);
    put(l3, 0x7777_7000n | 0x443n | (1n << 6n));
    expect(rig.smmu.translateAccess(SID, -1, 0x123, Acc.READ)).toBe(Outcome.OK);
    expect(rig.smmu.engine.outAddr).toBe(0x7777_7123);
  });
});

describe("stage 2", () => {
  function stage2(g: GranuleLog2, bits: number, startLevel?: number, ste = {}) {
    const rig = makeRig();
    const pt = makeStage2(rig.host, g, bits, startLevel);
    rig.driver.installSte(SID, encodeSte({ ...s2SteFields(pt, 6), ...ste }));
    return {
      rig,
      pt,
      go: (a: number, acc: number = Acc.READ) => rig.smmu.translateAccess(SID, -1, a, acc),
      e: rig.smmu.engine,
    };
  }

  it("starts at L1 with 2 concatenated tables for a 40-bit IPA (4K, SL0 = 1) and indexes across them", () => {
    const { pt, go, e } = stage2(12, 40);
    expect([pt.startLevel, pt.concat]).toEqual([1, 2]);
    const ipa = 2 ** 39 + 0x4000_0000; // selects the second concatenated table
    pt.map(ipa, 0x9000_0000, 12);
    expect(go(ipa + 4)).toBe(Outcome.OK);
    expect(e.outAddr).toBe(0x9000_0004);
    expect(e.lastWalkRefs).toBe(3);
  });

  it.each([
    [16, 42, 2, 1],
    [16, 48, 1, 1],
    [14, 40, 2, 16],
  ] as const)("granule 2^%i, %i-bit IPA: start level %i with %i table(s)", (g, bits, start, concat) => {
    const { pt, go, e } = stage2(g, bits);
    expect([pt.startLevel, pt.concat]).toEqual([start, concat]);
    pt.map(2 ** bits - 2 ** g, 0x1_0000_0000, g);
    expect(go(2 ** bits - 2 ** g)).toBe(Outcome.OK);
    expect(e.outAddr).toBe(0x1_0000_0000);
  });

  it("enforces S2AP (write-only pages refuse reads) and the stage-2 access flag unless S2AFFD", () => {
    const { pt, go, rig } = stage2(12, 40);
    pt.map(0x1000, 0x10_0000, 12, { read: false, write: true });
    expect(go(0x1000, Acc.WRITE)).toBe(Outcome.OK);
    expect(go(0x1000, Acc.READ)).toBe(Outcome.ABORT);
    expect(rig.driver.readEvents()[0]).toMatchObject({ id: EventId.F_PERMISSION, s2: true });
    pt.map(0x2000, 0x20_0000, 12, { af: false });
    expect(go(0x2000)).toBe(Outcome.ABORT);
    const b = stage2(12, 40, undefined, { s2Affd: true });
    b.pt.map(0x2000, 0x20_0000, 12, { af: false });
    expect(b.go(0x2000)).toBe(Outcome.OK);
  });

  it("refuses a SubstreamID on a stream whose stage 1 is bypassed", () => {
    const { rig, pt } = stage2(12, 40);
    pt.map(0x1000, 0x10_0000, 12);
    expect(rig.smmu.translateAccess(SID, 5, 0x1000, Acc.READ)).toBe(Outcome.ABORT);
    expect(rig.driver.readEvents()[0]).toMatchObject({ name: "C_BAD_SUBSTREAMID", ssid: 5 });
  });

  it("moves data through a stage-2-only stream", () => {
    const { rig, pt } = stage2(12, 40);
    const pa = rig.host.alloc(4096, 4096);
    pt.map(0x7000, pa, 12);
    expect(rig.smmu.dmaWrite({ sid: SID, pasid: -1 }, 0x7ff0, Uint8Array.of(9, 8, 7))).toEqual({ ok: true });
    const b = new Uint8Array(3);
    rig.mem.read(pa + 0xff0, b, Initiator.Host);
    expect([...b]).toEqual([9, 8, 7]);
  });

  it("bypasses both stages for Config = bypass, with an address-size check against IAS", () => {
    const rig = makeRig({ features: { oas: 2 } });
    rig.driver.installSte(SID, encodeSte({ v: true, config: SteConfigKind.BYPASS }));
    expect(rig.smmu.translateAccess(SID, -1, 0xab_cdef_0123, Acc.WRITE)).toBe(Outcome.OK);
    expect(rig.smmu.engine.outAddr).toBe(0xab_cdef_0123);
    expect(rig.smmu.translateAccess(SID, -1, 2 ** 40, Acc.WRITE)).toBe(Outcome.ABORT);
    expect(rig.driver.readEvents()[0]).toMatchObject({ id: EventId.F_ADDR_SIZE, s2: false });
  });
});
