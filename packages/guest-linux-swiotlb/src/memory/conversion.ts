/**
 * Private <-> shared conversion as the guest kernel requests it (set_memory_decrypted /
 * set_memory_encrypted). The SWIOTLB layer only calls this interface; the TDX-guest part
 * implements it with MapGPA (TDG.VP.VMCALL) and page acceptance. A recording implementation keeps
 * every request so runs can report and price conversions.
 *
 * @spec shared/reference/swiotlb.md §b.4 step 4 (swiotlb_update_mem_attributes), §e (dynamic and
 *   transient pools decrypted at creation); shared/reference/kvm-guest-qemu.md §3.5
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";

/** 0 on success, else a negative errno (-EIO = -5 is what a failed MapGPA gives). */
export type ConversionStatus = number;

export interface MemoryEncryptionOps {
  /** Make `numPages` 4 KiB pages at `gpa` shared (decrypted). */
  setMemoryDecrypted(gpa: number, numPages: number): ConversionStatus;
  /** Make them private (encrypted) again. */
  setMemoryEncrypted(gpa: number, numPages: number): ConversionStatus;
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

/** Counts the requests a policy makes (and the pages of the successful ones), then forwards them. */
export class CountingEncryptionOps implements MemoryEncryptionOps {
  requests = 0;
  pagesDecrypted = 0;
  pagesEncrypted = 0;
  private readonly next: MemoryEncryptionOps;

  constructor(next: MemoryEncryptionOps) {
    this.next = next;
  }

  setMemoryDecrypted(gpa: number, numPages: number): ConversionStatus {
    this.requests++;
    const st = this.next.setMemoryDecrypted(gpa, numPages);
    if (st === 0) this.pagesDecrypted += numPages;
    return st;
  }

  setMemoryEncrypted(gpa: number, numPages: number): ConversionStatus {
    this.requests++;
    const st = this.next.setMemoryEncrypted(gpa, numPages);
    if (st === 0) this.pagesEncrypted += numPages;
    return st;
  }
}
