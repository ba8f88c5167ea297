/**
 * The module core shared by every leaf handler: configuration, memory access, PAMT, system
 * state, KOT, TD/vCPU control structures, and the operand checks leaves share (page operands,
 * shared-HPA operands, TDR/TDVPR lookup and the per-TD gating order: page type, FATAL,
 * lifecycle, TDCS allocated, OP_STATE).
 *
 * @spec shared/reference/tdx-module.md §11 item 2 (gating order), §3 (operands), §5.4 (shared
 *   HPA operands: HKID below the private range), §2.1 (a 1 GiB block is usable once its PAMT
 *   is initialised: OPERAND_ADDR_RANGE_ERROR before)
 */
import type { CpuComplex } from "../cpu/cpu-complex";
import { CpuModel, type CpuModelInfo } from "../cpu/cpuid";
import { TdxSimError } from "../errors";
import type { PhysicalMemoryAccess } from "../memory/types";
import {
  type Kot,
  Kot as KotTable,
  type SysControl,
  TDCS_PAGES,
  type TdControl,
  type VcpuControl,
} from "./control";
import type { GuestProgram } from "./guest-interface";
import { SeamcallLeaf } from "./leaves";
import type { TeeTcbInfo } from "./measurement";
import { Pamt } from "./pamt";
import type { GprFile } from "./regs";
import { SeamMemory } from "./seam-memory";
import { isOpStateGated, leafAllowedInOpState, PageType, SysState, TdLifecycle } from "./states";
import { withOperand } from "./status";
import { TdxStatus } from "./status-codes";
import { TdxFeatures0 } from "./td-params";
import type { PhysRange } from "./tdmr";

/** A device-facing sink for guest accesses that reach MMIO through the shared EPT. */
export interface MmioPort {
  /** Fill `dst` with the device's reply for a read at `hpa`; return false if no device decodes it. */
  mmioRead(hpa: number, dst: Uint8Array): boolean;
  mmioWrite(hpa: number, src: Uint8Array): boolean;
}

/** Behaviours where sources or module versions differ; each has a documented default. */
export interface TdxModuleOptions {
  /** Accept TDH.VP.INIT version 1 (R8 = x2APIC id), as newer 1.5 modules do and KVM uses. Default true. */
  readonly vpInitV1?: boolean;
  /** Accept 1 GiB TDG.MEM.PAGE.ACCEPT; TDX_1.5.01 rejects it (OPERAND_INVALID). Default false. */
  readonly accept1G?: boolean;
  /** Calls TDH.PHYMEM.CACHE.WB needs per package (INTERRUPTED_RESUMABLE before the last). Default 1. */
  readonly cacheWbSteps?: number;
  /**
   * TDX_FEATURES0 reported by TDH.SYS.RD; default NO_RBP_MOD (18) | TOPOLOGY_ENUM (20), as
   * TDX_1.5.0x. With VE_REDUCTION (30) the guest may also write TD_CTLS.REDUCE_VE.
   */
  readonly features0?: bigint;
  /**
   * RDMSR/WRMSR of an MSR inside the MSR-bitmap ranges that the module's MSR table does not list,
   * while TD_CTLS.REDUCE_VE is set: "ve" (default; the 1.5 module's td_msr_access.c injects #VE
   * for every unlisted MSR) or "gp" (later module sources: #GP under REDUCE_VE) [sources differ].
   */
  readonly unlistedMsrWithReduceVe?: "ve" | "gp";
  /**
   * CPU model whose CPUID the TDs' virtual CPUID derives from when no `cpus` are given (with
   * `cpus`, LP 0's CPUID is used). Default Sapphire Rapids-X.
   */
  readonly cpuModel?: CpuModelInfo;
  /** MAX_VCPUS_PER_TD reported; default 576 [unverified]. */
  readonly maxVcpusPerTd?: number;
  /** Highest EPT level count the platform supports (4 or 5). Default 5. */
  readonly maxEptLevels?: 4 | 5;
  /** REPORTTYPE.VERSION in TDREPORT; default 0 [unverified for 1.5]. */
  readonly reportVersion?: number;
  /** TEE_TCB_INFO, CPUSVN and the MAC key the CPU would supply to SEAMREPORT. */
  readonly teeTcb?: TeeTcbInfo;
  readonly cpusvn?: Uint8Array;
  readonly reportMacKey?: Uint8Array;
}

export interface TdxModuleConfig {
  readonly memory: PhysicalMemoryAccess;
  /**
   * The logical processors. When given, SEAMCALL is executed by the LP (VMX root -> SEAM root,
   * SEAMRET back; VMfailInvalid/#UD/#GP come back as Linux's software statuses), TDH.VP.ENTER
   * moves it to SEAM non-root while the guest runs, packages come from its topology and
   * TDH.SYS.INIT reads IA32_MKTME_KEYID_PARTITIONING from its MSRs.
   */
  readonly cpus?: CpuComplex;
  /** Package of each LP (LP i is in package lpPackages[i]); required without `cpus`. */
  readonly lpPackages?: readonly number[];
  /** Convertible memory ranges as BIOS/MCHECK report them (at most 32, sorted). */
  readonly cmrs: readonly PhysRange[];
  /** IA32_MKTME_KEYID_PARTITIONING (MSR 0x87) value; required without `cpus`. */
  readonly keyIdPartitioning?: bigint;
  readonly mmio?: MmioPort;
  readonly options?: TdxModuleOptions;
}

/** One SEAMCALL in flight. */
export interface CallCtx {
  readonly lp: number;
  readonly pkg: number;
  readonly leaf: number;
  readonly version: number;
  /** Snapshot of the caller's registers at entry. */
  readonly in: GprFile;
  /** The caller's register file: outputs go here. */
  readonly out: GprFile;
}

const NO_TD = { td: undefined, status: 0n } as const;
const MSR_MKTME_KEYID_PARTITIONING = 0x87;

export class TdxModuleCore {
  readonly sm: SeamMemory;
  readonly pamt: Pamt;
  readonly sys: SysControl;
  readonly kot: Kot = new KotTable();
  readonly tds = new Map<number, TdControl>();
  readonly vcpus = new Map<number, VcpuControl>();
  readonly guestCode = new Map<number, GuestProgram>();
  readonly packageCount: number;
  /** Per package: TDH.PHYMEM.CACHE.WB calls done in the current (interruptible) operation. */
  readonly wbProgress: number[];
  /** 2^(MAX_PA - KeyID bits): PAs at or above carry HKID bits. */
  readonly paLimit: number;
  readonly opt: Required<Omit<TdxModuleOptions, "teeTcb" | "cpusvn" | "reportMacKey">> &
    Pick<TdxModuleOptions, "teeTcb" | "cpusvn" | "reportMacKey">;

  /** Package of each LP. */
  readonly lpPackages: readonly number[];

  constructor(readonly cfg: TdxModuleConfig) {
    const lpPackages = cfg.lpPackages ?? cfg.cpus?.lps.map((l) => l.packageId);
    if (
      !lpPackages ||
      lpPackages.length === 0 ||
      lpPackages.some((p) => !Number.isInteger(p) || p < 0 || p >= 32)
    ) {
      throw new TdxSimError(
        "E_TDX_CONFIG",
        "give `cpus` or `lpPackages` listing at least one LP, each in a package 0..31",
      );
    }
    if (cfg.keyIdPartitioning === undefined && !cfg.cpus) {
      throw new TdxSimError(
        "E_TDX_CONFIG",
        "give `cpus` or the IA32_MKTME_KEYID_PARTITIONING value `keyIdPartitioning`",
      );
    }
    this.lpPackages = lpPackages;
    if (cfg.cmrs.length > 32) throw new TdxSimError("E_TDX_CONFIG", "at most 32 CMRs are allowed (MAX_CMR)");
    this.sm = new SeamMemory(cfg.memory);
    this.paLimit = this.sm.layout.keyUnit;
    this.pamt = new Pamt(this.sm);
    this.packageCount = Math.max(...lpPackages) + 1;
    this.wbProgress = new Array<number>(this.packageCount).fill(0);
    this.sys = {
      state: SysState.SYSINIT_PENDING,
      lpInit: new Uint8Array(lpPackages.length),
      numInitLps: 0,
      pkgKeyConfigured: new Uint8Array(this.packageCount),
      globalHkid: 0,
      hkidFirst: 0,
      hkidLast: -1,
    };
    const o = cfg.options ?? {};
    this.opt = {
      vpInitV1: o.vpInitV1 ?? true,
      accept1G: o.accept1G ?? false,
      cacheWbSteps: Math.max(1, o.cacheWbSteps ?? 1),
      features0: o.features0 ?? TdxFeatures0.NO_RBP_MOD | TdxFeatures0.TOPOLOGY_ENUM,
      unlistedMsrWithReduceVe: o.unlistedMsrWithReduceVe ?? "ve",
      cpuModel: o.cpuModel ?? CpuModel.SapphireRapidsX,
      maxVcpusPerTd: o.maxVcpusPerTd ?? 576,
      maxEptLevels: o.maxEptLevels ?? 5,
      reportVersion: o.reportVersion ?? 0,
      teeTcb: o.teeTcb,
      cpusvn: o.cpusvn,
      reportMacKey: o.reportMacKey,
    };
  }

  /** IA32_MKTME_KEYID_PARTITIONING as LP `lp` reads it (the configured value without CPUs). */
  keyIdPartitioning(lp: number): bigint {
    return this.cfg.keyIdPartitioning ?? this.cfg.cpus!.lp(lp).msrs.peek(MSR_MKTME_KEYID_PARTITIONING);
  }

  isPrivateHkid(hkid: number): boolean {
    return hkid >= this.sys.hkidFirst && hkid <= this.sys.hkidLast;
  }

  /** A shared-HPA operand (host structure the module reads/writes): aligned, shared KeyID, in range. */
  checkSharedHpa(pa: number, align: number, op: number): bigint {
    const key = this.sm.layout.keyOf(pa);
    if (
      !Number.isSafeInteger(pa) ||
      pa % align !== 0 ||
      key >= this.sys.hkidFirst ||
      key > this.sm.layout.maxKeyId
    ) {
      return withOperand(TdxStatus.OPERAND_INVALID, op);
    }
    return TdxStatus.SUCCESS;
  }

  /** A host page operand: 4 KiB aligned, HKID bits 0, in an initialised TDMR block. */
  checkPagePa(pa: number, op: number): bigint {
    if (!Number.isSafeInteger(pa) || pa % 4096 !== 0 || pa >= this.paLimit) {
      return withOperand(TdxStatus.OPERAND_INVALID, op);
    }
    if (!this.pamt.isReady(pa)) return withOperand(TdxStatus.OPERAND_ADDR_RANGE_ERROR, op);
    return TdxStatus.SUCCESS;
  }

  /** A page the host donates: as `checkPagePa`, and PT_NDA as a 4 KiB leaf in the PAMT. */
  checkFreePage(pa: number, op: number): bigint {
    const st = this.checkPagePa(pa, op);
    if (st !== TdxStatus.SUCCESS) return st;
    if (this.pamt.leafLevel(pa) !== 0 || this.pamt.read(pa, 0).pageType !== PageType.PT_NDA) {
      return withOperand(TdxStatus.PAGE_METADATA_INCORRECT, op);
    }
    return TdxStatus.SUCCESS;
  }

  /** Find the TD whose TDR is at `pa` (a PT_TDR page). */
  tdOf(pa: number, op: number): { td: TdControl; status: bigint } | { td: undefined; status: bigint } {
    const st = this.checkPagePa(pa, op);
    if (st !== TdxStatus.SUCCESS) return { td: undefined, status: st };
    const td = this.tds.get(pa);
    if (!td || this.pamt.leafLevel(pa) !== 0 || this.pamt.read(pa, 0).pageType !== PageType.PT_TDR) {
      return { td: undefined, status: withOperand(TdxStatus.PAGE_METADATA_INCORRECT, op) };
    }
    return { td, status: TdxStatus.SUCCESS };
  }

  /**
   * Per-TD gating for `leaf`, in the module's order: FATAL, lifecycle (keys configured, not
   * blocked/torn down), TDCS allocated, OP_STATE matrix.
   */
  gateTd(td: TdControl, leaf: number, needTdcs = true): bigint {
    if (td.fatal && !FATAL_ALLOWED.has(leaf)) return TdxStatus.TD_FATAL;
    if (td.lifecycle === TdLifecycle.TD_HKID_ASSIGNED) return TdxStatus.TD_KEYS_NOT_CONFIGURED;
    if (td.lifecycle !== TdLifecycle.TD_KEYS_CONFIGURED) return TdxStatus.LIFECYCLE_STATE_INCORRECT;
    if (needTdcs && td.tdcxPas.length < TDCS_PAGES) return TdxStatus.TDCS_NOT_ALLOCATED;
    if (needTdcs && isOpStateGated(leaf) && !leafAllowedInOpState(leaf, td.opState)) {
      return TdxStatus.OP_STATE_INCORRECT;
    }
    return TdxStatus.SUCCESS;
  }

  /** Resolve the TDR operand and gate; convenience for most TD leaves. */
  gatedTd(
    pa: number,
    op: number,
    leaf: number,
    needTdcs = true,
  ): { td: TdControl | undefined; status: bigint } {
    const r = this.tdOf(pa, op);
    if (!r.td) return r;
    const g = this.gateTd(r.td, leaf, needTdcs);
    return g === TdxStatus.SUCCESS ? r : { ...NO_TD, status: g };
  }

  /** Find the vCPU whose TDVPR is at `pa` (a PT_TDVPR page). */
  vcpuOf(pa: number, op: number): { vcpu: VcpuControl | undefined; status: bigint } {
    const st = this.checkPagePa(pa, op);
    if (st !== TdxStatus.SUCCESS) return { vcpu: undefined, status: st };
    const vcpu = this.vcpus.get(pa);
    if (!vcpu || this.pamt.read(pa, 0).pageType !== PageType.PT_TDVPR) {
      return { vcpu: undefined, status: withOperand(TdxStatus.PAGE_METADATA_INCORRECT, op) };
    }
    return { vcpu, status: TdxStatus.SUCCESS };
  }

  /** Zero a 4 KiB page with `hkid` using full-line writes (MOVDIR64B), making it owned by that key. */
  initPage(pa: number, hkid: number): void {
    this.sm.fill(this.sm.layout.withKey(pa, hkid), 4096, 0);
  }
}

/** Leaves a fatal TD still accepts (inspection and teardown). @spec tdx-module.md §2.3 (FATAL) */
const FATAL_ALLOWED: ReadonlySet<number> = new Set([
  SeamcallLeaf.VP_FLUSH,
  SeamcallLeaf.MNG_VPFLUSHDONE,
  SeamcallLeaf.MNG_KEY_FREEID,
  SeamcallLeaf.MNG_RD,
  SeamcallLeaf.VP_RD,
  SeamcallLeaf.MEM_SEPT_RD,
  SeamcallLeaf.MEM_TRACK,
  SeamcallLeaf.MEM_RANGE_BLOCK,
  SeamcallLeaf.MEM_PAGE_REMOVE,
]);
