/**
 * TDG.VP.VMCALL<MapGPA> with Linux's retry contract (`tdx_map_gpa()`): for a conversion to
 * shared the shared bit is set in start and end; on RETRY the VMM's resume address (R11) must lie
 * in [start, end) or the conversion fails; a resume address equal to start is a retry without
 * progress, and three of those in a row give up; progress resets the count.
 *
 * @spec shared/reference/kvm-guest-qemu.md §3.5 "tdx_map_gpa retry", §1.8 (KVM's 2 MiB chunks
 *   and RETRY with R11 = next GPA); shared/reference/tdx-module.md §4.3 (MapGPA 0x10001: R12
 *   start, R13 length; RETRY = 1, R11 resume address); torvalds/linux arch/x86/coco/tdx/tdx.c
 *   tdx_map_gpa() (max_retries_per_page = 3)
 */
import { Gpr, type GuestOp, TdVmcall, TdVmcallStatus } from "@tdx/hw-cpu-seam";
import type { TdxVcpu } from "./vcpu";

/** Retries without forward progress after which MapGPA gives up. */
export const MAP_GPA_MAX_RETRIES_PER_PAGE = 3;

/** Why a MapGPA request failed, or that it succeeded. */
export type MapGpaResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: "status"; readonly status: bigint }
  | { readonly ok: false; readonly reason: "resume-out-of-range"; readonly resume: number }
  | { readonly ok: false; readonly reason: "no-progress"; readonly resume: number };

const OK: MapGpaResult = Object.freeze({ ok: true });

/** tdx_map_gpa(start, end, enc): `start`/`end` are private (shared bit clear) GPAs. */
export function* tdxMapGpa(v: TdxVcpu, start: number, end: number, enc: boolean): GuestOp<MapGpaResult> {
  const guest = v.guest;
  if (!enc) {
    start = guest.sharedAlias(start);
    end = guest.sharedAlias(end);
  }
  const args = v.args;
  let retries = 0;
  while (retries < MAP_GPA_MAX_RETRIES_PER_PAGE) {
    guest.stats.mapGpaCalls++;
    const st = yield* v.hypercall(args, TdVmcall.MAP_GPA, BigInt(start), BigInt(end - start));
    if (st !== TdVmcallStatus.RETRY) return st === 0n ? OK : { ok: false, reason: "status", status: st };
    guest.stats.mapGpaRetries++;
    const resume = Number(args[Gpr.R11]!);
    if (resume < start || resume >= end) return { ok: false, reason: "resume-out-of-range", resume };
    if (resume === start) {
      retries++;
      continue;
    }
    start = resume;
    retries = 0;
  }
  return { ok: false, reason: "no-progress", resume: start };
}
