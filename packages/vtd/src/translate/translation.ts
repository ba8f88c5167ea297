/**
 * The preallocated outcome of one translation: the page that contains the request's address,
 * as input base, output base, size and permissions. Reused for every request (no allocation).
 * Also the interrupt-window overlap test both pipelines use.
 */
import { INTERRUPT_WINDOW_FIRST, INTERRUPT_WINDOW_LAST } from "../spec/registers";

export class Translation {
  /** Input page base (IOVA rounded down to the page size). */
  iovaBase = 0;
  /** Output page base: an HPA, KeyID bits included. */
  outBase = 0;
  /** Page size in bytes (4 KiB, 2 MiB or 1 GiB). */
  size = 4096;
  /** Perm8 bits (R, W, X, U, D). */
  perm = 0;
  /** Domain-id and PASID the translation was tagged with (-1: none). */
  did = 0;
  pasid = -1;
  /** Whether the IOTLB served it. */
  hit = false;
}

/** Returned instead of a fault reason for a request-without-PASID to the interrupt window. */
export const INTERRUPT_REQUEST = -1;
/** Whether [base, base+size) overlaps 0xFEE0_0000-0xFEEF_FFFF. @spec reference/vtd.md §2.5 step 9 */
export function overlapsInterruptWindow(base: number, size: number): boolean {
  return base <= INTERRUPT_WINDOW_LAST && base + size - 1 >= INTERRUPT_WINDOW_FIRST;
}
