/**
 * RDMSR/WRMSR inside a TD, as the TDX module's MSR bitmaps and its VM-exit handler decide: MSRs
 * outside the bitmap ranges raise #VE; listed MSRs are accessed natively (bitmap bit 0), raise
 * #GP, raise #VE, or decide by a TD setting (ATTRIBUTES.PERFMON, the TD's CPUID, TD_CTLS.REDUCE_VE
 * or ENUM_TOPOLOGY); MSRs the table does not list raise #VE ("#VE-class", e.g. the x2APIC ICR,
 * LVTs and timer, APIC_BASE, the KVM paravirtual MSRs). Natively accessed MSRs keep per-vCPU
 * values; the CPU's own checks on them (reserved bits, PAT types) are not modelled.
 *
 * @spec shared/reference/tdx-module.md §4.2 (RDMSR/WRMSR of "#VE-class" MSRs), kvm-guest-qemu.md
 *   §1.7 (the x2APIC MSRs KVM emulates for a TD); intel/tdx-module include/auto_gen/
 *   msr_config_lookup.c (address ranges, bitmap meaning, rd/wr actions), src/td_dispatcher/
 *   vm_exits/td_msr_access.c (td_rdmsr_exit/td_wrmsr_exit, rd_wr_msr_generic_case: unlisted MSR
 *   -> #VE, GP_OR_VE by CPUID flags, X2APIC_APICID under ENUM_TOPOLOGY, FEATURE_CONTROL under
 *   REDUCE_VE, EFER: only SCE may change), src/common/td_vmcs_init.c (PAT 0x0007040600070406,
 *   EFER 0x901 at vCPU init)
 */
import { PAT_POWER_UP } from "../cpu/msrs";
import type { TdControl, VcpuControl } from "./control";
import type { TdxModuleCore } from "./core";
import { TdAttributes, TdCtls } from "./td-params";

/** How the access ended. */
export const MsrAccess = { DONE: 0, VE: 1, GP: 2 } as const;
export type MsrAccess = (typeof MsrAccess)[keyof typeof MsrAccess];

/** What one direction of an MSR does. */
const Act = {
  /** No VM exit: the CPU reads/writes the vCPU's value. */
  NATIVE: 0,
  VE: 1,
  GP: 2,
  /** As an MSR the table does not list. */
  UNLISTED: 3,
  /** Native with ATTRIBUTES.PERFMON, else #GP (MSR_BITMAP_DYN_PERFMON). */
  PERFMON: 4,
  /** #VE if the TD's CPUID(1).ECX[24] (TSC deadline) is 1, else #GP. */
  BY_TSC_DEADLINE: 5,
  /** #VE if the TD's CPUID(7,0).ECX[13] (TME) is 1, else #GP. */
  BY_TME: 6,
  /** #VE if the TD's CPUID(7,0).EDX[18] (PCONFIG) is 1, else #GP. */
  BY_PCONFIG: 7,
  /** x2APIC ID read: the virtual x2APIC id under ENUM_TOPOLOGY, else #VE. */
  X2APIC_ID: 8,
  /** IA32_FEATURE_CONTROL read: 1 (locked) under REDUCE_VE, else #VE. */
  FEATURE_CONTROL: 9,
  /** IA32_EFER write: only SCE may change (LMA is kept), anything else #VE. */
  EFER_WRITE: 10,
  /** IA32_TIME_STAMP_COUNTER read: the LP's TSC. */
  TSC_READ: 11,
} as const;
type Act = (typeof Act)[keyof typeof Act];

interface MsrRule {
  readonly first: number;
  readonly last: number;
  readonly rd: Act;
  readonly wr: Act;
  /** Initial value of natively accessed MSRs. */
  readonly init?: bigint;
  /** First per-vCPU value slot (assigned below), or -1. */
  slot: number;
}

const r = (first: number, last: number, rd: Act, wr: Act, init?: bigint): MsrRule => ({
  first,
  last,
  rd,
  wr,
  ...(init === undefined ? {} : { init }),
  slot: -1,
});

/** The module's MSR table (abridged: VMX capability, XFAM-dependent, LBR and PT MSRs omitted). */
const RULES: readonly MsrRule[] = [
  r(0x10, 0x10, Act.TSC_READ, Act.VE), // IA32_TIME_STAMP_COUNTER
  r(0x3a, 0x3a, Act.FEATURE_CONTROL, Act.UNLISTED), // IA32_FEATURE_CONTROL
  r(0x48, 0x48, Act.NATIVE, Act.NATIVE), // IA32_SPEC_CTRL
  r(0x87, 0x87, Act.BY_PCONFIG, Act.BY_PCONFIG), // IA32_MKTME_KEYID_PARTITIONING
  r(0x8c, 0x8f, Act.GP, Act.GP), // IA32_SGXLEPUBKEYHASH0-3
  r(0x98, 0x9b, Act.GP, Act.GP), // WBINVDP, WBNOINVDP, INTR_PENDING, SMM_MONITOR_CTL
  r(0x9e, 0x9e, Act.GP, Act.GP), // IA32_SMBASE
  r(0xc1, 0xc8, Act.PERFMON, Act.PERFMON), // IA32_PMC0-7
  r(0x174, 0x176, Act.NATIVE, Act.NATIVE), // IA32_SYSENTER_CS/ESP/EIP
  r(0x186, 0x18d, Act.PERFMON, Act.PERFMON), // IA32_PERFEVTSEL0-7
  // IA32_MISC_ENABLE: the module returns its own value (PEBS unavailable); WRMSR #VE (1.5)
  r(0x1a0, 0x1a0, Act.NATIVE, Act.VE, 1n << 12n),
  r(0x277, 0x277, Act.NATIVE, Act.NATIVE, PAT_POWER_UP), // IA32_PAT
  r(0x309, 0x310, Act.PERFMON, Act.PERFMON), // IA32_FIXED_CTRx
  r(0x38d, 0x392, Act.PERFMON, Act.PERFMON), // FIXED_CTR_CTRL, PERF_GLOBAL_STATUS/CTRL/...
  r(0x600, 0x600, Act.NATIVE, Act.NATIVE), // IA32_DS_AREA
  r(0x6e0, 0x6e0, Act.BY_TSC_DEADLINE, Act.BY_TSC_DEADLINE), // IA32_TSC_DEADLINE
  r(0x800, 0x801, Act.GP, Act.GP), // reserved x2APIC
  r(0x802, 0x802, Act.X2APIC_ID, Act.UNLISTED), // IA32_X2APIC_APICID
  r(0x804, 0x807, Act.GP, Act.GP),
  r(0x808, 0x80c, Act.NATIVE, Act.NATIVE), // TPR, 0x809, PPR, EOI, 0x80C (APIC virtualisation)
  r(0x80e, 0x80e, Act.NATIVE, Act.NATIVE),
  r(0x810, 0x827, Act.NATIVE, Act.NATIVE), // ISR0-7, TMR0-7, IRR0-7
  r(0x829, 0x82e, Act.GP, Act.GP),
  r(0x831, 0x831, Act.GP, Act.GP),
  r(0x83f, 0x83f, Act.NATIVE, Act.NATIVE), // IA32_X2APIC_SELF_IPI
  r(0x840, 0x8ff, Act.GP, Act.GP),
  r(0x981, 0x984, Act.BY_TME, Act.BY_TME), // IA32_TME_CAPABILITY, ACTIVATE, EXCLUDE_MASK/BASE
  r(0xc0000080, 0xc0000080, Act.NATIVE, Act.EFER_WRITE, 0x901n), // IA32_EFER
  r(0xc0000081, 0xc0000082, Act.NATIVE, Act.NATIVE), // IA32_STAR, IA32_LSTAR
  r(0xc0000084, 0xc0000084, Act.NATIVE, Act.NATIVE), // IA32_FMASK
  r(0xc0000100, 0xc0000103, Act.NATIVE, Act.NATIVE), // FS_BASE, GS_BASE, KERNEL_GS_BASE, TSC_AUX
];

let slots = 0;
for (const rule of RULES) {
  const native = (a: Act) => a === Act.NATIVE || a === Act.PERFMON || a === Act.EFER_WRITE;
  if (native(rule.rd) || native(rule.wr)) {
    rule.slot = slots;
    slots += rule.last - rule.first + 1;
  }
}
const SLOT_COUNT = slots;

/** MSRs covered by the 4 KiB MSR bitmaps: 0-0x1FFF and 0xC0000000-0xC0001FFF. */
function inBitmap(msr: number): boolean {
  return msr < 0x2000 || (msr >= 0xc0000000 && msr < 0xc0002000);
}

function ruleOf(msr: number): MsrRule | undefined {
  let lo = 0;
  let hi = RULES.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const e = RULES[mid]!;
    if (msr < e.first) hi = mid - 1;
    else if (msr > e.last) lo = mid + 1;
    else return e;
  }
  return undefined;
}

function values(vcpu: VcpuControl): BigUint64Array {
  if (!vcpu.msrs) {
    const v = new BigUint64Array(SLOT_COUNT);
    for (const rule of RULES) if (rule.slot >= 0 && rule.init !== undefined) v[rule.slot] = rule.init;
    vcpu.msrs = v;
  }
  return vcpu.msrs;
}

function unlisted(m: TdxModuleCore, td: TdControl): MsrAccess {
  const gp = m.opt.unlistedMsrWithReduceVe === "gp" && (td.tdCtls & TdCtls.REDUCE_VE) !== 0n;
  return gp ? MsrAccess.GP : MsrAccess.VE;
}

/** The access when it is not native, or -1 when the CPU accesses the vCPU's value. */
function decide(m: TdxModuleCore, td: TdControl, act: Act): MsrAccess | -1 {
  switch (act) {
    case Act.NATIVE:
    case Act.EFER_WRITE:
      return -1;
    case Act.PERFMON:
      return ((td.params?.attributes ?? 0n) & TdAttributes.PERFMON) !== 0n ? -1 : MsrAccess.GP;
    case Act.BY_TSC_DEADLINE:
      return ((td.cpuid!.get(1, 0).ecx >>> 24) & 1) === 1 ? MsrAccess.VE : MsrAccess.GP;
    case Act.BY_TME:
      return ((td.cpuid!.get(7, 0).ecx >>> 13) & 1) === 1 ? MsrAccess.VE : MsrAccess.GP;
    case Act.BY_PCONFIG:
      return ((td.cpuid!.get(7, 0).edx >>> 18) & 1) === 1 ? MsrAccess.VE : MsrAccess.GP;
    case Act.UNLISTED:
      return unlisted(m, td);
    case Act.GP:
      return MsrAccess.GP;
    default:
      return MsrAccess.VE;
  }
}

/** RDMSR of `msr` on `vcpu`: DONE with the value in out[0], or the exception to raise. */
export function tdRdmsr(
  m: TdxModuleCore,
  td: TdControl,
  vcpu: VcpuControl,
  msr: number,
  out: BigUint64Array,
): MsrAccess {
  if (!inBitmap(msr)) return MsrAccess.VE;
  const rule = ruleOf(msr);
  if (!rule) return unlisted(m, td);
  switch (rule.rd) {
    case Act.X2APIC_ID:
      if ((td.tdCtls & TdCtls.ENUM_TOPOLOGY) === 0n) return MsrAccess.VE;
      out[0] = BigInt(vcpu.x2apicId);
      return MsrAccess.DONE;
    case Act.FEATURE_CONTROL:
      if ((td.tdCtls & TdCtls.REDUCE_VE) === 0n) return MsrAccess.VE;
      out[0] = 1n;
      return MsrAccess.DONE;
    case Act.TSC_READ: {
      // the LP's TSC without the TD's TSC multiplier/offset [approximation]; 0 without CPUs
      const lp = m.cfg.cpus && vcpu.associatedLp >= 0 ? m.cfg.cpus.lp(vcpu.associatedLp) : undefined;
      out[0] = lp ? lp.msrs.peek(msr) : 0n;
      return MsrAccess.DONE;
    }
  }
  const d = decide(m, td, rule.rd);
  if (d !== -1) return d;
  out[0] = values(vcpu)[rule.slot + msr - rule.first]!;
  return MsrAccess.DONE;
}

/** WRMSR of `value` (EDX:EAX) to `msr` on `vcpu`. */
export function tdWrmsr(
  m: TdxModuleCore,
  td: TdControl,
  vcpu: VcpuControl,
  msr: number,
  value: bigint,
): MsrAccess {
  if (!inBitmap(msr)) return MsrAccess.VE;
  const rule = ruleOf(msr);
  if (!rule) return unlisted(m, td);
  const d = decide(m, td, rule.wr);
  if (d !== -1) return d;
  const v = values(vcpu);
  const slot = rule.slot + msr - rule.first;
  if (rule.wr === Act.EFER_WRITE) {
    const LMA = 1n << 10n;
    const SCE = 1n;
    const old = v[slot]!;
    const next = (value & ~LMA) | (old & LMA);
    if (((next ^ old) & ~SCE) !== 0n) return MsrAccess.VE;
    v[slot] = next;
    return MsrAccess.DONE;
  }
  v[slot] = value;
  return MsrAccess.DONE;
}
