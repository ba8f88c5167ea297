/**
 * TDH.VP.ENTER: checks (TD runnable, vCPU READY, LP association), TLB-epoch accounting
 * (REFCOUNT of the entry epoch while the vCPU is in the guest), handing the VMM's outputs back to
 * a guest that exited with TDG.VP.VMCALL, running the guest program until it yields a TD exit,
 * and writing the exit to the host's registers (every register not defined for the exit is 0).
 *
 * @spec shared/reference/tdx-module.md §3.3 (TDH.VP.ENTER), §2.5 (association), §3.4 (TD epoch,
 *   REFCOUNT), §4.3 (exit registers; the VMM never sees guest RIP/GPRs); intel/tdx-module
 *   src/td_transitions/{tdh_vp_enter.c,td_exit.c}
 */
import { TdxSimError } from "../errors";
import type { CallCtx, TdxModuleCore } from "./core";
import { VcpuEngine } from "./guest-engine";
import { SeamcallLeaf } from "./leaves";
import { Gpr } from "./regs";
import { VcpuState } from "./states";
import { OperandId } from "./status";
import { TdxStatus } from "./status-codes";
import { VmxExitReason } from "./td-exit";

const TDVPR_MASK = 0x000ffffffffff000n;

/** TDH.VP.ENTER: RCX = TDVPR (bits 63:52 flags ignored); after a VMCALL exit, the VMM's outputs. */
export function vpEnter(m: TdxModuleCore, c: CallCtx): bigint {
  const r = m.vcpuOf(Number(c.in[Gpr.RCX]! & TDVPR_MASK), OperandId.RCX);
  if (!r.vcpu) return r.status;
  const v = r.vcpu;
  const td = v.td;
  const g = m.gateTd(td, SeamcallLeaf.VP_ENTER);
  if (g !== TdxStatus.SUCCESS) return g;
  if (v.state !== VcpuState.READY) return TdxStatus.VCPU_STATE_INCORRECT;
  if (v.associatedLp !== -1 && v.associatedLp !== c.lp) return TdxStatus.VCPU_ASSOCIATED;
  const code = m.guestCode.get(td.tdrPa);
  if (!code) {
    throw new TdxSimError(
      "E_TDX_NO_GUEST_CODE",
      `TDH.VP.ENTER on TD 0x${td.tdrPa.toString(16)}: no guest program is loaded; call loadGuestCode(tdr, program) first`,
    );
  }
  if (v.associatedLp === -1) {
    v.associatedLp = c.lp;
    td.numAssocVcpus++;
  }
  let eng = v.engine as VcpuEngine | undefined;
  if (!eng) {
    eng = new VcpuEngine(m, td, v);
    v.engine = eng;
  }
  if (!v.program) v.program = code(eng);
  // resume after TDG.VP.VMCALL: the same selected GPRs come back from the VMM
  const p = v.pending;
  if (p.vmcall) {
    for (let i = 0; i < 16; i++) if ((p.vmcallMask >> i) & 1) v.regs.gpr[i] = c.in[i]!;
    p.vmcall = false;
  }
  eng.flushTlb();
  const slot = td.epoch & 1;
  v.entryEpoch = td.epoch;
  td.refcount[slot] = td.refcount[slot]! + 1;
  v.state = VcpuState.ACTIVE;
  const cpu = m.cfg.cpus?.lp(c.lp);
  cpu?.vmEnter();
  let done = false;
  try {
    done = v.program.next().done === true;
  } finally {
    if (cpu?.mode === "seam-non-root") cpu.vmExit();
    td.refcount[slot] = td.refcount[slot]! - 1;
    v.state = VcpuState.READY;
  }
  if (done) {
    // the program ran out of code: the vCPU shuts down
    eng.prepareExit(TdxStatus.NON_RECOVERABLE_VCPU | BigInt(VmxExitReason.TRIPLE_FAULT), 0n, 0n, 0);
    eng.shutDown = true;
  }
  if (eng.shutDown) v.state = VcpuState.DISABLED;
  const rsp = c.out[Gpr.RSP]!;
  c.out.set(p.regs);
  c.out[Gpr.RSP] = rsp;
  return p.status;
}
