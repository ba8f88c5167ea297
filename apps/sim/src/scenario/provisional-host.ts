/**
 * The PROVISIONAL host: a stand-in for the host kernel (@tdx/kvm) and the VMM (@tdx/qemu-gmem)
 * until those layers exist. It does what they will do, in their order and through the same
 * interfaces, and no more:
 * - brings the TDX module up through SEAMCALL (SYS.INIT, LP.INIT on every LP, CONFIG, KEY.CONFIG
 *   per package, TDMR.INIT until done) with the hw-cpu-seam host driver (TdxHostDriver);
 * - builds the TD (MNG.CREATE .. VP.INIT, SEPT.ADD / PAGE.ADD of its initial private memory,
 *   MR.EXTEND of the kernel text), finalizes it and reads MRTD back with TDH.MNG.RD;
 * - programs the VT-d unit (HostIommu) and attaches the emulated device to it;
 * - runs the vCPU loop: TDH.VP.ENTER until an exit, then handles it as KVM + QEMU would —
 *   MapGPA (2 MiB chunks to "userspace", conversion: BLOCK/TRACK/REMOVE of private pages and a
 *   shared backing mapped in the shared EPT and in the IOMMU; back to private: the shared side
 *   dropped and unmapped, the page AUGed for the guest to accept), #VE.RequestMMIO to the device
 *   model, HLT (idle with interrupts enabled: the host may act and wake the vCPU; with
 *   interrupts blocked: the run ends), ReportFatalError (the run ends with the guest's message);
 *   any other sub-function gets SUBFUNC_UNSUPPORTED, as KVM answers unknown leaves.
 * It counts every exit, TDVMCALL and conversion so the report can price them.
 *
 * Not modelled (the later layers own them): memslots and guest_memfd files, KVM's own EPT-fault
 * handling (this host pre-populates everything; an EPT-violation exit ends the run as unexpected),
 * in-kernel devices, interrupts and posted-interrupt delivery, TD teardown.
 *
 * @spec shared/reference/tdx-module.md §5.5 (Linux bring-up), §3.6 (KVM's TD life);
 *   shared/reference/kvm-guest-qemu.md §1.6 (MMIO: R12 size, R13 direction, R14 GPA, R15 value;
 *   INVALID_OPERAND for bad size/direction or a private GPA), §1.7 (dispatch table, statuses),
 *   §1.8 (MapGPA: alignment -> ALIGN_ERROR, sides of the shared bit -> INVALID_OPERAND, 2 MiB
 *   chunks), §1.9 (HLT R12 = interrupts blocked), §4.8 (kvm_convert_memory), §4.9 (VFIO)
 */

import { fatalErrorMessage } from "@tdx/guest-linux-swiotlb";
import type { SeededRandom } from "@tdx/hw-cpu-seam";
import {
  Gpr,
  type GprFile,
  type GprValues,
  type GuestProgram,
  Initiator,
  type PhysicalMemory,
  SeamcallLeaf,
  type SharedEptWriter,
  seamcallLeafName,
  TdAttributes,
  TdField,
  TdVmcall,
  TdVmcallStatus,
  TdxSimError,
} from "@tdx/hw-cpu-seam";
import {
  makeSimTdxPlatform,
  type SimTdxPlatform,
  type TdHandle,
  TdxHostDriver,
} from "@tdx/hw-cpu-seam/testing";
import { hex, tdvmcallName } from "../trace/names";
import { tracedPlatform } from "../trace/traced-platform";
import { NO_TRACE, type Tracer } from "../trace/tracer";
import { EmulatedDmaDevice } from "./device-model";
import { HostIommu, type IommuMode } from "./host-iommu";
import {
  DEVICE_MMIO_BASE,
  DEVICE_MMIO_SIZE,
  DEVICE_SID,
  initialPrivateRanges,
  kernelText,
  MIB,
  PAGE,
  TdLayout,
} from "./layout";

/** KVM's MapGPA chunk: one userspace exit per 2 MiB. @spec kvm-guest-qemu.md §1.8 (TDX_MAP_GPA_MAX_LEN) */
export const MAP_GPA_CHUNK = 2 * MIB;

/** Host memory set aside for the VT-d unit's tables and invalidation queue. */
const IOMMU_TABLE_BYTES = 4 * MIB;

/** How a vCPU run ended. */
export type RunEnd =
  | { readonly kind: "halted" }
  | { readonly kind: "fatal"; readonly message: string }
  | { readonly kind: "unexpected-exit"; readonly detail: string }
  | { readonly kind: "exit-limit"; readonly exits: number };

/** What the host counted. */
export interface HostCounters {
  /** TD exits by kind (TDG.VP.VMCALL, EPT violation, ...). */
  readonly tdExits: Record<string, number>;
  /** TDG.VP.VMCALLs by GHCI sub-function name. */
  readonly tdvmcalls: Record<string, number>;
  readonly mapGpa: { calls: number; userspaceExits: number; pagesToShared: number; pagesToPrivate: number };
  readonly mmio: { reads: number; writes: number; outsideDevice: number };
  /** Idle halts the host woke (HLT with interrupts enabled). */
  wakeups: number;
}

export interface ProvisionalHostOptions {
  readonly iommu: IommuMode;
  /** The device's payload source (from-device data). */
  readonly deviceRandom: SeededRandom;
  /** Where the run's trace points go (default: nowhere). */
  readonly tracer?: Tracer;
}

export class ProvisionalHost {
  readonly platform: SimTdxPlatform;
  readonly driver: TdxHostDriver;
  readonly td: TdHandle;
  readonly iommu: HostIommu;
  readonly device: EmulatedDmaDevice;
  /** MRTD of the finalized TD, lower-case hex (48 bytes). */
  readonly mrtd: string;
  /** SEAMCALLs by leaf when the TD was first entered (the launch's share). */
  private launchCalls: ReadonlyMap<number, number> | undefined;
  private readonly sharedEpt: SharedEptWriter;
  /** QEMU's shared backing: guest page index -> host PA, -1 when not shared. */
  private readonly backing: Float64Array;
  private readonly freeBacking: number[] = [];
  private readonly trace: Tracer;
  /** Guest pages currently shared (backed by a host page). */
  private sharedPages = 0;
  readonly counters: HostCounters = {
    tdExits: {},
    tdvmcalls: {},
    mapGpa: { calls: 0, userspaceExits: 0, pagesToShared: 0, pagesToPrivate: 0 },
    mmio: { reads: 0, writes: 0, outsideDevice: 0 },
    wakeups: 0,
  };

  constructor(opts: ProvisionalHostOptions) {
    this.trace = opts.tracer ?? NO_TRACE;
    this.platform = makeSimTdxPlatform();
    // SEAMCALLs are traced where the host issues them (a no-op without a tracer).
    const h = new TdxHostDriver(tracedPlatform(this.platform, this.trace));
    this.driver = h;
    h.bringUp();
    // KVM_TDX_INIT_VM, vCPU init, KVM_TDX_INIT_MEM_REGION, KVM_TDX_FINALIZE_VM.
    this.td = h.createTd({ vcpus: 1, attributes: TdAttributes.SEPT_VE_DISABLE });
    this.td.addMeasuredPage(TdLayout.CODE, kernelText());
    const zero = new Uint8Array(PAGE);
    for (const [lo, hi] of initialPrivateRanges())
      for (let g = lo; g < hi; g += PAGE) this.td.addPage(g, zero);
    this.td.finalize();
    this.mrtd = this.readMrtd();
    this.sharedEpt = this.td.sharedEptFor(0);
    for (let off = 0; off < DEVICE_MMIO_SIZE; off += PAGE)
      this.sharedEpt.mmioVe(this.td.sharedBit + DEVICE_MMIO_BASE + off);
    this.backing = new Float64Array(TdLayout.RAM_TOP / PAGE).fill(-1);
    const tables = h.allocShared(IOMMU_TABLE_BYTES);
    this.iommu = new HostIommu(
      this.platform.memory,
      { base: tables, size: IOMMU_TABLE_BYTES },
      opts.iommu,
      this.trace,
    );
    this.iommu.attach(DEVICE_SID);
    this.device = new EmulatedDmaDevice(this.iommu.port, DEVICE_SID, opts.deviceRandom, this.trace);
  }

  get memory(): PhysicalMemory {
    return this.platform.memory;
  }

  /** The host page backing a shared guest page (GPA without the shared bit), or -1. */
  backingOf(gpa: number): number {
    const i = Math.floor(gpa / PAGE);
    return i >= 0 && i < this.backing.length ? this.backing[i]! : -1;
  }

  private readMrtd(): string {
    let hex = "";
    for (let i = 0; i < 6; i++) {
      const r = this.driver.must(0, SeamcallLeaf.MNG_RD, { rcx: this.td.tdr, rdx: TdField.MRTD + BigInt(i) });
      const v = r.regs[Gpr.R8]!;
      for (let b = 0; b < 8; b++)
        hex += Number((v >> BigInt(8 * b)) & 0xffn)
          .toString(16)
          .padStart(2, "0");
    }
    return hex;
  }

  loadGuest(program: GuestProgram): void {
    this.td.loadGuestCode(program);
  }

  /** SEAMCALLs by leaf name: the launch's (before the first TDH.VP.ENTER) and the run's. */
  seamcalls(): { launch: Record<string, number>; run: Record<string, number> } {
    const launch: Record<string, number> = {};
    const run: Record<string, number> = {};
    const before = this.launchCalls ?? this.driver.callCount;
    for (const leaf of [...this.driver.callCount.keys()].sort((a, b) => a - b)) {
      const total = this.driver.callCount.get(leaf)!;
      const l = before.get(leaf) ?? 0;
      const name = seamcallLeafName(leaf);
      if (l > 0) launch[name] = l;
      if (total - l > 0) run[name] = total - l;
    }
    return { launch, run };
  }

  /**
   * Enter the TD and serve its exits until it halts with interrupts blocked, reports a fatal
   * error or exits unexpectedly. `onIdle` runs at each idle halt (HLT with interrupts enabled)
   * before the host wakes the vCPU again.
   */
  run(onIdle: () => void, maxExits = 1_000_000): RunEnd {
    this.launchCalls ??= new Map(this.driver.callCount);
    let inputs: GprValues = {};
    for (let n = 0; n < maxExits; n++) {
      const e = this.td.enter(0, 0, inputs);
      const o = e.outcome;
      if (o.kind !== "exit") {
        this.count(this.counters.tdExits, o.kind);
        return {
          kind: "unexpected-exit",
          detail: `TDH.VP.ENTER: ${o.kind} (status 0x${o.status.toString(16)})`,
        };
      }
      const x = o.exit;
      if (x.kind !== "tdvmcall") {
        this.count(this.counters.tdExits, x.kind === "other" ? `exit-reason-${x.reason}` : x.kind);
        return {
          kind: "unexpected-exit",
          detail: `TD exit ${JSON.stringify(x, (_k, v) => (typeof v === "bigint" ? `0x${v.toString(16)}` : v))}`,
        };
      }
      this.count(this.counters.tdExits, "tdvmcall");
      const r = x.regs;
      const fn = Number(r[Gpr.R11]);
      const name = r[Gpr.R10] === 0n ? tdvmcallName(fn) : "KVM hypercall";
      this.count(this.counters.tdvmcalls, tdvmcallName(fn));
      this.trace.begin("tdvmcall", `TDVMCALL<${name}>`, { subfunction: name, r10: "" });
      const served = this.serveTdvmcall(r, fn, onIdle);
      this.trace.end("tdvmcall", { r10: "inputs" in served ? hex(served.inputs.r10 ?? 0n) : "none" });
      if ("end" in served) return served.end;
      inputs = served.inputs;
    }
    return { kind: "exit-limit", exits: maxExits };
  }

  /** One TDG.VP.VMCALL: the registers to resume the vCPU with, or how the run ended. */
  private serveTdvmcall(
    r: GprFile,
    fn: number,
    onIdle: () => void,
  ): { readonly inputs: GprValues } | { readonly end: RunEnd } {
    if (r[Gpr.R10] !== 0n) return { inputs: { r10: TdVmcallStatus.SUBFUNC_UNSUPPORTED } }; // a KVM hypercall: none is modelled
    switch (fn) {
      case TdVmcall.HLT:
        if (r[Gpr.R12] !== 0n) return { end: { kind: "halted" } };
        onIdle();
        this.counters.wakeups++;
        return { inputs: { r10: TdVmcallStatus.SUCCESS } };
      case TdVmcall.REPORT_FATAL_ERROR:
        return { end: { kind: "fatal", message: fatalErrorMessage(r) } };
      case TdVmcall.MAP_GPA:
        return { inputs: this.mapGpa(r) };
      case TdVmcall.REQUEST_MMIO:
        return { inputs: this.requestMmio(r) };
      default:
        return { inputs: { r10: TdVmcallStatus.SUBFUNC_UNSUPPORTED } };
    }
  }

  private count(rec: Record<string, number>, key: string): void {
    rec[key] = (rec[key] ?? 0) + 1;
  }

  /** #VE.RequestMMIO: KVM's checks, then KVM_EXIT_MMIO to the device model (shared bit stripped). */
  private requestMmio(r: GprFile): GprValues {
    const size = Number(r[Gpr.R12]);
    const dir = r[Gpr.R13]!;
    const gpa = Number(r[Gpr.R14]);
    const s = this.td.sharedBit;
    if (![1, 2, 4, 8].includes(size) || (dir !== 0n && dir !== 1n) || gpa < s || gpa + size - 1 >= 2 * s) {
      return { r10: TdVmcallStatus.INVALID_OPERAND };
    }
    const off = gpa - s - DEVICE_MMIO_BASE;
    const inDevice = off >= 0 && off + size <= DEVICE_MMIO_SIZE;
    if (!inDevice) this.counters.mmio.outsideDevice++;
    const t = this.trace;
    const write = dir === 1n;
    if (t.enabled) {
      // KVM_EXIT_MMIO: the trip to the VMM in userspace and back, the device model inside it.
      t.begin("mmio", write ? "MMIO write" : "MMIO read", {
        gpa: hex(gpa),
        size,
        dir: write ? "write" : "read",
        value: write ? hex(r[Gpr.R15]!) : "",
        inDevice,
      });
      t.advance(t.costs.userspaceExitNs);
    }
    let value = 0n; // QEMU's unassigned-memory reads return 0.
    if (write) {
      this.counters.mmio.writes++;
      if (inDevice) this.device.mmioWrite(off, size, r[Gpr.R15]!);
    } else {
      this.counters.mmio.reads++;
      if (inDevice) value = this.device.mmioRead(off, size);
    }
    if (t.enabled) t.end("mmio", write ? {} : { value: hex(value) });
    return write ? { r10: TdVmcallStatus.SUCCESS } : { r10: TdVmcallStatus.SUCCESS, r11: value };
  }

  /** MapGPA: KVM's validation, 2 MiB chunks to userspace, QEMU's kvm_convert_memory per chunk. */
  private mapGpa(r: GprFile): GprValues {
    const start = Number(r[Gpr.R12]);
    const size = Number(r[Gpr.R13]);
    const s = this.td.sharedBit;
    const end = start + size;
    if (start % PAGE !== 0 || size % PAGE !== 0)
      return { r10: TdVmcallStatus.ALIGN_ERROR, r11: BigInt(start) };
    if (size === 0 || end > 2 * s || start < s !== end - 1 < s) {
      return { r10: TdVmcallStatus.INVALID_OPERAND, r11: BigInt(start) };
    }
    const toShared = start >= s;
    const base = toShared ? start - s : start;
    const c = this.counters.mapGpa;
    const t = this.trace;
    const chunks = Math.ceil(size / MAP_GPA_CHUNK);
    c.calls++;
    c.userspaceExits += chunks;
    const before = c.pagesToShared + c.pagesToPrivate;
    if (t.enabled) {
      t.begin("mapGpa", `MapGPA → ${toShared ? "shared" : "private"}`, {
        start: hex(start),
        size,
        to: toShared ? "shared" : "private",
        pages: 0,
        status: "",
      });
      t.advance(chunks * t.costs.userspaceExitNs); // KVM_EXIT_HYPERCALL per 2 MiB chunk
    }
    for (let gpa = base; gpa < base + size; gpa += PAGE) {
      if (gpa >= TdLayout.RAM_TOP) continue; // not guest_memfd RAM: to-shared succeeds silently (QEMU)
      if (toShared) this.toShared(gpa);
      else this.toPrivate(gpa);
    }
    if (!toShared) {
      const pages = (Math.min(base + size, TdLayout.RAM_TOP) - base) / PAGE;
      if (pages > 0) this.iommu.invalidate(base, pages);
    }
    if (t.enabled) {
      t.counter("sharedPages", { pages: this.sharedPages });
      t.end("mapGpa", { pages: c.pagesToShared + c.pagesToPrivate - before, status: "SUCCESS" });
    }
    return { r10: TdVmcallStatus.SUCCESS };
  }

  private toShared(gpa: number): void {
    const i = gpa / PAGE;
    if (this.backing[i]! >= 0) return; // already shared
    if (this.td.pages.data.has(gpa)) this.td.removePrivate(gpa); // guest_memfd hole punched
    const hpa = this.allocBacking();
    this.backing[i] = hpa;
    this.sharedEpt.map(this.td.sharedBit + gpa, hpa); // KVM_PRE_FAULT_MEMORY
    this.iommu.mapPage(gpa, hpa); // VFIO: IOVA = GPA as QEMU knows it
    this.counters.mapGpa.pagesToShared++;
    this.sharedPages++;
    this.trace.advance(this.trace.costs.pageConversionNs);
  }

  private toPrivate(gpa: number): void {
    const i = gpa / PAGE;
    const hpa = this.backing[i]!;
    if (hpa >= 0) {
      this.sharedEpt.unmap(this.td.sharedBit + gpa); // shared side discarded
      this.iommu.unmapPage(gpa); // flushed once per MapGPA below
      this.backing[i] = -1;
      this.freeBacking.push(hpa);
      this.sharedPages--;
    }
    if (!this.td.pages.data.has(gpa)) this.td.augPage(gpa); // PENDING until the guest accepts
    this.counters.mapGpa.pagesToPrivate++;
    this.trace.advance(this.trace.costs.pageConversionNs);
  }

  /** A zeroed host page for shared backing (reused after a discard, as the page cache would). */
  private allocBacking(): number {
    const reuse = this.freeBacking.pop();
    if (reuse === undefined) return this.driver.allocShared(PAGE);
    if (this.memory.fill(reuse, PAGE, 0, Initiator.Host) !== 0) {
      throw new TdxSimError("E_SCENARIO_HOST", `zeroing reused backing page 0x${reuse.toString(16)} failed`);
    }
    return reuse;
  }
}
