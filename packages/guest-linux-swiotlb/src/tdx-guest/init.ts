/**
 * TDX guest detection and early set-up (`tdx_early_init()` / `tdx_setup()`): CPUID leaf 0x21,
 * executed on the vCPU (the TDX module answers it without an exit), must carry "IntelTDX    ";
 * TDG.VP.INFO gives GPAW (shared bit = 2^(GPAW-1)) and the TD
 * attributes; NOTIFY_ENABLES is zeroed; SEPT #VEs are disabled (or their absence is fatal);
 * then unnecessary #VEs are reduced (REDUCE_VE, else ENUM_TOPOLOGY).
 *
 * @spec shared/reference/kvm-guest-qemu.md §3.1 items 1-6, 9; shared/reference/tdx-module.md
 *   §4.1 (TDG.VP.INFO outputs, TDG.VM.RD/WR registers: RDX field, R8 value, R9 mask; a failed
 *   RD leaves R8 = 0); torvalds/linux arch/x86/coco/tdx/tdx.c tdx_early_init(), tdx_setup(),
 *   disable_sept_ve() (6.12.y: "x86/tdx: Dynamically disable SEPT violations from causing
 *   #VEs"), reduce_unnecessary_ve() / enable_cpu_topology_enumeration() (6.14+)
 */
import {
  ConfigFlags,
  Gpr,
  type GuestOp,
  TDX_CPUID_LEAF,
  TdAttributes,
  TdCtls,
  TdcallLeaf,
} from "@tdx/hw-cpu-seam";
import { TDX_IDENT, TdcsField } from "./abi";
import type { TdxGuestInfo } from "./guest";
import type { TdxVcpu } from "./vcpu";

export type TdxInitResult =
  | { readonly kind: "not-tdx" }
  | { readonly kind: "tdx"; readonly info: TdxGuestInfo };

const NOT_TDX: TdxInitResult = Object.freeze({ kind: "not-tdx" });

/** Whether CPUID 0x21.0 identifies a TDX guest (Linux `cpuid_count(TDX_CPUID_LEAF_ID, 0, ...)`). */
export function* isTdxGuest(v: TdxVcpu): GuestOp<boolean> {
  const r = new Uint32Array(4);
  yield* v.cpuid(TDX_CPUID_LEAF, 0, r);
  return r[1] === TDX_IDENT.ebx && r[3] === TDX_IDENT.edx && r[2] === TDX_IDENT.ecx;
}

/** TDG.VM.RD: the field value, 0 when the module refuses (Linux ignores the status). */
function* vmRd(v: TdxVcpu, field: bigint): GuestOp<bigint> {
  const a = v.args;
  a.fill(0n);
  a[Gpr.RDX] = field;
  yield* v.tdcall(TdcallLeaf.VM_RD, a);
  return a[Gpr.R8]!;
}

/** TDG.VM.WR of `value` under `mask`; returns the TDCALL status. */
function* vmWr(v: TdxVcpu, field: bigint, value: bigint, mask: bigint): GuestOp<bigint> {
  const a = v.args;
  a.fill(0n);
  a[Gpr.RDX] = field;
  a[Gpr.R8] = value;
  a[Gpr.R9] = BigInt.asUintN(64, mask);
  return yield* v.tdcall(TdcallLeaf.VM_WR, a);
}

/** disable_sept_ve(): returns the TD_CTLS bits known set afterwards. */
function* disableSeptVe(v: TdxVcpu, attributes: bigint): GuestOp<bigint> {
  const msg = "TD misconfiguration: SEPT #VE has to be disabled";
  const debug = (attributes & TdAttributes.DEBUG) !== 0n;
  const config = yield* vmRd(v, TdcsField.CONFIG_FLAGS);
  if ((config & ConfigFlags.FLEXIBLE_PENDING_VE) === 0n) {
    if ((attributes & TdAttributes.SEPT_VE_DISABLE) !== 0n) return TdCtls.PENDING_VE_DISABLE;
    if (debug) v.guest.warn(msg);
    else yield* v.panic(msg);
    return 0n;
  }
  const controls = yield* vmRd(v, TdcsField.TD_CTLS);
  if ((controls & TdCtls.PENDING_VE_DISABLE) !== 0n) return controls;
  if (debug) return controls;
  const st = yield* vmWr(v, TdcsField.TD_CTLS, TdCtls.PENDING_VE_DISABLE, TdCtls.PENDING_VE_DISABLE);
  return st === 0n ? controls | TdCtls.PENDING_VE_DISABLE : controls;
}

function* enableTopologyEnumeration(v: TdxVcpu): GuestOp<bigint> {
  const configured = yield* vmRd(v, TdcsField.TOPOLOGY_ENUM_CONFIGURED);
  if (configured === 0n) {
    v.guest.warn("VMM did not configure X2APIC_IDs properly");
    return 0n;
  }
  const st = yield* vmWr(v, TdcsField.TD_CTLS, TdCtls.ENUM_TOPOLOGY, TdCtls.ENUM_TOPOLOGY);
  return st === 0n ? TdCtls.ENUM_TOPOLOGY : 0n;
}

function* reduceUnnecessaryVe(v: TdxVcpu): GuestOp<bigint> {
  const mode = v.guest.veReduction;
  if (mode === "none") return 0n;
  if (mode === "reduce-ve") {
    const st = yield* vmWr(v, TdcsField.TD_CTLS, TdCtls.REDUCE_VE, TdCtls.REDUCE_VE);
    if (st === 0n) return TdCtls.REDUCE_VE;
  }
  return yield* enableTopologyEnumeration(v);
}

/**
 * tdx_early_init(): detect, configure, and record the result in `v.guest.info`. A TD the guest
 * cannot run in safely (SEPT #VE on, not DEBUG) panics: the operation then never returns.
 */
export function* tdxEarlyInit(v: TdxVcpu): GuestOp<TdxInitResult> {
  if (!(yield* isTdxGuest(v))) return NOT_TDX;
  const a = v.args;
  a.fill(0n);
  yield* v.tdcallOrPanic(TdcallLeaf.VP_INFO, a);
  const gpaw = Number(a[Gpr.RCX]! & 0x3fn);
  const attributes = a[Gpr.RDX]!;
  const sharedMask = 2 ** (gpaw - 1);
  yield* vmWr(v, TdcsField.NOTIFY_ENABLES, 0n, -1n);
  let tdCtls = yield* disableSeptVe(v, attributes);
  tdCtls |= yield* reduceUnnecessaryVe(v);
  const info: TdxGuestInfo = { gpaw, sharedMask, attributes, tdCtls };
  v.guest.info = info;
  v.guest.log.push("tdx: Guest detected");
  return { kind: "tdx", info };
}
