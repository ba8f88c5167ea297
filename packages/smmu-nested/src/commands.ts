/**
 * Command queue entries: the opcodes, the 16-byte layout of each command, an encoder from a
 * `SmmuCommand` value (drivers and tests build real commands with it) and a decoder back to one
 * (the vSMMU front end reads guest commands with it). Execution is in command-exec.ts.
 *
 * @spec reference/smmu.md §5.1 (opcodes), §5.2 (field positions), §5.3 (range invalidation),
 *   §5.5 (CERROR codes); sources: torvalds/linux arm-smmu-v3.h (CMDQ_OP_*, CMDQ_*_0/1 fields,
 *   CMDQ_ERR_CERROR_*), qemu/qemu hw/arm/smmuv3-internal.h (SMMUCommandType)
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";

export const Opcode = {
  PREFETCH_CONFIG: 0x01,
  PREFETCH_ADDR: 0x02,
  CFGI_STE: 0x03,
  /** CFGI_STE_RANGE; CMD_CFGI_ALL is this opcode with Range = 31. */
  CFGI_STE_RANGE: 0x04,
  CFGI_CD: 0x05,
  CFGI_CD_ALL: 0x06,
  TLBI_NH_ALL: 0x10,
  TLBI_NH_ASID: 0x11,
  TLBI_NH_VA: 0x12,
  TLBI_NH_VAA: 0x13,
  TLBI_EL3_ALL: 0x18,
  TLBI_EL3_VA: 0x1a,
  TLBI_EL2_ALL: 0x20,
  TLBI_EL2_ASID: 0x21,
  TLBI_EL2_VA: 0x22,
  TLBI_EL2_VAA: 0x23,
  TLBI_S12_VMALL: 0x28,
  TLBI_S2_IPA: 0x2a,
  TLBI_NSNH_ALL: 0x30,
  ATC_INV: 0x40,
  PRI_RESP: 0x41,
  RESUME: 0x44,
  STALL_TERM: 0x45,
  SYNC: 0x46,
} as const;

/** CMDQ_CONS.ERR codes. */
export const CError = { NONE: 0, ILL: 1, ABT: 2, ATC_INV_SYNC: 3 } as const;
export type CError = (typeof CError)[keyof typeof CError];

/** CMD_RESUME actions (dw0[13:12]: Ac = retry, Ab = abort when not retrying). */
export const ResumeAction = { TERMINATE: 0, RETRY: 1, ABORT: 2 } as const;
/** CMD_PRI_RESP codes. */
export const PriResp = { DENY: 0, FAIL: 1, SUCCESS: 2 } as const;
/** CMD_SYNC completion signal (CS). */
export const SyncCs = { NONE: 0, IRQ: 1, SEV: 2 } as const;

/** Range fields shared by TLBI commands that take an address. */
export interface TlbiRange {
  /** Leaf only (dw1[0]). */
  readonly leaf?: boolean;
  /** Range granule: 0 = single address, 1 = 4K, 2 = 16K, 3 = 64K (needs IDR3.RIL). */
  readonly tg?: number;
  readonly num?: number;
  readonly scale?: number;
  /** Level hint (dw1[9:8]). */
  readonly ttl?: number;
}

export type SmmuCommand =
  | { readonly op: "PREFETCH_CONFIG"; readonly sid: number; readonly ssid?: number }
  | { readonly op: "PREFETCH_ADDR"; readonly sid: number; readonly ssid?: number; readonly addr: number }
  | { readonly op: "CFGI_STE"; readonly sid: number; readonly leaf?: boolean; readonly ssec?: boolean }
  | { readonly op: "CFGI_STE_RANGE"; readonly sid: number; readonly range: number }
  | { readonly op: "CFGI_ALL" }
  | { readonly op: "CFGI_CD"; readonly sid: number; readonly ssid: number; readonly leaf?: boolean }
  | { readonly op: "CFGI_CD_ALL"; readonly sid: number }
  | { readonly op: "TLBI_NH_ALL"; readonly vmid: number }
  | { readonly op: "TLBI_NH_ASID"; readonly vmid: number; readonly asid: number }
  | ({
      readonly op: "TLBI_NH_VA";
      readonly vmid: number;
      readonly asid: number;
      readonly addr: number;
    } & TlbiRange)
  | ({ readonly op: "TLBI_NH_VAA"; readonly vmid: number; readonly addr: number } & TlbiRange)
  | { readonly op: "TLBI_EL2_ALL" }
  | { readonly op: "TLBI_S12_VMALL"; readonly vmid: number }
  | ({ readonly op: "TLBI_S2_IPA"; readonly vmid: number; readonly addr: number } & TlbiRange)
  | { readonly op: "TLBI_NSNH_ALL" }
  | {
      readonly op: "ATC_INV";
      readonly sid: number;
      readonly ssid?: number;
      readonly global?: boolean;
      readonly addr: number;
      /** log2 of the number of 4 KiB pages; 52 = everything. */
      readonly size: number;
    }
  | {
      readonly op: "PRI_RESP";
      readonly sid: number;
      readonly ssid?: number;
      readonly grpid: number;
      readonly resp: number;
    }
  | { readonly op: "RESUME"; readonly sid: number; readonly stag: number; readonly action: number }
  | { readonly op: "STALL_TERM"; readonly sid: number }
  | {
      readonly op: "SYNC";
      readonly cs?: number;
      readonly msh?: number;
      readonly msiAttr?: number;
      readonly msiData?: number;
      readonly msiAddr?: number;
    }
  /** Any other opcode or a raw entry, as 4 words (used to test illegal commands). */
  | { readonly op: "RAW"; readonly words: readonly [number, number, number, number] };

function fieldOf(v: number | undefined, bits: number, name: string): number {
  const n = v ?? 0;
  if (!Number.isInteger(n) || n < 0 || n >= 2 ** bits) {
    throw new TdxSimError("E_SMMU_CMD", `command field ${name} = ${String(v)} does not fit in ${bits} bits`);
  }
  return n;
}
function addrWords(a: number, lowBit: number, name: string): [number, number] {
  if (!Number.isSafeInteger(a) || a < 0 || a >= 2 ** 52) {
    throw new TdxSimError("E_SMMU_CMD", `command ${name} ${String(a)} must be an address below 2^52`);
  }
  const aligned = a - (a % 2 ** lowBit);
  return [aligned >>> 0, Math.floor(aligned / 4294967296)];
}
function ssidBits(ssid: number | undefined): number {
  return ssid === undefined || ssid < 0 ? 0 : ((1 << 11) | (fieldOf(ssid, 20, "SSID") << 12)) >>> 0;
}
function rangeBits(r: TlbiRange): { w0: number; w1: number } {
  return {
    w0: ((fieldOf(r.num, 5, "NUM") << 12) | (fieldOf(r.scale, 5, "SCALE") << 20)) >>> 0,
    w1: ((r.leaf ? 1 : 0) | (fieldOf(r.ttl, 2, "TTL") << 8) | (fieldOf(r.tg, 2, "TG") << 10)) >>> 0,
  };
}

/** Encode a command as 4 little-endian words [dw0 lo, dw0 hi, dw1 lo, dw1 hi]. */
export function encodeCommand(c: SmmuCommand): Uint32Array {
  const w = new Uint32Array(4);
  switch (c.op) {
    case "RAW":
      w.set(c.words.map((x) => x >>> 0));
      return w;
    case "PREFETCH_CONFIG":
      w[0] = Opcode.PREFETCH_CONFIG | ssidBits(c.ssid);
      w[1] = fieldOf(c.sid, 32, "SID");
      return w;
    case "PREFETCH_ADDR": {
      w[0] = Opcode.PREFETCH_ADDR | ssidBits(c.ssid);
      w[1] = fieldOf(c.sid, 32, "SID");
      const [lo, hi] = addrWords(c.addr, 12, "Addr");
      w[2] = lo;
      w[3] = hi;
      return w;
    }
    case "CFGI_STE":
      w[0] = (Opcode.CFGI_STE | (c.ssec ? 1 << 10 : 0)) >>> 0;
      w[1] = fieldOf(c.sid, 32, "SID");
      w[2] = c.leaf ? 1 : 0;
      return w;
    case "CFGI_STE_RANGE":
      w[0] = Opcode.CFGI_STE_RANGE;
      w[1] = fieldOf(c.sid, 32, "SID");
      w[2] = fieldOf(c.range, 5, "Range");
      return w;
    case "CFGI_ALL":
      w[0] = Opcode.CFGI_STE_RANGE;
      w[2] = 31;
      return w;
    case "CFGI_CD":
      w[0] = (Opcode.CFGI_CD | ssidBits(c.ssid)) >>> 0;
      w[1] = fieldOf(c.sid, 32, "SID");
      w[2] = c.leaf ? 1 : 0;
      return w;
    case "CFGI_CD_ALL":
      w[0] = Opcode.CFGI_CD_ALL;
      w[1] = fieldOf(c.sid, 32, "SID");
      return w;
    case "TLBI_NH_ALL":
    case "TLBI_S12_VMALL":
      w[0] = c.op === "TLBI_NH_ALL" ? Opcode.TLBI_NH_ALL : Opcode.TLBI_S12_VMALL;
      w[1] = fieldOf(c.vmid, 16, "VMID");
      return w;
    case "TLBI_NH_ASID":
      w[0] = Opcode.TLBI_NH_ASID;
      w[1] = (fieldOf(c.vmid, 16, "VMID") | (fieldOf(c.asid, 16, "ASID") << 16)) >>> 0;
      return w;
    case "TLBI_NH_VA":
    case "TLBI_NH_VAA":
    case "TLBI_S2_IPA": {
      const op =
        c.op === "TLBI_NH_VA"
          ? Opcode.TLBI_NH_VA
          : c.op === "TLBI_NH_VAA"
            ? Opcode.TLBI_NH_VAA
            : Opcode.TLBI_S2_IPA;
      const r = rangeBits(c);
      w[0] = (op | r.w0) >>> 0;
      const asid = c.op === "TLBI_NH_VA" ? fieldOf(c.asid, 16, "ASID") : 0;
      w[1] = (fieldOf(c.vmid, 16, "VMID") | (asid << 16)) >>> 0;
      const [lo, hi] = addrWords(c.addr, 12, c.op === "TLBI_S2_IPA" ? "IPA" : "VA");
      w[2] = (lo | r.w1) >>> 0;
      w[3] = hi;
      return w;
    }
    case "TLBI_EL2_ALL":
      w[0] = Opcode.TLBI_EL2_ALL;
      return w;
    case "TLBI_NSNH_ALL":
      w[0] = Opcode.TLBI_NSNH_ALL;
      return w;
    case "ATC_INV": {
      w[0] = (Opcode.ATC_INV | (c.global ? 1 << 9 : 0) | ssidBits(c.ssid)) >>> 0;
      w[1] = fieldOf(c.sid, 32, "SID");
      const [lo, hi] = addrWords(c.addr, 12, "Addr");
      w[2] = (lo | fieldOf(c.size, 6, "Size")) >>> 0;
      w[3] = hi;
      return w;
    }
    case "PRI_RESP":
      w[0] = (Opcode.PRI_RESP | ssidBits(c.ssid)) >>> 0;
      w[1] = fieldOf(c.sid, 32, "SID");
      w[2] = (fieldOf(c.grpid, 9, "PRGI") | (fieldOf(c.resp, 2, "Resp") << 12)) >>> 0;
      return w;
    case "RESUME":
      w[0] = (Opcode.RESUME | (fieldOf(c.action, 2, "Action") << 12)) >>> 0;
      w[1] = fieldOf(c.sid, 32, "SID");
      w[2] = fieldOf(c.stag, 16, "STAG");
      return w;
    case "STALL_TERM":
      w[0] = Opcode.STALL_TERM;
      w[1] = fieldOf(c.sid, 32, "SID");
      return w;
    case "SYNC": {
      w[0] =
        (Opcode.SYNC |
          (fieldOf(c.cs, 2, "CS") << 12) |
          (fieldOf(c.msh, 2, "MSH") << 22) |
          (fieldOf(c.msiAttr, 4, "MSIAttr") << 24)) >>>
        0;
      w[1] = fieldOf(c.msiData, 32, "MSIData");
      const [lo, hi] = addrWords(c.msiAddr ?? 0, 2, "MSIAddr");
      w[2] = lo;
      w[3] = hi;
      return w;
    }
  }
}

function addrOf(lo: number, hi: number, lowBit: number): number {
  const mask = ~((1 << lowBit) - 1) >>> 0;
  return (hi & 0xfffff) * 4294967296 + ((lo & mask) >>> 0);
}

/** Decode 4 words into a command value ("RAW" for opcodes this model does not name). */
export function decodeCommand(w: ArrayLike<number>): SmmuCommand {
  const w0 = w[0]! >>> 0;
  const w1 = w[1]! >>> 0;
  const w2 = w[2]! >>> 0;
  const w3 = w[3]! >>> 0;
  const op = w0 & 0xff;
  const ssv = ((w0 >>> 11) & 1) === 1;
  const ssid = ssv ? (w0 >>> 12) & 0xfffff : undefined;
  const range: TlbiRange = {
    leaf: (w2 & 1) === 1,
    ttl: (w2 >>> 8) & 3,
    tg: (w2 >>> 10) & 3,
    num: (w0 >>> 12) & 0x1f,
    scale: (w0 >>> 20) & 0x1f,
  };
  switch (op) {
    case Opcode.PREFETCH_CONFIG:
      return ssid === undefined
        ? { op: "PREFETCH_CONFIG", sid: w1 }
        : { op: "PREFETCH_CONFIG", sid: w1, ssid };
    case Opcode.CFGI_STE:
      return { op: "CFGI_STE", sid: w1, leaf: (w2 & 1) === 1 };
    case Opcode.CFGI_STE_RANGE:
      return (w2 & 0x1f) === 31 ? { op: "CFGI_ALL" } : { op: "CFGI_STE_RANGE", sid: w1, range: w2 & 0x1f };
    case Opcode.CFGI_CD:
      return { op: "CFGI_CD", sid: w1, ssid: (w0 >>> 12) & 0xfffff, leaf: (w2 & 1) === 1 };
    case Opcode.CFGI_CD_ALL:
      return { op: "CFGI_CD_ALL", sid: w1 };
    case Opcode.TLBI_NH_ALL:
      return { op: "TLBI_NH_ALL", vmid: w1 & 0xffff };
    case Opcode.TLBI_NH_ASID:
      return { op: "TLBI_NH_ASID", vmid: w1 & 0xffff, asid: w1 >>> 16 };
    case Opcode.TLBI_NH_VA:
      return { op: "TLBI_NH_VA", vmid: w1 & 0xffff, asid: w1 >>> 16, addr: addrOf(w2, w3, 12), ...range };
    case Opcode.TLBI_NH_VAA:
      return { op: "TLBI_NH_VAA", vmid: w1 & 0xffff, addr: addrOf(w2, w3, 12), ...range };
    case Opcode.TLBI_S12_VMALL:
      return { op: "TLBI_S12_VMALL", vmid: w1 & 0xffff };
    case Opcode.TLBI_S2_IPA:
      return { op: "TLBI_S2_IPA", vmid: w1 & 0xffff, addr: addrOf(w2, w3, 12), ...range };
    case Opcode.TLBI_NSNH_ALL:
      return { op: "TLBI_NSNH_ALL" };
    case Opcode.ATC_INV:
      return {
        op: "ATC_INV",
        sid: w1,
        ...(ssid === undefined ? {} : { ssid }),
        global: ((w0 >>> 9) & 1) === 1,
        addr: addrOf(w2, w3, 12),
        size: w2 & 0x3f,
      };
    case Opcode.PRI_RESP:
      return {
        op: "PRI_RESP",
        sid: w1,
        ...(ssid === undefined ? {} : { ssid }),
        grpid: w2 & 0x1ff,
        resp: (w2 >>> 12) & 3,
      };
    case Opcode.RESUME:
      return { op: "RESUME", sid: w1, stag: w2 & 0xffff, action: (w0 >>> 12) & 3 };
    case Opcode.STALL_TERM:
      return { op: "STALL_TERM", sid: w1 };
    case Opcode.SYNC:
      return {
        op: "SYNC",
        cs: (w0 >>> 12) & 3,
        msh: (w0 >>> 22) & 3,
        msiAttr: (w0 >>> 24) & 0xf,
        msiData: w1,
        msiAddr: addrOf(w2, w3, 2),
      };
    default:
      return { op: "RAW", words: [w0, w1, w2, w3] };
  }
}
