/**
 * Scalable mode: requests with and without PASID, each PGTT (first-stage, second-stage, nested,
 * pass-through), privilege and execute controls, first-stage permissions, nested walks whose
 * first-stage table reads go through the second stage, the PASID cache, PASID-based IOTLB rules
 * and the fault-code policy.
 */
import { Initiator } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import type { VtdProfile } from "../spec/capabilities";
import { FaultReason as FR } from "../spec/fault-reasons";
import {
  FirstStagePageTable,
  makeVtdBench,
  PasidTables,
  ScalableContextTables,
  SecondStagePageTable,
} from "../testing";
import type { VtdPolicy } from "../unit/options";

const SID = 0x0a00;
const SM: VtdProfile = {
  scalable: {
    firstStage: true,
    secondStage: true,
    nested: true,
    supervisorRequests: true,
    executeRequests: true,
  },
};
/** Nested guest-physical addresses sit at an offset from the host pages that back them. */
const GPA_OFF = 2 ** 39;

function setup(
  opts: { ridPasid?: number; pasidEnable?: boolean; policy?: Partial<VtdPolicy>; profile?: VtdProfile } = {},
) {
  const b = makeVtdBench(opts.profile ?? SM, { policy: opts.policy });
  const ctx = new ScalableContextTables(b.mem, b.alloc);
  const pasids = new PasidTables(b.mem, b.alloc, 1);
  ctx.setContext(SID, {
    pasidDir: pasids.dir,
    pdts: 1,
    ridPasid: opts.ridPasid ?? 0,
    pasidEnable: opts.pasidEnable ?? true,
  });
  b.driver.setRootTable(ctx.root, true);
  b.driver.contextGlobal();
  b.driver.pasidCache(0, 0, 3);
  b.driver.iotlbGlobal();
  b.driver.enableTranslation();
  const page = b.alloc.alloc(4096);
  b.mem.write(page, Uint8Array.of(0xc1, 0xc2, 0xc3, 0xc4), Initiator.Host);
  return { ...b, ctx, pasids, page };
}

const read1 = (u: ReturnType<typeof setup>["unit"], pasid: number, iova: number, priv = false) =>
  u.translateRequest({ sid: SID, pasid, privileged: priv }, iova);

describe("scalable mode: PASIDs", () => {
  it("routes requests without PASID through RID_PASID and requests with PASID through their own entry", () => {
    const { unit, pasids, alloc, page, mem } = setup({ ridPasid: 5 });
    const ssA = new SecondStagePageTable(mem, alloc, 4);
    const ssB = new SecondStagePageTable(mem, alloc, 4);
    const other = alloc.alloc(4096);
    ssA.map(0x1000, page, 4096, { read: true, write: true });
    ssB.map(0x1000, other, 4096, { read: true, write: true });
    pasids.setEntry(5, { pgtt: 2, did: 2, ssptr: ssA.root, aw: 2 });
    pasids.setEntry(77, { pgtt: 2, did: 3, ssptr: ssB.root, aw: 2 });
    const a = unit.translateRequest({ sid: SID }, 0x1000);
    const b = unit.translateRequest({ sid: SID, pasid: 77 }, 0x1000);
    expect(a.kind === "translated" && [a.outBase, a.did, a.pasid]).toEqual([page, 2, 5]);
    expect(b.kind === "translated" && [b.outBase, b.did, b.pasid]).toEqual([other, 3, 77]);
  });

  it("faults a request with PASID when the context entry's PASIDE is clear (0x45)", () => {
    const { unit } = setup({ pasidEnable: false });
    const r = read1(unit, 3, 0x1000);
    expect(r.kind === "fault" && [r.fault.code, r.fault.disposition]).toEqual([
      FR.SmPasidEnableClear,
      "recorded",
    ]);
  });

  it("faults a missing directory entry (0x51), a not-present PASID entry (0x59) and an unsupported PGTT (0x5B)", () => {
    const { unit, pasids } = setup({ profile: { scalable: { firstStage: true, secondStage: false } } });
    const code = (pasid: number) => {
      const r = read1(unit, pasid, 0);
      return r.kind === "fault" ? r.fault.code : 0;
    };
    expect(code(9)).toBe(FR.SmPasidDirNotPresent);
    pasids.setEntry(8, { pgtt: 1, did: 1, fsptr: 0x10_0000 }); // creates the table of PASIDs 0-63
    expect(code(9)).toBe(FR.SmPasidEntryNotPresent);
    pasids.setEntry(10, { pgtt: 2, did: 1, ssptr: 0x10_0000, aw: 2 }); // second stage not supported
    expect(code(10)).toBe(FR.SmPasidEntryInvalid);
  });

  it("uses a cached PASID entry until a PASID-cache invalidation removes it", () => {
    const { unit, pasids, alloc, mem, page, driver } = setup();
    const ss = new SecondStagePageTable(mem, alloc, 4);
    ss.map(0x2000, page, 4096, { read: true, write: true });
    pasids.setEntry(12, { pgtt: 2, did: 6, ssptr: ss.root, aw: 2 });
    expect(read1(unit, 12, 0x2000).kind).toBe("translated");
    pasids.setEntry(12, { pgtt: 2, did: 6, ssptr: ss.root, aw: 2, present: false });
    driver.pasidIotlb(6, 12);
    expect(read1(unit, 12, 0x2000).kind).toBe("translated"); // stale PASID-cache entry
    driver.pasidCache(6, 11); // another PASID
    expect(read1(unit, 12, 0x2000).kind).toBe("translated");
    driver.pasidCache(6, 12); // PASID-selective
    const r = read1(unit, 12, 0x2000);
    expect(r.kind === "fault" && r.fault.code).toBe(FR.SmPasidEntryNotPresent);
  });

  it("passes PGTT=100 through untranslated and faults an interrupt-window address of a request with PASID (0x87)", () => {
    const { unit, pasids, page } = setup();
    pasids.setEntry(20, { pgtt: 4, did: 1 });
    const r = read1(unit, 20, page + 8);
    expect(r.kind === "translated" && r.outBase).toBe(page);
    const w = unit.translateRequest({ sid: SID, pasid: 20, write: true }, 0xfee0_0000);
    expect(w.kind === "fault" && w.fault.code).toBe(FR.SmInterruptAddress);
  });
});

describe("scalable mode: first stage", () => {
  function fsSetup(opts: { wpe?: boolean; sre?: boolean; ere?: boolean; nxe?: boolean } = {}) {
    const b = setup();
    const fs = new FirstStagePageTable(b.mem, b.alloc, 4);
    b.pasids.setEntry(1, {
      pgtt: 1,
      did: 9,
      fsptr: fs.root,
      sre: opts.sre ?? true,
      ere: opts.ere,
      wpe: opts.wpe,
      nxe: opts.nxe,
    });
    return { ...b, fs };
  }

  it("checks U/S for user requests (0x81), R/W for writes (0x85), and lets supervisors write read-only pages unless WPE", () => {
    const { unit, fs, page } = fsSetup();
    fs.map(0x1000, page, 4096, { write: false, user: false });
    expect((read1(unit, 1, 0x1000) as { fault: { code: number } }).fault.code).toBe(FR.FsUserDenied);
    expect(read1(unit, 1, 0x1000, true).kind).toBe("translated");
    const w = unit.translateRequest({ sid: SID, pasid: 1, write: true, privileged: true }, 0x1000);
    expect(w.kind).toBe("translated");
    fs.map(0x2000, page, 4096, { write: false, user: true });
    const uw = unit.translateRequest({ sid: SID, pasid: 1, write: true }, 0x2000);
    expect(uw.kind === "fault" && uw.fault.code).toBe(FR.SmWriteDenied);
    const wp = fsSetup({ wpe: true });
    wp.fs.map(0x1000, wp.page, 4096, { write: false, user: false });
    const sw = wp.unit.translateRequest({ sid: SID, pasid: 1, write: true, privileged: true }, 0x1000);
    expect(sw.kind === "fault" && sw.fault.code).toBe(FR.SmWriteDenied);
  });

  it("faults supervisor requests when SRE is clear (0x5D) and execute requests when ERE is clear (0x5C) or XD is set (0x82)", () => {
    const a = fsSetup({ sre: false });
    a.fs.map(0x1000, a.page, 4096, { write: true, user: true });
    expect((read1(a.unit, 1, 0x1000, true) as { fault: { code: number } }).fault.code).toBe(FR.SmSreClear);
    const x = a.unit.translateRequest({ sid: SID, pasid: 1, execute: true }, 0x1000);
    expect(x.kind === "fault" && x.fault.code).toBe(FR.SmEreClear);
    const b = fsSetup({ ere: true, nxe: true });
    b.fs.map(0x1000, b.page, 4096, { write: true, user: true, xd: true });
    const xd = b.unit.translateRequest({ sid: SID, pasid: 1, execute: true }, 0x1000);
    expect(xd.kind === "fault" && xd.fault.code).toBe(FR.ExecuteDenied);
  });

  it("treats PS at level 3 as reserved without CAP.FS1GP (0x72), and maps 1 GiB with it", () => {
    const no = setup({ profile: { scalable: { firstStage: true, fs1gp: false } } });
    const fs = new FirstStagePageTable(no.mem, no.alloc, 4);
    no.pasids.setEntry(1, { pgtt: 1, did: 9, fsptr: fs.root });
    fs.map(0x4000_0000, 0x8000_0000, 2 ** 30, { write: true, user: true });
    expect((read1(no.unit, 1, 0x4000_0000) as { fault: { code: number } }).fault.code).toBe(
      FR.FsEntryReserved,
    );
    const yes = setup();
    const fs2 = new FirstStagePageTable(yes.mem, yes.alloc, 4);
    yes.pasids.setEntry(1, { pgtt: 1, did: 9, fsptr: fs2.root });
    fs2.map(0x4000_0000, 0x8000_0000, 2 ** 30, { write: true, user: true });
    const r = read1(yes.unit, 1, 0x4000_1234);
    expect(r.kind === "translated" && [r.outBase, r.size]).toEqual([0x8000_0000, 2 ** 30]);
  });

  it("walks 5-level first-stage tables with CAP.FS5LP", () => {
    const b = setup({ profile: { scalable: { firstStage: true, fs5lp: true } } });
    const fs = new FirstStagePageTable(b.mem, b.alloc, 5);
    b.pasids.setEntry(1, { pgtt: 1, did: 9, fsptr: fs.root, fs5level: true });
    fs.map(2 ** 50, b.page, 4096, { write: true, user: true });
    const r = read1(b.unit, 1, 2 ** 50 + 4);
    expect(r.kind === "translated" && r.outBase).toBe(b.page);
  });

  it("drops first-stage entries with a PASID page-selective invalidation but keeps second-stage ones", () => {
    const b = setup();
    const fs = new FirstStagePageTable(b.mem, b.alloc, 4);
    const ss = new SecondStagePageTable(b.mem, b.alloc, 4);
    const other = b.alloc.alloc(4096);
    b.pasids.setEntry(1, { pgtt: 1, did: 9, fsptr: fs.root });
    b.pasids.setEntry(2, { pgtt: 2, did: 9, ssptr: ss.root, aw: 2 });
    fs.map(0x1000, b.page, 4096, { write: true, user: true });
    ss.map(0x1000, b.page, 4096, { read: true, write: true });
    expect(read1(b.unit, 1, 0x1000).kind).toBe("translated");
    expect(read1(b.unit, 2, 0x1000).kind).toBe("translated");
    fs.map(0x1000, other, 4096, { write: true, user: true });
    ss.map(0x1000, other, 4096, { read: true, write: true });
    b.driver.pasidIotlb(9, 1, { addr: 0x1000, am: 0 });
    b.driver.pasidIotlb(9, 2, { addr: 0x1000, am: 0 });
    const f = read1(b.unit, 1, 0x1000);
    const s = read1(b.unit, 2, 0x1000);
    expect(f.kind === "translated" && f.outBase).toBe(other);
    expect(s.kind === "translated" && s.outBase).toBe(b.page); // second-stage entry kept
    b.driver.iotlbPages(9, 0x1000, 0);
    const s2 = read1(b.unit, 2, 0x1000);
    expect(s2.kind === "translated" && s2.outBase).toBe(other);
  });
});

describe("scalable mode: nested translation", () => {
  function nested() {
    const b = setup();
    const ss = new SecondStagePageTable(b.mem, b.alloc, 4);
    const fs = new FirstStagePageTable(
      b.mem,
      b.alloc,
      4,
      (gpa) => gpa - GPA_OFF,
      () => {
        const h = b.alloc.alloc(4096);
        ss.map(h + GPA_OFF, h, 4096, { read: true, write: true });
        return h + GPA_OFF;
      },
    );
    ss.map(b.page + GPA_OFF, b.page, 4096, { read: true, write: true });
    fs.map(0x7000_0000, b.page + GPA_OFF, 4096, { write: true, user: true });
    b.pasids.setEntry(3, { pgtt: 3, did: 11, fsptr: fs.root, ssptr: ss.root, aw: 2 });
    return { ...b, ss, fs };
  }

  it("translates guest VA -> GPA -> HPA, reading (L+1)(M+1)-1 = 24 entries on a full miss", () => {
    const { unit, page, driver } = nested();
    const buf = new Uint8Array(4);
    expect(unit.port.dmaRead({ sid: SID, pasid: 3 }, 0x7000_0000, buf).ok).toBe(true);
    expect([...buf]).toEqual([0xc1, 0xc2, 0xc3, 0xc4]);
    driver.pasidIotlb(11, 3);
    const before = unit.translator.stats.walkReads;
    const r = read1(unit, 3, 0x7000_0000);
    expect(r.kind === "translated" && r.outBase).toBe(page);
    expect(unit.translator.stats.walkReads - before).toBe(24);
  });

  it("faults when the second stage does not let the unit read a first-stage table (0x75 root, 0x76 below)", () => {
    const a = nested();
    a.ss.map(a.fs.root, a.fs.root - GPA_OFF, 4096, { read: false, write: true });
    expect((read1(a.unit, 3, 0x7000_0000) as { fault: { code: number } }).fault.code).toBe(
      FR.NestedFsRootReadDenied,
    );
    const b = nested();
    const pdptGpa = Number(
      (() => {
        const out = new Uint32Array(2);
        b.mem.read64(b.fs.root - GPA_OFF, Initiator.Host, out);
        return out[1]! * 2 ** 32 + (out[0]! & 0xffff_f000);
      })(),
    );
    b.ss.unmap(pdptGpa, 4096);
    expect((read1(b.unit, 3, 0x7000_0000) as { fault: { code: number } }).fault.code).toBe(
      FR.NestedFsEntryReadDenied,
    );
  });

  it("ANDs first- and second-stage permissions: a read-only second stage refuses the write", () => {
    const { unit, ss, page } = nested();
    ss.map(page + GPA_OFF, page, 4096, { read: true, write: false });
    const w = unit.translateRequest({ sid: SID, pasid: 3, write: true }, 0x7000_0000);
    expect(w.kind === "fault" && w.fault.code).toBe(FR.SmWriteDenied);
  });
});

describe("scalable mode: fault-code policy", () => {
  it("reports a not-present second-stage entry as 0x79 (scalable) or 0x6 (QEMU's legacy codes)", () => {
    for (const [policy, code] of [
      ["scalable", 0x79],
      ["qemu", 0x06],
    ] as const) {
      const b = setup({ policy: { scalableFaultCodes: policy } });
      const ss = new SecondStagePageTable(b.mem, b.alloc, 4);
      b.pasids.setEntry(4, { pgtt: 2, did: 1, ssptr: ss.root, aw: 2 });
      const r = read1(b.unit, 4, 0x9000);
      expect(r.kind === "fault" && r.fault.code).toBe(code);
    }
  });
});
