/**
 * The preallocated result of one page walk (no allocation per walk): the leaf's page base, its
 * level (page size), the accumulated permissions, and on failure the fault reason.
 */

export class WalkResult {
  /** Output page base (HPA for second-stage and nested, GPA after a first-stage walk). */
  base = 0;
  /** Level of the leaf: 1 = 4 KiB, 2 = 2 MiB, 3 = 1 GiB. */
  level = 1;
  /** Perm8 bits (R, W, X, U, D). */
  perm = 0;
  /** Fault reason when the walk failed (0 otherwise). */
  fault = 0;
  /** Memory reads the walk made (for the cost model and tests). */
  reads = 0;
  /**
   * Whether the failure is one caching mode may cache as a negative entry: a not-present entry
   * (1) or reserved bits (2); permission denials on present entries and access errors are not (0).
   */
  negative = 0;
}
