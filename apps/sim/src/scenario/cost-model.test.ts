/**
 * The cost model: each category is its count times its price, overrides replace defaults, and bad
 * names or values are refused with what is allowed.
 */
import { describe, expect, it } from "vitest";
import { type CostEvents, costModelWith, DEFAULT_COSTS, parseCostOverrides, priceRun } from "./cost-model";

const EVENTS: CostEvents = {
  seamcalls: 10,
  tdEntries: 4,
  ves: 3,
  userspaceExits: 2,
  mmioAccesses: 3,
  pagesConverted: 5,
  pagesAccepted: 1,
  swiotlbMaps: 2,
  bytesBounced: 8192,
  iotlbHits: 7,
  walkReads: 9,
  invalidations: 1,
  deviceDmaBytes: 4096,
};

describe("cost model", () => {
  it("prices each category as count x cost and sums to the total", () => {
    const c = DEFAULT_COSTS;
    const p = priceRun(EVENTS, c);
    expect(p.breakdownNs).toEqual({
      seamcalls: 10 * c.seamcallNs,
      tdEnterExit: 4 * c.tdEnterExitNs,
      ve: 3 * c.veNs,
      userspaceExits: 2 * c.userspaceExitNs,
      deviceModel: 3 * c.mmioDeviceNs,
      conversions: 5 * c.pageConversionNs,
      accept: 1 * c.acceptPageNs,
      swiotlb: 2 * c.swiotlbMapNs + 8192 * c.bounceCopyNsPerByte,
      iommu: 7 * c.iotlbHitNs + 9 * c.walkReadNs + 1 * c.iotlbInvalidationNs,
      deviceDma: 4096 * c.deviceDmaNsPerByte,
    });
    const sum = Object.values(p.breakdownNs).reduce((a, b) => a + b, 0);
    expect(p.totalUs).toBeCloseTo(sum / 1000, 3);
  });

  it("applies overrides, and a zero cost removes a category", () => {
    const c = costModelWith({ tdEnterExitNs: 0, veNs: 2500 });
    expect(c.seamcallNs).toBe(DEFAULT_COSTS.seamcallNs);
    const p = priceRun(EVENTS, c);
    expect(p.breakdownNs.tdEnterExit).toBe(0);
    expect(p.breakdownNs.ve).toBe(7500);
  });

  it("parses --cost name=value and refuses unknown names, negatives and non-numbers", () => {
    expect(parseCostOverrides(["veNs=1200", "bounceCopyNsPerByte=0.25"])).toEqual({
      veNs: 1200,
      bounceCopyNsPerByte: 0.25,
    });
    expect(() => parseCostOverrides(["warpNs=1"])).toThrow(/unknown cost "warpNs": the costs are seamcallNs/);
    expect(() => parseCostOverrides(["veNs=-1"])).toThrow(/must be a finite number >= 0/);
    expect(() => parseCostOverrides(["veNs=fast"])).toThrow(/is not name=number/);
    expect(() => parseCostOverrides(["veNs"])).toThrow(/is not name=number/);
  });
});
