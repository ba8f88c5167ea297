/**
 * The TD guest execution model: what guest code (the guest kernel model, layer 5, and the
 * firmware model, layer 6) sees when it runs inside TDH.VP.ENTER. A vCPU runs a *guest program*,
 * a generator the module resumes on every TDH.VP.ENTER; guest code touches its memory, issues
 * TDCALLs and takes exceptions only through a `TdGuestContext`.
 *
 * - Operations that may leave the TD are generators used with `yield*`: `ctx.tdcall()` (always,
 *   for TDG.VP.VMCALL; TDG.MEM.PAGE.ACCEPT when the page is not yet AUGed), `ctx.load/store`
 *   (an EPT violation the module turns into a TD exit). The module makes TDH.VP.ENTER return
 *   the exit; the next TDH.VP.ENTER resumes the generator: a VMCALL returns with the VMM's
 *   outputs in the selected registers, a faulting access or ACCEPT is retried.
 * - Accesses that do not exit are plain synchronous calls (`ctx.read/write/...`), returning a
 *   `GuestMem` status instead of exiting; use them where the page is known to be accessible.
 * - Instructions the TDX module intercepts are operations too, each executing the instruction
 *   at `ctx.regs.rip` with its operands in the registers: `cpuid`, `hlt`, `rdmsr`, `wrmsr`,
 *   `in`, `out`. The module either completes it (a CPUID leaf it virtualises, an MSR the CPU
 *   accesses natively: RIP advances by the instruction length, "done"), injects #VE (exit
 *   reason 10 CPUID, 12 HLT, 30 I/O, 31/32 RDMSR/WRMSR; VE_INFO carries the exit qualification
 *   and the instruction length, which the handler adds to RIP: "emulated"), or injects #GP(0)
 *   (an MSR the TD may not use; a handler that moves RIP, e.g. to an exception-table fixup,
 *   makes it "faulted"). A handler that returns without moving RIP re-executes the instruction.
 * - Exceptions: guest code registers handlers by vector (the IDT). On #VE (vector 20) the
 *   handler runs inside the faulting operation; it reads TDG.VP.VEINFO.GET, may read the
 *   instruction bytes at `ctx.regs.rip` from guest memory, emulate (e.g. #VE.RequestMMIO via
 *   TDG.VP.VMCALL), set registers and advance RIP. When the handler returns (IRET), an access
 *   whose RIP was advanced counts as emulated ("emulated"); otherwise it is retried. A #VE while
 *   VE_INFO is still valid is a #DF (vector 8), for EPT-violation and instruction #VEs alike. A
 *   fault without a handler, or a #DF handler that returns, shuts the vCPU down (triple fault):
 *   TD exit with TDX_NON_RECOVERABLE_VCPU.
 * - The host never sees guest RIP or registers: an exit carries only what the ABI defines.
 * - A guest program that returns has no more code: the vCPU shuts down (triple fault).
 *
 * Model limits: no guest paging (a guest linear address equals its GPA, so RIP and GLAs are
 * GPAs below 2^52); instructions are not fetched or decoded from memory: an operation names the
 * instruction and its form; other #VE sources (WBINVD, MWAIT, APIC-write, ...) are not modelled.
 *
 * @spec shared/reference/tdx-module.md §4.2 (#VE sources, VE_INFO, #DF), §4.3 (VMCALL protocol,
 *   TD exits), §6.4 (EPT violation routing); shared/ARCHITECTURE.md "paths data takes" 2, 3, 5;
 *   intel/tdx-module src/td_dispatcher/tdx_td_dispatcher.c (td_generic_ve_exit for IO/HLT),
 *   src/td_dispatcher/vm_exits/td_cpuid.c, td_msr_access.c, td_other_exits.c (tdx_inject_ve:
 *   VE_INFO from the VMCS exit reason, qualification, instruction length and information)
 */
import type { GprFile } from "./regs";

/** Opaque token a guest program yields to give the CPU back to the host (a TD exit). */
export interface TdExitSignal {
  readonly __tdExitSignal: true;
}

/** A step of guest code that may exit to the host; compose with `yield*`. */
export type GuestOp<T> = Generator<TdExitSignal, T, undefined>;

/** The code every vCPU of a TD runs from the reset vector. */
export type GuestProgram = (ctx: TdGuestContext) => GuestOp<void>;

/** Exception vectors the model delivers. @spec Intel SDM Vol. 3 §6.3.1 */
export const ExceptionVector = {
  DF: 8,
  GP: 13,
  VE: 20,
} as const;

/**
 * A guest exception handler (an IDT entry); it returns like IRET. A handler that may exit (it
 * issues TDCALLs or routed accesses) is a generator; one that only touches registers and memory
 * synchronously may be a plain function.
 */
export type ExceptionHandler = (ctx: TdGuestContext, vector: number) => GuestOp<void> | undefined;

/** The vCPU's architectural registers as the guest sees them. */
export interface GuestRegisters {
  /** RAX..R15 in x86 encoding order (`Gpr`). */
  readonly gpr: GprFile;
  /** Instruction pointer (a GPA: the model has no guest paging). */
  rip: number;
  rflags: bigint;
}

/** Status of a synchronous guest access. */
export const GuestMem = {
  Ok: 0,
  /** The access would cause an EPT violation TD exit (not mapped / blocked / pending with #VE disabled). */
  Exit: 1,
  /** The access would raise #VE (pending private page, or a shared mapping with suppress-#VE clear). */
  Ve: 2,
  /** The access reaches MMIO; use `load/store` so the device sees it. */
  Mmio: 3,
  /** Poisoned line: consuming it is a machine check, fatal to the TD; use `load/store`. */
  MachineCheck: 4,
  /** Misconfigured shared EPT entry (EPT misconfiguration exit). */
  Misconfig: 5,
} as const;
export type GuestMem = (typeof GuestMem)[keyof typeof GuestMem];

/** How a routed access completed: against memory/a device, or emulated by the #VE handler. */
export type AccessOutcome = "done" | "emulated";

/**
 * How an intercepted instruction completed: "done" (the CPU or the module executed it, RIP
 * advanced by its length), "emulated" (the #VE handler moved RIP), "faulted" (a #GP handler
 * moved RIP).
 */
export type InstructionOutcome = "done" | "emulated" | "faulted";

/** Port I/O operand sizes. */
export type PortIoSize = 1 | 2 | 4;

/**
 * The encoding of an IN/OUT: port in DX (default) or an 8-bit immediate (`imm8`, ports 0-0xFF);
 * `string` for INS/OUTS (port in DX), optionally with a REP prefix. A 16-bit access carries a 66
 * prefix. These decide the VM-exit instruction length and the qualification bits 4-6.
 */
export interface PortIoForm {
  readonly imm8?: boolean;
  readonly string?: boolean;
  readonly rep?: boolean;
}

/** What a TD's code can do. One context per vCPU. */
export interface TdGuestContext {
  readonly regs: GuestRegisters;

  /** Synchronous accesses: never exit, never inject; a non-Ok status means nothing happened. */
  read(gpa: number, dst: Uint8Array): GuestMem;
  write(gpa: number, src: Uint8Array): GuestMem;
  /** 32-bit read into out[0]. */
  read32(gpa: number, out: Uint32Array): GuestMem;
  /** 64-bit read: out[0] = bits 31:0, out[1] = bits 63:32. */
  read64(gpa: number, out: Uint32Array): GuestMem;
  write32(gpa: number, value: number): GuestMem;
  write64(gpa: number, lo: number, hi: number): GuestMem;

  /** An access routed as the hardware does: may raise #VE or TD-exit (then retried). */
  load(gpa: number, dst: Uint8Array): GuestOp<AccessOutcome>;
  store(gpa: number, src: Uint8Array): GuestOp<AccessOutcome>;

  /**
   * TDCALL: the leaf in RAX (bits 15:0, version 23:16), inputs in `regs.gpr`; outputs written
   * back to `regs.gpr`; returns the completion status (also in RAX).
   */
  tdcall(): GuestOp<bigint>;

  /**
   * CPUID (0F A2, 2 bytes) with EAX = `leaf` and ECX = `subleaf` (loaded first, as `mov eax;
   * mov ecx`): EAX, EBX, ECX, EDX get the result, zero-extended. #VE for leaves the module does
   * not virtualise (always 0x40000000-0x4FFFFFFF).
   */
  cpuid(leaf: number, subleaf: number): GuestOp<InstructionOutcome>;
  /** HLT (F4, 1 byte): always #VE in a TD. */
  hlt(): GuestOp<InstructionOutcome>;
  /** RDMSR (0F 32, 2 bytes) of the MSR in ECX into EDX:EAX. */
  rdmsr(): GuestOp<InstructionOutcome>;
  /** WRMSR (0F 30, 2 bytes) of EDX:EAX to the MSR in ECX. */
  wrmsr(): GuestOp<InstructionOutcome>;
  /** IN AL/AX/EAX from `port` (or INS): always #VE in a TD. */
  in(port: number, size: PortIoSize, form?: PortIoForm): GuestOp<InstructionOutcome>;
  /** OUT AL/AX/EAX to `port` (or OUTS): always #VE in a TD. */
  out(port: number, size: PortIoSize, form?: PortIoForm): GuestOp<InstructionOutcome>;

  /** Install (or remove with undefined) the handler for an exception vector. */
  setExceptionHandler(vector: number, handler: ExceptionHandler | undefined): void;
}
