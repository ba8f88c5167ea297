/**
 * The TDX module as the host sees it: `seamcall(lp, regs)` executes SEAMCALL on a logical
 * processor with the real register convention (RAX = leaf | version << 16, inputs in RCX, RDX,
 * R8-R11 — and R12-R15, RBX, RSI, RDI for TDH.VP.ENTER — status in RAX, outputs in RCX, RDX,
 * R8-R11, which are cleared first). The dispatcher gates in the module's order: RAX format and
 * leaf version, SYS_SHUTDOWN, SYS_READY; then the leaf's own per-TD and per-object checks.
 * Outside the ABI: `loadGuestCode` (what the TD image runs) and read-only introspection for
 * tests, reports and traces.
 *
 * @spec shared/reference/tdx-module.md §0.1 (SEAMCALL convention, versions), §2.1 (dispatcher
 *   gating), §11 item 2; intel/tdx-module src/vmm_dispatcher/tdx_vmm_dispatcher.c
 */
import { seamcallSwStatus } from "../cpu/logical-processor";
import { TdxSimError } from "../errors";
import type { CallCtx, TdxModuleConfig } from "./core";
import { TdxModuleCore } from "./core";
import type { GuestProgram } from "./guest-interface";
import { decodeLeafRax, SEAMCALL_MAX_VERSION, SeamcallLeaf } from "./leaves";
import { Gpr, type GprFile, newGprFile } from "./regs";
import * as mem from "./seamcall-mem";
import * as mng from "./seamcall-mng";
import * as mr from "./seamcall-mr";
import * as phymem from "./seamcall-phymem";
import * as resize from "./seamcall-resize";
import * as sys from "./seamcall-sys";
import * as vp from "./seamcall-vp";
import {
  type KotState,
  LEAVES_BEFORE_SYS_READY,
  type OpState,
  SysState as SS,
  type SysState,
  type TdLifecycle,
  type VcpuState,
} from "./states";
import { OperandId, withOperand } from "./status";
import { TdxStatus } from "./status-codes";
import { vpEnter } from "./vp-enter";

type Handler = (m: TdxModuleCore, c: CallCtx) => bigint;

const HANDLERS: ReadonlyMap<number, Handler> = new Map<number, Handler>([
  [SeamcallLeaf.SYS_INIT, sys.sysInit],
  [SeamcallLeaf.SYS_LP_INIT, sys.sysLpInit],
  [SeamcallLeaf.SYS_INFO, sys.sysInfo],
  [SeamcallLeaf.SYS_RD, sys.sysRd],
  [SeamcallLeaf.SYS_RDALL, sys.sysRdAll],
  [SeamcallLeaf.SYS_CONFIG, sys.sysConfig],
  [SeamcallLeaf.SYS_KEY_CONFIG, sys.sysKeyConfig],
  [SeamcallLeaf.SYS_TDMR_INIT, sys.sysTdmrInit],
  [SeamcallLeaf.SYS_LP_SHUTDOWN, sys.sysLpShutdown],
  [SeamcallLeaf.MNG_CREATE, mng.mngCreate],
  [SeamcallLeaf.MNG_KEY_CONFIG, mng.mngKeyConfig],
  [SeamcallLeaf.MNG_ADDCX, mng.mngAddCx],
  [SeamcallLeaf.MNG_INIT, mng.mngInit],
  [SeamcallLeaf.MNG_RD, mng.mngRd],
  [SeamcallLeaf.MNG_WR, mng.mngWr],
  [SeamcallLeaf.MNG_VPFLUSHDONE, mng.mngVpFlushDone],
  [SeamcallLeaf.MNG_KEY_FREEID, mng.mngKeyFreeId],
  [SeamcallLeaf.MNG_KEY_RECLAIMID, mng.mngKeyReclaimId],
  [SeamcallLeaf.VP_CREATE, vp.vpCreate],
  [SeamcallLeaf.VP_ADDCX, vp.vpAddCx],
  [SeamcallLeaf.VP_INIT, vp.vpInit],
  [SeamcallLeaf.VP_RD, vp.vpRd],
  [SeamcallLeaf.VP_WR, vp.vpWr],
  [SeamcallLeaf.VP_FLUSH, vp.vpFlush],
  [SeamcallLeaf.VP_ENTER, vpEnter],
  [SeamcallLeaf.MEM_SEPT_ADD, mem.memSeptAdd],
  [SeamcallLeaf.MEM_PAGE_ADD, mem.memPageAdd],
  [SeamcallLeaf.MEM_PAGE_AUG, mem.memPageAug],
  [SeamcallLeaf.MEM_RANGE_BLOCK, mem.memRangeBlock],
  [SeamcallLeaf.MEM_TRACK, mem.memTrack],
  [SeamcallLeaf.MEM_RANGE_UNBLOCK, mem.memRangeUnblock],
  [SeamcallLeaf.MEM_PAGE_REMOVE, mem.memPageRemove],
  [SeamcallLeaf.MEM_SEPT_RD, mem.memSeptRd],
  [SeamcallLeaf.MEM_SEPT_REMOVE, mem.memSeptRemove],
  [SeamcallLeaf.MEM_PAGE_DEMOTE, resize.memPageDemote],
  [SeamcallLeaf.MEM_PAGE_PROMOTE, resize.memPagePromote],
  [SeamcallLeaf.MR_EXTEND, mr.mrExtend],
  [SeamcallLeaf.MR_FINALIZE, mr.mrFinalize],
  [SeamcallLeaf.MEM_RD, mr.memRd],
  [SeamcallLeaf.MEM_WR, mr.memWr],
  [SeamcallLeaf.PHYMEM_PAGE_RDMD, phymem.phymemPageRdmd],
  [SeamcallLeaf.PHYMEM_PAGE_RECLAIM, phymem.phymemPageReclaim],
  [SeamcallLeaf.PHYMEM_CACHE_WB, phymem.phymemCacheWb],
  [SeamcallLeaf.PHYMEM_PAGE_WBINVD, phymem.phymemPageWbinvd],
]);

const OUTPUT_REGS = [Gpr.RCX, Gpr.RDX, Gpr.R8, Gpr.R9, Gpr.R10, Gpr.R11] as const;

/** Read-only view of one TD for tests and reports (not part of the ABI). */
export interface TdSnapshot {
  readonly hkid: number;
  readonly lifecycle: TdLifecycle;
  readonly opState: OpState;
  readonly fatal: boolean;
  readonly childCount: number;
  readonly numVcpus: number;
  readonly epoch: number;
  /** MRTD (zeros until TDH.MR.FINALIZE). */
  readonly mrtd: Uint8Array;
  readonly rtmr: readonly Uint8Array[];
  readonly vcpuStates: readonly VcpuState[];
}

export class TdxModule {
  private readonly core: TdxModuleCore;
  private readonly inp = newGprFile();

  constructor(config: TdxModuleConfig) {
    this.core = new TdxModuleCore(config);
  }

  /**
   * Execute SEAMCALL on logical processor `lp`. `regs` holds the caller's GPRs (x86 order); the
   * outputs are written back into it and the completion status is returned (also in RAX).
   */
  seamcall(lp: number, regs: GprFile): bigint {
    const m = this.core;
    if (!Number.isInteger(lp) || lp < 0 || lp >= m.lpPackages.length) {
      throw new TdxSimError(
        "E_BAD_LP",
        `LP ${lp} does not exist: the platform has LPs 0..${m.lpPackages.length - 1}`,
      );
    }
    if (regs.length !== 16) throw new TdxSimError("E_BAD_REGS", "a GPR file has exactly 16 registers");
    const cpu = m.cfg.cpus?.lp(lp);
    if (cpu) {
      const o = cpu.seamcall();
      if (o.kind === "vm-exit") {
        throw new TdxSimError(
          "E_SEAMCALL_IN_VM",
          `LP ${lp} is running a VM: its SEAMCALL exits to that VM's host`,
        );
      }
      if (o.kind !== "ok") {
        const sw = seamcallSwStatus(o)!;
        regs[Gpr.RAX] = sw;
        return sw;
      }
    }
    let status: bigint;
    try {
      status = this.dispatch(lp, regs);
    } finally {
      cpu?.seamret();
    }
    regs[Gpr.RAX] = status;
    return status;
  }

  private dispatch(lp: number, regs: GprFile): bigint {
    const m = this.core;
    const { leaf, version, reservedClear } = decodeLeafRax(regs[Gpr.RAX]!);
    const handler = HANDLERS.get(leaf);
    const maxVersion =
      leaf === SeamcallLeaf.VP_INIT && m.opt.vpInitV1 ? 1 : (SEAMCALL_MAX_VERSION[leaf] ?? 0);
    if (!reservedClear || !handler || version > maxVersion)
      return withOperand(TdxStatus.OPERAND_INVALID, OperandId.RAX);
    if (m.sys.state === SS.SYS_SHUTDOWN && leaf !== SeamcallLeaf.SYS_LP_SHUTDOWN)
      return TdxStatus.SYS_SHUTDOWN;
    if (m.sys.state !== SS.SYS_READY && !LEAVES_BEFORE_SYS_READY.has(leaf)) return TdxStatus.SYS_NOT_READY;
    this.inp.set(regs);
    for (const r of OUTPUT_REGS) regs[r] = 0n;
    return handler(m, { lp, pkg: m.lpPackages[lp]!, leaf, version, in: this.inp, out: regs });
  }

  /**
   * Attach the code the TD's image runs (every vCPU starts it at its first TDH.VP.ENTER). A
   * simulator hook standing for the measured image content, not an ABI.
   */
  loadGuestCode(tdrPa: number, program: GuestProgram): void {
    if (!this.core.tds.has(tdrPa)) {
      throw new TdxSimError("E_TDX_NO_TD", `no TD has its TDR at 0x${tdrPa.toString(16)}`);
    }
    this.core.guestCode.set(tdrPa, program);
  }

  // ------------------------------------------------------------------ introspection

  get sysState(): SysState {
    return this.core.sys.state;
  }

  /** Private HKID range the module derived at TDH.SYS.INIT ([first, last]; empty before). */
  get privateHkids(): { readonly first: number; readonly last: number } {
    return { first: this.core.sys.hkidFirst, last: this.core.sys.hkidLast };
  }

  kotState(hkid: number): KotState {
    return this.core.kot.state[hkid] as KotState;
  }

  /** Bytes of PAMT the host provided for the configured TDMRs (the module's memory cost). */
  pamtBytes(): number {
    return this.core.pamt.bytes();
  }

  /** 4 KiB pages by PAMT page type over every initialised TDMR block. */
  pamtCensus(): Map<number, number> {
    return this.core.pamt.census();
  }

  /** PAMT page type, owner and level of the page holding `pa`. */
  pageMetadata(pa: number): { readonly pageType: number; readonly owner: number; readonly level: number } {
    const p = this.core.pamt;
    const level = p.leafLevel(pa);
    const e = p.read(pa, level);
    return { pageType: e.pageType, owner: e.owner, level };
  }

  td(tdrPa: number): TdSnapshot | undefined {
    const td = this.core.tds.get(tdrPa);
    if (!td) return undefined;
    return {
      hkid: td.hkid,
      lifecycle: td.lifecycle,
      opState: td.opState,
      fatal: td.fatal,
      childCount: td.childCount,
      numVcpus: td.numVcpus,
      epoch: td.epoch,
      mrtd: td.mrtd?.value().slice() ?? new Uint8Array(48),
      rtmr: td.rtmr.map((r) => r.slice()),
      vcpuStates: td.vcpus.map((v) => v.state),
    };
  }
}
