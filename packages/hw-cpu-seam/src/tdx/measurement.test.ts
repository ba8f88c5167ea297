/**
 * Measurement: MRTD from TDH.MEM.PAGE.ADD / TDH.MR.EXTEND checked against an independent
 * implementation of the published algorithm (the whole byte stream built with Buffer and hashed
 * once), in both orders QEMU has used; RTMR extend and the TDREPORT/TDINFO layout.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { TdVmcall, tdgMrReport, tdgMrRtmrExtend, tdgVpVmcall } from "./guest-calls";
import { TdxHostDriver } from "./host-driver";
import { SeamcallLeaf } from "./leaves";
import { TdField } from "./metadata";
import { Gpr } from "./regs";
import { makeSimTdxPlatform } from "./sim-platform";
import { TdAttributes } from "./td-params";

/** Independent MRTD: concatenate every record as the published algorithm describes, hash once. */
function referenceMrtd(ops: readonly { op: "add" | "extend"; gpa: number; data?: Uint8Array }[]): string {
  const parts: Buffer[] = [];
  for (const o of ops) {
    const rec = Buffer.alloc(128);
    rec.write(o.op === "add" ? "MEM.PAGE.ADD" : "MR.EXTEND", 0, "ascii");
    rec.writeBigUInt64LE(BigInt(o.gpa), 16);
    parts.push(rec);
    if (o.op === "extend") parts.push(Buffer.from(o.data!));
  }
  return createHash("sha384").update(Buffer.concat(parts)).digest("hex");
}

const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** Deterministic page contents (an LCG: no Math.random in tests that assert exact values). */
function pageOf(seed: number): Uint8Array {
  const b = new Uint8Array(4096);
  let x = seed * 2654435761;
  for (let i = 0; i < b.length; i++) {
    x = (x * 1103515245 + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

const PAGES = [0x0, 0x1000, 0x2000, 0xfff0_0000, 0xfff0_1000].map((gpa, i) => ({ gpa, data: pageOf(i + 1) }));

function build(order: "two-pass" | "interleaved", tamper?: number) {
  const p = makeSimTdxPlatform();
  const h = new TdxHostDriver(p);
  h.bringUp();
  const td = h.createTd();
  const pages = PAGES.map((pg, i) =>
    i === tamper ? { ...pg, data: pg.data.map((b, j) => (j === 77 ? b ^ 1 : b)) } : pg,
  );
  if (order === "interleaved") for (const pg of pages) td.addMeasuredPage(pg.gpa, pg.data);
  else {
    for (const pg of pages) td.addPage(pg.gpa, pg.data);
    for (const pg of pages) td.extendPage(pg.gpa);
  }
  td.finalize();
  const ops: { op: "add" | "extend"; gpa: number; data?: Uint8Array }[] = [];
  const extendOps = (pg: (typeof pages)[number]) => {
    for (let off = 0; off < 4096; off += 256)
      ops.push({ op: "extend", gpa: pg.gpa + off, data: pg.data.subarray(off, off + 256) });
  };
  if (order === "interleaved") {
    for (const pg of pages) {
      ops.push({ op: "add", gpa: pg.gpa });
      extendOps(pg);
    }
  } else {
    for (const pg of pages) ops.push({ op: "add", gpa: pg.gpa });
    for (const pg of pages) extendOps(pg);
  }
  return { p, h, td, mrtd: hex(p.module.td(td.tdr)!.mrtd), reference: referenceMrtd(ops) };
}

describe("MRTD", () => {
  it("matches the independent implementation in QEMU's interleaved (>= 9) order", () => {
    const r = build("interleaved");
    expect(r.mrtd).toBe(r.reference);
  });

  it("matches the independent implementation in QEMU 8's two-pass order, and the orders differ", () => {
    const a = build("two-pass");
    const b = build("interleaved");
    expect(a.mrtd).toBe(a.reference);
    expect(a.mrtd).not.toBe(b.mrtd);
  });

  it("is the same for the same inputs and changes when one byte of one page changes", () => {
    expect(build("interleaved").mrtd).toBe(build("interleaved").mrtd);
    const t = build("interleaved", 3);
    expect(t.mrtd).toBe(t.reference);
    expect(t.mrtd).not.toBe(build("interleaved").mrtd);
  });

  it("measures only the GPA of an added page that is not extended", () => {
    const p = makeSimTdxPlatform();
    const h = new TdxHostDriver(p);
    h.bringUp();
    const td1 = h.createTd();
    td1.addPage(0x5000, pageOf(1));
    td1.finalize();
    const td2 = h.createTd();
    td2.addPage(0x5000, pageOf(2));
    td2.finalize();
    const m = hex(p.module.td(td1.tdr)!.mrtd);
    expect(m).toBe(hex(p.module.td(td2.tdr)!.mrtd));
    expect(m).toBe(referenceMrtd([{ op: "add", gpa: 0x5000 }]));
    // readable through TDH.MNG.RD as six little-endian u64 elements
    const el0 = h.must(0, SeamcallLeaf.MNG_RD, { rcx: td1.tdr, rdx: TdField.MRTD }).regs[Gpr.R8]!;
    expect(Buffer.from(p.module.td(td1.tdr)!.mrtd.subarray(0, 8)).readBigUInt64LE()).toBe(el0);
  });
});

describe("RTMR and TDREPORT", () => {
  it("extends RTMR[i] = SHA-384(old || value) and reports TDINFO with its hash", () => {
    const p = makeSimTdxPlatform();
    const h = new TdxHostDriver(p);
    h.bringUp();
    const owner = new Uint8Array(48).fill(0x0c);
    const td = h.createTd({ attributes: TdAttributes.SEPT_VE_DISABLE, mrowner: owner });
    const digest = new Uint8Array(4096);
    digest.fill(0xab, 0, 48);
    digest.fill(0x33, 64, 128); // REPORTDATA at 0x40
    td.addMeasuredPage(0x2000, digest);
    td.addPage(0x3000, new Uint8Array(4096));
    td.finalize();
    const st: bigint[] = [];
    td.loadGuestCode(function* (ctx) {
      st.push(yield* tdgMrRtmrExtend(ctx, 0x2000, 2));
      st.push(yield* tdgMrRtmrExtend(ctx, 0x2000, 2));
      st.push(yield* tdgMrRtmrExtend(ctx, 0x2000, 4));
      st.push(yield* tdgMrRtmrExtend(ctx, 0x2008, 0));
      st.push(yield* tdgMrReport(ctx, 0x3000, 0x2040));
      const rep = new Uint8Array(1024);
      ctx.read(0x3000, rep);
      reports.push(rep);
      yield* tdgVpVmcall(ctx, TdVmcall.HLT);
    });
    const reports: Uint8Array[] = [];
    td.enter(0, 0);
    expect(st).toEqual([0n, 0n, 0xc000010000000002n, 0xc000010000000001n, 0n]);
    const d = Buffer.alloc(48, 0xab);
    const r1 = createHash("sha384").update(Buffer.alloc(48)).update(d).digest();
    const r2 = createHash("sha384").update(r1).update(d).digest();
    const snap = p.module.td(td.tdr)!;
    expect(hex(snap.rtmr[2]!)).toBe(r2.toString("hex"));
    expect(hex(snap.rtmr[0]!)).toBe("00".repeat(48));
    const rep = Buffer.from(reports[0]!);
    expect(rep[0]).toBe(0x81);
    expect(rep.subarray(128, 192).every((b) => b === 0x33)).toBe(true);
    const tdinfo = rep.subarray(512, 1024);
    expect(tdinfo.readBigUInt64LE(0)).toBe(TdAttributes.SEPT_VE_DISABLE);
    expect(tdinfo.readBigUInt64LE(8)).toBe(3n);
    expect(tdinfo.subarray(16, 64).toString("hex")).toBe(hex(snap.mrtd));
    expect(tdinfo.subarray(112, 160).every((b) => b === 0x0c)).toBe(true);
    expect(tdinfo.subarray(208 + 2 * 48, 208 + 3 * 48).toString("hex")).toBe(r2.toString("hex"));
    expect(rep.subarray(80, 128).toString("hex")).toBe(createHash("sha384").update(tdinfo).digest("hex"));
    expect(rep.subarray(32, 80).toString("hex")).toBe(
      createHash("sha384").update(rep.subarray(256, 512)).digest("hex"),
    );
  });
});
