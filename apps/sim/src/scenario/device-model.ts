/**
 * The emulated DMA-capable device behind the TD's MMIO window: a minimal DMA engine, the model's
 * own device (not a real PCI function), standing in for what QEMU's device models do: a driver
 * programs an address and a length, writes a command, and the device moves the bytes by DMA
 * through its IOMMU's DeviceDmaPort (the VT-d unit it is attached to) — it never touches memory
 * any other way. It keeps every completed transfer (direction, bus address, bytes), so a run can
 * check each one byte for byte.
 *
 * Registers (offsets in its 4 KiB window; the model's own layout):
 *   0x00 ID        RO 32  DEVICE_ID
 *   0x08 DMA_ADDR  RW 64  bus address (IOVA) of the buffer; 32-bit halves at 0x08 and 0x0C
 *   0x10 DMA_LEN   RW 32  bytes to move
 *   0x14 CMD       WO 32  1 = to device (the device reads), 2 = from device (the device writes)
 *   0x18 STATUS    RO 32  bit 0 DONE, bit 1 DMA_ERROR (the IOMMU refused), bit 2 BAD_COMMAND
 * Unimplemented offsets read as 0 and ignore writes, as a PCI function's undefined registers do.
 */
import type { DeviceDmaPort, DmaRequester, DmaResult, IommuFault, SeededRandom } from "@tdx/hw-cpu-seam";
import { TdxSimError } from "@tdx/hw-cpu-seam";
import { hex } from "../trace/names";
import { NO_TRACE, type Tracer } from "../trace/tracer";
import { MAX_DMA_SIZE } from "./layout";

export const DeviceReg = {
  ID: 0x00,
  DMA_ADDR_LO: 0x08,
  DMA_ADDR_HI: 0x0c,
  DMA_LEN: 0x10,
  CMD: 0x14,
  STATUS: 0x18,
} as const;

const REGISTER_NAMES = new Map<number, string>(Object.entries(DeviceReg).map(([k, v]) => [v, k]));

/** A register's name by offset (`DMA_LEN`, ...), or its offset in hex. */
function registerName(offset: number): string {
  return REGISTER_NAMES.get(offset) ?? `0x${offset.toString(16)}`;
}

export const DeviceCmd = { TO_DEVICE: 1, FROM_DEVICE: 2 } as const;
export const DeviceStatus = { DONE: 1, DMA_ERROR: 2, BAD_COMMAND: 4 } as const;

/** The value the ID register reads ("DMAE" in ASCII, little-endian; the model's own). */
export const DEVICE_ID = 0x45414d44;

/** One completed command: the device read (to-device) or wrote (from-device) `data` at `iova`. */
export interface DeviceTransfer {
  readonly dir: "to-device" | "from-device";
  readonly iova: number;
  readonly data: Uint8Array;
}

/** Counters of what the device did. */
export interface DeviceCounters {
  mmioReads: number;
  mmioWrites: number;
  dmaReads: number;
  dmaWrites: number;
  bytesRead: number;
  bytesWritten: number;
  dmaFaults: number;
}

export class EmulatedDmaDevice {
  private addrLo = 0;
  private addrHi = 0;
  private len = 0;
  private status = 0;
  readonly requester: DmaRequester;
  /** Completed commands, in order: direction, bus address and the bytes moved. */
  readonly transfers: DeviceTransfer[] = [];
  /** IOMMU faults the device's DMA met, in order. */
  readonly faults: IommuFault[] = [];
  readonly counters: DeviceCounters = {
    mmioReads: 0,
    mmioWrites: 0,
    dmaReads: 0,
    dmaWrites: 0,
    bytesRead: 0,
    bytesWritten: 0,
    dmaFaults: 0,
  };

  constructor(
    private readonly port: DeviceDmaPort,
    sid: number,
    /** Where the bytes of from-device transfers come from. */
    private readonly payload: SeededRandom,
    /** The device's track of the run's trace (register accesses, DMA). */
    private readonly trace: Tracer = NO_TRACE,
  ) {
    this.requester = { sid, pasid: -1 };
  }

  /** The bus address programmed in DMA_ADDR. */
  get dmaAddress(): number {
    return this.addrHi * 2 ** 32 + this.addrLo;
  }

  /** An MMIO read of `size` bytes at `offset` (a register value: bigint at the ABI edge). */
  mmioRead(offset: number, size: number): bigint {
    const t = this.trace;
    if (!t.enabled) return this.readRegister(offset, size);
    t.begin("deviceMmio", `read ${registerName(offset)}`, {
      offset: hex(offset),
      size,
      dir: "read",
      value: "",
    });
    t.advance(t.costs.mmioDeviceNs);
    const v = this.readRegister(offset, size);
    t.end("deviceMmio", { value: hex(v) });
    return v;
  }

  private readRegister(offset: number, size: number): bigint {
    this.counters.mmioReads++;
    let v = 0;
    if (offset === DeviceReg.ID) v = DEVICE_ID;
    else if (offset === DeviceReg.DMA_ADDR_LO) {
      if (size === 8) return (BigInt(this.addrHi) << 32n) | BigInt(this.addrLo);
      v = this.addrLo;
    } else if (offset === DeviceReg.DMA_ADDR_HI) v = this.addrHi;
    else if (offset === DeviceReg.DMA_LEN) v = this.len;
    else if (offset === DeviceReg.STATUS) v = this.status;
    return BigInt(v >>> 0) & ((1n << BigInt(8 * size)) - 1n);
  }

  /** An MMIO write of `size` bytes at `offset`. */
  mmioWrite(offset: number, size: number, value: bigint): void {
    const t = this.trace;
    if (!t.enabled) {
      this.writeRegister(offset, size, value);
      return;
    }
    t.begin("deviceMmio", `write ${registerName(offset)}`, {
      offset: hex(offset),
      size,
      dir: "write",
      value: hex(value),
    });
    t.advance(t.costs.mmioDeviceNs);
    this.writeRegister(offset, size, value); // a CMD write runs the DMA inside this slice
    t.end("deviceMmio");
  }

  private writeRegister(offset: number, size: number, value: bigint): void {
    this.counters.mmioWrites++;
    const lo = Number(value & 0xffff_ffffn);
    if (offset === DeviceReg.DMA_ADDR_LO) {
      this.addrLo = lo;
      if (size === 8) this.addrHi = Number((value >> 32n) & 0xffff_ffffn);
    } else if (offset === DeviceReg.DMA_ADDR_HI) this.addrHi = lo;
    else if (offset === DeviceReg.DMA_LEN) this.len = lo;
    else if (offset === DeviceReg.CMD) this.command(lo);
  }

  private command(cmd: number): void {
    if (
      (cmd !== DeviceCmd.TO_DEVICE && cmd !== DeviceCmd.FROM_DEVICE) ||
      this.len === 0 ||
      this.len > MAX_DMA_SIZE
    ) {
      this.status = DeviceStatus.BAD_COMMAND;
      return;
    }
    const r =
      cmd === DeviceCmd.TO_DEVICE
        ? this.readFromBus(this.dmaAddress, this.len)
        : this.writeToBus(this.dmaAddress);
    this.status = r.ok ? DeviceStatus.DONE : DeviceStatus.DMA_ERROR;
  }

  private readFromBus(iova: number, len: number): DmaResult {
    const buf = new Uint8Array(len);
    const r = this.dmaRead(iova, buf);
    if (r.ok) this.transfers.push({ dir: "to-device", iova, data: buf });
    return r;
  }

  private writeToBus(iova: number): DmaResult {
    const data = this.payload.fill(new Uint8Array(this.len));
    const r = this.dmaWrite(iova, data);
    if (r.ok) this.transfers.push({ dir: "from-device", iova, data });
    return r;
  }

  /** A device read of memory at a bus address, through the IOMMU. */
  dmaRead(iova: number, dst: Uint8Array): DmaResult {
    this.counters.dmaReads++;
    this.dmaBegin(iova, dst.length, "read");
    const r = this.port.dmaRead(this.requester, iova, dst);
    if (r.ok) this.counters.bytesRead += dst.length;
    else this.noteFault(r);
    this.dmaEnd(r, dst.length);
    return r;
  }

  /** A device write of memory at a bus address, through the IOMMU. */
  dmaWrite(iova: number, src: Uint8Array): DmaResult {
    this.counters.dmaWrites++;
    this.dmaBegin(iova, src.length, "write");
    const r = this.port.dmaWrite(this.requester, iova, src);
    if (r.ok) this.counters.bytesWritten += src.length;
    else this.noteFault(r);
    this.dmaEnd(r, src.length);
    return r;
  }

  private dmaBegin(iova: number, len: number, dir: "read" | "write"): void {
    if (this.trace.enabled) {
      this.trace.begin("dma", `DMA ${dir} ${len} B`, { iova: hex(iova), len, dir, ok: false });
    }
  }

  /** The bytes cross the link after the IOMMU translated them (a faulting DMA moves none). */
  private dmaEnd(r: DmaResult, len: number): void {
    const t = this.trace;
    if (!t.enabled) return;
    if (r.ok) t.advance(len * t.costs.deviceDmaNsPerByte);
    t.end("dma", { ok: r.ok });
  }

  private noteFault(r: DmaResult): void {
    if (r.ok) return;
    if (r.stalled === true) {
      throw new TdxSimError(
        "E_SCENARIO_DEVICE",
        "a VT-d unit never stalls a transaction: stall/resume is SMMU-only",
      );
    }
    this.counters.dmaFaults++;
    this.faults.push(r.fault);
  }
}
