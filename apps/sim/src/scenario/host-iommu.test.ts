/**
 * The host's VT-d programming: a mapped shared page is reachable at its IOVA, an unmap followed by
 * the range invalidation leaves no stale IOTLB entry, and a block that does not start on its own
 * alignment is still covered by the page-selective invalidation.
 */
import { Initiator, Perm, PhysicalMemory } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { HostIommu, type IommuMode } from "./host-iommu";

const SID = 0x20;
const req = { sid: SID, pasid: -1 };

function bench(mode: IommuMode) {
  const mem = PhysicalMemory.sparseAll({ physAddrBits: 46 });
  const iommu = new HostIommu(mem, { base: 0x100_0000, size: 0x40_0000 }, mode);
  iommu.attach(SID);
  return { mem, iommu };
}

describe.each(["legacy", "scalable"] as const)("HostIommu (%s)", (mode) => {
  it("maps IOVA -> host page, and an unmap + invalidation makes every page of the range fault", () => {
    const { mem, iommu } = bench(mode);
    const iovas = [0x3000, 0x4000, 0x5000]; // crosses the 0x4000 alignment: AM must grow to cover it
    for (const [i, iova] of iovas.entries()) iommu.mapPage(iova, 0x1000_0000 + i * 0x1000);
    mem.write(0x1000_1000, Uint8Array.of(0xab), Initiator.Host);
    const b = new Uint8Array(1);
    expect(iommu.unit.port.dmaRead(req, 0x4000, b)).toEqual({ ok: true });
    expect(b[0]).toBe(0xab);
    for (const iova of iovas) expect(iommu.unit.port.translate(req, iova, Perm.Read).ok).toBe(true); // now cached
    for (const iova of iovas) iommu.unmapPage(iova);
    iommu.invalidate(0x3000, 3);
    for (const iova of iovas) expect(iommu.unit.port.translate(req, iova, Perm.Read).ok).toBe(false);
    expect(iommu.counts).toMatchObject({ pagesMapped: 3, pagesUnmapped: 3 });
  });

  it("reads and clears fault records for the host's fault handler", () => {
    const { iommu } = bench(mode);
    expect(iommu.unit.port.dmaWrite(req, 0x9000, new Uint8Array(4)).ok).toBe(false);
    const recs = iommu.serviceFaults();
    expect(recs).toHaveLength(1);
    expect(recs[0]).toMatchObject({ sid: SID, address: 0x9000, read: false });
    expect(iommu.serviceFaults()).toEqual([]);
    expect(iommu.faultLog).toHaveLength(1);
  });
});
