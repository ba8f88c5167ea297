/**
 * Transaction attributes as a small bitmask (read/write, privileged, instruction) and the
 * permission bit each kind of access needs; plus conversions from the device-facing `Perm`.
 *
 * @spec reference/smmu.md §4.2 (AP / S2AP tables), §6.2 (RnW, PnU, InD event fields)
 */
import { Perm } from "@tdx/hw-cpu-seam";
import { PermBit } from "./tlb";

export const Acc = {
  READ: 1,
  WRITE: 2,
  /** Privileged (PnU = 1). */
  PRIV: 4,
  /** Instruction fetch (InD = 1); meaningful for reads. */
  INSTR: 8,
} as const;

/** The permission bit an access needs, indexed by its Acc bitmask. */
export const NEED_PERM: Uint8Array = (() => {
  const t = new Uint8Array(16);
  for (let a = 0; a < 16; a++) {
    const priv = (a & Acc.PRIV) !== 0;
    if ((a & Acc.WRITE) !== 0) t[a] = priv ? PermBit.PRIV_W : PermBit.UNPRIV_W;
    else if ((a & Acc.INSTR) !== 0) t[a] = priv ? PermBit.PRIV_X : PermBit.UNPRIV_X;
    else t[a] = priv ? PermBit.PRIV_R : PermBit.UNPRIV_R;
  }
  return t;
})();

/** Build an access bitmask from a device-facing permission request and attributes. */
export function accFromPerm(access: Perm, priv: boolean | undefined, instr: boolean | undefined): number {
  return (
    ((access & Perm.Write) !== 0 ? Acc.WRITE : Acc.READ) | (priv ? Acc.PRIV : 0) | (instr ? Acc.INSTR : 0)
  );
}

/** The device-facing `Perm` an entry's permission bits grant to an access of this privilege/kind. */
export function permForAttrs(perm: number, acc: number): Perm {
  const priv = (acc & Acc.PRIV) !== 0;
  const r = priv ? PermBit.PRIV_R : PermBit.UNPRIV_R;
  const x = priv ? PermBit.PRIV_X : PermBit.UNPRIV_X;
  const w = priv ? PermBit.PRIV_W : PermBit.UNPRIV_W;
  const read = (acc & Acc.INSTR) !== 0 ? (perm & x) !== 0 : (perm & r) !== 0;
  return ((read ? Perm.Read : 0) | ((perm & w) !== 0 ? Perm.Write : 0)) as Perm;
}
