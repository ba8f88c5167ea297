/**
 * The CPU and module on a guest vCPU's side: implements `TdGuestContext` for one vCPU. Routes
 * every guest access as the hardware does — private GPA through the Secure EPT (mapped ->
 * access with the TD's HKID; PENDING -> #VE, or a TD exit when TD_CTLS.PENDING_VE_DISABLE;
 * otherwise an EPT-violation TD exit), shared GPA through the VMM's shared EPT (mapped ->
 * access, MMIO to the platform's device port; not mapped with suppress-#VE clear -> #VE; set ->
 * TD exit) — runs TDCALL and the intercepted instructions (guest-instructions.ts), and through
 * its event side (guest-events.ts) injects #VE/#DF/#GP and prepares the TD exits TDH.VP.ENTER
 * returns. A small direct-mapped TLB (flushed at every TD entry) keeps repeated accesses cheap.
 *
 * @spec shared/reference/tdx-module.md §6.4 (routing), §4.2 (VE_INFO, #DF), §4.3 (VMCALL),
 *   §7 (machine check -> TDX_NON_RECOVERABLE_TD_NON_ACCESSIBLE, TD fatal); Intel SDM Vol. 3
 *   §25.5.7 (a #VE is not delivered while VE_INFO is valid: EPT violation exit instead)
 */
import { TdxSimError } from "../errors";
import { Initiator, MemStatus } from "../memory/types";
import { TD_EXIT_SIGNAL, type TdControl, type VcpuControl } from "./control";
import type { TdxModuleCore } from "./core";
import type { GuestCpu } from "./guest-cpu";
import { VcpuEvents } from "./guest-events";
import { executeCpuid, executeHlt, executeIo, executeMsr } from "./guest-instructions";
import {
  type AccessOutcome,
  GuestMem,
  type GuestOp,
  type GuestRegisters,
  type InstructionOutcome,
  type PortIoForm,
  type PortIoSize,
  type TdGuestContext,
} from "./guest-interface";
import { TdcallLeaf } from "./leaves";
import { Gpr } from "./regs";
import { type SecureEpt, SeptXlate } from "./sept";
import { SeptState } from "./sept-entry";
import { type SharedWalk, SharedXlate, walkSharedEpt } from "./shared-ept";
import { OperandId, withOperand } from "./status";
import { TdxStatus } from "./status-codes";
import { EeqType, EptQual, QUAL_SANITIZE_MASK, VmxExitReason } from "./td-exit";
import { ConfigFlags } from "./td-params";
import { NEEDS_TD_EXIT, runTdcallLeaf } from "./tdcall-leaves";

const TLB_SIZE = 64;
const NEED_R = 1;
const NEED_W = 2;

export class VcpuEngine extends VcpuEvents implements TdGuestContext, GuestCpu {
  readonly regs: GuestRegisters;
  readonly sept: SecureEpt;
  private readonly tlbTag = new Float64Array(TLB_SIZE);
  private readonly tlbFrame = new Float64Array(TLB_SIZE);
  private readonly tlbPerm = new Uint8Array(TLB_SIZE);
  private readonly scratch = new Uint32Array(2);
  private readonly sw: SharedWalk = { hpa: 0, perms: 0, sve: false, level: 0 };
  private readonly sharedMask: number;
  private readonly gpaLimit: number;
  /** HPA (with KeyID) of the last successful translation. */
  hpa = 0;
  private faultShared = false;
  private faultPerms = 0;
  private faultState = 0;

  constructor(core: TdxModuleCore, td: TdControl, vcpu: VcpuControl) {
    super(core, td, vcpu);
    if (!td.sept || !td.params) throw new TdxSimError("E_TDX_STATE", "a vCPU runs only in an initialised TD");
    this.sept = td.sept;
    this.regs = vcpu.regs;
    this.sharedMask = 2 ** (td.params.gpaw - 1);
    this.gpaLimit = 2 ** td.params.gpaw;
  }

  protected context(): TdGuestContext {
    return this;
  }

  flushTlb(): void {
    this.tlbTag.fill(0);
  }

  isSharedGpa(gpa: number): boolean {
    return Math.floor(gpa / this.sharedMask) % 2 === 1;
  }

  /** Translate `gpa` for an access needing `need` (R=1, W=2); Ok sets `this.hpa`. */
  translate(gpa: number, need: number): GuestMem {
    const gfn = Math.floor(gpa / 4096);
    const slot = gfn % TLB_SIZE;
    if (this.tlbTag[slot] === gfn + 1 && (this.tlbPerm[slot]! & need) === need) {
      this.hpa = this.tlbFrame[slot]! + (gpa % 4096);
      return GuestMem.Ok;
    }
    if (!(gpa >= 0 && gpa < this.gpaLimit)) {
      throw new TdxSimError(
        "E_TDX_GUEST_GPA",
        `guest access to GPA 0x${gpa.toString(16)} is outside the TD's ${this.gpaLimit.toString(16)} GPA space (GPAW)`,
      );
    }
    let perms: number;
    if (!this.isSharedGpa(gpa)) {
      if (this.sept.translate(gpa, need) !== SeptXlate.Ok) {
        const w = this.sept.w;
        this.faultShared = false;
        this.faultPerms = w.lo & 7;
        this.faultState = w.state;
        return w.state === SeptState.PENDING && !this.td.pendingVeDisable ? GuestMem.Ve : GuestMem.Exit;
      }
      this.hpa = this.sept.hpa;
      perms = this.sept.w.lo & 7;
    } else {
      const eptp = this.vcpu.sharedEptp;
      this.faultShared = true;
      if (eptp === 0n) {
        this.faultPerms = 0;
        return GuestMem.Exit;
      }
      const root = Number(eptp & 0xffffffffff000n);
      const levels = Number((eptp >> 3n) & 7n) + 1;
      const sys = this.core.sys;
      const r = walkSharedEpt(
        this.core.cfg.memory,
        root,
        levels,
        gpa,
        need,
        this.core.paLimit,
        sys.hkidFirst,
        this.sw,
        this.scratch,
      );
      if (r === SharedXlate.Misconfig) return GuestMem.Misconfig;
      if (r === SharedXlate.Violation) {
        this.faultPerms = this.sw.perms;
        return this.sw.sve ? GuestMem.Exit : GuestMem.Ve;
      }
      this.hpa = this.sw.hpa;
      perms = this.sw.perms;
    }
    this.tlbTag[slot] = gfn + 1;
    this.tlbFrame[slot] = this.hpa - (gpa % 4096);
    this.tlbPerm[slot] = perms;
    return GuestMem.Ok;
  }

  private memStatus(st: MemStatus): GuestMem {
    if (st === MemStatus.Mmio || st === MemStatus.Hole) return GuestMem.Mmio;
    if (st === MemStatus.MachineCheck) return GuestMem.MachineCheck;
    return GuestMem.Misconfig;
  }

  // ------------------------------------------------------------------ synchronous accesses

  private sync(gpa: number, buf: Uint8Array, write: boolean): GuestMem {
    const mem = this.core.cfg.memory;
    for (let off = 0; off < buf.length; ) {
      const a = gpa + off;
      const n = Math.min(buf.length - off, 4096 - (a % 4096));
      const t = this.translate(a, write ? NEED_W : NEED_R);
      if (t !== GuestMem.Ok) return t;
      const sub = n === buf.length ? buf : buf.subarray(off, off + n);
      const st = write ? mem.write(this.hpa, sub, Initiator.Td) : mem.read(this.hpa, sub, Initiator.Td);
      if (st !== MemStatus.Ok) return this.memStatus(st);
      off += n;
    }
    return GuestMem.Ok;
  }

  read(gpa: number, dst: Uint8Array): GuestMem {
    return this.sync(gpa, dst, false);
  }
  write(gpa: number, src: Uint8Array): GuestMem {
    return this.sync(gpa, src, true);
  }
  read32(gpa: number, out: Uint32Array): GuestMem {
    if (gpa % 4096 > 4092) throw new TdxSimError("E_UNALIGNED", "read32 must not cross a page");
    const t = this.translate(gpa, NEED_R);
    if (t !== GuestMem.Ok) return t;
    const st = this.core.cfg.memory.read32(this.hpa, Initiator.Td, out);
    return st === MemStatus.Ok ? GuestMem.Ok : this.memStatus(st);
  }
  read64(gpa: number, out: Uint32Array): GuestMem {
    if (gpa % 4096 > 4088) throw new TdxSimError("E_UNALIGNED", "read64 must not cross a page");
    const t = this.translate(gpa, NEED_R);
    if (t !== GuestMem.Ok) return t;
    const st = this.core.cfg.memory.read64(this.hpa, Initiator.Td, out);
    return st === MemStatus.Ok ? GuestMem.Ok : this.memStatus(st);
  }
  write32(gpa: number, value: number): GuestMem {
    if (gpa % 4096 > 4092) throw new TdxSimError("E_UNALIGNED", "write32 must not cross a page");
    const t = this.translate(gpa, NEED_W);
    if (t !== GuestMem.Ok) return t;
    const st = this.core.cfg.memory.write32(this.hpa, value, Initiator.Td);
    return st === MemStatus.Ok ? GuestMem.Ok : this.memStatus(st);
  }
  write64(gpa: number, lo: number, hi: number): GuestMem {
    if (gpa % 4096 > 4088) throw new TdxSimError("E_UNALIGNED", "write64 must not cross a page");
    const t = this.translate(gpa, NEED_W);
    if (t !== GuestMem.Ok) return t;
    const st = this.core.cfg.memory.write64(this.hpa, lo, hi, Initiator.Td);
    return st === MemStatus.Ok ? GuestMem.Ok : this.memStatus(st);
  }

  // ------------------------------------------------------------------ routed accesses

  load(gpa: number, dst: Uint8Array): GuestOp<AccessOutcome> {
    return this.route(gpa, dst, false);
  }
  store(gpa: number, src: Uint8Array): GuestOp<AccessOutcome> {
    return this.route(gpa, src, true);
  }

  private *route(gpa: number, buf: Uint8Array, write: boolean): GuestOp<AccessOutcome> {
    const mem = this.core.cfg.memory;
    for (;;) {
      let fault: GuestMem = GuestMem.Ok;
      let at = gpa;
      for (let off = 0; off < buf.length; ) {
        at = gpa + off;
        const n = Math.min(buf.length - off, 4096 - (at % 4096));
        fault = this.translate(at, write ? NEED_W : NEED_R);
        if (fault !== GuestMem.Ok) break;
        const sub = n === buf.length ? buf : buf.subarray(off, off + n);
        const st = write ? mem.write(this.hpa, sub, Initiator.Td) : mem.read(this.hpa, sub, Initiator.Td);
        if (st === MemStatus.Mmio || st === MemStatus.Hole) this.device(this.hpa, sub, write);
        else if (st === MemStatus.MachineCheck) yield* this.machineCheck();
        else if (st !== MemStatus.Ok) {
          fault = GuestMem.Misconfig;
          break;
        }
        off += n;
      }
      if (fault === GuestMem.Ok) return "done";
      if (fault === GuestMem.Misconfig) {
        this.prepareExit(BigInt(VmxExitReason.EPT_MISCONFIG), 0n, 0n, at);
        yield TD_EXIT_SIGNAL;
        continue;
      }
      const ve = this.vcpu.veInfo;
      if (fault === GuestMem.Exit || (fault === GuestMem.Ve && this.faultShared && ve.valid)) {
        this.prepareEptViolation(at, write);
        yield TD_EXIT_SIGNAL;
        continue;
      }
      const rip = this.regs.rip;
      yield* this.injectVe(at, write);
      if (this.regs.rip !== rip) return "emulated";
    }
  }

  private device(hpa: number, buf: Uint8Array, write: boolean): void {
    const port = this.core.cfg.mmio;
    if (write) {
      port?.mmioWrite(hpa, buf);
    } else if (!port?.mmioRead(hpa, buf)) {
      buf.fill(0xff);
    }
  }

  private qualification(write: boolean): bigint {
    return (write ? EptQual.WRITE : EptQual.READ) | (BigInt(this.faultPerms & 7) << 3n);
  }

  private prepareEptViolation(gpa: number, write: boolean): void {
    const pendingExit = !this.faultShared && this.faultState === SeptState.PENDING;
    const eeq = BigInt(pendingExit ? EeqType.PENDING_EPT_VIOLATION : EeqType.NONE);
    this.prepareExit(
      BigInt(VmxExitReason.EPT_VIOLATION),
      this.qualification(write) & QUAL_SANITIZE_MASK,
      eeq,
      gpa,
    );
  }

  private injectVe(gpa: number, write: boolean): GuestOp<void> {
    const qual = this.qualification(write) | EptQual.GLA_VALID | EptQual.FINAL_TRANSLATION;
    // the instruction length is not defined for EPT violations (Linux ve_instr_len)
    return this.raiseVe(VmxExitReason.EPT_VIOLATION, qual, gpa, gpa, 0, 0);
  }

  // ------------------------------------------------------------------ TDCALL

  *tdcall(): GuestOp<bigint> {
    const gpr = this.regs.gpr;
    for (;;) {
      const rax = gpr[Gpr.RAX]!;
      const leaf = Number(rax & 0xffffn);
      let st: bigint | typeof NEEDS_TD_EXIT;
      if (rax >> 24n !== 0n) st = withOperand(TdxStatus.OPERAND_INVALID, OperandId.RAX);
      else if (leaf === TdcallLeaf.VP_VMCALL) return yield* this.vmcall();
      else st = runTdcallLeaf(this, leaf, Number((rax >> 16n) & 0xffn));
      if (st === NEEDS_TD_EXIT) {
        yield TD_EXIT_SIGNAL;
        continue;
      }
      gpr[Gpr.RAX] = st;
      return st;
    }
  }

  /**
   * TDG.VP.VMCALL: RCX bits 15:0 select the GPRs exposed to the VMM (RAX, RCX, RSP must not be
   * selected, nor RBP under NO_RBP_MOD; bits 63:32 zero). The exit carries exactly those; the
   * next entry copies the same registers back and the TDCALL returns SUCCESS.
   */
  private *vmcall(): GuestOp<bigint> {
    const gpr = this.regs.gpr;
    const ctl = gpr[Gpr.RCX]!;
    const mask = Number(ctl & 0xffffn);
    const noRbpMod = ((this.td.params?.configFlags ?? 0n) & ConfigFlags.NO_RBP_MOD) !== 0n;
    if (ctl >> 32n !== 0n || (mask & 0x13) !== 0 || (noRbpMod && (mask & 0x20) !== 0)) {
      const st = withOperand(TdxStatus.OPERAND_INVALID, OperandId.RCX);
      gpr[Gpr.RAX] = st;
      return st;
    }
    const p = this.vcpu.pending;
    p.regs.fill(0n);
    p.status = BigInt(VmxExitReason.TDCALL);
    for (let i = 0; i < 16; i++) if ((mask >> i) & 1) p.regs[i] = gpr[i]!;
    p.regs[Gpr.RCX] = ctl & 0xffffffffn;
    p.vmcall = true;
    p.vmcallMask = mask;
    yield TD_EXIT_SIGNAL;
    gpr[Gpr.RAX] = 0n;
    return 0n;
  }

  // ------------------------------------------------------------------ intercepted instructions

  cpuid(leaf: number, subleaf: number): GuestOp<InstructionOutcome> {
    return executeCpuid(this, leaf, subleaf);
  }
  hlt(): GuestOp<InstructionOutcome> {
    return executeHlt(this);
  }
  rdmsr(): GuestOp<InstructionOutcome> {
    return executeMsr(this, false);
  }
  wrmsr(): GuestOp<InstructionOutcome> {
    return executeMsr(this, true);
  }
  in(port: number, size: PortIoSize, form?: PortIoForm): GuestOp<InstructionOutcome> {
    return executeIo(this, port, size, true, form);
  }
  out(port: number, size: PortIoSize, form?: PortIoForm): GuestOp<InstructionOutcome> {
    return executeIo(this, port, size, false, form);
  }

  /**
   * HPA (with HKID) of a private, mapped (guest-accessible) GPA the module reads or writes on the
   * guest's behalf (TDCALL operands), or -1.
   */
  privateHpa(gpa: number, write: boolean): number {
    if (!(gpa >= 0 && gpa < this.gpaLimit) || this.isSharedGpa(gpa)) return -1;
    return this.sept.translate(gpa, write ? NEED_W : NEED_R) === SeptXlate.Ok ? this.sept.hpa : -1;
  }
}
