/**
 * End to end against the real TDX module of @tdx/hw-cpu-seam: the test is the host (it builds a TD
 * of PAGE.ADDed private RAM through SEAMCALL, finalizes and enters it), the VMM (it answers every
 * MapGPA exit as KVM + QEMU do: to shared, BLOCK/TRACK/REMOVE of the private pages and a shared
 * backing page mapped in the shared EPT, i.e. QEMU's pre-fault; to private, the shared mapping
 * dropped and the page AUGed for the guest to accept) and a device (it reads and writes guest
 * memory by DMA address, through the VMM's shared backing, when the driver rings an MMIO doorbell
 * — a `mov [rdi],rax` that raises #VE and reaches the host as #VE.RequestMMIO). The guest is this
 * package: the SWIOTLB boot, the DMA API and the TD conversions.
 */

import {
  Gpr,
  type GuestOp,
  Initiator,
  MemStatus,
  TdAttributes,
  type TdGuestContext,
  TdVmcall,
} from "@tdx/hw-cpu-seam";
import { makeSimTdxPlatform, type TdHandle, TdxHostDriver } from "@tdx/hw-cpu-seam/testing";
import { describe, expect, it } from "vitest";
import { DmaDevice } from "../device";
import { DmaDirection } from "../dma/constants";
import type { DmaMapResult } from "../dma/dma-api";
import { TopDownMemblock } from "../memory/memblock";
import { RangePageAllocator } from "../memory/page-allocator";
import { TdxGuest } from "../tdx-guest/guest";
import { tdxEarlyInit } from "../tdx-guest/init";
import { fatalErrorMessage, TdxVcpu } from "../tdx-guest/vcpu";
import { TdxVeHandler } from "../tdx-guest/ve-dispatch";
import { bootTdDma, type TdDma } from "./boot";

const KiB = 1024;
const CODE = 0x100000; // kernel text: the doorbell store
const TX_BUF = 0x200000; // a driver's private buffers
const RX_BUF = 0x201000;
const COHERENT = 0x210000; // dma_alloc_coherent pages (8)
const ATOMIC = 0x220000; // the atomic pool (128 KiB)
const BIG_BUF = 0x280000; // 256 KiB of private driver data
const SWIOTLB_LOW = 0x300000; // memblock's free range: the 1 MiB pool lands here
const SWIOTLB_HIGH = 0x400000;
const DYNAMIC = 0x400000; // grown pools (1 MiB)
const RAM_TOP = 0x800000;
const DOORBELL = 0xfeb00000; // device registers (shared GPA, MMIO)
const REG_TX = 0; // device reads LEN bytes at the DMA address written
const REG_RX = 8; // device writes its reply at the DMA address written
const REG_DESC = 16; // device reads a descriptor from coherent memory
const LEN = 256;
const MOV_RDI_RAX = [0x48, 0x89, 0x07];

const pattern = (seed: number, n = LEN) => Uint8Array.from({ length: n }, (_, i) => (seed + i * 7) & 0xff);

interface DeviceLog {
  tx: Uint8Array[];
  /** What the device found in the from-device slot before writing its reply. */
  rxSlotBefore: Uint8Array[];
  desc: Uint8Array[];
  maps: { start: number; size: number; toShared: boolean }[];
}

/** The VMM (KVM + QEMU's conversions) and the device behind the doorbell. */
class Host {
  /** QEMU's shared memory backing: guest page (no shared bit) -> host PA. */
  readonly sharedBacking = new Map<number, number>();
  readonly log: DeviceLog = { tx: [], rxSlotBefore: [], desc: [], maps: [] };
  readonly reply = pattern(0x90);

  constructor(
    readonly td: TdHandle,
    readonly h: TdxHostDriver,
  ) {}

  get memory() {
    return this.h.p.memory;
  }

  /** The device's view of a DMA address (a GPA without the shared bit): the shared backing. */
  dmaToHpa(dma: number): number {
    const page = dma - (dma % 4096);
    const hpa = this.sharedBacking.get(page);
    if (hpa === undefined) throw new Error(`DMA to 0x${dma.toString(16)}: not shared memory`);
    return hpa + (dma % 4096);
  }

  deviceRead(dma: number, n: number): Uint8Array {
    const out = new Uint8Array(n);
    for (let done = 0; done < n; ) {
      const a = dma + done;
      const k = Math.min(n - done, 4096 - (a % 4096));
      expect(this.memory.read(this.dmaToHpa(a), out.subarray(done, done + k), Initiator.Device)).toBe(
        MemStatus.Ok,
      );
      done += k;
    }
    return out;
  }

  /** MapGPA: KVM_EXIT_HYPERCALL(KVM_HC_MAP_GPA_RANGE) -> kvm_convert_memory + pre-fault. */
  mapGpa(start: number, size: number): void {
    const s = this.td.sharedBit;
    const toShared = start >= s;
    const base = toShared ? start - s : start;
    this.log.maps.push({ start: base, size, toShared });
    const ept = this.td.sharedEptFor(0);
    for (let gpa = base; gpa < base + size; gpa += 4096) {
      if (toShared) {
        if (this.td.pages.data.has(gpa)) this.td.removePrivate(gpa); // guest_memfd hole punched
        const hpa = this.h.allocShared(4096);
        this.sharedBacking.set(gpa, hpa);
        ept.map(s + gpa, hpa);
      } else {
        ept.unmap(s + gpa); // shared side discarded
        this.sharedBacking.delete(gpa);
        this.td.augPage(gpa); // PENDING until the guest accepts it
      }
    }
  }

  mmioWrite(offset: number, value: number): void {
    if (offset === REG_TX) this.log.tx.push(this.deviceRead(value, LEN));
    else if (offset === REG_RX) {
      this.log.rxSlotBefore.push(this.deviceRead(value, 4));
      expect(this.memory.write(this.dmaToHpa(value), this.reply, Initiator.Device)).toBe(MemStatus.Ok);
    } else if (offset === REG_DESC) this.log.desc.push(this.deviceRead(value, 64));
    else throw new Error(`write to device register ${offset}`);
  }

  /** Enter the TD and serve its exits until it halts; returns "hlt" or the fatal message. */
  run(): string {
    let e = this.td.enter(0, 0);
    for (let n = 0; n < 200; n++) {
      const o = e.outcome;
      if (o.kind !== "exit" || o.exit.kind !== "tdvmcall")
        throw new Error(`unexpected TD exit ${JSON.stringify(o)}`);
      const r = o.exit.regs;
      const fn = Number(r[Gpr.R11]);
      if (fn === TdVmcall.HLT) return "hlt";
      if (fn === TdVmcall.REPORT_FATAL_ERROR) return fatalErrorMessage(r);
      if (fn === TdVmcall.MAP_GPA) this.mapGpa(Number(r[Gpr.R12]), Number(r[Gpr.R13]));
      else if (fn === TdVmcall.REQUEST_MMIO) {
        expect(r[Gpr.R13]).toBe(1n); // a write
        this.mmioWrite(Number(r[Gpr.R14]) - this.td.sharedBit - DOORBELL, Number(r[Gpr.R15]));
      } else throw new Error(`unexpected TDG.VP.VMCALL ${fn}`);
      e = this.td.enter(0, 0, { r10: 0, r11: 0 });
    }
    throw new Error("the TD did not halt");
  }
}

type GuestBody = (ctx: TdGuestContext, v: TdxVcpu, dma: TdDma, bell: Doorbell) => GuestOp<void>;
type Doorbell = (reg: number, value: number) => GuestOp<void>;

/** Build and finalize the TD (all RAM PAGE.ADDed, private), then load the guest kernel. */
function buildTd(body: GuestBody, opts: { dynamic?: boolean } = {}) {
  const p = makeSimTdxPlatform();
  const h = new TdxHostDriver(p);
  h.bringUp();
  const td = h.createTd({ vcpus: 1, attributes: TdAttributes.SEPT_VE_DISABLE });
  const text = new Uint8Array(4096).fill(0x90);
  text.set(MOV_RDI_RAX);
  td.addMeasuredPage(CODE, text);
  const zero = new Uint8Array(4096);
  const ranges: [number, number][] = [
    [TX_BUF, RX_BUF + 4096],
    [COHERENT, ATOMIC + 128 * KiB],
    [BIG_BUF, SWIOTLB_HIGH],
  ];
  if (opts.dynamic) ranges.push([DYNAMIC, DYNAMIC + 1024 * KiB]);
  for (const [lo, hi] of ranges) for (let g = lo; g < hi; g += 4096) td.addPage(g, zero);
  td.finalize();
  const mmio = td.sharedBit + DOORBELL;
  td.sharedEptFor(0).mmioVe(mmio);
  const host = new Host(td, h);
  td.loadGuestCode(function* (ctx) {
    const v = new TdxVcpu(new TdxGuest(), ctx);
    new TdxVeHandler(v).install();
    const init = yield* tdxEarlyInit(v); // CPUID "IntelTDX", TDG.VP.INFO: the shared bit
    if (init.kind !== "tdx") throw new Error("not a TDX guest");
    const dma = yield* bootTdDma({
      vcpu: v,
      access: ctx,
      ramTop: RAM_TOP,
      sizing: {
        ramBytes: RAM_TOP,
        possibleCpus: 1,
        cmdline: "512",
        memblock: new TopDownMemblock([[SWIOTLB_LOW, SWIOTLB_HIGH]]),
      },
      pageAllocator: new RangePageAllocator(COHERENT, 32 * KiB),
      atomicPool: { base: ATOMIC },
      ...(opts.dynamic
        ? { dynamic: { pageAllocator: new RangePageAllocator(DYNAMIC, 1024 * KiB), workDelayOps: 0 } }
        : {}),
    });
    // writeq(value, doorbell + reg): the store raises #VE; the handler emulates it with RequestMMIO.
    const bell: Doorbell = function* (reg, value) {
      const g = ctx.regs.gpr;
      g[Gpr.RDI] = BigInt(mmio + reg);
      g[Gpr.RAX] = BigInt(value);
      ctx.regs.rip = CODE;
      const outcome = yield* ctx.store(mmio + reg, new Uint8Array(8));
      if (outcome !== "emulated") throw new Error(`doorbell store ${outcome}`);
    };
    yield* body(ctx, v, dma, bell);
    for (;;) yield* v.hypercall(v.args, TdVmcall.HLT, 1n);
  });
  return { p, h, td, host };
}

const nic = new DmaDevice({ name: "0000:00:04.0", driver: "virtio-pci" });

function mapped(r: DmaMapResult): number {
  if (!r.ok) throw new Error(`dma_map_single failed: ${JSON.stringify(r.error)}`);
  return r.dmaAddr;
}

describe("SWIOTLB and the DMA API inside a TD, against the TDX module", () => {
  it("boots the pool through MapGPA, bounces both ways through shared memory, and the host never sees private data", () => {
    const seen: Record<string, unknown> = {};
    const { td, host, p } = buildTd(function* (ctx, v, dma, bell) {
      seen.bootLog = dma.swiotlb.log.text();
      seen.shared = [dma.sharedPages.sharedPages, v.guest.nrShared];
      // DMA_TO_DEVICE: the driver's private buffer is copied into a shared slot.
      ctx.write(TX_BUF, pattern(1));
      const tx = mapped(dma.dma.mapSingle(nic, TX_BUF, LEN, DmaDirection.ToDevice));
      seen.tx = tx;
      yield* bell(REG_TX, tx);
      expect(dma.dma.unmapSingle(nic, tx, LEN, DmaDirection.ToDevice)).toEqual({ ok: true });
      // DMA_FROM_DEVICE: the device's reply lands in the slot and is copied back at unmap.
      ctx.write(RX_BUF, new Uint8Array(LEN).fill(0x11));
      const rx = mapped(dma.dma.mapSingle(nic, RX_BUF, LEN, DmaDirection.FromDevice));
      seen.rx = rx;
      yield* bell(REG_RX, rx);
      seen.rxBeforeUnmap = readPrivate(ctx, RX_BUF, 4);
      expect(dma.dma.unmapSingle(nic, rx, LEN, DmaDirection.FromDevice)).toEqual({ ok: true });
      seen.rxAfterUnmap = readPrivate(ctx, RX_BUF, LEN);
      seen.stats = dma.swiotlb.stats();
    });
    expect(host.run()).toBe("hlt");

    // Boot: the sizing lines, one MapGPA of the whole 1 MiB pool, then the 128 KiB atomic pool.
    expect(host.log.maps).toEqual([
      { start: SWIOTLB_LOW, size: 1024 * KiB, toShared: true },
      { start: ATOMIC, size: 128 * KiB, toShared: true },
    ]);
    expect(seen.bootLog).toContain("DMA: preallocated 128 KiB GFP_KERNEL pool for atomic allocations");
    expect(seen.shared).toEqual([256 + 32, 256 + 32]);
    expect(td.pages.data.has(SWIOTLB_LOW)).toBe(false); // the private pages left the S-EPT

    // To device: the slot is in the pool and the device read the driver's bytes from shared memory.
    const tx = seen.tx as number;
    expect(tx >= SWIOTLB_LOW && tx < SWIOTLB_HIGH).toBe(true);
    expect(host.log.tx).toEqual([pattern(1)]);

    // The private originals: the host reads zeros (TD-owned lines with a shared KeyID); with the
    // TD's private KeyID it may not read at all.
    for (const gpa of [TX_BUF, RX_BUF]) {
      const hpa = td.pages.data.get(gpa)!.pa;
      const b = new Uint8Array(LEN).fill(0xff);
      expect(p.memory.read(hpa, b, Initiator.Host)).toBe(MemStatus.Ok);
      expect(b.every((x) => x === 0)).toBe(true);
      const keyUnit = 2 ** (p.memory.physAddrBits - p.memory.keyIdBits);
      expect(p.memory.read(hpa + td.hkid * keyUnit, b, Initiator.Host)).toBe(MemStatus.KeyIdNotAllowed);
    }

    // From device: the map copied the stale original in (CVE-2022-0854); unmap brought the reply.
    expect(host.log.rxSlotBefore).toEqual([new Uint8Array(4).fill(0x11)]);
    expect(seen.rxBeforeUnmap).toEqual(new Uint8Array(4).fill(0x11));
    expect(seen.rxAfterUnmap).toEqual(host.reply);
    expect(seen.stats).toMatchObject({ maps: 2, unmaps: 2, copies: 3, copiedBytes: 3 * LEN, conversions: 1 });
  });

  it("dma_alloc_coherent returns shared memory the device reads; dma_free_coherent makes it private again (MapGPA, AUG, accept)", () => {
    const seen: Record<string, unknown> = {};
    const { td, host } = buildTd(function* (ctx, v, dma, bell) {
      const a = yield* dma.dma.allocCoherentOp(nic, 5000);
      if (!a.ok) throw new Error(`dma_alloc_coherent: ${a.error}`);
      const buf = a.buffer;
      seen.buffer = buf;
      seen.sharedAfterAlloc = [
        dma.sharedPages.isShared(buf.cpuAddr),
        dma.sharedPages.isShared(buf.cpuAddr + 4096),
      ];
      dma.memory.write(buf.cpuAddr, pattern(5, 64)); // through the shared alias
      seen.privateAliasWhileShared = ctx.read(buf.cpuAddr, new Uint8Array(8));
      yield* bell(REG_DESC, buf.dmaAddr);
      seen.free = yield* dma.dma.freeCoherentOp(nic, buf);
      seen.sharedAfterFree = dma.sharedPages.isShared(buf.cpuAddr);
      seen.afterFree = readPrivate(ctx, buf.cpuAddr, 64);
      seen.accepted = [...v.guest.stats.acceptDone];
      seen.nrShared = v.guest.nrShared;
    });
    expect(host.run()).toBe("hlt");
    expect(seen.buffer).toEqual({ cpuAddr: COHERENT, dmaAddr: COHERENT, size: 8192, atomic: false });
    expect(seen.sharedAfterAlloc).toEqual([true, true]);
    expect(seen.privateAliasWhileShared).not.toBe(0); // the private GPA has no page any more
    expect(host.log.desc).toEqual([pattern(5, 64)]);
    expect(host.log.maps.slice(2)).toEqual([
      { start: COHERENT, size: 8192, toShared: true },
      { start: COHERENT, size: 8192, toShared: false },
    ]);
    expect(seen.free).toEqual({ ok: true, leaked: false });
    expect(seen.sharedAfterFree).toBe(false);
    expect(seen.afterFree).toEqual(new Uint8Array(64)); // a freshly accepted page
    expect(seen.accepted).toEqual([2, 0, 0]);
    expect(seen.nrShared).toBe(256 + 32);
    expect(td.pages.data.get(COHERENT)?.level).toBe(0); // AUGed back as a private 4 KiB page
    expect(host.sharedBacking.has(COHERENT)).toBe(false);
  });

  it("linux-dynamic: a full pool falls back to a transient pool from the atomic pool; the deferred work item grows a pool through MapGPA", () => {
    const seen: Record<string, unknown> = {};
    const { host } = buildTd(
      function* (ctx, _v, dma, bell) {
        const big: number[] = [];
        for (let i = 0; i < 4; i++)
          big.push(mapped(dma.dma.mapSingle(nic, BIG_BUF, 256 * KiB, DmaDirection.ToDevice)));
        ctx.write(TX_BUF, pattern(3));
        const t = mapped(dma.dma.mapSingle(nic, TX_BUF, LEN, DmaDirection.ToDevice)); // no exit
        seen.transient = t;
        yield* bell(REG_TX, t);
        seen.mapsBeforeWork = host.log.maps.length;
        yield* dma.swiotlb.runBackgroundOp(); // the kworker's turn: MapGPA of the new pool
        expect(dma.dma.unmapSingle(nic, t, LEN, DmaDirection.ToDevice)).toEqual({ ok: true });
        const g = mapped(dma.dma.mapSingle(nic, TX_BUF, LEN, DmaDirection.ToDevice));
        seen.grown = g;
        yield* bell(REG_TX, g);
        seen.debugfs = dma.swiotlb.mem.debugfs();
        seen.pools = dma.swiotlb.mem.pools.map((pl) => [pl.kind, pl.start, pl.nslabs]);
      },
      { dynamic: true },
    );
    expect(host.run()).toBe("hlt");
    const t = seen.transient as number;
    expect(t >= ATOMIC && t < ATOMIC + 128 * KiB).toBe(true);
    expect(seen.mapsBeforeWork).toBe(2);
    expect(host.log.maps[2]).toEqual({ start: DYNAMIC, size: 1024 * KiB, toShared: true });
    expect(seen.grown).toBe(DYNAMIC);
    expect(host.log.tx).toEqual([pattern(3), pattern(3)]);
    expect(seen.pools).toEqual([
      ["dynamic", DYNAMIC, 512],
      ["default", SWIOTLB_LOW, 512],
    ]);
    expect(seen.debugfs).toMatchObject({ io_tlb_nslabs: 1024, io_tlb_used: 513, io_tlb_transient_nslabs: 0 });
  });
});

function readPrivate(ctx: TdGuestContext, gpa: number, n: number): Uint8Array {
  const b = new Uint8Array(n);
  const st = ctx.read(gpa, b);
  if (st !== 0) throw new Error(`private read of 0x${gpa.toString(16)}: status ${st}`);
  return b;
}
