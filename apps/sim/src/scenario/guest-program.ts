/**
 * The TD's kernel, from @tdx/guest-linux-swiotlb, with a small driver for the emulated DMA engine:
 * tdx_early_init (CPUID, TDG.VP.INFO, the shared bit), the #VE handler, the SWIOTLB pool and the
 * DMA API booted in the TD (bootTdDma: MapGPA of the pool and of the atomic pool), then the
 * workload —
 *   1. probe: read the device's ID register;
 *   2. a dma_alloc_coherent page: the driver writes a descriptor the device reads, the device
 *      writes a reply the driver reads in place (no bounce), then dma_free_coherent;
 *   3. N streaming transfers to the device (dma_map_single DMA_TO_DEVICE: the private buffer is
 *      bounced into a shared slot the device reads through VT-d) and N from the device
 *      (DMA_FROM_DEVICE: the device writes the slot through VT-d, unmap copies it back);
 *   4. an idle halt (HLT with interrupts enabled) during which the host may act, then a check
 *      that the TD's secret page still holds what the TD wrote;
 *   5. a final halt with interrupts blocked: the run is over.
 * Each transfer is: writeq DMA_ADDR, writel DMA_LEN, writel CMD, readl STATUS — four MMIO round
 * trips through #VE. What the guest saw is recorded in `GuestRecord` for the report.
 *
 * @spec ARCHITECTURE.md "The paths data takes" 2, 4, 5; shared/reference/swiotlb.md §b.4 (pool
 *   boot), kvm-guest-qemu.md §3.7 (SWIOTLB / DMA in a TD), §1.9 (HLT R12 = interrupts blocked)
 */
import {
  bootTdDma,
  type CoherentBuffer,
  DMA_DIRECTION_NAMES,
  DmaDevice,
  DmaDirection,
  RangePageAllocator,
  type TdDma,
  TdxGuest,
  TdxVcpu,
  TdxVeHandler,
  TopDownMemblock,
  tdxEarlyInit,
} from "@tdx/guest-linux-swiotlb";
import type { SeededRandom } from "@tdx/hw-cpu-seam";
import { type GuestOp, type GuestProgram, type TdGuestContext, TdVmcall } from "@tdx/hw-cpu-seam";
import { hex } from "../trace/names";
import { tracedGuestContext } from "../trace/traced-guest-context";
import { NO_TRACE, type Tracer } from "../trace/tracer";
import { DeviceCmd, DeviceReg, DeviceStatus } from "./device-model";
import { MmioAccessors } from "./guest-mmio";
import { DEVICE_BDF, DEVICE_MMIO_BASE, PAGE, SWIOTLB_CMDLINE, TdLayout } from "./layout";

/** The coherent descriptor's size: one 64-byte descriptor each way. */
export const DESCRIPTOR_BYTES = 64;

export interface GuestWorkload {
  readonly dmaCount: number;
  readonly dmaSize: number;
  /** The driver's payloads and the secret come from here. */
  readonly random: SeededRandom;
  /** The vCPU track of the run's trace (#VE, accept, SWIOTLB; default: none). */
  readonly tracer?: Tracer;
}

/** What the guest saw and did. */
export interface GuestRecord {
  guest?: TdxGuest;
  dma?: TdDma;
  gpaw?: number;
  deviceId?: number;
  /** Payloads the driver sent (to-device) and received after unmap (from-device), in order. */
  readonly sent: Uint8Array[];
  readonly received: Uint8Array[];
  /** Device STATUS values other than DONE, and failed map/unmap calls. */
  readonly errors: string[];
  coherent?: { buffer: CoherentBuffer; sent: Uint8Array; received: Uint8Array; freed: boolean };
  secret?: { written: Uint8Array; afterProbe: Uint8Array };
  /** The SWIOTLB boot log (swiotlb_init's lines). */
  bootLog?: readonly string[];
}

export function newGuestRecord(): GuestRecord {
  return { sent: [], received: [], errors: [] };
}

/** The guest program: build it once per run and load it into the TD. */
export function guestProgram(w: GuestWorkload, rec: GuestRecord): GuestProgram {
  const trace = w.tracer ?? NO_TRACE;
  return function* (cpu: TdGuestContext) {
    const ctx = tracedGuestContext(cpu, trace);
    const guest = new TdxGuest();
    const v = new TdxVcpu(guest, ctx);
    new TdxVeHandler(v).install();
    rec.guest = guest;
    const init = yield* tdxEarlyInit(v);
    if (init.kind !== "tdx") return yield* v.panic("tdx-sim: not running in a TD");
    rec.gpaw = init.info.gpaw;
    const dma = yield* bootTdDma({
      vcpu: v,
      access: ctx,
      ramTop: TdLayout.RAM_TOP,
      sizing: {
        ramBytes: TdLayout.RAM_TOP,
        possibleCpus: 1,
        cmdline: SWIOTLB_CMDLINE,
        memblock: new TopDownMemblock([[TdLayout.SWIOTLB_LOW, TdLayout.SWIOTLB_HIGH]]),
      },
      pageAllocator: new RangePageAllocator(TdLayout.COHERENT, TdLayout.COHERENT_BYTES),
      atomicPool: { base: TdLayout.ATOMIC, bytes: TdLayout.ATOMIC_BYTES },
      ...(trace.enabled
        ? {
            onBounced: (ev) =>
              trace.instant("swiotlbBounced", "swiotlb_bounced", {
                dev: ev.devName,
                devAddr: hex(ev.devAddr),
                size: ev.size,
                force: ev.force,
              }),
          }
        : {}),
    });
    rec.dma = dma;
    rec.bootLog = dma.swiotlb.log.text();
    const driver = new DmaEngineDriver(
      ctx,
      dma,
      new MmioAccessors(ctx, v, init.info.sharedMask + DEVICE_MMIO_BASE),
      rec,
      trace,
    );
    yield* driver.run(w);
    // Idle: the host runs on this CPU now (and may misbehave), then wakes the vCPU.
    yield* v.hypercall(v.args, TdVmcall.HLT, 0n);
    if (rec.secret) {
      const after = new Uint8Array(rec.secret.written.length);
      ctx.read(TdLayout.SECRET, after);
      rec.secret.afterProbe = after;
    }
    for (;;) yield* v.hypercall(v.args, TdVmcall.HLT, 1n);
  };
}

/** The driver of the emulated DMA engine. */
class DmaEngineDriver {
  readonly dev = new DmaDevice({ name: DEVICE_BDF, driver: "tdx-sim-dmae" });

  constructor(
    private readonly ctx: TdGuestContext,
    private readonly dma: TdDma,
    private readonly io: MmioAccessors,
    private readonly rec: GuestRecord,
    private readonly trace: Tracer,
  ) {}

  *run(w: GuestWorkload): GuestOp<void> {
    const rec = this.rec;
    rec.deviceId = yield* this.io.readl(DeviceReg.ID);
    const secret = w.random.fill(new Uint8Array(PAGE));
    this.ctx.write(TdLayout.SECRET, secret);
    rec.secret = { written: secret, afterProbe: new Uint8Array(0) };
    yield* this.coherent(w);
    const tx = new Uint8Array(w.dmaSize);
    for (let i = 0; i < w.dmaCount; i++) {
      w.random.fill(tx);
      this.ctx.write(TdLayout.TX_BUF, tx);
      if (yield* this.streaming(TdLayout.TX_BUF, w.dmaSize, DmaDirection.ToDevice)) rec.sent.push(tx.slice());
    }
    const rx = new Uint8Array(w.dmaSize);
    for (let i = 0; i < w.dmaCount; i++) {
      this.ctx.write(TdLayout.RX_BUF, w.random.fill(rx)); // stale contents the device must replace
      if (yield* this.streaming(TdLayout.RX_BUF, w.dmaSize, DmaDirection.FromDevice)) {
        const got = new Uint8Array(w.dmaSize);
        this.ctx.read(TdLayout.RX_BUF, got);
        rec.received.push(got);
      }
    }
  }

  /** dma_map_single, one device command, dma_unmap_single; whether every step succeeded. */
  private *streaming(buf: number, size: number, dir: DmaDirection): GuestOp<boolean> {
    const t0 = this.swiotlbBefore();
    const m = this.dma.dma.mapSingle(this.dev, buf, size, dir);
    this.swiotlbTraced("swiotlbMap", "dma_map_single", t0, size, dir, m.ok ? m.dmaAddr : -1, m.ok);
    if (!m.ok) {
      this.rec.errors.push(`dma_map_single(${size}, dir ${dir}): ${JSON.stringify(m.error)}`);
      return false;
    }
    const ok = yield* this.command(
      m.dmaAddr,
      size,
      dir === DmaDirection.ToDevice ? DeviceCmd.TO_DEVICE : DeviceCmd.FROM_DEVICE,
    );
    const t1 = this.swiotlbBefore();
    const u = this.dma.dma.unmapSingle(this.dev, m.dmaAddr, size, dir);
    this.swiotlbTraced("swiotlbUnmap", "dma_unmap_single", t1, size, dir, m.dmaAddr, u.ok);
    if (!u.ok) this.rec.errors.push(`dma_unmap_single(0x${m.dmaAddr.toString(16)}): ${u.error}`);
    return ok && u.ok;
  }

  /** SWIOTLB maps and copied bytes so far (for the trace's per-call figures), or undefined. */
  private swiotlbBefore(): { maps: number; copied: number } | undefined {
    if (!this.trace.enabled) return undefined;
    const s = this.dma.swiotlb.stats();
    return { maps: s.maps, copied: s.copiedBytes };
  }

  /**
   * One map or unmap as a slice on the vCPU track, priced as the report prices it: `swiotlbMapNs`
   * per SWIOTLB map (slot search) and `bounceCopyNsPerByte` per byte bounced; then the counter
   * of slots in use.
   */
  private swiotlbTraced(
    point: "swiotlbMap" | "swiotlbUnmap",
    name: string,
    before: { maps: number; copied: number } | undefined,
    size: number,
    dir: DmaDirection,
    dmaAddr: number,
    ok: boolean,
  ): void {
    const t = this.trace;
    if (!before) return;
    const sw = this.dma.swiotlb;
    const s = sw.stats();
    const bounced = s.copiedBytes - before.copied;
    const poolStart = sw.mem.pools[0]?.start ?? 0;
    t.complete(
      point,
      name,
      {
        size,
        dir: DMA_DIRECTION_NAMES[dir],
        slotOffset: dmaAddr >= 0 ? hex(dmaAddr - poolStart) : "none",
        bouncedBytes: bounced,
        ok,
      },
      (s.maps - before.maps) * t.costs.swiotlbMapNs + bounced * t.costs.bounceCopyNsPerByte,
    );
    t.counter("swiotlbSlots", { inUse: sw.mem.debugfs().io_tlb_used });
  }

  /** Program the engine and read its status: four MMIO round trips. */
  private *command(dmaAddr: number, len: number, cmd: number): GuestOp<boolean> {
    yield* this.io.writeq(DeviceReg.DMA_ADDR_LO, BigInt(dmaAddr));
    yield* this.io.writel(DeviceReg.DMA_LEN, len);
    yield* this.io.writel(DeviceReg.CMD, cmd);
    const status = yield* this.io.readl(DeviceReg.STATUS);
    if (status !== DeviceStatus.DONE)
      this.rec.errors.push(`device STATUS 0x${status.toString(16)} after command ${cmd}`);
    return status === DeviceStatus.DONE;
  }

  /** A coherent page: a descriptor to the device and a reply from it, read in place. */
  private *coherent(w: GuestWorkload): GuestOp<void> {
    const a = yield* this.dma.dma.allocCoherentOp(this.dev, PAGE);
    if (!a.ok) {
      this.rec.errors.push(`dma_alloc_coherent: ${a.error}`);
      return;
    }
    const buf = a.buffer;
    const sent = w.random.fill(new Uint8Array(DESCRIPTOR_BYTES));
    this.dma.memory.write(buf.cpuAddr, sent);
    yield* this.command(buf.dmaAddr, DESCRIPTOR_BYTES, DeviceCmd.TO_DEVICE);
    yield* this.command(buf.dmaAddr + DESCRIPTOR_BYTES, DESCRIPTOR_BYTES, DeviceCmd.FROM_DEVICE);
    const received = new Uint8Array(DESCRIPTOR_BYTES);
    this.dma.memory.read(buf.cpuAddr + DESCRIPTOR_BYTES, received);
    const f = yield* this.dma.dma.freeCoherentOp(this.dev, buf);
    if (!f.ok) this.rec.errors.push(`dma_free_coherent: ${f.error}`);
    this.rec.coherent = { buffer: buf, sent, received, freed: f.ok && !f.leaked };
  }
}
