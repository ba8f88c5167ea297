/**
 * The virtio-iommu device model (as QEMU's hw/virtio/virtio-iommu.c): config space, feature
 * negotiation, the request virtqueue (ATTACH, DETACH, MAP, UNMAP, PROBE with their status codes),
 * the fault event virtqueue, and the translation it gives endpoints behind it (the device-facing
 * DMA port). Domains are plain address spaces of MAP ranges: no page tables, no PASIDs, no stall
 * or fault response (the standard has none, which is why vSVA needs a vSMMU instead).
 *
 * @spec reference/smmu.md §8.1-8.3 (features, config, requests and status codes, RESV_MEM,
 *   fault record, semantics pinned by QEMU's virtio-iommu qtest); sources: torvalds/linux
 *   include/uapi/linux/virtio_iommu.h, qemu/qemu tests/qtest/virtio-iommu-test.c,
 *   qemu/qemu hw/virtio/virtio-iommu.c
 */
import {
  type DeviceDmaPort,
  type DmaRequester,
  type DmaResult,
  Initiator,
  type IommuFault,
  Perm,
  type PhysicalMemoryAccess,
  TdxSimError,
  type TranslateResult,
} from "@tdx/hw-cpu-seam";
import { Domain, EndpointTable } from "./domains";
import {
  AttachFlag,
  CONFIG_BYTES,
  ConfigOff,
  FAULT_RECORD_BYTES,
  FaultFlag,
  FaultReason,
  VirtioIommuFeature as Feat,
  getU64,
  MapFlag,
  ProbeType,
  REQ_BYTES,
  RESV_MEM_PROP_BYTES,
  ReqType,
  ResvMemType,
  Status,
  TAIL_BYTES,
} from "./protocol";
import { type VirtqChain, VirtqueueDevice, type VirtqueueLayout } from "./virtqueue";

export interface ReservedRegion {
  readonly start: number;
  /** Inclusive. */
  readonly end: number;
  readonly subtype: number;
  /** Endpoints it applies to; all when absent. */
  readonly endpoints?: readonly number[];
}

export interface VirtioIommuOptions {
  /** Endpoint ids behind this IOMMU (ACPI VIOT / DT `iommus`; PCI requester ids). */
  readonly endpoints: readonly number[];
  /** Smallest page size as log2 (page_size_mask = all sizes from it up); default 12. */
  readonly granuleLog2?: number;
  /** input_range = [0, 2^inputBits - 1]; default 48 (QEMU on Arm virt). */
  readonly inputBits?: number;
  readonly domainRange?: readonly [number, number];
  readonly probeSize?: number;
  /** config.bypass at reset (QEMU `boot-bypass`, default true). */
  readonly bypass?: boolean;
  /** Offered feature bits (default INPUT_RANGE, DOMAIN_RANGE, MAP_UNMAP, PROBE, MMIO, BYPASS_CONFIG). */
  readonly features?: number;
  readonly reserved?: readonly ReservedRegion[];
  /** Maximum number of mappings across domains (beyond: NOMEM); default unlimited. */
  readonly maxMappings?: number;
}

const DEFAULT_FEATURES =
  (1 << Feat.INPUT_RANGE) |
  (1 << Feat.DOMAIN_RANGE) |
  (1 << Feat.MAP_UNMAP) |
  (1 << Feat.PROBE) |
  (1 << Feat.MMIO) |
  (1 << Feat.BYPASS_CONFIG);

/** x86's MSI window, which QEMU reports as a RESV_MEM MSI region. */
export const X86_MSI_WINDOW: ReservedRegion = {
  start: 0xfee0_0000,
  end: 0xfeef_ffff,
  subtype: ResvMemType.MSI,
};

export class VirtioIommuDevice implements DeviceDmaPort {
  readonly offered: number;
  negotiated = 0;
  private readonly domains = new Map<number, Domain>();
  /** Domains by dense slot (what the endpoint table stores), for the translation path. */
  private readonly slots: (Domain | undefined)[] = [];
  private readonly attached = new EndpointTable();
  private readonly known: Set<number>;
  private readonly config = new Uint8Array(CONFIG_BYTES);
  private readonly cfgView = new DataView(this.config.buffer);
  private requestq: VirtqueueDevice | null = null;
  private eventq: VirtqueueDevice | null = null;
  private mappings = 0;
  /** Faults that found no event buffer. */
  faultsDropped = 0;
  faultsReported = 0;
  private readonly granule: number;

  constructor(
    readonly mem: PhysicalMemoryAccess,
    private readonly opts: VirtioIommuOptions,
  ) {
    this.offered = opts.features ?? DEFAULT_FEATURES;
    this.known = new Set(opts.endpoints);
    const g = opts.granuleLog2 ?? 12;
    this.granule = 2 ** g;
    const v = this.cfgView;
    v.setUint32(ConfigOff.PAGE_SIZE_MASK, ~(this.granule - 1) >>> 0, true);
    v.setUint32(ConfigOff.PAGE_SIZE_MASK + 4, 0xffffffff, true);
    const bits = opts.inputBits ?? 48;
    const end = 2 ** bits - 1;
    v.setUint32(ConfigOff.INPUT_END, end >>> 0, true);
    v.setUint32(ConfigOff.INPUT_END + 4, Math.floor(end / 4294967296), true);
    const [ds, de] = opts.domainRange ?? [0, 0xffffffff];
    v.setUint32(ConfigOff.DOMAIN_START, ds, true);
    v.setUint32(ConfigOff.DOMAIN_END, de, true);
    v.setUint32(ConfigOff.PROBE_SIZE, opts.probeSize ?? 512, true);
    this.config[ConfigOff.BYPASS] = (opts.bypass ?? true) ? 1 : 0;
  }

  /** Feature negotiation: the device keeps what both sides support. */
  negotiate(driverFeatures: number): number {
    this.negotiated = this.offered & driverFeatures;
    return this.negotiated;
  }
  private has(bit: number): boolean {
    return (this.negotiated & (1 << bit)) !== 0;
  }

  /** Read `size` (1, 2, 4 or 8) bytes of config space, little-endian. */
  readConfig(off: number, size: 1 | 2 | 4 | 8): bigint {
    if (off < 0 || off + size > CONFIG_BYTES)
      throw new TdxSimError(
        "E_VIOMMU_CONFIG",
        `config read at ${off} (size ${size}) is outside the ${CONFIG_BYTES}-byte config space`,
      );
    let v = 0n;
    for (let i = size - 1; i >= 0; i--) v = (v << 8n) | BigInt(this.config[off + i]!);
    return v;
  }
  /** Only `bypass` is writable, and only once BYPASS_CONFIG is negotiated. */
  writeConfig(off: number, size: 1 | 2 | 4 | 8, value: bigint): void {
    if (off === ConfigOff.BYPASS && size === 1 && this.has(Feat.BYPASS_CONFIG))
      this.config[ConfigOff.BYPASS] = Number(value & 1n);
  }
  private get bypassUnattached(): boolean {
    return this.has(Feat.BYPASS_CONFIG) ? this.config[ConfigOff.BYPASS] === 1 : this.has(Feat.BYPASS);
  }

  /** Queue 0 (requestq) and queue 1 (eventq), as the driver set them up. */
  attachQueues(requestq: VirtqueueLayout, eventq: VirtqueueLayout): void {
    this.requestq = new VirtqueueDevice(this.mem, requestq);
    this.eventq = new VirtqueueDevice(this.mem, eventq);
  }

  /** The driver notified the request queue: process every available request. Returns how many. */
  kick(): number {
    const q = this.requestq;
    if (q === null) throw new TdxSimError("E_VIOMMU", "the request queue is not set up");
    let n = 0;
    for (let c = q.pop(); c !== null; c = q.pop()) {
      const resp = this.handleRequest(q.gather(c), VirtqueueDevice.writableBytes(c));
      q.push(c.head, q.scatter(c, resp));
      n++;
    }
    return n;
  }

  /**
   * One request: the device-readable bytes and how many device-writable bytes follow. Returns the
   * bytes to write back (PROBE properties, then the 4-byte tail with the status).
   */
  handleRequest(req: Uint8Array, writable: number): Uint8Array {
    const type = req[0] ?? 0;
    const isProbe = type === ReqType.PROBE;
    const probeSize = isProbe ? this.cfgView.getUint32(ConfigOff.PROBE_SIZE, true) : 0;
    const out = new Uint8Array(Math.max(Math.min(writable, probeSize + TAIL_BYTES), 0));
    if (writable < TAIL_BYTES) return out; // no room for a status: a broken request
    let status: number;
    const need = (REQ_BYTES as Record<number, number>)[type];
    if (need === undefined) status = Status.UNSUPP;
    else if (req.length < need || (isProbe && writable < probeSize + TAIL_BYTES)) status = Status.DEVERR;
    else {
      const v = new DataView(req.buffer, req.byteOffset, req.byteLength);
      switch (type) {
        case ReqType.ATTACH:
          status = this.attach(v.getUint32(4, true), v.getUint32(8, true), v.getUint32(12, true));
          break;
        case ReqType.DETACH:
          status = this.detach(v.getUint32(4, true), v.getUint32(8, true));
          break;
        case ReqType.MAP:
          status = this.has(Feat.MAP_UNMAP)
            ? this.map(
                v.getUint32(4, true),
                getU64(v, 8),
                getU64(v, 16),
                getU64(v, 24),
                v.getUint32(32, true),
              )
            : Status.UNSUPP;
          break;
        case ReqType.UNMAP:
          status = this.has(Feat.MAP_UNMAP)
            ? this.unmap(v.getUint32(4, true), getU64(v, 8), getU64(v, 16))
            : Status.UNSUPP;
          break;
        default:
          status = this.has(Feat.PROBE)
            ? this.probe(v.getUint32(4, true), out.subarray(0, probeSize))
            : Status.UNSUPP;
      }
    }
    out[out.length - TAIL_BYTES] = status;
    return out;
  }

  private domainRangeOk(d: number): boolean {
    return (
      d >= this.cfgView.getUint32(ConfigOff.DOMAIN_START, true) &&
      d <= this.cfgView.getUint32(ConfigOff.DOMAIN_END, true)
    );
  }

  private detachEndpoint(ep: number): void {
    const slot = this.attached.get(ep);
    if (slot < 0) return;
    this.attached.delete(ep);
    const d = this.slots[slot]!;
    if (--d.endpoints === 0) {
      // QEMU frees a domain (and its mappings) when its last endpoint leaves
      this.mappings -= d.count;
      this.domains.delete(d.id);
      this.slots[slot] = undefined;
    }
  }

  private attach(domain: number, ep: number, flags: number): number {
    if (!this.known.has(ep)) return Status.NOENT;
    if (!this.domainRangeOk(domain)) return Status.RANGE;
    if ((flags & ~AttachFlag.BYPASS) !== 0) return Status.INVAL;
    const bypass = (flags & AttachFlag.BYPASS) !== 0;
    if (bypass && !this.has(Feat.BYPASS_CONFIG)) return Status.INVAL;
    let d = this.domains.get(domain);
    if (d !== undefined && d.bypass !== bypass) return Status.INVAL;
    if (d !== undefined && this.attached.get(ep) === d.slot) return Status.OK;
    this.detachEndpoint(ep);
    if (d === undefined) {
      let slot = this.slots.indexOf(undefined);
      if (slot < 0) slot = this.slots.length;
      d = new Domain(domain, slot);
      d.bypass = bypass;
      this.domains.set(domain, d);
      this.slots[slot] = d;
    }
    d.endpoints++;
    this.attached.set(ep, d.slot);
    return Status.OK;
  }

  private detach(domain: number, ep: number): number {
    if (!this.known.has(ep)) return Status.NOENT;
    const d = this.domains.get(domain);
    if (d === undefined) return Status.NOENT;
    if (this.attached.get(ep) !== d.slot) return Status.INVAL;
    this.detachEndpoint(ep);
    return Status.OK;
  }

  private map(domain: number, s: number, e: number, p: number, flags: number): number {
    const d = this.domains.get(domain);
    if (d === undefined) return Status.NOENT;
    if ((flags & ~(MapFlag.READ | MapFlag.WRITE | MapFlag.MMIO)) !== 0) return Status.INVAL;
    if ((flags & MapFlag.MMIO) !== 0 && !this.has(Feat.MMIO)) return Status.INVAL;
    if (d.bypass) return Status.INVAL;
    const g = this.granule;
    if (e < s) return Status.INVAL;
    if (s % g !== 0 || p % g !== 0 || (e + 1) % g !== 0) return Status.RANGE;
    if (e > getU64(this.cfgView, ConfigOff.INPUT_END)) return Status.RANGE;
    if (d.overlaps(s, e)) return Status.INVAL;
    if (this.opts.maxMappings !== undefined && this.mappings >= this.opts.maxMappings) return Status.NOMEM;
    d.insert(s, e, p, flags);
    this.mappings++;
    return Status.OK;
  }

  private unmap(domain: number, s: number, e: number): number {
    const d = this.domains.get(domain);
    if (d === undefined) return Status.NOENT;
    if (e < s) return Status.INVAL;
    const before = d.count;
    if (!d.removeRange(s, e)) return Status.RANGE;
    this.mappings -= before - d.count;
    return Status.OK;
  }

  private probe(ep: number, props: Uint8Array): number {
    if (!this.known.has(ep)) return Status.NOENT;
    const v = new DataView(props.buffer, props.byteOffset, props.byteLength);
    let off = 0;
    for (const r of this.opts.reserved ?? []) {
      if (r.endpoints !== undefined && !r.endpoints.includes(ep)) continue;
      if (off + RESV_MEM_PROP_BYTES > props.length) return Status.INVAL;
      v.setUint16(off, ProbeType.RESV_MEM, true);
      v.setUint16(off + 2, RESV_MEM_PROP_BYTES - 4, true);
      props[off + 4] = r.subtype;
      v.setUint32(off + 8, r.start >>> 0, true);
      v.setUint32(off + 12, Math.floor(r.start / 4294967296), true);
      v.setUint32(off + 16, r.end >>> 0, true);
      v.setUint32(off + 20, Math.floor(r.end / 4294967296), true);
      off += RESV_MEM_PROP_BYTES;
    }
    return Status.OK; // the rest stays zero: a NONE property ends the list
  }

  // ---- faults ----

  /** Write a fault record into the next buffer the driver posted on the event queue. */
  reportFault(reason: number, flags: number, endpoint: number, address: number): boolean {
    const q = this.eventq;
    const c: VirtqChain | null = q === null ? null : q.pop();
    if (q === null || c === null || VirtqueueDevice.writableBytes(c) < FAULT_RECORD_BYTES) {
      if (q !== null && c !== null) q.push(c.head, 0);
      this.faultsDropped++;
      return false;
    }
    const rec = new Uint8Array(FAULT_RECORD_BYTES);
    const v = new DataView(rec.buffer);
    rec[0] = reason;
    v.setUint32(4, flags, true);
    v.setUint32(8, endpoint, true);
    v.setUint32(16, address >>> 0, true);
    v.setUint32(20, Math.floor(address / 4294967296), true);
    q.push(c.head, q.scatter(c, rec));
    this.faultsReported++;
    return true;
  }

  // ---- device-facing DMA ----

  private fault(
    req: DmaRequester,
    iova: number,
    write: boolean,
    reason: number,
    message: string,
  ): IommuFault {
    const flags =
      (write ? FaultFlag.WRITE : FaultFlag.READ) | (req.instr ? FaultFlag.EXEC : 0) | FaultFlag.ADDRESS;
    this.reportFault(reason, flags, req.sid, iova);
    const name =
      reason === FaultReason.DOMAIN ? "DOMAIN" : reason === FaultReason.MAPPING ? "MAPPING" : "UNKNOWN";
    return { unit: "virtio-iommu", code: reason, name, iova, sid: req.sid, pasid: req.pasid, write, message };
  }

  translate(req: DmaRequester, iova: number, access: Perm): TranslateResult {
    const write = (access & Perm.Write) !== 0;
    if (req.pasid >= 0) {
      return {
        ok: false,
        fault: this.fault(req, iova, write, FaultReason.UNKNOWN, "virtio-iommu has no PASID support"),
      };
    }
    const slot = this.attached.get(req.sid);
    const d = slot >= 0 ? this.slots[slot] : undefined;
    if (d === undefined || d.bypass) {
      if (d !== undefined || this.bypassUnattached) {
        const base = iova - (iova % this.granule);
        return {
          ok: true,
          entry: { iova: base, translatedAddr: base, addrMask: this.granule - 1, perm: Perm.ReadWrite },
        };
      }
      return {
        ok: false,
        fault: this.fault(req, iova, write, FaultReason.DOMAIN, "endpoint not attached and bypass is off"),
      };
    }
    const i = d.find(iova);
    const need = write ? MapFlag.WRITE : MapFlag.READ;
    if (i < 0 || (d.flags[i]! & need) === 0) {
      return {
        ok: false,
        fault: this.fault(
          req,
          iova,
          write,
          FaultReason.MAPPING,
          i < 0 ? "no mapping" : "mapping lacks the permission",
        ),
      };
    }
    const s = d.start[i]!;
    const e = d.end[i]!;
    const p = d.phys[i]!;
    // the largest naturally aligned block around iova inside the mapping, with phys equally aligned
    let size = this.granule;
    for (;;) {
      const next = size * 2;
      const b = iova - (iova % next);
      if (b < s || b + next - 1 > e || (p + (b - s)) % next !== 0) break;
      size = next;
    }
    const base = iova - (iova % size);
    const perm = (((d.flags[i]! & MapFlag.READ) !== 0 ? Perm.Read : 0) |
      ((d.flags[i]! & MapFlag.WRITE) !== 0 ? Perm.Write : 0)) as Perm;
    return { ok: true, entry: { iova: base, translatedAddr: p + (base - s), addrMask: size - 1, perm } };
  }

  private dma(req: DmaRequester, iova: number, buf: Uint8Array, write: boolean): DmaResult {
    let off = 0;
    while (off < buf.length) {
      const a = iova + off;
      const r = this.translate(req, a, write ? Perm.Write : Perm.Read);
      if (!r.ok) return { ok: false, fault: r.fault };
      const n = Math.min(buf.length - off, r.entry.iova + r.entry.addrMask + 1 - a);
      const pa = r.entry.translatedAddr + (a - r.entry.iova);
      const view = buf.subarray(off, off + n);
      const st = write
        ? this.mem.write(pa, view, Initiator.Device)
        : this.mem.read(pa, view, Initiator.Device);
      if (st !== 0) {
        return {
          ok: false,
          fault: {
            unit: "memory",
            code: 0,
            name: "EXTERNAL_ABORT",
            iova: a,
            sid: req.sid,
            pasid: req.pasid,
            write,
            message: this.mem.lastFault()?.message ?? "memory access failed",
          },
        };
      }
      off += n;
    }
    return { ok: true };
  }

  dmaRead(req: DmaRequester, iova: number, dst: Uint8Array): DmaResult {
    return this.dma(req, iova, dst, false);
  }
  dmaWrite(req: DmaRequester, iova: number, src: Uint8Array): DmaResult {
    return this.dma(req, iova, src, true);
  }
}
