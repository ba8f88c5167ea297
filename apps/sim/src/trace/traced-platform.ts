/**
 * SEAMCALL tracing, seen where the host makes them: the platform's `seamcall` entry wrapped so
 * every call is a slice on the host track (leaf, LP, completion status) that costs the cost
 * model's `seamcallNs`. TDH.VP.ENTER is different: it spans the TD's run. Its slice on the host
 * track holds half of `tdEnterExitNs` for the entry and half for the exit, and between them a
 * slice on the vCPU track, named after the TD exit that ended it, holds what the guest did.
 * Without tracing the platform is returned as it is.
 *
 * @spec shared/reference/tdx-module.md §0.2 (RAX = leaf in bits 15:0, status in RAX), §4.3 (TD
 *   exits from TDH.VP.ENTER)
 */
import {
  decodeVpEnter,
  describeStatus,
  Gpr,
  type GprFile,
  SeamcallLeaf,
  seamcallLeafName,
} from "@tdx/hw-cpu-seam";
import type { TdxPlatformUnderTest } from "@tdx/hw-cpu-seam/testing";
import { vpEnterLabel } from "./names";
import type { Tracer } from "./tracer";

export function tracedPlatform<P extends TdxPlatformUnderTest>(p: P, t: Tracer): P {
  if (!t.enabled) return p;
  const seamcall = (lp: number, regs: GprFile): bigint => {
    const leaf = Number(regs[Gpr.RAX]! & 0xffffn);
    const name = seamcallLeafName(leaf);
    t.begin("seamcall", name, { leaf: name, lp, status: "" });
    if (leaf !== SeamcallLeaf.VP_ENTER) {
      t.advance(t.costs.seamcallNs);
      const status = p.seamcall(lp, regs);
      t.end("seamcall", { status: describeStatus(status) });
      return status;
    }
    const half = t.costs.tdEnterExitNs / 2;
    t.advance(half);
    t.begin("tdRun", "TD run", { exit: "" });
    const status = p.seamcall(lp, regs);
    const exit = vpEnterLabel(decodeVpEnter(status, regs));
    t.end("tdRun", { exit }, `TD run → ${exit}`);
    t.advance(half);
    t.end("seamcall", { status: describeStatus(status) });
    return status;
  };
  return { ...p, seamcall };
}
