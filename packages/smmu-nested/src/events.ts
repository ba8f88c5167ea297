/**
 * Event ids, the 32-byte event record (encoder from a reusable `FaultInfo`, decoder into a
 * `SmmuEvent` value), and the names the specification uses.
 *
 * @spec reference/smmu.md §6.1 (event ids), §6.2 (record layout, recording rules); sources:
 *   torvalds/linux arm-smmu-v3.h (EVT_ID_*, EVTQ_0_*, EVTQ_1_*, EVTQ_2_ADDR, EVTQ_3_IPA);
 *   qemu/qemu hw/arm/smmuv3.c smmuv3_record_event() (which fields each event carries)
 */

export const EventId = {
  F_UUT: 0x01,
  C_BAD_STREAMID: 0x02,
  F_STE_FETCH: 0x03,
  C_BAD_STE: 0x04,
  F_BAD_ATS_TREQ: 0x05,
  F_STREAM_DISABLED: 0x06,
  F_TRANSL_FORBIDDEN: 0x07,
  C_BAD_SUBSTREAMID: 0x08,
  F_CD_FETCH: 0x09,
  C_BAD_CD: 0x0a,
  F_WALK_EABT: 0x0b,
  F_TRANSLATION: 0x10,
  F_ADDR_SIZE: 0x11,
  F_ACCESS: 0x12,
  F_PERMISSION: 0x13,
  F_TLB_CONFLICT: 0x20,
  F_CFG_CONFLICT: 0x21,
  E_PAGE_REQUEST: 0x24,
  F_VMS_FETCH: 0x25,
} as const;
export type EventId = (typeof EventId)[keyof typeof EventId];

const NAMES: Record<number, string> = {};
for (const [k, v] of Object.entries(EventId)) NAMES[v] = k;
/** The specification's name of an event id ("IMPDEF_0xE3" for 0xE0-0xEF, "UNKNOWN_0x.." otherwise). */
export function eventName(id: number): string {
  const n = NAMES[id];
  if (n !== undefined) return n;
  const h = id.toString(16).padStart(2, "0");
  return id >= 0xe0 && id <= 0xef ? `IMPDEF_0x${h}` : `UNKNOWN_0x${h}`;
}

/** Faults a stall can hold (translation-class faults). */
export function isStallable(id: number): boolean {
  return id >= EventId.F_TRANSLATION && id <= EventId.F_PERMISSION;
}
/** Translation-class faults whose recording CD.R / STE.S2R control. */
export function isTranslationFault(id: number): boolean {
  return id >= EventId.F_TRANSLATION && id <= EventId.F_PERMISSION;
}

/** Event CLASS (dw1[41:40]): what the faulting access was for. */
export const FaultClass = { CD: 0, TT: 1, IN: 2 } as const;
export type FaultClass = (typeof FaultClass)[keyof typeof FaultClass];

/**
 * Everything an event record can carry, filled in place by the translation path (one instance
 * per unit; no allocation per fault).
 */
export class FaultInfo {
  id = 0;
  sid = 0;
  ssv = false;
  ssid = 0;
  stag = 0;
  stall = false;
  pnu = false;
  ind = false;
  rnw = true;
  s2 = false;
  cls = 0;
  ttRnW = true;
  inputAddr = 0;
  /** dw3: the IPA (stage-2 faults) or the fetch address (fetch aborts); -1 when none. */
  addr2 = -1;
  /** Short explanation (static text). */
  reason = "";

  reset(sid: number, ssid: number, addr: number, rnw: boolean, pnu: boolean, ind: boolean): void {
    this.id = 0;
    this.sid = sid;
    this.ssv = ssid >= 0;
    this.ssid = Math.max(ssid, 0);
    this.stag = 0;
    this.stall = false;
    this.pnu = pnu;
    this.ind = ind;
    this.rnw = rnw;
    this.s2 = false;
    this.cls = FaultClass.IN;
    this.ttRnW = true;
    this.inputAddr = addr;
    this.addr2 = -1;
    this.reason = "";
  }
}

/** Write the 32-byte record of `f` into `w[0..8)`. */
export function encodeEvent(f: FaultInfo, w: Uint32Array): void {
  w.fill(0, 0, 8);
  const id = f.id;
  w[0] = id & 0xff;
  w[1] = f.sid >>> 0;
  const withSsid =
    id === EventId.F_UUT ||
    id === EventId.C_BAD_STREAMID ||
    id === EventId.F_STE_FETCH ||
    id === EventId.C_BAD_STE ||
    id === EventId.C_BAD_SUBSTREAMID ||
    id === EventId.F_CD_FETCH ||
    id === EventId.C_BAD_CD ||
    id === EventId.F_CFG_CONFLICT ||
    id === EventId.F_WALK_EABT ||
    isTranslationFault(id);
  if (withSsid) w[0] = (w[0]! | (f.ssv ? 1 << 11 : 0) | ((f.ssid & 0xfffff) << 12)) >>> 0;
  if (id === EventId.C_BAD_SUBSTREAMID) w[0] = (w[0]! | ((f.ssid & 0xfffff) << 12)) >>> 0;
  const full = id === EventId.F_WALK_EABT || isTranslationFault(id);
  if (full || id === EventId.F_UUT || id === EventId.F_TRANSL_FORBIDDEN) {
    setAddr(w, 4, f.inputAddr);
  }
  if (full || id === EventId.F_UUT) {
    w[2] = (full ? (f.stag & 0xffff) | (f.stall ? 0x80000000 : 0) : 0) >>> 0;
    w[3] =
      ((f.pnu ? 1 << 1 : 0) |
        (f.ind ? 1 << 2 : 0) |
        (f.rnw ? 1 << 3 : 0) |
        (full && f.s2 ? 1 << 7 : 0) |
        (full ? (f.cls & 3) << 8 : 0) |
        (full && f.ttRnW ? 1 << 12 : 0)) >>>
      0;
  }
  if (id === EventId.F_TRANSL_FORBIDDEN) w[3] = f.rnw ? 1 << 3 : 0;
  if (f.addr2 >= 0 && (full || id === EventId.F_STE_FETCH || id === EventId.F_CD_FETCH)) {
    // IPA[51:12] for stage-2 faults, FetchAddr[51:3] for fetch aborts.
    const a = f.id === EventId.F_WALK_EABT || !full ? f.addr2 - (f.addr2 % 8) : f.addr2 - (f.addr2 % 4096);
    setAddr(w, 6, a);
  }
}

function setAddr(w: Uint32Array, i: number, a: number): void {
  w[i] = a >>> 0;
  w[i + 1] = Math.floor(a / 4294967296) >>> 0;
}

/** A decoded event record, as software reads it from the event queue. */
export interface SmmuEvent {
  readonly id: number;
  readonly name: string;
  readonly sid: number;
  readonly ssv: boolean;
  readonly ssid: number;
  readonly stag: number;
  readonly stall: boolean;
  /** Privileged (PnU = 1). */
  readonly pnu: boolean;
  /** Instruction (InD = 1). */
  readonly ind: boolean;
  /** Read (RnW = 1). */
  readonly rnw: boolean;
  readonly s2: boolean;
  readonly cls: FaultClass;
  readonly ttRnW: boolean;
  readonly inputAddr: number;
  /** dw3 bits [51:0] as written (IPA or FetchAddr, by event). */
  readonly addr2: number;
  /** The raw 8 words. */
  readonly words: readonly number[];
}

/** Decode a 32-byte record from 8 words. */
export function decodeEvent(w: ArrayLike<number>): SmmuEvent {
  const w0 = w[0]! >>> 0;
  const w2 = w[2]! >>> 0;
  const w3 = w[3]! >>> 0;
  const id = w0 & 0xff;
  return {
    id,
    name: eventName(id),
    sid: w[1]! >>> 0,
    ssv: ((w0 >>> 11) & 1) === 1,
    ssid: (w0 >>> 12) & 0xfffff,
    stag: w2 & 0xffff,
    stall: w2 >>> 31 === 1,
    pnu: ((w3 >>> 1) & 1) === 1,
    ind: ((w3 >>> 2) & 1) === 1,
    rnw: ((w3 >>> 3) & 1) === 1,
    s2: ((w3 >>> 7) & 1) === 1,
    cls: ((w3 >>> 8) & 3) as FaultClass,
    ttRnW: ((w3 >>> 12) & 1) === 1,
    inputAddr: (w[5]! >>> 0) * 4294967296 + (w[4]! >>> 0),
    addr2: ((w[7]! >>> 0) & 0xfffff) * 4294967296 + (w[6]! >>> 0),
    words: Array.from({ length: 8 }, (_, i) => w[i]! >>> 0),
  };
}
