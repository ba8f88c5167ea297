/**
 * A minimal host that drives a TDX module only through SEAMCALL, for tests, the contract suite
 * and benchmarks: page allocation from host RAM, the Linux bring-up order (SYS.INIT, LP.INIT on
 * every LP, CONFIG with a TDMR list whose PAMT sits in a reserved area, KEY.CONFIG once per
 * package, TDMR.INIT until done) and KVM's TD life (create, build, finalize, enter, teardown with
 * every page reclaimed). The real host lives in @tdx/kvm; this one is deliberately small.
 * Helpers throw on an unexpected status (they are for the happy path); use `call` to check codes.
 *
 * @spec shared/reference/tdx-module.md §5.5 (Linux bring-up), §3.6 (KVM's TD life and teardown
 *   order), §5.2-§5.3 (TDMR/PAMT layout)
 */
import { TdxSimError } from "../errors";
import { Initiator, MemStatus, type PhysicalMemoryAccess } from "../memory/types";
import type { GuestProgram } from "./guest-interface";
import { leafRax, SeamcallLeaf, seamcallLeafName } from "./leaves";
import { MR_EXTEND_CHUNK } from "./measurement";
import { VpField } from "./metadata";
import { Gpr, type GprFile, type GprValues, gprFileOf } from "./regs";
import { SharedEptWriter } from "./shared-ept";
import { describeStatus, isStatus } from "./status";
import { TdxStatus } from "./status-codes";
import { decodeVpEnter, type VpEnterOutcome } from "./td-exit";
import { ConfigFlags, encodeTdParams, eptpControlsFor, type TdParams } from "./td-params";
import { encodeTdmrInfo, type PhysRange, pamtSizes, TDMR_INFO_SIZE, type TdmrInfo } from "./tdmr";

const GIB = 1024 * 1024 * 1024;
const MIB2 = 2 * 1024 * 1024;

/** What a platform under test offers the driver. */
export interface TdxPlatformUnderTest {
  readonly memory: PhysicalMemoryAccess;
  seamcall(lp: number, regs: GprFile): bigint;
  loadGuestCode(tdrPa: number, program: GuestProgram): void;
  readonly lpPackages: readonly number[];
  /** A 1 GiB-aligned RAM range inside the CMRs, covered by the single TDMR the driver configures. */
  readonly tdmrRange: PhysRange;
  /** RAM outside the TDMR for shared host structures (TDMR_INFO, TD_PARAMS, source pages, EPT). */
  readonly sharedRange: PhysRange;
  /** The module's global private HKID and the HKIDs the driver may give TDs. */
  readonly globalHkid: number;
  readonly tdHkids: readonly number[];
}

export interface CallResult {
  readonly status: bigint;
  readonly regs: GprFile;
}

export class TdxHostDriver {
  private nextPrivate: number;
  private nextShared: number;
  private readonly freedPrivate: number[] = [];
  private readonly hkids: number[];
  readonly tdmr: TdmrInfo;
  /** SEAMCALLs issued, by leaf (for reports and benches). */
  readonly callCount = new Map<number, number>();

  constructor(readonly p: TdxPlatformUnderTest) {
    const t = p.tdmrRange;
    if (t.base % GIB !== 0 || t.size % GIB !== 0) {
      throw new TdxSimError("E_TDX_TEST_PLATFORM", "tdmrRange must be 1 GiB aligned and a multiple of 1 GiB");
    }
    const sz = pamtSizes(t.size);
    const pamtBytes = sz.l1g + sz.l2m + sz.l4k;
    this.tdmr = {
      base: t.base,
      size: t.size,
      pamt1gBase: t.base,
      pamt1gSize: sz.l1g,
      pamt2mBase: t.base + sz.l1g,
      pamt2mSize: sz.l2m,
      pamt4kBase: t.base + sz.l1g + sz.l2m,
      pamt4kSize: sz.l4k,
      reserved: [{ offset: 0, size: pamtBytes }],
    };
    this.nextPrivate = Math.ceil((t.base + pamtBytes) / MIB2) * MIB2;
    this.nextShared = p.sharedRange.base;
    this.hkids = [...p.tdHkids];
  }

  /** One SEAMCALL; returns the status and a copy of the output registers. */
  call(lp: number, leaf: number, args: GprValues = {}, version = 0): CallResult {
    const regs = gprFileOf(args);
    regs[Gpr.RAX] = leafRax(leaf, version);
    const status = this.p.seamcall(lp, regs);
    this.callCount.set(leaf, (this.callCount.get(leaf) ?? 0) + 1);
    return { status, regs };
  }

  /** `call`, throwing unless the status is SUCCESS (or one of `ok`). */
  must(lp: number, leaf: number, args: GprValues = {}, version = 0, ok: readonly bigint[] = []): CallResult {
    const r = this.call(lp, leaf, args, version);
    if (r.status !== TdxStatus.SUCCESS && !ok.includes(r.status)) {
      throw new TdxSimError(
        "E_TDX_HOST_STEP",
        `${seamcallLeafName(leaf)} on LP ${lp} returned ${describeStatus(r.status)} (RCX 0x${r.regs[Gpr.RCX]!.toString(16)}, RDX 0x${r.regs[Gpr.RDX]!.toString(16)})`,
      );
    }
    return r;
  }

  /** A 4 KiB page from the TDMR, to donate to the module (reclaimed pages are reused). */
  allocPage(): number {
    const reuse = this.freedPrivate.pop();
    if (reuse !== undefined) return reuse;
    return this.bump(4096, 4096);
  }

  /** A 2 MiB-aligned 2 MiB range from the TDMR. */
  alloc2M(): number {
    return this.bump(MIB2, MIB2);
  }

  private bump(size: number, align: number): number {
    const pa = Math.ceil(this.nextPrivate / align) * align;
    if (pa + size > this.tdmr.base + this.tdmr.size)
      throw new TdxSimError("E_TDX_TEST_OOM", "test TDMR exhausted");
    this.nextPrivate = pa + size;
    return pa;
  }

  /** Return a page to the driver's pool (after reclaim and re-initialisation). */
  freePage(pa: number): void {
    this.freedPrivate.push(pa);
  }

  /** Host memory outside the TDMR, zeroed. */
  allocShared(size: number, align = 4096): number {
    const pa = Math.ceil(this.nextShared / align) * align;
    if (pa + size > this.p.sharedRange.base + this.p.sharedRange.size) {
      throw new TdxSimError("E_TDX_TEST_OOM", "test shared range exhausted");
    }
    this.nextShared = pa + size;
    this.p.memory.fill(pa, size, 0, Initiator.Host);
    return pa;
  }

  writeHost(pa: number, bytes: Uint8Array): void {
    if (this.p.memory.write(pa, bytes, Initiator.Host) !== MemStatus.Ok) {
      throw new TdxSimError("E_TDX_TEST_PLATFORM", `host write at 0x${pa.toString(16)} failed`);
    }
  }

  /** LP indices that are the first LP of each package. */
  packageLeaders(): number[] {
    const seen = new Set<number>();
    const out: number[] = [];
    this.p.lpPackages.forEach((pkg, lp) => {
      if (!seen.has(pkg)) {
        seen.add(pkg);
        out.push(lp);
      }
    });
    return out;
  }

  /** Write the TDMR_INFO array (one entry) and return its PA-array PA. */
  writeTdmrList(list: readonly TdmrInfo[] = [this.tdmr]): number {
    const arr = this.allocShared(Math.max(512, list.length * 8), 512);
    const ptrs = new Uint8Array(list.length * 8);
    const dv = new DataView(ptrs.buffer);
    list.forEach((t, i) => {
      const e = this.allocShared(TDMR_INFO_SIZE, 512);
      this.writeHost(e, encodeTdmrInfo(t));
      dv.setBigUint64(i * 8, BigInt(e), true);
    });
    this.writeHost(arr, ptrs);
    return arr;
  }

  /** Linux's bring-up order; returns the number of TDH.SYS.TDMR.INIT calls. */
  bringUp(): number {
    this.must(0, SeamcallLeaf.SYS_INIT);
    for (let lp = 0; lp < this.p.lpPackages.length; lp++) this.must(lp, SeamcallLeaf.SYS_LP_INIT);
    const arr = this.writeTdmrList();
    this.must(0, SeamcallLeaf.SYS_CONFIG, { rcx: arr, rdx: 1, r8: this.p.globalHkid });
    for (const lp of this.packageLeaders()) this.must(lp, SeamcallLeaf.SYS_KEY_CONFIG);
    let calls = 0;
    for (;;) {
      const r = this.call(0, SeamcallLeaf.SYS_TDMR_INIT, { rcx: this.tdmr.base });
      calls++;
      if (isStatus(r.status, "TDMR_ALREADY_INITIALIZED")) return calls;
      if (r.status !== TdxStatus.SUCCESS) throw new TdxSimError("E_TDX_HOST_STEP", describeStatus(r.status));
      if (Number(r.regs[Gpr.RDX]) >= this.tdmr.base + this.tdmr.size) return calls;
    }
  }

  /**
   * Create a TD with default parameters (SEPT_VE_DISABLE off unless asked, 4-level EPT); vCPUs
   * get TDH.VP.INIT version 1 with x2APIC id `x2apicIds[i]` (default i) unless `vpInitVersion` is 0.
   */
  createTd(
    opts: Partial<TdParams> & {
      vcpus?: number;
      hkid?: number;
      vpInitVersion?: 0 | 1;
      x2apicIds?: readonly number[];
    } = {},
  ): TdHandle {
    const hkid = opts.hkid ?? this.hkids.shift();
    if (hkid === undefined) throw new TdxSimError("E_TDX_TEST_OOM", "no TD HKID left");
    const params: TdParams = {
      attributes: opts.attributes ?? 0n,
      xfam: opts.xfam ?? 0x3n,
      maxVcpus: opts.maxVcpus ?? Math.max(1, opts.vcpus ?? 1),
      eptpControls: opts.eptpControls ?? eptpControlsFor(4),
      configFlags: opts.configFlags ?? ConfigFlags.NO_RBP_MOD,
      tscFrequency: opts.tscFrequency ?? 100,
      ...(opts.mrconfigid ? { mrconfigid: opts.mrconfigid } : {}),
      ...(opts.mrowner ? { mrowner: opts.mrowner } : {}),
      ...(opts.mrownerconfig ? { mrownerconfig: opts.mrownerconfig } : {}),
    };
    return new TdHandle(this, hkid, params, opts.vcpus ?? 1, opts.vpInitVersion ?? 1, opts.x2apicIds);
  }
}

/** Pages a TD owns, by kind, as the host tracks them for teardown. */
interface OwnedPages {
  readonly tdcs: number[];
  readonly septPages: Map<string, number>;
  readonly vcpus: { tdvpr: number; tdcx: number[]; lp: number }[];
  /** GPA -> host PA (4K) or 2M range base, with its level. */
  readonly data: Map<number, { pa: number; level: number }>;
}

export class TdHandle {
  readonly tdr: number;
  readonly pages: OwnedPages = { tdcs: [], septPages: new Map(), vcpus: [], data: new Map() };
  readonly levels: 4 | 5;
  readonly gpaw: 48 | 52;
  private sharedEpt: SharedEptWriter | undefined;

  constructor(
    private readonly h: TdxHostDriver,
    readonly hkid: number,
    params: TdParams,
    vcpus: number,
    vpInitVersion: 0 | 1 = 1,
    x2apicIds?: readonly number[],
  ) {
    this.levels = Number((params.eptpControls >> 3n) & 7n) === 4 ? 5 : 4;
    this.gpaw = (params.configFlags & ConfigFlags.GPAW) !== 0n ? 52 : 48;
    this.tdr = h.allocPage();
    h.must(0, SeamcallLeaf.MNG_CREATE, { rcx: this.tdr, rdx: hkid });
    for (const lp of h.packageLeaders()) h.must(lp, SeamcallLeaf.MNG_KEY_CONFIG, { rcx: this.tdr });
    for (let i = 0; i < 6; i++) {
      const pg = h.allocPage();
      h.must(0, SeamcallLeaf.MNG_ADDCX, { rcx: pg, rdx: this.tdr });
      this.pages.tdcs.push(pg);
    }
    const pp = h.allocShared(1024, 1024);
    h.writeHost(pp, encodeTdParams(params));
    h.must(0, SeamcallLeaf.MNG_INIT, { rcx: this.tdr, rdx: pp });
    for (let v = 0; v < vcpus; v++) {
      const tdvpr = h.allocPage();
      h.must(0, SeamcallLeaf.VP_CREATE, { rcx: tdvpr, rdx: this.tdr });
      const tdcx: number[] = [];
      for (let i = 0; i < 5; i++) {
        const pg = h.allocPage();
        h.must(0, SeamcallLeaf.VP_ADDCX, { rcx: pg, rdx: tdvpr });
        tdcx.push(pg);
      }
      h.must(0, SeamcallLeaf.VP_INIT, { rcx: tdvpr, rdx: 0, r8: x2apicIds?.[v] ?? v }, vpInitVersion);
      this.pages.vcpus.push({ tdvpr, tdcx, lp: -1 });
    }
  }

  get driver(): TdxHostDriver {
    return this.h;
  }

  /** SEPT.ADD every missing table on the path to `gpa` down to the table at `downTo` (1 = PT). */
  ensureSept(gpa: number, downTo = 1): void {
    for (let level = this.levels - 1; level >= downTo; level--) {
      const span = 2 ** (12 + 9 * level);
      const key = `${level}:${Math.floor(gpa / span)}`;
      if (this.pages.septPages.has(key)) continue;
      const pg = this.h.allocPage();
      const base = Math.floor(gpa / span) * span;
      const r = this.h.call(0, SeamcallLeaf.MEM_SEPT_ADD, { rcx: base + level, rdx: this.tdr, r8: pg });
      if (r.status === TdxStatus.SUCCESS) this.pages.septPages.set(key, pg);
      else if (isStatus(r.status, "EPT_ENTRY_STATE_INCORRECT")) this.h.freePage(pg);
      else throw new TdxSimError("E_TDX_HOST_STEP", `TDH.MEM.SEPT.ADD: ${describeStatus(r.status)}`);
    }
  }

  /** TDH.MEM.PAGE.ADD of `content` (<= 4 KiB) at `gpa`; no measurement of the content. */
  addPage(gpa: number, content: Uint8Array): number {
    this.ensureSept(gpa);
    const src = this.h.allocShared(4096);
    this.h.writeHost(src, content);
    const pg = this.h.allocPage();
    this.h.must(0, SeamcallLeaf.MEM_PAGE_ADD, { rcx: gpa, rdx: this.tdr, r8: pg, r9: src });
    this.pages.data.set(gpa, { pa: pg, level: 0 });
    return pg;
  }

  /** TDH.MR.EXTEND of the 16 256-byte chunks of the page at `gpa`. */
  extendPage(gpa: number): void {
    for (let off = 0; off < 4096; off += MR_EXTEND_CHUNK) {
      this.h.must(0, SeamcallLeaf.MR_EXTEND, { rcx: gpa + off, rdx: this.tdr });
    }
  }

  /** Make a page of the initial image (QEMU >= 9 order: add, then extend it). */
  addMeasuredPage(gpa: number, content: Uint8Array): number {
    const pg = this.addPage(gpa, content);
    this.extendPage(gpa);
    return pg;
  }

  finalize(): void {
    this.h.must(0, SeamcallLeaf.MR_FINALIZE, { rcx: this.tdr });
  }

  loadGuestCode(program: GuestProgram): void {
    this.h.p.loadGuestCode(this.tdr, program);
  }

  /** TDH.MEM.PAGE.AUG of a page (level 0) or 2 MiB range (level 1) at `gpa`. */
  augPage(gpa: number, level = 0): number {
    this.ensureSept(gpa, level + 1);
    const pg = level === 0 ? this.h.allocPage() : this.h.alloc2M();
    this.h.must(0, SeamcallLeaf.MEM_PAGE_AUG, { rcx: gpa + level, rdx: this.tdr, r8: pg });
    this.pages.data.set(gpa, { pa: pg, level });
    return pg;
  }

  /** BLOCK, TRACK, REMOVE of a private mapping (KVM's sequence); the page returns to the host. */
  removePrivate(gpa: number): void {
    const d = this.pages.data.get(gpa);
    if (!d) throw new TdxSimError("E_TDX_TEST", `no private page at GPA 0x${gpa.toString(16)}`);
    this.h.must(0, SeamcallLeaf.MEM_RANGE_BLOCK, { rcx: gpa + d.level, rdx: this.tdr });
    this.h.must(0, SeamcallLeaf.MEM_TRACK, { rcx: this.tdr });
    this.h.must(0, SeamcallLeaf.MEM_PAGE_REMOVE, { rcx: gpa + d.level, rdx: this.tdr });
    this.pages.data.delete(gpa);
  }

  /** A shared EPT for vCPU `v` (built in shared host memory and installed with TDH.VP.WR). */
  sharedEptFor(v = 0): SharedEptWriter {
    if (!this.sharedEpt) {
      const root = this.h.allocShared(4096);
      this.sharedEpt = new SharedEptWriter(this.h.p.memory, root, this.levels, () =>
        this.h.allocShared(4096),
      );
    }
    const vc = this.pages.vcpus[v]!;
    this.h.must(0, SeamcallLeaf.VP_WR, {
      rcx: vc.tdvpr,
      rdx: VpField.SHARED_EPT_POINTER,
      r8: this.sharedEpt.eptp(),
      r9: 0xffffffffffffffffn,
    });
    return this.sharedEpt;
  }

  /** TDH.VP.ENTER of vCPU `v` on `lp` with extra input registers (e.g. a VMCALL's outputs). */
  enter(v = 0, lp = 0, inputs: GprValues = {}): { status: bigint; regs: GprFile; outcome: VpEnterOutcome } {
    const vc = this.pages.vcpus[v]!;
    const r = this.h.call(lp, SeamcallLeaf.VP_ENTER, { ...inputs, rcx: vc.tdvpr });
    const outcome = decodeVpEnter(r.status, r.regs);
    if (outcome.kind !== "error") vc.lp = lp;
    return { status: r.status, regs: r.regs, outcome };
  }

  /** The shared-bit mask of this TD's GPA space. */
  get sharedBit(): number {
    return 2 ** (this.gpaw - 1);
  }

  /**
   * KVM's teardown: VP.FLUSH on each vCPU's LP, VPFLUSHDONE, CACHE.WB on every package, KEY.FREEID,
   * reclaim of data, SEPT, TDVPS and TDCS pages, the TDR last, then WBINVD of the TDR.
   */
  teardown(): void {
    const h = this.h;
    for (const v of this.pages.vcpus) {
      if (v.lp >= 0) {
        h.must(v.lp, SeamcallLeaf.VP_FLUSH, { rcx: v.tdvpr }, 0, [TdxStatus.VCPU_NOT_ASSOCIATED]);
        v.lp = -1;
      }
    }
    h.must(0, SeamcallLeaf.MNG_VPFLUSHDONE, { rcx: this.tdr });
    for (const lp of h.packageLeaders()) {
      let r = h.call(lp, SeamcallLeaf.PHYMEM_CACHE_WB, { rcx: 0 });
      while (isStatus(r.status, "INTERRUPTED_RESUMABLE"))
        r = h.call(lp, SeamcallLeaf.PHYMEM_CACHE_WB, { rcx: 1 });
      if (r.status !== TdxStatus.SUCCESS && !isStatus(r.status, "NO_HKID_READY_TO_WBCACHE")) {
        throw new TdxSimError("E_TDX_HOST_STEP", `TDH.PHYMEM.CACHE.WB: ${describeStatus(r.status)}`);
      }
    }
    h.must(0, SeamcallLeaf.MNG_KEY_FREEID, { rcx: this.tdr });
    const reclaim = (pa: number) => h.must(0, SeamcallLeaf.PHYMEM_PAGE_RECLAIM, { rcx: pa });
    for (const d of this.pages.data.values()) reclaim(d.pa);
    for (const pg of this.pages.septPages.values()) reclaim(pg);
    for (const v of this.pages.vcpus) {
      for (const pg of v.tdcx) reclaim(pg);
      reclaim(v.tdvpr);
    }
    for (const pg of this.pages.tdcs) reclaim(pg);
    reclaim(this.tdr);
    const mem = h.p.memory;
    const keyUnit = 2 ** (mem.physAddrBits - mem.keyIdBits);
    h.must(0, SeamcallLeaf.PHYMEM_PAGE_WBINVD, { rcx: this.tdr + h.p.globalHkid * keyUnit });
    this.pages.data.clear();
    this.pages.septPages.clear();
  }
}
