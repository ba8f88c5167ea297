/**
 * Test doubles for the guest-code conversions: `ScriptedEncryptionGuestOps` exits to the VMM once
 * per request, as MapGPA does inside a TD, and lets a test choose each status; `runGuestOp` drives
 * guest code to completion, counting its TD exits. For unit tests of code written against
 * `MemoryEncryptionGuestOps` without a TDX module (the real path is `TdxGuestEncryptionOps`).
 *
 * @spec packages/hw-cpu-seam/src/tdx/guest-interface.ts (GuestOp, TD exits as yielded signals);
 *   shared/reference/kvm-guest-qemu.md §3.5 (every conversion is a MapGPA, a TD exit)
 */
import { type GuestOp, type TdExitSignal, TdxSimError } from "@tdx/hw-cpu-seam";
import type { ConversionRecord, ConversionStatus, MemoryEncryptionGuestOps } from "../memory/conversion";

const EXIT: TdExitSignal = Object.freeze({ __tdExitSignal: true as const });

/** The VMM's answer to one conversion: 0, or a negative errno the guest code sees. */
export type ScriptedConversionVmm = (
  kind: "decrypt" | "encrypt",
  gpa: number,
  pages: number,
) => ConversionStatus;

export class ScriptedEncryptionGuestOps implements MemoryEncryptionGuestOps {
  /** Every request after the VMM answered it, in order. */
  readonly records: ConversionRecord[] = [];
  /** TD exits taken (one per request). */
  exits = 0;

  constructor(private readonly vmm: ScriptedConversionVmm = () => 0) {}

  *setMemoryDecryptedOp(gpa: number, numPages: number): GuestOp<ConversionStatus> {
    return yield* this.request("decrypt", gpa, numPages);
  }

  *setMemoryEncryptedOp(gpa: number, numPages: number): GuestOp<ConversionStatus> {
    return yield* this.request("encrypt", gpa, numPages);
  }

  private *request(kind: "decrypt" | "encrypt", gpa: number, pages: number): GuestOp<ConversionStatus> {
    this.exits++;
    yield EXIT;
    const status = this.vmm(kind, gpa, pages);
    if (!(status <= 0) || !Number.isInteger(status)) {
      throw new TdxSimError(
        "E_CONVERSION",
        `scripted VMM answered ${String(status)}: use 0 or a negative errno`,
      );
    }
    this.records.push({ kind, gpa, pages, status });
    return status;
  }
}

/** Run guest code to completion, resuming it after every TD exit; its value and the exits taken. */
export function runGuestOp<T>(
  op: GuestOp<T>,
  maxExits = 100_000,
): { readonly value: T; readonly exits: number } {
  let exits = 0;
  for (;;) {
    const r = op.next();
    if (r.done) return { value: r.value, exits };
    if (++exits > maxExits) {
      throw new TdxSimError(
        "E_GUEST_OP",
        `guest code took more than ${maxExits} TD exits: raise maxExits or check for a loop`,
      );
    }
  }
}
