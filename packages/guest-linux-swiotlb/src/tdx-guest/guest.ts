/**
 * The TDX guest kernel's TD-wide state: what `tdx_early_init()` learned (GPAW, shared bit,
 * attributes), the behaviours where Linux versions or the ISA differ (options with documented
 * defaults), the shared-page count kept for kexec, counters a run can price, the WARN/pr_warn
 * lines the code would print, the exception-fixup table, and the panic message once the guest
 * has died.
 *
 * @spec shared/reference/kvm-guest-qemu.md §3.1 (early init), §3.3 (Linux- or ISA-faithful
 *   write-back is a model choice), §3.4 (port-I/O mask bug and its 2026 fix), §3.5 (nr_shared);
 *   torvalds/linux arch/x86/coco/tdx/tdx.c, arch/x86/mm/extable.c (fixup_exception)
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";

/**
 * How an emulated MMIO access reads and writes the instruction's register operand.
 * - "linux": as Linux's handle_mmio() does: ModRM.reg (+REX.R) names a pt_regs slot, so AH/CH/
 *   DH/BH (4-7 without REX) resolve to RSP/RBP/RSI/RDI; MOVZX/MOVSX with a 32-bit destination
 *   fill only 4 bytes, leaving bits 63:32 as they were.
 * - "isa": as the CPU would: AH..BH are byte 1 of RAX..RBX, and any 32-bit destination
 *   zero-extends into bits 63:32.
 * Both agree on everything the io.h accessors use (1/2-byte reads merge, 4-byte reads zero
 * bits 63:32, 8-byte reads replace the register).
 */
export type MmioRegisterModel = "linux" | "isa";

/**
 * AX write-back after an emulated IN, and the bits sent for OUT.
 * - "linux": handle_in()/handle_out() of 6.12-6.18: mask GENMASK(8*size, 0), one bit too wide,
 *   and a 32-bit IN leaves bits 63:32 of RAX;
 * - "fixed": the 2026 fix ("x86/insn-eval: Add insn_assign_reg() helper", Cc stable): exactly
 *   `size` bytes, a 32-bit IN zero-extends.
 */
export type PortIoMaskModel = "linux" | "fixed";

/**
 * Which TD-control writes `tdx_early_init()` makes to cut #VEs after NOTIFY_ENABLES and SEPT #VE.
 * - "reduce-ve" (6.14+, 6.18): TD_CTLS.REDUCE_VE, falling back to ENUM_TOPOLOGY if refused;
 * - "enum-topology": only ENUM_TOPOLOGY (when TOPOLOGY_ENUM_CONFIGURED);
 * - "none": neither (6.12 before the stable backports).
 */
export type VeReduction = "reduce-ve" | "enum-topology" | "none";

export interface TdxGuestOptions {
  /** Default "linux". */
  readonly mmioRegisters?: MmioRegisterModel;
  /** Default "linux". */
  readonly portIoMask?: PortIoMaskModel;
  /** Default "reduce-ve". */
  readonly veReduction?: VeReduction;
  /**
   * HLT #VE with RFLAGS.IF set: "reject" (WARN, -EIO: Linux since the 2025 "Fix
   * arch_safe_halt() execution for TDX VMs", backported to 6.12.y) or "emulate" (earlier 6.12).
   * Default "reject".
   */
  readonly hltWithIrqsEnabled?: "reject" | "emulate";
  /**
   * Lowest kernel-space linear address (x86-64 TASK_SIZE_MAX). An MMIO #VE whose GLA is below
   * it is refused (the 2024 "in-kernel MMIO" check). The execution model has no guest paging
   * (linear = physical) and no user address space, so the default 0 makes every GLA kernel.
   */
  readonly kernelSpaceStart?: bigint;
  /** FS.base and GS.base for FS:/GS: overrides in effective addresses. Default 0. */
  readonly fsBase?: bigint;
  readonly gsBase?: bigint;
}

/** Counters by cause. */
export interface TdxGuestStats {
  /** #VEs taken, by exit reason (index = VMX basic exit reason, 0..127). */
  readonly veByReason: Uint32Array;
  /** #VEs the handler could not emulate (a fault was raised). */
  veFailed: number;
  /** TDG.VP.VMCALL calls issued, by sub-function (MMIO, IO, MAP_GPA, ...). */
  vmcalls: number;
  mapGpaCalls: number;
  mapGpaRetries: number;
  /** TDG.MEM.PAGE.ACCEPT attempts and successes by level (0 = 4K, 1 = 2M, 2 = 1G). */
  readonly acceptTried: Uint32Array;
  readonly acceptDone: Uint32Array;
}

/** Facts `tdx_early_init()` establishes. */
export interface TdxGuestInfo {
  /** GPA width from TDG.VP.INFO RCX[5:0]. */
  readonly gpaw: number;
  /** The shared bit: 2^(GPAW-1) (cc_mask). */
  readonly sharedMask: number;
  /** TD ATTRIBUTES (TDG.VP.INFO RDX). */
  readonly attributes: bigint;
  /** TD_CTLS bits init found set or set itself (PENDING_VE_DISABLE, ENUM_TOPOLOGY, REDUCE_VE). */
  readonly tdCtls: bigint;
}

export class TdxGuest {
  readonly mmioRegisters: MmioRegisterModel;
  readonly portIoMask: PortIoMaskModel;
  readonly veReduction: VeReduction;
  readonly hltWithIrqsEnabled: "reject" | "emulate";
  readonly kernelSpaceStart: bigint;
  readonly fsBase: bigint;
  readonly gsBase: bigint;

  /** Set by tdxEarlyInit (or `assumeInit` for tests that start after boot). */
  info: TdxGuestInfo | undefined;
  /** Pages currently converted to shared (Linux nr_shared, used by kexec). */
  nrShared = 0;
  readonly stats: TdxGuestStats = {
    veByReason: new Uint32Array(128),
    veFailed: 0,
    vmcalls: 0,
    mapGpaCalls: 0,
    mapGpaRetries: 0,
    acceptTried: new Uint32Array(3),
    acceptDone: new Uint32Array(3),
  };
  /** Lines the kernel would have logged (WARN, pr_warn, pr_err), in order. */
  readonly log: string[] = [];
  /** Kernel exception table: faulting RIP -> fixup RIP (extable; consulted only on faults). */
  readonly exceptionFixups = new Map<number, number>();
  /** Set when the guest panicked: the message it reported. */
  panicMessage: string | undefined;
  private readonly warnedOnce = new Set<string>();

  constructor(options: TdxGuestOptions = {}) {
    this.mmioRegisters = options.mmioRegisters ?? "linux";
    this.portIoMask = options.portIoMask ?? "linux";
    this.veReduction = options.veReduction ?? "reduce-ve";
    this.hltWithIrqsEnabled = options.hltWithIrqsEnabled ?? "reject";
    this.kernelSpaceStart = options.kernelSpaceStart ?? 0n;
    this.fsBase = options.fsBase ?? 0n;
    this.gsBase = options.gsBase ?? 0n;
    const modes: Record<string, readonly string[]> = {
      mmioRegisters: ["linux", "isa"],
      portIoMask: ["linux", "fixed"],
      veReduction: ["reduce-ve", "enum-topology", "none"],
      hltWithIrqsEnabled: ["reject", "emulate"],
    };
    for (const [key, allowed] of Object.entries(modes)) {
      const v = (this as unknown as Record<string, string>)[key]!;
      if (!allowed.includes(v)) {
        throw new TdxSimError(
          "E_TDX_GUEST_OPTION",
          `option ${key}="${v}" is not one of ${allowed.join(", ")}`,
        );
      }
    }
  }

  /** The info from init; throws if the guest has not run tdxEarlyInit (or assumeInit). */
  get tdx(): TdxGuestInfo {
    if (!this.info) {
      throw new TdxSimError(
        "E_TDX_GUEST_NOT_INIT",
        "the TDX guest is not initialised: run tdxEarlyInit() first (or assumeInit() in a test that starts after boot)",
      );
    }
    return this.info;
  }

  /** Record the facts init would have found (for code that starts after boot). */
  assumeInit(gpaw: 48 | 52, attributes: bigint = 1n << 28n, tdCtls = 0n): void {
    this.info = { gpaw, sharedMask: 2 ** (gpaw - 1), attributes, tdCtls };
  }

  /** Whether `gpa` has the shared bit clear (Linux is_private_gpa). */
  isPrivateGpa(gpa: number): boolean {
    return Math.floor(gpa / this.tdx.sharedMask) % 2 === 0;
  }

  /** `gpa` with the shared bit set (cc_mkdec). */
  sharedAlias(gpa: number): number {
    return this.isPrivateGpa(gpa) ? gpa + this.tdx.sharedMask : gpa;
  }

  warn(line: string): void {
    this.log.push(line);
  }

  /** WARN_ONCE: log `line` only the first time `key` is seen. */
  warnOnce(key: string, line: string): void {
    if (this.warnedOnce.has(key)) return;
    this.warnedOnce.add(key);
    this.log.push(line);
  }
}
