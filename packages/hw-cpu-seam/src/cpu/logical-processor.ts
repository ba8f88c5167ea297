/**
 * A logical processor's operating mode and the instructions that change it: VMXON/VMXOFF, VM entry
 * (VMLAUNCH/VMRESUME) from VMX root into a legacy VM or from SEAM root into a TD, SEAMCALL/SEAMRET
 * between VMX root and the TDX module, TDCALL from a TD into the module, and VM exits back to the
 * root mode. Outcomes are values: #UD/#GP faults, VM exits (with the basic exit reason) and
 * VMfailInvalid. What the TDX module does once entered is the TDX model's business.
 *
 * @spec /work/shared/reference/tdx-module.md §0.1 (SEAMCALL executes in VMX root; failure of the
 *   instruction itself — module not loaded, wrong mode — is VMfailInvalid, #UD or #GP, which Linux
 *   turns into TDX_SEAMCALL_VMFAILINVALID / _GP / _UD); Linux arch/x86/include/uapi/asm/vmx.h and
 *   intel/tdx-module vm_exit_basic_reason_e (EXIT_REASON_SEAMCALL 76, TDCALL 77, RDMSR 31,
 *   WRMSR 32); intel/tdx-module td_dispatcher (a TD's SEAMCALL exit gets #UD injected); Intel SDM
 *   Vol. 3C §24.7 (VMXON needs IA32_FEATURE_CONTROL locked with VMX outside SMX enabled)
 */
import { TdxSimError } from "../errors";
import type { CpuidRegs, CpuidTable } from "./cpuid";
import type { MsrFile, MsrReadResult, MsrWriteResult } from "./msr-file";
import { FeatureControl, Msr, Seamrr } from "./msrs";
import type { LpPlace } from "./topology";

/** Operating mode of a logical processor. */
export type LpMode =
  /** Not in VMX operation (before VMXON). */
  | "legacy"
  /** VMX root: the host kernel / KVM. */
  | "vmx-root"
  /** VMX non-root under the host VMM: a legacy (non-TD) VM. */
  | "vmx-non-root"
  /** SEAM VMX root: the TDX module. */
  | "seam-root"
  /** SEAM VMX non-root: a TD. */
  | "seam-non-root";

/** Basic VM-exit reasons this model produces. @spec Linux uapi/asm/vmx.h */
export const CpuExitReason = { RDMSR: 31, WRMSR: 32, SEAMCALL: 76, TDCALL: 77 } as const;

/** Outcome of an instruction that may change the mode. */
export type CpuOutcome =
  | { readonly kind: "ok"; readonly mode: LpMode }
  | { readonly kind: "fault"; readonly name: "#UD" | "#GP"; readonly vector: 6 | 13; readonly reason: string }
  | { readonly kind: "vm-exit"; readonly exitReason: number; readonly reason: string }
  | { readonly kind: "vmfail-invalid"; readonly reason: string };

/** Outcome of RDMSR/WRMSR executed in some mode. */
export type MsrAccessOutcome<R> =
  | R
  | { readonly ok: false; readonly fault: "vm-exit"; readonly exitReason: number };

/**
 * Linux's synthetic status codes for a SEAMCALL that did not reach the module (class 0xFF).
 * @spec tdx-module.md §0.1 (Linux arch/x86/include/asm/tdx.h)
 */
export const SeamcallSwStatus = {
  VMFAILINVALID: 0x8000_ff00_ffff_0000n,
  GP: 0x8000_ff00_0000_000dn,
  UD: 0x8000_ff00_0000_0006n,
} as const;

/** The status Linux's seamcall wrapper reports for an outcome, or undefined if the module was entered. */
export function seamcallSwStatus(o: CpuOutcome): bigint | undefined {
  if (o.kind === "vmfail-invalid") return SeamcallSwStatus.VMFAILINVALID;
  if (o.kind === "fault") return o.name === "#GP" ? SeamcallSwStatus.GP : SeamcallSwStatus.UD;
  return undefined;
}

const UD = (reason: string): CpuOutcome => ({ kind: "fault", name: "#UD", vector: 6, reason });
const GP = (reason: string): CpuOutcome => ({ kind: "fault", name: "#GP", vector: 13, reason });

export class LogicalProcessor {
  private current: LpMode = "legacy";

  constructor(
    readonly place: LpPlace,
    readonly msrs: MsrFile,
    readonly cpuidTable: CpuidTable,
    private readonly seamModuleLoaded: () => boolean,
  ) {}

  get index(): number {
    return this.place.index;
  }
  get packageId(): number {
    return this.place.packageId;
  }
  get mode(): LpMode {
    return this.current;
  }

  cpuid(leaf: number, subleaf = 0): CpuidRegs {
    return this.cpuidTable.get(leaf, subleaf);
  }

  /** RDMSR: direct in root modes; in non-root modes a VM exit (MSR bitmaps of all ones assumed). */
  rdmsr(msr: number): MsrAccessOutcome<MsrReadResult> {
    if (this.current === "vmx-non-root" || this.current === "seam-non-root") {
      return { ok: false, fault: "vm-exit", exitReason: CpuExitReason.RDMSR };
    }
    return this.msrs.rdmsr(msr);
  }
  wrmsr(msr: number, value: bigint): MsrAccessOutcome<MsrWriteResult> {
    if (this.current === "vmx-non-root" || this.current === "seam-non-root") {
      return { ok: false, fault: "vm-exit", exitReason: CpuExitReason.WRMSR };
    }
    return this.msrs.wrmsr(msr, value);
  }

  /** Whether SEAMRR is configured, enabled and locked by the BIOS on this core. */
  seamrrEnabled(): boolean {
    const base = this.msrs.peek(Msr.IA32_SEAMRR_PHYS_BASE);
    const mask = this.msrs.peek(Msr.IA32_SEAMRR_PHYS_MASK);
    const need = Seamrr.MASK_ENABLED | Seamrr.MASK_LOCKED;
    return (base & Seamrr.BASE_CONFIGURED) !== 0n && (mask & need) === need;
  }

  vmxon(): CpuOutcome {
    if (this.current !== "legacy")
      return UD(`VMXON in ${this.current} mode: this model allows it only outside VMX operation`);
    const fc = this.msrs.peek(Msr.IA32_FEATURE_CONTROL);
    if ((fc & FeatureControl.LOCKED) === 0n || (fc & FeatureControl.VMX_OUTSIDE_SMX) === 0n) {
      return GP("VMXON needs IA32_FEATURE_CONTROL locked with VMX outside SMX enabled");
    }
    return this.to("vmx-root");
  }

  vmxoff(): CpuOutcome {
    if (this.current !== "vmx-root")
      return UD(`VMXOFF in ${this.current} mode: only VMX root may leave VMX operation here`);
    return this.to("legacy");
  }

  /** VMLAUNCH/VMRESUME: VMX root enters a legacy VM, SEAM root enters a TD. */
  vmEnter(): CpuOutcome {
    if (this.current === "vmx-root") return this.to("vmx-non-root");
    if (this.current === "seam-root") return this.to("seam-non-root");
    return UD(`VM entry in ${this.current} mode: VMLAUNCH/VMRESUME need VMX root or SEAM root`);
  }

  /** A VM exit (any reason) from a guest back to its root mode. Not an instruction: misuse throws. */
  vmExit(): LpMode {
    if (this.current === "vmx-non-root") this.current = "vmx-root";
    else if (this.current === "seam-non-root") this.current = "seam-root";
    else
      throw new TdxSimError(
        "E_CPU_MODE",
        `VM exit from ${this.current} mode: only a guest (VMX or SEAM non-root) exits`,
      );
    return this.current;
  }

  /** SEAMCALL from the host VMM into the TDX module. */
  seamcall(): CpuOutcome {
    switch (this.current) {
      case "legacy":
        return UD("SEAMCALL outside VMX operation");
      case "vmx-non-root":
        return {
          kind: "vm-exit",
          exitReason: CpuExitReason.SEAMCALL,
          reason: "SEAMCALL in a VM exits to the VMM",
        };
      case "seam-non-root":
        return UD("SEAMCALL in a TD: the TDX module injects #UD");
      case "seam-root":
        return UD("SEAMCALL in SEAM root [unverified: modelled as #UD]");
      case "vmx-root":
        if (!this.seamrrEnabled())
          return { kind: "vmfail-invalid", reason: "SEAMRR is not configured and enabled" };
        if (!this.seamModuleLoaded())
          return { kind: "vmfail-invalid", reason: "no TDX module is loaded in SEAMRR" };
        return this.to("seam-root");
    }
  }

  /** SEAMRET from the TDX module back to the VMM. */
  seamret(): CpuOutcome {
    if (this.current !== "seam-root")
      return UD(`SEAMRET in ${this.current} mode: only the TDX module (SEAM root) returns`);
    return this.to("vmx-root");
  }

  /** TDCALL from a TD into the TDX module (a legacy VM's TDCALL exits to its VMM). */
  tdcall(): CpuOutcome {
    if (this.current === "seam-non-root") return this.to("seam-root");
    if (this.current === "vmx-non-root") {
      return {
        kind: "vm-exit",
        exitReason: CpuExitReason.TDCALL,
        reason: "TDCALL in a legacy VM exits to the VMM",
      };
    }
    return UD(`TDCALL in ${this.current} mode: only a TD may call the TDX module`);
  }

  private to(mode: LpMode): CpuOutcome {
    this.current = mode;
    return { kind: "ok", mode };
  }
}
