/**
 * Adapts the virtio-iommu device to the generic IOMMU contract: domains and endpoints are
 * created by ATTACH requests and mappings by MAP/UNMAP requests sent through the request
 * virtqueue; virtio-iommu has no TLB to invalidate (MAP/UNMAP take effect when they complete).
 */
import { Initiator, Perm, PhysicalMemory, TdxSimError } from "@tdx/hw-cpu-seam";
import type { IommuContractHarness } from "@tdx/hw-cpu-seam/testing";
import { BumpAllocator } from "../alloc";
import { VirtioIommuDevice } from "../virtio-iommu/device";
import { VirtioIommuDriver } from "../virtio-iommu/driver";
import { MapFlag, Status } from "../virtio-iommu/protocol";

export function makeVirtioIommuHarness(endpoints: readonly number[]): IommuContractHarness {
  const mem = new PhysicalMemory({ physAddrBits: 48, ram: "all" });
  const rings = new BumpAllocator(0x10_0000, 0x100_0000);
  const data = new BumpAllocator(0x1_0000_0000, 0x80_0000_0000);
  const dev = new VirtioIommuDevice(mem, { endpoints, bypass: false });
  const drv = new VirtioIommuDriver(dev, mem, (b, a) => rings.alloc(b, a));
  let next = 1;
  const must = (st: number, what: string) => {
    if (st !== Status.OK) throw new TdxSimError("E_HARNESS", `${what} failed with virtio-iommu status ${st}`);
  };
  return {
    port: dev,
    mem,
    pageSizes: [4096, 2 ** 21, 2 ** 30],
    alloc(size) {
      const a = data.alloc(size, size);
      mem.fill(a, size, 0, Initiator.Host);
      return a;
    },
    createDomain: () => next++,
    attach: (req, d) => must(drv.attach(d, req.sid), "ATTACH"),
    map: (d, iova, pa, size, perm) =>
      must(
        drv.map(
          d,
          iova,
          iova + size - 1,
          pa,
          ((perm & Perm.Read) !== 0 ? MapFlag.READ : 0) | ((perm & Perm.Write) !== 0 ? MapFlag.WRITE : 0),
        ),
        "MAP",
      ),
    unmap: (d, iova, size) => must(drv.unmap(d, iova, iova + size - 1), "UNMAP"),
    invalidate: () => {},
  };
}
