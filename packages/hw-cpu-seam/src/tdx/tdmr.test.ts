/**
 * TDMR validation as TDH.SYS.CONFIG does it: alignment and granularity, order, reserved areas,
 * PAMT size/placement, CMR coverage — each failure with its multiple-info status (TDMR index,
 * PAMT level, other index) — and the same statuses through the SEAMCALL.
 */
import { describe, expect, it } from "vitest";
import { TdxHostDriver } from "./host-driver";
import { SeamcallLeaf } from "./leaves";
import { makeSimTdxPlatform } from "./sim-platform";
import { withMultipleInfo } from "./status";
import { TdxStatus } from "./status-codes";
import {
  availableAreas,
  decodeTdmrInfo,
  encodeTdmrInfo,
  isAreaInCmrs,
  type PhysRange,
  pamtSizes,
  type TdmrInfo,
  validateTdmrList,
} from "./tdmr";

const GIB = 1024 * 1024 * 1024;
const MIB = 1024 * 1024;
const LIMIT = 2 ** 40;
const CMRS: PhysRange[] = [{ base: 0, size: 8 * GIB }];

/** A TDMR at `base` of `size` with its PAMT at the start, in a reserved area. */
function tdmr(base: number, size = GIB, extraReserved: { offset: number; size: number }[] = []): TdmrInfo {
  const s = pamtSizes(size);
  const total = s.l1g + s.l2m + s.l4k;
  return {
    base,
    size,
    pamt1gBase: base,
    pamt1gSize: s.l1g,
    pamt2mBase: base + s.l1g,
    pamt2mSize: s.l2m,
    pamt4kBase: base + s.l1g + s.l2m,
    pamt4kSize: s.l4k,
    reserved: [{ offset: 0, size: total }, ...extraReserved],
  };
}

function pad(t: TdmrInfo): TdmrInfo {
  return decodeTdmrInfo(encodeTdmrInfo(t));
}

describe("TDMR validation", () => {
  it("round-trips the 320-byte TDMR_INFO layout", () => {
    const t = tdmr(GIB, 2 * GIB, [{ offset: GIB, size: 4096 }]);
    const b = encodeTdmrInfo(t);
    expect(b.length).toBe(320);
    const d = decodeTdmrInfo(b);
    expect(d.base).toBe(GIB);
    expect(d.pamt4kSize).toBe(8 * MIB);
    expect(d.reserved.slice(0, 3)).toEqual([
      t.reserved[0],
      { offset: GIB, size: 4096 },
      { offset: 0, size: 0 },
    ]);
  });

  it("sizes PAMT at 16 bytes per 4K/2M/1G page, rounded to 4 KiB", () => {
    expect(pamtSizes(GIB)).toEqual({ l1g: 4096, l2m: 8192, l4k: 4 * MIB });
    expect(pamtSizes(64 * GIB).l4k).toBe(256 * MIB);
  });

  it("accepts a sorted, aligned list with PAMTs in reserved areas", () => {
    expect(validateTdmrList([pad(tdmr(GIB)), pad(tdmr(2 * GIB, 2 * GIB))], CMRS, LIMIT)).toBe(
      TdxStatus.SUCCESS,
    );
  });

  it("rejects 1 GiB misalignment and zero size as INVALID_TDMR with the TDMR index", () => {
    const bad = { ...pad(tdmr(2 * GIB)), base: 2 * GIB + 2 * MIB };
    expect(validateTdmrList([pad(tdmr(GIB)), bad], CMRS, LIMIT)).toBe(
      withMultipleInfo(TdxStatus.INVALID_TDMR, 1),
    );
    expect(validateTdmrList([{ ...pad(tdmr(GIB)), size: 0 }], CMRS, LIMIT)).toBe(
      withMultipleInfo(TdxStatus.INVALID_TDMR, 0),
    );
    expect(validateTdmrList([pad(tdmr(LIMIT))], CMRS, LIMIT)).toBe(
      withMultipleInfo(TdxStatus.INVALID_TDMR, 0),
    );
  });

  it("rejects unsorted or overlapping TDMRs as NON_ORDERED_TDMR", () => {
    expect(validateTdmrList([pad(tdmr(2 * GIB)), pad(tdmr(GIB))], CMRS, LIMIT)).toBe(
      withMultipleInfo(TdxStatus.NON_ORDERED_TDMR, 1),
    );
    expect(validateTdmrList([pad(tdmr(GIB, 2 * GIB)), pad(tdmr(2 * GIB))], CMRS, LIMIT)).toBe(
      withMultipleInfo(TdxStatus.NON_ORDERED_TDMR, 1),
    );
  });

  it("checks reserved areas: order, overlap, 4 KiB granularity, containment, null-terminated", () => {
    const base = pad(tdmr(GIB));
    const r0 = base.reserved[0]!;
    const withRsv = (rs: { offset: number; size: number }[]) => [
      { ...base, reserved: pad({ ...base, reserved: rs }).reserved },
    ];
    expect(
      validateTdmrList(
        withRsv([r0, { offset: 512 * MIB, size: 4096 }, { offset: 256 * MIB, size: 4096 }]),
        CMRS,
        LIMIT,
      ),
    ).toBe(withMultipleInfo(TdxStatus.NON_ORDERED_RESERVED_IN_TDMR, 0, 2));
    expect(validateTdmrList(withRsv([r0, { offset: 2 * MIB, size: 4096 }]), CMRS, LIMIT)).toBe(
      withMultipleInfo(TdxStatus.NON_ORDERED_RESERVED_IN_TDMR, 0, 1),
    );
    expect(validateTdmrList(withRsv([r0, { offset: 512 * MIB, size: 100 }]), CMRS, LIMIT)).toBe(
      withMultipleInfo(TdxStatus.INVALID_RESERVED_IN_TDMR, 0, 1),
    );
    expect(validateTdmrList(withRsv([r0, { offset: GIB - 4096, size: 8192 }]), CMRS, LIMIT)).toBe(
      withMultipleInfo(TdxStatus.INVALID_RESERVED_IN_TDMR, 0, 1),
    );
    expect(
      validateTdmrList(withRsv([r0, { offset: 0, size: 0 }, { offset: 512 * MIB, size: 4096 }]), CMRS, LIMIT),
    ).toBe(withMultipleInfo(TdxStatus.NON_ORDERED_RESERVED_IN_TDMR, 0, 1));
  });

  it("checks PAMT size, overlap and placement with the PAMT level in the info", () => {
    const t = pad(tdmr(GIB));
    expect(validateTdmrList([{ ...t, pamt4kSize: 4 * MIB - 4096 }], CMRS, LIMIT)).toBe(
      withMultipleInfo(TdxStatus.INVALID_PAMT, 0, 0),
    );
    expect(validateTdmrList([{ ...t, pamt1gBase: t.pamt1gBase + 8 }], CMRS, LIMIT)).toBe(
      withMultipleInfo(TdxStatus.INVALID_PAMT, 0, 2),
    );
    expect(validateTdmrList([{ ...t, pamt2mBase: t.pamt1gBase }], CMRS, LIMIT)).toBe(
      withMultipleInfo(TdxStatus.PAMT_OVERLAP, 0, 1, 0),
    );
    // a PAMT in the non-reserved part of a TDMR
    const inAvailable = { ...t, reserved: pad({ ...t, reserved: [] }).reserved };
    expect(validateTdmrList([inAvailable], CMRS, LIMIT)).toBe(
      withMultipleInfo(TdxStatus.PAMT_OVERLAP, 0, 0, 0),
    );
    // TDMR 1's PAMT inside TDMR 0's available memory
    const t1 = { ...pad(tdmr(2 * GIB)), pamt4kBase: GIB + 512 * MIB };
    expect(validateTdmrList([t, t1], CMRS, LIMIT)).toBe(withMultipleInfo(TdxStatus.PAMT_OVERLAP, 1, 0, 0));
    // PAMT outside the CMRs (placed in a hole, outside every TDMR)
    const holes: PhysRange[] = [
      { base: 0, size: 4 * GIB },
      { base: 5 * GIB, size: GIB },
    ];
    const t2 = { ...t, pamt1gBase: 4 * GIB + 64 * MIB };
    expect(validateTdmrList([t2], holes, LIMIT)).toBe(withMultipleInfo(TdxStatus.PAMT_OUTSIDE_CMRS, 0, 2));
  });

  it("needs every non-reserved part of a TDMR in CMRs; holes may be covered by reserved areas", () => {
    const cmrs: PhysRange[] = [
      { base: 0, size: GIB + 512 * MIB },
      { base: GIB + 768 * MIB, size: GIB },
    ];
    const t = pad(tdmr(GIB));
    expect(validateTdmrList([t], cmrs, LIMIT)).toBe(withMultipleInfo(TdxStatus.TDMR_OUTSIDE_CMRS, 0));
    const covered = pad({ ...t, reserved: [t.reserved[0]!, { offset: 512 * MIB, size: 256 * MIB }] });
    expect(validateTdmrList([covered], cmrs, LIMIT)).toBe(TdxStatus.SUCCESS);
    expect(availableAreas(covered)).toEqual([
      { base: GIB + t.reserved[0]!.size, size: 512 * MIB - t.reserved[0]!.size },
      { base: GIB + 768 * MIB, size: 256 * MIB },
    ]);
  });

  it("treats contiguous CMRs as one range", () => {
    const cmrs: PhysRange[] = [
      { base: 0, size: GIB },
      { base: GIB, size: GIB },
    ];
    expect(isAreaInCmrs(GIB - 4096, GIB + 4096, cmrs)).toBe(true);
    expect(isAreaInCmrs(GIB - 4096, 2 * GIB + 4096, cmrs)).toBe(false);
  });

  it("returns the same statuses through TDH.SYS.CONFIG and stays in SYSINIT_DONE on failure", () => {
    const p = makeSimTdxPlatform();
    const h = new TdxHostDriver(p);
    h.must(0, SeamcallLeaf.SYS_INIT);
    for (let lp = 0; lp < 4; lp++) h.must(lp, SeamcallLeaf.SYS_LP_INIT);
    const bad = { ...h.tdmr, size: GIB + 4096 };
    expect(h.call(0, SeamcallLeaf.SYS_CONFIG, { rcx: h.writeTdmrList([bad]), rdx: 1, r8: 32 }).status).toBe(
      withMultipleInfo(TdxStatus.INVALID_TDMR, 0),
    );
    const outside = {
      ...h.tdmr,
      base: 3 * GIB,
      pamt1gBase: 3 * GIB,
      pamt2mBase: 3 * GIB + 4096,
      pamt4kBase: 3 * GIB + 12288,
    };
    expect(
      h.call(0, SeamcallLeaf.SYS_CONFIG, { rcx: h.writeTdmrList([h.tdmr, outside]), rdx: 2, r8: 32 }).status,
    ).toBe(withMultipleInfo(TdxStatus.PAMT_OUTSIDE_CMRS, 1, 2));
    h.must(0, SeamcallLeaf.SYS_CONFIG, { rcx: h.writeTdmrList(), rdx: 1, r8: 32 });
  });
});
