/**
 * Private <-> shared conversion as the TDX guest does it (`set_memory_decrypted()` /
 * `set_memory_encrypted()` with the TDX enc_status_change hooks): to shared, MapGPA after the
 * page-table change (the "finish" hook); to private, MapGPA and then acceptance of the pages the
 * VMM AUGs, before the page-table change (the "prepare" hook), so a private mapping never points
 * at a shared page. Failures give -EIO and a WARN; `nr_shared` follows successful conversions.
 * The execution model has no guest page tables, caches or TLBs, so the PTE change and the
 * flushes around it have nothing to act on.
 *
 * Two faces: generators for guest code running in a TD (`yield*`: MapGPA always exits to the
 * VMM), and `InlineTdxEncryptionOps`, the synchronous `MemoryEncryptionOps` the SWIOTLB layer
 * calls, for a vCPU whose TDCALLs complete without a TD exit (a VMM answering inline).
 *
 * @spec shared/reference/kvm-guest-qemu.md §3.5 (hooks, ordering, nr_shared), §3.7 (SWIOTLB
 *   pool and coherent buffers are set_memory_decrypted()); torvalds/linux arch/x86/coco/tdx/
 *   tdx.c tdx_enc_status_changed(), tdx_enc_status_change_prepare/finish(); arch/x86/mm/pat/
 *   set_memory.c __set_memory_enc_pgtable() (misaligned address WARN, "CPA VMM failure")
 */

import { type GuestOp, PAGE_SIZE, TdxSimError } from "@tdx/hw-cpu-seam";
import type { ConversionStatus, MemoryEncryptionOps } from "../memory/conversion";
import { Errno } from "./abi";
import { tdxAcceptMemory } from "./accept";
import { tdxMapGpa } from "./map-gpa";
import type { TdxVcpu } from "./vcpu";

function checkRange(v: TdxVcpu, gpa: number, numPages: number): number {
  if (!Number.isSafeInteger(numPages) || numPages < 1) {
    throw new TdxSimError(
      "E_CONVERSION",
      `numPages ${numPages} must be a positive integer count of 4 KiB pages`,
    );
  }
  if (!Number.isSafeInteger(gpa) || gpa < 0 || !v.guest.isPrivateGpa(gpa)) {
    throw new TdxSimError(
      "E_CONVERSION",
      `GPA 0x${gpa.toString(16)} must be a physical address without the shared bit (0x${v.guest.tdx.sharedMask.toString(16)})`,
    );
  }
  if (gpa % PAGE_SIZE !== 0) {
    v.guest.warn(`WARNING: misaligned address: 0x${gpa.toString(16)}`);
    gpa -= gpa % PAGE_SIZE;
  }
  return gpa;
}

/** tdx_enc_status_changed(): MapGPA, then acceptance when converting to private. */
export function* tdxEncStatusChanged(
  v: TdxVcpu,
  gpa: number,
  numPages: number,
  enc: boolean,
): GuestOp<boolean> {
  const end = gpa + numPages * PAGE_SIZE;
  const mapped = yield* tdxMapGpa(v, gpa, end, enc);
  if (!mapped.ok) return false;
  if (enc) return yield* tdxAcceptMemory(v, gpa, end);
  return true;
}

function cpaFailure(v: TdxVcpu, gpa: number, numPages: number, enc: boolean): ConversionStatus {
  v.guest.warnOnce(
    "cpa-vmm",
    `WARNING: CPA VMM failure to convert memory (addr=0x${gpa.toString(16)}, numpages=${numPages}) to ${enc ? "encrypted" : "decrypted"}: -${Errno.EIO}`,
  );
  return -Errno.EIO;
}

/** set_memory_decrypted(): make `numPages` pages at private GPA `gpa` shared. 0 or -EIO. */
export function* setMemoryDecrypted(v: TdxVcpu, gpa: number, numPages: number): GuestOp<ConversionStatus> {
  gpa = checkRange(v, gpa, numPages);
  // (page-table change: shared bit set in the PTEs; cache and TLB flushed)
  if (!(yield* tdxEncStatusChanged(v, gpa, numPages, false))) return cpaFailure(v, gpa, numPages, false);
  v.guest.nrShared += numPages;
  return 0;
}

/** set_memory_encrypted(): make them private again (MapGPA, then accept). 0 or -EIO. */
export function* setMemoryEncrypted(v: TdxVcpu, gpa: number, numPages: number): GuestOp<ConversionStatus> {
  gpa = checkRange(v, gpa, numPages);
  if (!(yield* tdxEncStatusChanged(v, gpa, numPages, true))) return cpaFailure(v, gpa, numPages, true);
  // (page-table change: shared bit cleared)
  v.guest.nrShared -= numPages;
  return 0;
}

/**
 * Run guest code that must not leave the TD to completion, synchronously. Throws if it yields a
 * TD exit: synchronous callers cannot give the CPU to the host.
 */
export function runWithoutExit<T>(op: GuestOp<T>, what: string): T {
  const r = op.next();
  if (r.done) return r.value;
  throw new TdxSimError(
    "E_TD_EXIT_IN_SYNC_CALL",
    `${what} needs a TD exit (a TDG.VP.VMCALL to the VMM) but was called synchronously: inside a TD, drive the generator form with yield* from the guest program; the synchronous form works only on a vCPU whose TDCALLs complete without exiting`,
  );
}

/**
 * `MemoryEncryptionOps` (the SWIOTLB layer's conversion interface) over the TDX conversions,
 * for a vCPU whose TDCALLs complete inline. Inside a real TD use `setMemoryDecrypted()` /
 * `setMemoryEncrypted()` with `yield*` instead.
 */
export class InlineTdxEncryptionOps implements MemoryEncryptionOps {
  constructor(private readonly v: TdxVcpu) {}

  setMemoryDecrypted(gpa: number, numPages: number): ConversionStatus {
    return runWithoutExit(setMemoryDecrypted(this.v, gpa, numPages), "set_memory_decrypted");
  }

  setMemoryEncrypted(gpa: number, numPages: number): ConversionStatus {
    return runWithoutExit(setMemoryEncrypted(this.v, gpa, numPages), "set_memory_encrypted");
  }
}
