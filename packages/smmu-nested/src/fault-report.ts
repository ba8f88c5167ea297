/**
 * The `IommuFault` values the unit hands to devices: from the recorded fault information (event
 * id and name as the specification writes them, stage, explanation), for terminations without
 * an event (GBPA abort, STE Config = abort), and for accesses that failed in memory after
 * translation.
 *
 * @spec reference/smmu.md §6.1 (event names), §1.3 (GBPA while SMMUEN = 0), §2.2 (Config abort)
 */
import type { DmaRequester, IommuFault } from "@tdx/hw-cpu-seam";
import { ABORT_SILENT } from "./engine";
import { EventId, eventName, type FaultInfo, isTranslationFault } from "./events";

/** The fault a transaction got, from the unit's FaultInfo. */
export function faultFromInfo(
  fi: FaultInfo,
  sid: number,
  ssid: number,
  addr: number,
  write: boolean,
  stalled: boolean,
): IommuFault {
  const id = fi.id;
  const where =
    isTranslationFault(id) || id === EventId.F_WALK_EABT ? (fi.s2 ? " (stage 2)" : " (stage 1)") : "";
  const what = fi.reason !== "" ? fi.reason : "terminated by the stream's configuration";
  return {
    unit: "smmu",
    code: id,
    name: id === 0 || id === ABORT_SILENT ? "ABORT" : eventName(id),
    iova: addr,
    sid,
    pasid: ssid,
    write,
    message: `${stalled ? `stalled (STAG ${fi.stag}): ` : ""}${what}${where}`,
  };
}

export function gbpaAbortFault(sid: number, ssid: number, addr: number, write: boolean): IommuFault {
  return {
    unit: "smmu",
    code: 0,
    name: "GBPA_ABORT",
    iova: addr,
    sid,
    pasid: ssid,
    write,
    message: "SMMUEN is 0 and GBPA.ABORT is set: incoming transactions abort",
  };
}

export function steAbortFault(sid: number, ssid: number, addr: number, write: boolean): IommuFault {
  return {
    unit: "smmu",
    code: 0,
    name: "STE_ABORT",
    iova: addr,
    sid,
    pasid: ssid,
    write,
    message: "the STE's Config is abort: transactions terminate without an event",
  };
}

export function busFault(
  req: DmaRequester,
  addr: number,
  write: boolean,
  detail: string | undefined,
): IommuFault {
  return {
    unit: "memory",
    code: 0,
    name: "EXTERNAL_ABORT",
    iova: addr,
    sid: req.sid,
    pasid: req.pasid,
    write,
    message: `the translated access failed in memory: ${detail ?? "no details"}`,
  };
}
