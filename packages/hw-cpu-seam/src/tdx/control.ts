/**
 * The module's own control state: system-wide (sys_state, per-LP init, per-package key
 * configuration, HKID range), the key ownership table, and per-TD / per-vCPU control structures
 * (TDR/TDCS and TDVPS contents). Pages the host donates for these are really consumed in
 * simulated memory (initialised with the right KeyID and typed in the PAMT); their fields, whose
 * byte layouts the reference does not give, are kept here as typed objects found by page PA.
 *
 * @spec shared/reference/tdx-module.md §2 (state machines), §2.2 (KOT, MAX_HKIDS 2048),
 *   §3.2-§3.3 (TDR/TDCS/TDVPS contents), §3.4 (TD epoch, REFCOUNT), §4.2 (VE_INFO)
 */
import type { CpuidTable } from "../cpu/cpuid";
import type { GuestOp, GuestRegisters, TdExitSignal } from "./guest-interface";
import type { MrtdAccumulator } from "./measurement";
import { type GprFile, newGprFile } from "./regs";
import type { SecureEpt } from "./sept";
import { KotState, type OpState, type SysState, type TdLifecycle, type VcpuState } from "./states";
import type { ValidTdParams } from "./td-params";

export const MAX_HKIDS = 2048;
/** TDCS pages a TD needs (TDCS_BASE_SIZE / 4 KiB): 6 per the reference for 1.5.01 [unverified for later 1.5]. */
export const TDCS_PAGES = 6;
/** TDVPS pages per vCPU (TDVPS_BASE_SIZE / 4 KiB): the TDVPR plus 5 TDCX pages [unverified]. */
export const TDVPS_PAGES = 6;
/** TDCS page indices with a defined content. @spec tdx-module.md §3.2 (TDH.MNG.ADDCX) */
export const TDCS_MSR_BITMAP_PAGE = 2;
export const TDCS_SEPT_ROOT_PAGE = 3;

/** Module-wide state. */
export interface SysControl {
  state: SysState;
  /** Per LP: TDH.SYS.LP.INIT done. */
  readonly lpInit: Uint8Array;
  numInitLps: number;
  /** Per package: TDH.SYS.KEY.CONFIG done for the global key. */
  readonly pkgKeyConfigured: Uint8Array;
  globalHkid: number;
  /** First and last private HKID (from IA32_MKTME_KEYID_PARTITIONING at SYS.INIT). */
  hkidFirst: number;
  hkidLast: number;
}

/** Key ownership table and per-package cache write-back tracking. */
export class Kot {
  readonly state = new Uint8Array(MAX_HKIDS);
  /** Per HKID: bitmask of packages that still need TDH.PHYMEM.CACHE.WB after VPFLUSHDONE. */
  readonly wbPending = new Uint32Array(MAX_HKIDS);

  isFree(hkid: number): boolean {
    return this.state[hkid] === KotState.HKID_FREE;
  }
}

/** VE_INFO (in a TDVPS page on hardware). */
export interface VeInfo {
  valid: boolean;
  exitReason: number;
  exitQualification: bigint;
  gla: bigint;
  gpa: bigint;
  instructionLength: number;
  instructionInfo: number;
}

/** A prepared TD exit: the status and the VMM-visible registers ENTER returns. */
export interface PendingExit {
  status: bigint;
  /** Registers to expose (index -> value); all others are zero. */
  readonly regs: GprFile;
  /** The exit is a TDG.VP.VMCALL: the next entry copies `vmcallMask` registers back. */
  vmcall: boolean;
  /** For TDG.VP.VMCALL exits: the GPR-select bitmap (bits 15:0 of the guest's RCX). */
  vmcallMask: number;
}

export interface VcpuControl {
  readonly tdvprPa: number;
  readonly td: TdControl;
  state: VcpuState;
  readonly tdcxPas: number[];
  /** VCPU_INDEX assigned by TDH.VP.INIT. */
  index: number;
  x2apicId: number;
  /** LP the vCPU is associated with, or -1. */
  associatedLp: number;
  readonly regs: GuestRegisters;
  readonly veInfo: VeInfo;
  /** VMCS SHARED_EPT_POINTER, written by the host with TDH.VP.WR. */
  sharedEptp: bigint;
  /** The running guest program, created at the first TDH.VP.ENTER. */
  program: GuestOp<void> | undefined;
  /** Set by the guest side just before it yields a TD exit. */
  pending: PendingExit;
  /** TD epoch this vCPU entered in (its REFCOUNT slot). */
  entryEpoch: number;
  /** Guest-side per-vCPU state (context object, TLB) owned by the execution engine. */
  engine: unknown;
  /**
   * Values of the MSRs the guest accesses without a VM exit (MSR-bitmap bit 0), by the slot
   * `td-msr.ts` assigns; created at the first such access.
   */
  msrs: BigUint64Array | undefined;
}

export interface TdControl {
  readonly tdrPa: number;
  readonly hkid: number;
  lifecycle: TdLifecycle;
  fatal: boolean;
  /** Bitmask of packages on which TDH.MNG.KEY.CONFIG programmed the TD key. */
  pkgConfigured: number;
  readonly tdcxPas: number[];
  /** 4 KiB pages owned (TDR.CHLDCNT). */
  childCount: number;
  /** OP_STATE; meaningful once all TDCS pages are added. */
  opState: OpState;
  params: ValidTdParams | undefined;
  numVcpus: number;
  numAssocVcpus: number;
  readonly vcpus: VcpuControl[];
  /** TD_EPOCH and REFCOUNT[epoch & 1]. */
  epoch: number;
  readonly refcount: Int32Array;
  mrtd: MrtdAccumulator | undefined;
  readonly rtmr: Uint8Array[];
  sept: SecureEpt | undefined;
  /** TDCS.TD_CTLS (`TdCtls` bits); PENDING_VE_DISABLE starts as ATTRIBUTES.SEPT_VE_DISABLE. */
  tdCtls: bigint;
  /** TD_CTLS.PENDING_VE_DISABLE, cached for the access path (kept in step by `setTdCtls`). */
  pendingVeDisable: boolean;
  /** TDCS.TOPOLOGY_ENUM_CONFIGURED: set by TDH.MNG.INIT, cleared by a TDH.VP.INIT version 0. */
  topologyEnumConfigured: boolean;
  /** TDCS.NOTIFY_ENABLES (guest-writable bit 0). */
  notifyEnables: bigint;
  /** The TD's virtual CPUID values (TDCS.CPUID_VALUES), computed at TDH.MNG.INIT. */
  cpuid: CpuidTable | undefined;
}

/** Write TD_CTLS and its cached PENDING_VE_DISABLE bit. */
export function setTdCtls(td: TdControl, value: bigint): void {
  td.tdCtls = value;
  td.pendingVeDisable = (value & 1n) !== 0n;
}

export function newTdControl(
  tdrPa: number,
  hkid: number,
  lifecycle: TdLifecycle,
  opState: OpState,
): TdControl {
  return {
    tdrPa,
    hkid,
    lifecycle,
    fatal: false,
    pkgConfigured: 0,
    tdcxPas: [],
    childCount: 0,
    opState,
    params: undefined,
    numVcpus: 0,
    numAssocVcpus: 0,
    vcpus: [],
    epoch: 0,
    refcount: new Int32Array(2),
    mrtd: undefined,
    rtmr: [0, 1, 2, 3].map(() => new Uint8Array(48)),
    sept: undefined,
    tdCtls: 0n,
    pendingVeDisable: false,
    topologyEnumConfigured: false,
    notifyEnables: 0n,
    cpuid: undefined,
  };
}

export function newVcpuControl(tdvprPa: number, td: TdControl, state: VcpuState): VcpuControl {
  return {
    tdvprPa,
    td,
    state,
    tdcxPas: [],
    index: -1,
    x2apicId: 0,
    associatedLp: -1,
    regs: { gpr: newGprFile(), rip: 0, rflags: 2n },
    veInfo: {
      valid: false,
      exitReason: 0,
      exitQualification: 0n,
      gla: 0n,
      gpa: 0n,
      instructionLength: 0,
      instructionInfo: 0,
    },
    sharedEptp: 0n,
    program: undefined,
    pending: { status: 0n, regs: newGprFile(), vmcall: false, vmcallMask: 0 },
    entryEpoch: 0,
    engine: undefined,
    msrs: undefined,
  };
}

/** The value guest programs yield; one shared instance. */
export const TD_EXIT_SIGNAL: TdExitSignal = Object.freeze({ __tdExitSignal: true as const });
