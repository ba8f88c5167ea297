/**
 * virtio-iommu wire format: device id, feature bits, the config space layout, request types and
 * their little-endian bodies, status codes, MAP/ATTACH flags, probe properties (RESV_MEM), and the
 * fault record of the event queue; plus encoders a driver (or a test) uses to build requests.
 *
 * @spec reference/smmu.md §8.1-8.2 (device basics, requests, status codes, probe properties,
 *   fault record); sources: torvalds/linux include/uapi/linux/virtio_iommu.h (current and v0.9),
 *   the virtio 1.2 specification §5.13 as summarised there
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";

export const VIRTIO_ID_IOMMU = 23;

/** Feature bits. */
export const VirtioIommuFeature = {
  INPUT_RANGE: 0,
  DOMAIN_RANGE: 1,
  MAP_UNMAP: 2,
  /** Deprecated: unattached endpoints bypass. */
  BYPASS: 3,
  PROBE: 4,
  MMIO: 5,
  BYPASS_CONFIG: 6,
} as const;

/** Request types. */
export const ReqType = { ATTACH: 0x01, DETACH: 0x02, MAP: 0x03, UNMAP: 0x04, PROBE: 0x05 } as const;

/** Status codes of the request tail. */
export const Status = {
  OK: 0,
  IOERR: 1,
  UNSUPP: 2,
  DEVERR: 3,
  INVAL: 4,
  RANGE: 5,
  NOENT: 6,
  FAULT: 7,
  NOMEM: 8,
} as const;
export type Status = (typeof Status)[keyof typeof Status];

export const AttachFlag = { BYPASS: 1 } as const;
export const MapFlag = { READ: 1, WRITE: 2, MMIO: 4 } as const;

/** Probe property types (low 12 bits of `type`) and RESV_MEM subtypes. */
export const ProbeType = { NONE: 0, RESV_MEM: 1 } as const;
export const ResvMemType = { RESERVED: 0, MSI: 1 } as const;

/** Fault reasons and flags of the event-queue record. */
export const FaultReason = { UNKNOWN: 0, DOMAIN: 1, MAPPING: 2 } as const;
export const FaultFlag = { READ: 1, WRITE: 2, EXEC: 4, ADDRESS: 0x100 } as const;

/** Byte sizes: head (4), tail (4), and each request's device-readable part (head + body). */
export const HEAD_BYTES = 4;
export const TAIL_BYTES = 4;
export const REQ_BYTES = {
  [ReqType.ATTACH]: 4 + 16,
  [ReqType.DETACH]: 4 + 16,
  [ReqType.MAP]: 4 + 32,
  [ReqType.UNMAP]: 4 + 24,
  [ReqType.PROBE]: 4 + 68,
} as const;
export const FAULT_RECORD_BYTES = 24;
/** A RESV_MEM property: 4-byte head + subtype, reserved[3], start, end. */
export const RESV_MEM_PROP_BYTES = 24;

/** Config space offsets (current layout: domain_range replaced domain_bits; bypass added). */
export const ConfigOff = {
  PAGE_SIZE_MASK: 0,
  INPUT_START: 8,
  INPUT_END: 16,
  DOMAIN_START: 24,
  DOMAIN_END: 28,
  PROBE_SIZE: 32,
  BYPASS: 36,
} as const;
export const CONFIG_BYTES = 40;

function u64(v: DataView, off: number, x: number): void {
  if (!Number.isSafeInteger(x) || x < 0)
    throw new TdxSimError("E_VIOMMU_FIELD", `${x} is not a 64-bit field value below 2^53`);
  v.setUint32(off, x >>> 0, true);
  v.setUint32(off + 4, Math.floor(x / 4294967296), true);
}
export function getU64(v: DataView, off: number): number {
  return v.getUint32(off + 4, true) * 4294967296 + v.getUint32(off, true);
}

function req(type: number, bytes: number): { b: Uint8Array; v: DataView } {
  const b = new Uint8Array(bytes);
  b[0] = type;
  return { b, v: new DataView(b.buffer) };
}

/** The device-readable part of each request (the tail, and PROBE's properties, are device-writable). */
export function encodeAttach(domain: number, endpoint: number, flags = 0): Uint8Array {
  const { b, v } = req(ReqType.ATTACH, REQ_BYTES[ReqType.ATTACH]);
  v.setUint32(4, domain, true);
  v.setUint32(8, endpoint, true);
  v.setUint32(12, flags, true);
  return b;
}
export function encodeDetach(domain: number, endpoint: number): Uint8Array {
  const { b, v } = req(ReqType.DETACH, REQ_BYTES[ReqType.DETACH]);
  v.setUint32(4, domain, true);
  v.setUint32(8, endpoint, true);
  return b;
}
/** MAP [virtStart, virtEnd] (inclusive end) to physStart. */
export function encodeMap(
  domain: number,
  virtStart: number,
  virtEnd: number,
  physStart: number,
  flags: number,
): Uint8Array {
  const { b, v } = req(ReqType.MAP, REQ_BYTES[ReqType.MAP]);
  v.setUint32(4, domain, true);
  u64(v, 8, virtStart);
  u64(v, 16, virtEnd);
  u64(v, 24, physStart);
  v.setUint32(32, flags, true);
  return b;
}
export function encodeUnmap(domain: number, virtStart: number, virtEnd: number): Uint8Array {
  const { b, v } = req(ReqType.UNMAP, REQ_BYTES[ReqType.UNMAP]);
  v.setUint32(4, domain, true);
  u64(v, 8, virtStart);
  u64(v, 16, virtEnd);
  return b;
}
export function encodeProbe(endpoint: number): Uint8Array {
  const { b, v } = req(ReqType.PROBE, REQ_BYTES[ReqType.PROBE]);
  v.setUint32(4, endpoint, true);
  return b;
}

/** A decoded probe property. */
export type ProbeProperty =
  | { readonly type: "RESV_MEM"; readonly subtype: number; readonly start: number; readonly end: number }
  | { readonly type: "UNKNOWN"; readonly code: number; readonly length: number };

/** Parse the properties a PROBE wrote (until a NONE property or the end). */
export function decodeProbeProperties(buf: Uint8Array): ProbeProperty[] {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: ProbeProperty[] = [];
  let off = 0;
  while (off + 4 <= buf.length) {
    const type = v.getUint16(off, true) & 0xfff;
    const len = v.getUint16(off + 2, true);
    if (type === ProbeType.NONE) break;
    if (type === ProbeType.RESV_MEM && len >= 20) {
      out.push({
        type: "RESV_MEM",
        subtype: buf[off + 4]!,
        start: getU64(v, off + 8),
        end: getU64(v, off + 16),
      });
    } else out.push({ type: "UNKNOWN", code: type, length: len });
    off = Math.ceil((off + 4 + len) / 8) * 8; // properties are 8-byte aligned
  }
  return out;
}

/** A decoded fault record. */
export interface VirtioIommuFault {
  readonly reason: number;
  readonly flags: number;
  readonly endpoint: number;
  readonly address: number;
}
export function decodeFault(buf: Uint8Array): VirtioIommuFault {
  const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  return {
    reason: buf[0]!,
    flags: v.getUint32(4, true),
    endpoint: v.getUint32(8, true),
    address: getU64(v, 16),
  };
}
