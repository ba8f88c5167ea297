/**
 * TD measurement exactly as the module computes it: MRTD is one running SHA-384 over 128-byte
 * records ("MEM.PAGE.ADD" + GPA per added page; "MR.EXTEND" + GPA followed by the 256 measured
 * bytes per extended chunk), started by TDH.MNG.INIT and finalised by TDH.MR.FINALIZE; an RTMR
 * extend is SHA-384(old || 48-byte value); TEE_INFO_HASH = SHA-384(TDINFO, 512 bytes).
 *
 * @spec shared/reference/tdx-module.md §8.1-§8.3; intel/tdx-module
 *   src/vmm_dispatcher/api_calls/{tdh_mem_page_add.c,tdh_mr_extend.c,tdh_mr_finalize.c},
 *   include/tdx_api_defs.h (td_info_t, tdreport_t)
 */
import { createHash, createHmac, type Hash } from "node:crypto";
import { TdxSimError } from "../errors";
import { putU64 } from "./seam-memory";

export const SHA384_BYTES = 48;
/** Bytes of guest memory one TDH.MR.EXTEND measures. */
export const MR_EXTEND_CHUNK = 256;
/** Size of the PAGE.ADD / MR.EXTEND record header. */
export const MEASUREMENT_RECORD_BYTES = 128;

/** The 128-byte record for an operation ("MEM.PAGE.ADD" or "MR.EXTEND") at `gpa`. */
export function measurementRecord(op: "MEM.PAGE.ADD" | "MR.EXTEND", gpa: number): Uint8Array {
  const b = new Uint8Array(MEASUREMENT_RECORD_BYTES);
  for (let i = 0; i < op.length; i++) b[i] = op.charCodeAt(i);
  putU64(b, 16, gpa);
  return b;
}

/** The running MRTD of one TD: an incremental SHA-384 state. */
export class MrtdAccumulator {
  private hash: Hash | undefined = createHash("sha384");
  private final: Uint8Array | undefined;

  /** TDH.MEM.PAGE.ADD: the page content is not measured, only its GPA. */
  addPage(gpa: number): void {
    this.live().update(measurementRecord("MEM.PAGE.ADD", gpa));
  }

  /** TDH.MR.EXTEND: the record, then the 256 bytes the TD sees at `gpa`. */
  extend(gpa: number, chunk: Uint8Array): void {
    if (chunk.length !== MR_EXTEND_CHUNK) {
      throw new TdxSimError("E_TDX_MEASUREMENT", `MR.EXTEND measures exactly 256 bytes, got ${chunk.length}`);
    }
    const h = this.live();
    h.update(measurementRecord("MR.EXTEND", gpa));
    h.update(chunk);
  }

  /** TDH.MR.FINALIZE: pad and output (once). */
  finalize(): Uint8Array {
    this.final = new Uint8Array(this.live().digest());
    this.hash = undefined;
    return this.final;
  }

  get finalized(): boolean {
    return this.final !== undefined;
  }

  /** The MRTD (48 zero bytes until finalised, as TDCS.MRTD reads before FINALIZE). */
  value(): Uint8Array {
    return this.final ?? new Uint8Array(SHA384_BYTES);
  }

  private live(): Hash {
    if (!this.hash)
      throw new TdxSimError("E_TDX_MEASUREMENT", "MRTD already finalised: no more updates allowed");
    return this.hash;
  }
}

/** RTMR[i] = SHA-384(RTMR[i] || value), value exactly 48 bytes. */
export function rtmrExtend(old: Uint8Array, value: Uint8Array): Uint8Array {
  if (old.length !== SHA384_BYTES || value.length !== SHA384_BYTES) {
    throw new TdxSimError("E_TDX_MEASUREMENT", "RTMR extend takes a 48-byte register and a 48-byte value");
  }
  return new Uint8Array(createHash("sha384").update(old).update(value).digest());
}

export function sha384(data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash("sha384").update(data).digest());
}

/** What TDINFO (512 bytes) carries. */
export interface TdInfoFields {
  readonly attributes: bigint;
  readonly xfam: bigint;
  readonly mrtd: Uint8Array;
  readonly mrconfigid: Uint8Array;
  readonly mrowner: Uint8Array;
  readonly mrownerconfig: Uint8Array;
  readonly rtmr: readonly Uint8Array[];
  readonly servtdHash: Uint8Array;
}

/** TDINFO_STRUCT: ATTRIBUTES @0, XFAM @8, MRTD @16, MRCONFIGID @64, MROWNER @112,
 * MROWNERCONFIG @160, RTMR0..3 @208/256/304/352, SERVTD_HASH @400, reserved to 512. */
export function encodeTdInfo(f: TdInfoFields): Uint8Array {
  const b = new Uint8Array(512);
  putU64(b, 0, f.attributes);
  putU64(b, 8, f.xfam);
  b.set(f.mrtd, 16);
  b.set(f.mrconfigid, 64);
  b.set(f.mrowner, 112);
  b.set(f.mrownerconfig, 160);
  f.rtmr.forEach((r, i) => {
    b.set(r, 208 + i * 48);
  });
  b.set(f.servtdHash, 400);
  return b;
}

/** The platform/module identity the CPU puts into a report (SEAMREPORT inputs). */
export interface TeeTcbInfo {
  readonly valid: bigint;
  readonly teeTcbSvn: Uint8Array;
  readonly mrseam: Uint8Array;
  readonly mrsignerseam: Uint8Array;
  readonly attributes: bigint;
}

/** TEE_TCB_INFO (256 bytes): VALID 8, TEE_TCB_SVN 16, MRSEAM 48, MRSIGNERSEAM 48, ATTRIBUTES 8. */
export function encodeTeeTcbInfo(t: TeeTcbInfo): Uint8Array {
  const b = new Uint8Array(256);
  putU64(b, 0, t.valid);
  b.set(t.teeTcbSvn.subarray(0, 16), 8);
  b.set(t.mrseam.subarray(0, 48), 24);
  b.set(t.mrsignerseam.subarray(0, 48), 72);
  putU64(b, 120, t.attributes);
  return b;
}

/** Inputs of TDG.MR.REPORT beyond TDINFO. */
export interface ReportInputs {
  readonly reportData: Uint8Array;
  readonly cpusvn: Uint8Array;
  readonly teeTcb: TeeTcbInfo;
  /** REPORTTYPE.VERSION (0, or 1 when SERVTD_HASH is meaningful). */
  readonly version: number;
  /** Key for the simulated REPORTMACSTRUCT MAC (the CPU's is a platform secret). */
  readonly macKey: Uint8Array;
}

/**
 * TDREPORT_STRUCT (1024 bytes): REPORTMACSTRUCT @0 (type 0x81 TDX, subtype 0, version; CPUSVN
 * @16; TEE_TCB_INFO_HASH @32; TEE_INFO_HASH @80; REPORTDATA @128; MAC @224), TEE_TCB_INFO @256,
 * TDINFO @512. The MAC is HMAC-SHA-256 over bytes 0..191 with the simulator key (the real one is
 * a CPU secret), so it is verifiable only inside the simulator.
 */
export function buildTdReport(tdInfo: Uint8Array, r: ReportInputs): Uint8Array {
  const b = new Uint8Array(1024);
  b[0] = 0x81;
  b[1] = 0;
  b[2] = r.version;
  b.set(r.cpusvn.subarray(0, 16), 16);
  const tcb = encodeTeeTcbInfo(r.teeTcb);
  b.set(sha384(tcb), 32);
  b.set(sha384(tdInfo), 80);
  b.set(r.reportData.subarray(0, 64), 128);
  b.set(new Uint8Array(createHmac("sha256", r.macKey).update(b.subarray(0, 192)).digest()), 224);
  b.set(tcb, 256);
  b.set(tdInfo, 512);
  return b;
}
