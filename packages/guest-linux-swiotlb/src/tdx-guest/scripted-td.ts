/**
 * A scripted stand-in for one TD vCPU and its host, for unit tests of guest code: it implements
 * the `TdCpu` interface over a sparse guest memory, answers TDCALLs as the TDX module would
 * (TDG.VP.INFO, VEINFO.GET with VALID clearing, VM.RD/WR on a field table, MEM.PAGE.ACCEPT
 * through a hook), answers CPUID from a scripted table or raises #VE for it (exit reason 10,
 * length 2), and turns TDG.VP.VMCALL into a TD exit that a test-supplied VMM answers, with the
 * GHCI register exposure (unselected registers reach the VMM as zero; only selected ones come
 * back). It records every TDCALL. `deliverVe()` injects a #VE into the registered handler the way
 * the module does. Not a TDX module: the real one is in @tdx/hw-cpu-seam.
 *
 * @spec shared/reference/tdx-module.md §4.1-§4.3 (leaf outputs, VE_INFO, VMCALL register
 *   protocol), §6.3 (ACCEPT); packages/hw-cpu-seam/src/tdx/guest-interface.ts
 */

import {
  CPUID_PARAVIRT_FIRST,
  CPUID_PARAVIRT_LAST,
  type CpuidRegs,
  ExceptionVector,
  Gpr,
  GuestMem,
  type GuestOp,
  type InstructionOutcome,
  OperandId,
  TDX_CPUID_LEAF,
  TdcallLeaf,
  type TdExitSignal,
  TdVmcall,
  TdxSimError,
  TdxStatus,
  VmxExitReason,
  withOperand,
} from "@tdx/hw-cpu-seam";
import { TDX_IDENT } from "./abi";
import type { TdCpu, TdExceptionHandler } from "./td-cpu";
import { fatalErrorMessage } from "./vcpu";

const EXIT: TdExitSignal = Object.freeze({ __tdExitSignal: true as const });
const OPERAND_INVALID_RAX = withOperand(TdxStatus.OPERAND_INVALID, OperandId.RAX);
const CPUID_LENGTH = 2;
const ZERO_REGS: CpuidRegs = Object.freeze({ eax: 0, ebx: 0, ecx: 0, edx: 0 });
const TDX_LEAF_REGS: CpuidRegs = Object.freeze({ eax: 0, ...TDX_IDENT });

/**
 * CPUID as the scripted module answers it: the registers, or undefined for a #VE. The default
 * answers leaf 0x21 with "IntelTDX    ", raises #VE for 0x40000000-0x4FFFFFFF and reads zeros
 * elsewhere.
 */
export type ScriptedCpuid = (leaf: number, subleaf: number) => CpuidRegs | undefined;

const tdxCpuid: ScriptedCpuid = (leaf) => {
  if (leaf >= CPUID_PARAVIRT_FIRST && leaf <= CPUID_PARAVIRT_LAST) return undefined;
  return leaf === TDX_CPUID_LEAF ? TDX_LEAF_REGS : ZERO_REGS;
};

/** One TDCALL as the scripted module saw it. */
export interface TdcallRecord {
  readonly leaf: number;
  /** The guest's registers at the TDCALL. */
  readonly regs: BigUint64Array;
}

/** VE_INFO the test injects. */
export interface ScriptedVe {
  readonly exitReason: number;
  readonly exitQual?: bigint;
  readonly gla?: bigint;
  readonly gpa: number;
  readonly instrLen?: number;
  readonly instrInfo?: number;
}

/**
 * The VMM's side of a TDG.VP.VMCALL: `regs` holds the exposed registers (others zero); write
 * outputs (R10 status, R11...) into it. Only exposed registers are copied back to the guest.
 */
export type ScriptedVmm = (regs: BigUint64Array) => void;

export interface ScriptedTdOptions {
  readonly gpaw?: 48 | 52;
  readonly attributes?: bigint;
  /** TDG.VP.VMCALL yields a TD exit (true, default) or completes inline (false). */
  readonly exitOnVmcall?: boolean;
}

export class ScriptedTd implements TdCpu {
  readonly regs = { gpr: new BigUint64Array(16), rip: 0, rflags: 0x2n };
  readonly tdcalls: TdcallRecord[] = [];
  /** TD metadata for TDG.VM.RD/WR (field id -> value); unknown fields fail. */
  readonly fields = new Map<bigint, bigint>();
  /** TDG.MEM.PAGE.ACCEPT: status for (GPA, level); default SUCCESS. */
  accept: (gpa: number, level: number) => bigint = () => 0n;
  /** The VMM; default answers SUCCESS with R11 = 0. */
  vmm: ScriptedVmm = (r) => {
    r[Gpr.R10] = 0n;
    r[Gpr.R11] = 0n;
  };
  /** CPUID answers; see `ScriptedCpuid`. */
  cpuidTable: ScriptedCpuid = tdxCpuid;
  /** TD exits taken. */
  exits = 0;
  /** The message of the first TDG.VP.VMCALL<ReportFatalError>, once the guest died. */
  fatalMessage: string | undefined;
  private readonly pages = new Map<number, Uint8Array>();
  private readonly handlers: (TdExceptionHandler | undefined)[] = [];
  private pendingVe: ScriptedVe | undefined;
  private readonly gpaw: number;
  private readonly attributes: bigint;
  private readonly exitOnVmcall: boolean;

  constructor(opts: ScriptedTdOptions = {}) {
    this.gpaw = opts.gpaw ?? 52;
    this.attributes = opts.attributes ?? 1n << 28n;
    this.exitOnVmcall = opts.exitOnVmcall ?? true;
  }

  /** Put bytes into guest memory (mapping the pages they touch). */
  poke(gpa: number, bytes: ArrayLike<number>): void {
    for (let i = 0; i < bytes.length; i++) {
      const a = gpa + i;
      const pfn = Math.floor(a / 4096);
      let page = this.pages.get(pfn);
      if (!page) {
        page = new Uint8Array(4096);
        this.pages.set(pfn, page);
      }
      page[a % 4096] = bytes[i]!;
    }
  }

  read(gpa: number, dst: Uint8Array): GuestMem {
    for (let i = 0; i < dst.length; i++) {
      const a = gpa + i;
      const page = this.pages.get(Math.floor(a / 4096));
      if (!page) return GuestMem.Exit;
      dst[i] = page[a % 4096]!;
    }
    return GuestMem.Ok;
  }

  setExceptionHandler(vector: number, handler: TdExceptionHandler | undefined): void {
    this.handlers[vector] = handler;
  }

  /** Raise #VE with `ve` as VE_INFO into the registered handler (vector 20). */
  *deliverVe(ve: ScriptedVe): GuestOp<void> {
    if (this.pendingVe) throw new TdxSimError("E_SCRIPTED_TD", "#VE while VE_INFO is valid would be a #DF");
    const h = this.handlers[ExceptionVector.VE];
    if (!h) throw new TdxSimError("E_SCRIPTED_TD", "no #VE handler installed: a #VE would triple-fault");
    this.pendingVe = ve;
    yield* h(this, ExceptionVector.VE);
  }

  /**
   * CPUID with EAX = leaf, ECX = subleaf: answered from `cpuidTable` (RIP + 2) or a #VE with exit
   * reason 10 and length 2 into the handler, repeated while the handler leaves RIP unchanged.
   */
  *cpuid(leaf: number, subleaf: number): GuestOp<InstructionOutcome> {
    const g = this.regs.gpr;
    g[Gpr.RAX] = BigInt(leaf >>> 0);
    g[Gpr.RCX] = BigInt(subleaf >>> 0);
    for (;;) {
      const rip = this.regs.rip;
      const r = this.cpuidTable(leaf >>> 0, subleaf >>> 0);
      if (r) {
        g[Gpr.RAX] = BigInt(r.eax >>> 0);
        g[Gpr.RBX] = BigInt(r.ebx >>> 0);
        g[Gpr.RCX] = BigInt(r.ecx >>> 0);
        g[Gpr.RDX] = BigInt(r.edx >>> 0);
        this.regs.rip = rip + CPUID_LENGTH;
        return "done";
      }
      yield* this.deliverVe({ exitReason: VmxExitReason.CPUID, gpa: 0, gla: 0n, instrLen: CPUID_LENGTH });
      if (this.regs.rip !== rip) return "emulated";
    }
  }

  /** TDCALLs of `leaf` recorded so far. */
  calls(leaf: number): TdcallRecord[] {
    return this.tdcalls.filter((c) => c.leaf === leaf);
  }

  /** TDG.VP.VMCALLs recorded so far with sub-function `fn` (R11). */
  vmcalls(fn: number): TdcallRecord[] {
    return this.calls(TdcallLeaf.VP_VMCALL).filter((c) => c.regs[Gpr.R11] === BigInt(fn));
  }

  /** Drive `op` as a host would: each yield is a TD exit, resumed at once. Stops at a guest panic. */
  run<T>(op: GuestOp<T>, maxExits = 10_000): { done: true; value: T } | { done: false; fatal: string } {
    for (let n = 0; ; n++) {
      const r = op.next();
      if (r.done) return { done: true, value: r.value };
      if (this.fatalMessage !== undefined) return { done: false, fatal: this.fatalMessage };
      if (n >= maxExits)
        throw new TdxSimError("E_SCRIPTED_TD", `guest code took more than ${maxExits} TD exits`);
    }
  }

  *tdcall(): GuestOp<bigint> {
    const g = this.regs.gpr;
    const leaf = Number(g[Gpr.RAX]! & 0xffffn);
    this.tdcalls.push({ leaf, regs: g.slice() });
    let st = 0n;
    switch (leaf) {
      case TdcallLeaf.VP_VMCALL:
        return yield* this.vmcall();
      case TdcallLeaf.VP_INFO:
        g[Gpr.RCX] = BigInt(this.gpaw);
        g[Gpr.RDX] = this.attributes;
        break;
      case TdcallLeaf.VP_VEINFO_GET: {
        const ve = this.pendingVe;
        if (!ve) {
          st = TdxStatus.NO_VALID_VE_INFO;
          break;
        }
        this.pendingVe = undefined;
        g[Gpr.RCX] = BigInt(ve.exitReason);
        g[Gpr.RDX] = ve.exitQual ?? 0n;
        g[Gpr.R8] = ve.gla ?? BigInt(ve.gpa);
        g[Gpr.R9] = BigInt(ve.gpa);
        g[Gpr.R10] = BigInt(ve.instrLen ?? 0) | (BigInt(ve.instrInfo ?? 0) << 32n);
        break;
      }
      case TdcallLeaf.VM_RD: {
        const v = this.fields.get(g[Gpr.RDX]!);
        if (v === undefined) st = OPERAND_INVALID_RAX;
        else g[Gpr.R8] = v;
        break;
      }
      case TdcallLeaf.VM_WR: {
        const f = g[Gpr.RDX]!;
        const old = this.fields.get(f);
        if (old === undefined) st = OPERAND_INVALID_RAX;
        else {
          const mask = g[Gpr.R9]!;
          this.fields.set(f, (old & ~mask) | (g[Gpr.R8]! & mask));
          g[Gpr.R8] = old;
        }
        break;
      }
      case TdcallLeaf.MEM_PAGE_ACCEPT: {
        const rcx = g[Gpr.RCX]!;
        st = this.accept(Number(rcx & ~0xfffn), Number(rcx & 7n));
        break;
      }
      default:
        st = OPERAND_INVALID_RAX;
    }
    g[Gpr.RAX] = st;
    return st;
  }

  private *vmcall(): GuestOp<bigint> {
    const g = this.regs.gpr;
    const mask = Number(g[Gpr.RCX]! & 0xffffn);
    const exposed = new BigUint64Array(16);
    for (let i = 0; i < 16; i++) if ((mask >> i) & 1) exposed[i] = g[i]!;
    if (exposed[Gpr.R10] === 0n && exposed[Gpr.R11] === BigInt(TdVmcall.REPORT_FATAL_ERROR)) {
      this.fatalMessage ??= fatalErrorMessage(exposed);
      if (!this.exitOnVmcall)
        throw new TdxSimError("E_SCRIPTED_TD", `the guest panicked: ${this.fatalMessage}`);
    }
    if (this.exitOnVmcall) {
      this.exits++;
      yield EXIT;
    }
    this.vmm(exposed);
    for (let i = 0; i < 16; i++) if ((mask >> i) & 1) g[i] = exposed[i]!;
    g[Gpr.RAX] = 0n;
    return 0n;
  }
}
