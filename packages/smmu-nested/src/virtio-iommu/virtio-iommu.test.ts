/**
 * virtio-iommu through real virtqueues: config space, ATTACH/DETACH/MAP/UNMAP/PROBE with QEMU's
 * pinned semantics and status codes, the RESV_MEM probe property, DMA through the domains, and
 * fault records on the event queue.
 */
import { Initiator, Perm, PhysicalMemory } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { BumpAllocator } from "../alloc";
import { VirtioIommuDevice, X86_MSI_WINDOW } from "./device";
import { VirtioIommuDriver } from "./driver";
import {
  AttachFlag,
  ConfigOff,
  FaultFlag,
  FaultReason,
  MapFlag,
  ReqType,
  Status,
  VirtioIommuFeature,
} from "./protocol";

const EP = 0x10;
const EP2 = 0x18;
const RW = MapFlag.READ | MapFlag.WRITE;

function setup(opts: Partial<ConstructorParameters<typeof VirtioIommuDevice>[1]> = {}, features?: number) {
  const mem = new PhysicalMemory({ physAddrBits: 48, ram: "all" });
  const a = new BumpAllocator(0x100_0000, 0x200_0000);
  const dev = new VirtioIommuDevice(mem, { endpoints: [EP, EP2], reserved: [X86_MSI_WINDOW], ...opts });
  const drv = new VirtioIommuDriver(dev, mem, (b, al) => a.alloc(b, al), features);
  return { mem, dev, drv };
}

describe("virtio-iommu config", () => {
  it("reports page sizes, input and domain ranges, probe size and boot bypass", () => {
    const { dev } = setup();
    expect(dev.readConfig(ConfigOff.PAGE_SIZE_MASK, 8)).toBe(0xffff_ffff_ffff_f000n);
    expect(dev.readConfig(ConfigOff.INPUT_START, 8)).toBe(0n);
    expect(dev.readConfig(ConfigOff.INPUT_END, 8)).toBe(2n ** 48n - 1n);
    expect(dev.readConfig(ConfigOff.DOMAIN_END, 4)).toBe(0xffff_ffffn);
    expect(dev.readConfig(ConfigOff.PROBE_SIZE, 4)).toBe(512n);
    expect(dev.readConfig(ConfigOff.BYPASS, 1)).toBe(1n);
    dev.writeConfig(ConfigOff.BYPASS, 1, 0n);
    expect(dev.readConfig(ConfigOff.BYPASS, 1)).toBe(0n);
  });
});

describe("virtio-iommu requests", () => {
  it("attach: unknown endpoint is NOENT, re-attach moves the endpoint, detach from the wrong domain is INVAL", () => {
    const { drv } = setup();
    expect(drv.attach(1, 0x99)).toBe(Status.NOENT);
    expect(drv.attach(1, EP)).toBe(Status.OK);
    expect(drv.attach(2, EP)).toBe(Status.OK); // moved; domain 1 is freed with its last endpoint
    expect(drv.detach(1, EP)).toBe(Status.NOENT);
    expect(drv.attach(1, EP2)).toBe(Status.OK);
    expect(drv.detach(1, EP)).toBe(Status.INVAL);
    expect(drv.detach(2, EP)).toBe(Status.OK);
    expect(drv.attach(3, EP, 0x2)).toBe(Status.INVAL); // reserved flag
  });

  it("map: unknown domain is NOENT, overlaps are INVAL, misalignment and out-of-range are RANGE", () => {
    const { drv } = setup();
    expect(drv.map(1, 0x1000, 0x1fff, 0x5000, RW)).toBe(Status.NOENT);
    drv.attach(1, EP);
    expect(drv.map(1, 0x1000, 0x2fff, 0x5000, RW)).toBe(Status.OK);
    expect(drv.map(1, 0x2000, 0x3fff, 0x9000, RW)).toBe(Status.INVAL);
    expect(drv.map(1, 0x4000, 0x4ffe, 0x9000, RW)).toBe(Status.RANGE);
    expect(drv.map(1, 2 ** 48, 2 ** 48 + 0xfff, 0x9000, RW)).toBe(Status.RANGE);
    expect(drv.map(1, 0x4000, 0x4fff, 0x9000, 0x10)).toBe(Status.INVAL);
  });

  it("unmap never splits a mapping: a cut is RANGE and removes nothing; whole mappings go", () => {
    const { drv, dev } = setup();
    drv.attach(1, EP);
    drv.map(1, 0x10000, 0x10fff, 0x5000, RW);
    drv.map(1, 0x11000, 0x12fff, 0x8000, RW);
    expect(drv.unmap(1, 0x10000, 0x11fff)).toBe(Status.RANGE);
    expect(dev.translate({ sid: EP, pasid: -1 }, 0x10000, Perm.Read).ok).toBe(true);
    expect(drv.unmap(1, 0x20000, 0x2ffff)).toBe(Status.OK); // covers nothing
    expect(drv.unmap(1, 0x10000, 0x12fff)).toBe(Status.OK);
    expect(dev.translate({ sid: EP, pasid: -1 }, 0x11000, Perm.Read).ok).toBe(false);
    expect(drv.unmap(7, 0, 0xfff)).toBe(Status.NOENT);
  });

  it("probe reports the reserved MSI window as a RESV_MEM property", () => {
    const { drv } = setup();
    expect(drv.probe(EP)).toEqual({
      status: Status.OK,
      properties: [{ type: "RESV_MEM", subtype: 1, start: 0xfee0_0000, end: 0xfeef_ffff }],
    });
    expect(drv.probe(0x77).status).toBe(Status.NOENT);
  });

  it("answers UNSUPP for unknown requests and features not negotiated, DEVERR for truncated ones", () => {
    const { drv } = setup({}, (1 << VirtioIommuFeature.MAP_UNMAP) | (1 << VirtioIommuFeature.BYPASS_CONFIG));
    expect(drv.send(Uint8Array.of(0x42, 0, 0, 0)).status).toBe(Status.UNSUPP);
    expect(drv.probe(EP).status).toBe(Status.UNSUPP);
    expect(drv.send(Uint8Array.of(ReqType.ATTACH, 0, 0, 0, 1)).status).toBe(Status.DEVERR);
    const noMap = setup({}, 0);
    expect(noMap.drv.map(1, 0, 0xfff, 0, RW)).toBe(Status.UNSUPP);
  });

  it("gives NOMEM beyond the device's mapping budget", () => {
    const { drv } = setup({ maxMappings: 1 });
    drv.attach(1, EP);
    expect(drv.map(1, 0x1000, 0x1fff, 0, RW)).toBe(Status.OK);
    expect(drv.map(1, 0x2000, 0x2fff, 0, RW)).toBe(Status.NOMEM);
  });
});

describe("virtio-iommu translation and faults", () => {
  it("moves DMA through a domain, honours READ/WRITE flags and bypass domains", () => {
    const { dev, drv, mem } = setup();
    drv.attach(1, EP);
    drv.map(1, 0x4000_0000, 0x401f_ffff, 0x8000_0000, RW); // 2 MiB
    drv.map(1, 0x5000_0000, 0x5000_0fff, 0x9000_0000, MapFlag.READ);
    expect(dev.translate({ sid: EP, pasid: -1 }, 0x4010_0000, Perm.Write)).toMatchObject({
      ok: true,
      entry: { iova: 0x4000_0000, translatedAddr: 0x8000_0000, addrMask: 0x1f_ffff },
    });
    expect(dev.dmaWrite({ sid: EP, pasid: -1 }, 0x4000_0ffe, Uint8Array.of(1, 2, 3, 4))).toEqual({
      ok: true,
    });
    const b = new Uint8Array(4);
    mem.read(0x8000_0ffe, b, Initiator.Host);
    expect([...b]).toEqual([1, 2, 3, 4]);
    expect(dev.dmaWrite({ sid: EP, pasid: -1 }, 0x5000_0000, Uint8Array.of(1)).ok).toBe(false);
    expect(drv.attach(2, EP2, AttachFlag.BYPASS)).toBe(Status.OK);
    expect(drv.map(2, 0, 0xfff, 0, RW)).toBe(Status.INVAL);
    expect(dev.translate({ sid: EP2, pasid: -1 }, 0x1234_5000, Perm.Write)).toMatchObject({
      entry: { translatedAddr: 0x1234_5000 },
    });
  });

  it("reports faults on the event queue with reason, flags, endpoint and address", () => {
    const { dev, drv } = setup();
    dev.writeConfig(ConfigOff.BYPASS, 1, 0n);
    expect(dev.translate({ sid: EP2, pasid: -1 }, 0x3000, Perm.Read).ok).toBe(false);
    drv.attach(1, EP);
    expect(dev.dmaWrite({ sid: EP, pasid: -1 }, 0x7000_0010, Uint8Array.of(1))).toMatchObject({
      ok: false,
      fault: { name: "MAPPING" },
    });
    expect(drv.readFaults()).toEqual([
      {
        reason: FaultReason.DOMAIN,
        flags: FaultFlag.READ | FaultFlag.ADDRESS,
        endpoint: EP2,
        address: 0x3000,
      },
      {
        reason: FaultReason.MAPPING,
        flags: FaultFlag.WRITE | FaultFlag.ADDRESS,
        endpoint: EP,
        address: 0x7000_0010,
      },
    ]);
    expect(dev.faultsReported).toBe(2);
  });

  it("has no PASIDs: a PASID-tagged request faults", () => {
    const { dev } = setup();
    expect(dev.translate({ sid: EP, pasid: 1 }, 0, Perm.Read)).toMatchObject({
      ok: false,
      fault: { name: "UNKNOWN" },
    });
  });
});
