/**
 * A virtio-iommu driver front end (the guest's drivers/iommu/virtio-iommu.c, reduced to its
 * protocol): negotiates features, sets up the request and event queues in memory, sends requests
 * as descriptor chains (request readable, tail/properties writable), kicks the device, reads the
 * status, and keeps the event queue stocked with fault buffers.
 *
 * @spec reference/smmu.md §8.1-8.2; sources: torvalds/linux drivers/iommu/virtio-iommu.c
 *   (viommu_send_reqs_sync, viommu_probe_endpoint, viommu_fault_handler)
 */
import { Initiator, type PhysicalMemoryAccess, TdxSimError } from "@tdx/hw-cpu-seam";
import type { VirtioIommuDevice } from "./device";
import {
  ConfigOff,
  decodeFault,
  decodeProbeProperties,
  encodeAttach,
  encodeDetach,
  encodeMap,
  encodeProbe,
  encodeUnmap,
  FAULT_RECORD_BYTES,
  type ProbeProperty,
  TAIL_BYTES,
  type VirtioIommuFault,
} from "./protocol";
import { VirtqueueDriver } from "./virtqueue";

export class VirtioIommuDriver {
  private readonly reqq: VirtqueueDriver;
  private readonly evtq: VirtqueueDriver;
  private readonly evtBufs = new Map<number, number>();
  private readonly reqBuf: number;
  private readonly respBuf: number;
  readonly probeSize: number;

  constructor(
    readonly dev: VirtioIommuDevice,
    private readonly mem: PhysicalMemoryAccess,
    alloc: (bytes: number, align: number) => number,
    features = dev.offered,
    eventBuffers = 8,
  ) {
    dev.negotiate(features);
    this.reqq = VirtqueueDriver.create(mem, 64, alloc);
    this.evtq = VirtqueueDriver.create(mem, 64, alloc);
    dev.attachQueues(this.reqq.layout, this.evtq.layout);
    this.probeSize = Number(dev.readConfig(ConfigOff.PROBE_SIZE, 4));
    this.reqBuf = alloc(128, 8);
    this.respBuf = alloc(this.probeSize + TAIL_BYTES, 8);
    for (let i = 0; i < eventBuffers; i++) this.postEventBuffer(alloc(FAULT_RECORD_BYTES, 8));
  }

  private postEventBuffer(addr: number): void {
    const head = this.evtq.post([], [{ addr, len: FAULT_RECORD_BYTES }]);
    this.evtBufs.set(head, addr);
  }

  /** Send one request and return its status (and the bytes written before the tail). */
  send(request: Uint8Array, extraWritable = 0): { status: number; body: Uint8Array } {
    if (request.length > 128)
      throw new TdxSimError("E_VIOMMU_DRIVER", "request larger than the driver's buffer");
    this.mem.write(this.reqBuf, request, Initiator.Host);
    const wlen = extraWritable + TAIL_BYTES;
    this.mem.fill(this.respBuf, wlen, 0xff, Initiator.Host);
    this.reqq.post([{ addr: this.reqBuf, len: request.length }], [{ addr: this.respBuf, len: wlen }]);
    this.dev.kick();
    const used = this.reqq.collect();
    if (used.length !== 1)
      throw new TdxSimError("E_VIOMMU_DRIVER", "the device did not complete the request");
    const resp = new Uint8Array(wlen);
    this.mem.read(this.respBuf, resp, Initiator.Host);
    return { status: resp[wlen - TAIL_BYTES]!, body: resp.subarray(0, extraWritable) };
  }

  attach(domain: number, endpoint: number, flags = 0): number {
    return this.send(encodeAttach(domain, endpoint, flags)).status;
  }
  detach(domain: number, endpoint: number): number {
    return this.send(encodeDetach(domain, endpoint)).status;
  }
  /** Map [virtStart, virtEnd] (inclusive). */
  map(domain: number, virtStart: number, virtEnd: number, physStart: number, flags: number): number {
    return this.send(encodeMap(domain, virtStart, virtEnd, physStart, flags)).status;
  }
  unmap(domain: number, virtStart: number, virtEnd: number): number {
    return this.send(encodeUnmap(domain, virtStart, virtEnd)).status;
  }
  probe(endpoint: number): { status: number; properties: ProbeProperty[] } {
    const r = this.send(encodeProbe(endpoint), this.probeSize);
    return { status: r.status, properties: decodeProbeProperties(r.body) };
  }

  /** Fault records the device wrote since the last call (their buffers are posted again). */
  readFaults(): VirtioIommuFault[] {
    const out: VirtioIommuFault[] = [];
    for (const u of this.evtq.collect()) {
      const addr = this.evtBufs.get(u.head);
      if (addr === undefined) continue;
      this.evtBufs.delete(u.head);
      if (u.len >= FAULT_RECORD_BYTES) {
        const b = new Uint8Array(FAULT_RECORD_BYTES);
        this.mem.read(addr, b, Initiator.Host);
        out.push(decodeFault(b));
      }
      this.postEventBuffer(addr);
    }
    return out;
  }
}
