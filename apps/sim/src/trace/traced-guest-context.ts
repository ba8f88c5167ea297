/**
 * Guest-side tracing, seen where the guest meets the CPU: the TD's TdGuestContext wrapped so each
 * TDCALL is observed. TDG.VP.VEINFO.GET is the first thing the guest's #VE handler does, so a
 * successful one marks a #VE (its exit reason and GPA from the outputs), priced at `veNs`; a
 * successful TDG.MEM.PAGE.ACCEPT costs `acceptPageNs` per 4 KiB accepted. TDG.VP.VMCALL needs no
 * guest-side event: it is the TD exit the vCPU slice is named after. Everything else passes
 * through unchanged. Without tracing the context is returned as it is.
 *
 * @spec shared/reference/tdx-module.md §4.1 (ACCEPT: RCX = GPA | level), §4.2 (VEINFO.GET
 *   outputs: RCX exit reason, R9 GPA; the handler reads VE_INFO first)
 */
import {
  Gpr,
  type PortIoForm,
  type PortIoSize,
  statusName,
  TdcallLeaf,
  type TdGuestContext,
} from "@tdx/hw-cpu-seam";
import { exitReasonName, hex } from "./names";
import type { Tracer } from "./tracer";

export function tracedGuestContext(ctx: TdGuestContext, t: Tracer): TdGuestContext {
  if (!t.enabled) return ctx;
  const gpr = ctx.regs.gpr;
  return {
    get regs() {
      return ctx.regs;
    },
    read: (gpa, dst) => ctx.read(gpa, dst),
    write: (gpa, src) => ctx.write(gpa, src),
    read32: (gpa, out) => ctx.read32(gpa, out),
    read64: (gpa, out) => ctx.read64(gpa, out),
    write32: (gpa, v) => ctx.write32(gpa, v),
    write64: (gpa, lo, hi) => ctx.write64(gpa, lo, hi),
    load: (gpa, dst) => ctx.load(gpa, dst),
    store: (gpa, src) => ctx.store(gpa, src),
    cpuid: (leaf, subleaf) => ctx.cpuid(leaf, subleaf),
    hlt: () => ctx.hlt(),
    rdmsr: () => ctx.rdmsr(),
    wrmsr: () => ctx.wrmsr(),
    in: (port: number, size: PortIoSize, form?: PortIoForm) => ctx.in(port, size, form),
    out: (port: number, size: PortIoSize, form?: PortIoForm) => ctx.out(port, size, form),
    setExceptionHandler: (vector, handler) => ctx.setExceptionHandler(vector, handler),
    *tdcall() {
      const leaf = Number(gpr[Gpr.RAX]! & 0xffffn);
      const rcx = gpr[Gpr.RCX]!;
      const status = yield* ctx.tdcall();
      if (status === 0n && leaf === TdcallLeaf.VP_VEINFO_GET) {
        const reason = Number(gpr[Gpr.RCX]! & 0xffff_ffffn);
        const name = exitReasonName(reason);
        t.complete(
          "ve",
          `#VE ${name}`,
          { reason: name, exitReason: reason, gpa: hex(gpr[Gpr.R9]!) },
          t.costs.veNs,
        );
      } else if (leaf === TdcallLeaf.MEM_PAGE_ACCEPT) {
        const level = Number(rcx & 7n);
        const gpa = rcx & ~0xfffn;
        t.complete(
          "accept",
          "TDG.MEM.PAGE.ACCEPT",
          { gpa: hex(gpa), level, status: status === 0n ? "SUCCESS" : (statusName(status) ?? hex(status)) },
          status === 0n ? t.costs.acceptPageNs * 512 ** level : 0,
        );
      }
      return status;
    },
  };
}
