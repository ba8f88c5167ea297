/**
 * A request as the unit's low-level API takes it, and the validation of its fields (misuse of the
 * API, not an architectural outcome, so it throws TdxSimError).
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";
import type { AddressType } from "../faults/fault-recorder";

/** One request as the low-level API takes it. */
export interface VtdRequest {
  readonly sid: number;
  /** PASID, or -1 / undefined for a request without PASID. */
  readonly pasid?: number;
  readonly write?: boolean;
  readonly execute?: boolean;
  readonly privileged?: boolean;
  readonly addressType?: AddressType;
}

/** Validate a request's fields (misuse, not an architectural outcome). */
export function checkRequest(req: { readonly sid: number; readonly pasid?: number }, iova: number): void {
  if (!Number.isInteger(req.sid) || req.sid < 0 || req.sid > 0xffff) {
    throw new TdxSimError(
      "E_VTD_REQUEST",
      `source-id ${String(req.sid)} is invalid: it must be an integer in 0..0xffff`,
    );
  }
  const pasid = req.pasid ?? -1;
  if (!Number.isInteger(pasid) || pasid < -1 || pasid > 0xfffff) {
    throw new TdxSimError(
      "E_VTD_REQUEST",
      `PASID ${String(pasid)} is invalid: it must be -1 (none) or an integer in 0..0xfffff`,
    );
  }
  if (!Number.isSafeInteger(iova) || iova < 0 || iova >= 2 ** 52) {
    throw new TdxSimError(
      "E_VTD_REQUEST",
      `address ${String(iova)} is invalid: it must be an integer in [0, 2^52)`,
    );
  }
}
