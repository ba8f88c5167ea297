/**
 * Private <-> shared conversion as the guest kernel requests it (set_memory_decrypted /
 * set_memory_encrypted). The SWIOTLB layer only calls these interfaces; the TDX-guest part
 * implements them with MapGPA (TDG.VP.VMCALL) and page acceptance. Two forms:
 * - `MemoryEncryptionOps`, synchronous, for standalone use (trace replay, benchmarks, policy
 *   comparison) where a conversion is a bookkeeping step;
 * - `MemoryEncryptionGuestOps`, guest code: each request is a `GuestOp` that may exit to the VMM
 *   (inside a TD MapGPA always does), composed with `yield*`.
 * Every algorithm that converts is written once against the guest form; a synchronous one is
 * lifted into it by `toGuestEncryptionOps` (generators that never exit), and the synchronous
 * entry points run the same algorithm with `runWithoutExit`. A recording implementation keeps every
 * request so runs can report and price conversions.
 *
 * @spec shared/reference/swiotlb.md §b.4 step 4 (swiotlb_update_mem_attributes), §e (dynamic and
 *   transient pools decrypted at creation); shared/reference/kvm-guest-qemu.md §3.5
 */
import { type GuestOp, TdxSimError } from "@tdx/hw-cpu-seam";

/** 0 on success, else a negative errno (-EIO = -5 is what a failed MapGPA gives). */
export type ConversionStatus = number;

export interface MemoryEncryptionOps {
  /** Make `numPages` 4 KiB pages at `gpa` shared (decrypted). */
  setMemoryDecrypted(gpa: number, numPages: number): ConversionStatus;
  /** Make them private (encrypted) again. */
  setMemoryEncrypted(gpa: number, numPages: number): ConversionStatus;
}

/**
 * The conversions as guest code: a request may leave the TD (MapGPA is a TDG.VP.VMCALL), so each
 * returns a `GuestOp` to compose with `yield*`; it completes with 0 or a negative errno.
 */
export interface MemoryEncryptionGuestOps {
  /** set_memory_decrypted: make `numPages` 4 KiB pages at `gpa` shared. */
  setMemoryDecryptedOp(gpa: number, numPages: number): GuestOp<ConversionStatus>;
  /** set_memory_encrypted: make them private again. */
  setMemoryEncryptedOp(gpa: number, numPages: number): GuestOp<ConversionStatus>;
}

/** Either form; the SWIOTLB and DMA layers accept both and normalise with `toGuestEncryptionOps`. */
export type AnyMemoryEncryptionOps = MemoryEncryptionOps | MemoryEncryptionGuestOps;

function isGuestOps(ops: AnyMemoryEncryptionOps): ops is MemoryEncryptionGuestOps {
  return typeof (ops as Partial<MemoryEncryptionGuestOps>).setMemoryDecryptedOp === "function";
}

/** A synchronous implementation in guest-code form: its generators complete without exiting. */
class SyncEncryptionGuestOps implements MemoryEncryptionGuestOps {
  constructor(private readonly sync: MemoryEncryptionOps) {}

  // biome-ignore lint/correctness/useYield: a synchronous conversion never exits the TD
  *setMemoryDecryptedOp(gpa: number, numPages: number): GuestOp<ConversionStatus> {
    return this.sync.setMemoryDecrypted(gpa, numPages);
  }

  // biome-ignore lint/correctness/useYield: a synchronous conversion never exits the TD
  *setMemoryEncryptedOp(gpa: number, numPages: number): GuestOp<ConversionStatus> {
    return this.sync.setMemoryEncrypted(gpa, numPages);
  }
}

/**
 * The guest-code form of `ops`: itself when it already is one (an object with both forms counts
 * as a guest form), else a wrapper whose operations complete without a TD exit.
 */
export function toGuestEncryptionOps(ops: AnyMemoryEncryptionOps): MemoryEncryptionGuestOps {
  return isGuestOps(ops) ? ops : new SyncEncryptionGuestOps(ops);
}

export interface ConversionRecord {
  readonly kind: "decrypt" | "encrypt";
  readonly gpa: number;
  readonly pages: number;
  readonly status: ConversionStatus;
}

/** -EIO. @spec Linux include/uapi/asm-generic/errno-base.h */
export const EIO = -5;

/**
 * Records every conversion and returns success, or the status a test queued with `failNext`.
 * Optionally forwards to another implementation.
 */
export class RecordingEncryptionOps implements MemoryEncryptionOps {
  readonly records: ConversionRecord[] = [];
  private readonly next?: MemoryEncryptionOps;
  private readonly queuedFailures: ConversionStatus[] = [];

  constructor(next?: MemoryEncryptionOps) {
    this.next = next;
  }

  /** Make the next conversion request (of either kind) fail with `status` (negative). */
  failNext(status: ConversionStatus = EIO): void {
    if (!(status < 0))
      throw new TdxSimError("E_CONVERSION", `failNext(${status}): the status must be negative`);
    this.queuedFailures.push(status);
  }

  setMemoryDecrypted(gpa: number, numPages: number): ConversionStatus {
    return this.record("decrypt", gpa, numPages);
  }

  setMemoryEncrypted(gpa: number, numPages: number): ConversionStatus {
    return this.record("encrypt", gpa, numPages);
  }

  /** Pages currently converted to shared by the recorded successful requests. */
  sharedPages(): number {
    let n = 0;
    for (const r of this.records) if (r.status === 0) n += r.kind === "decrypt" ? r.pages : -r.pages;
    return n;
  }

  private record(kind: "decrypt" | "encrypt", gpa: number, pages: number): ConversionStatus {
    let status: ConversionStatus = this.queuedFailures.shift() ?? 0;
    if (status === 0 && this.next) {
      status =
        kind === "decrypt"
          ? this.next.setMemoryDecrypted(gpa, pages)
          : this.next.setMemoryEncrypted(gpa, pages);
    }
    this.records.push({ kind, gpa, pages, status });
    return status;
  }
}

/**
 * Counts the requests a policy makes (and the pages of the successful ones), then forwards them;
 * in guest-code form, so it counts conversions inside a TD as well as standalone ones.
 */
export class CountingEncryptionOps implements MemoryEncryptionGuestOps {
  requests = 0;
  pagesDecrypted = 0;
  pagesEncrypted = 0;
  private readonly next: MemoryEncryptionGuestOps;

  constructor(next: AnyMemoryEncryptionOps) {
    this.next = toGuestEncryptionOps(next);
  }

  *setMemoryDecryptedOp(gpa: number, numPages: number): GuestOp<ConversionStatus> {
    this.requests++;
    const st = yield* this.next.setMemoryDecryptedOp(gpa, numPages);
    if (st === 0) this.pagesDecrypted += numPages;
    return st;
  }

  *setMemoryEncryptedOp(gpa: number, numPages: number): GuestOp<ConversionStatus> {
    this.requests++;
    const st = yield* this.next.setMemoryEncryptedOp(gpa, numPages);
    if (st === 0) this.pagesEncrypted += numPages;
    return st;
  }
}
