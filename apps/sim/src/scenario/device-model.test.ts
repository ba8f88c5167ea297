/**
 * The emulated DMA engine: register reads and writes, commands moving bytes only through its DMA
 * port (with its requester ID), a refused DMA reported in STATUS, and bad commands refused.
 */
import type { DeviceDmaPort, DmaRequester, DmaResult } from "@tdx/hw-cpu-seam";
import { SeededRandom } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { DEVICE_ID, DeviceCmd, DeviceReg, DeviceStatus, EmulatedDmaDevice } from "./device-model";

/** A port over a flat 64 KiB buffer that refuses addresses at or above 0x8000. */
class FlatPort implements DeviceDmaPort {
  readonly mem = new Uint8Array(0x1_0000);
  readonly seen: { req: DmaRequester; iova: number; len: number; write: boolean }[] = [];
  private refuse(iova: number, len: number): DmaResult | undefined {
    if (iova + len <= 0x8000) return undefined;
    return {
      ok: false,
      fault: {
        unit: "test",
        code: 6,
        name: "not present",
        iova,
        sid: 0,
        pasid: -1,
        write: false,
        message: "",
      },
    };
  }
  translate(): never {
    throw new Error("not used");
  }
  dmaRead(req: DmaRequester, iova: number, dst: Uint8Array): DmaResult {
    this.seen.push({ req, iova, len: dst.length, write: false });
    const bad = this.refuse(iova, dst.length);
    if (bad) return bad;
    dst.set(this.mem.subarray(iova, iova + dst.length));
    return { ok: true };
  }
  dmaWrite(req: DmaRequester, iova: number, src: Uint8Array): DmaResult {
    this.seen.push({ req, iova, len: src.length, write: true });
    const bad = this.refuse(iova, src.length);
    if (bad) return bad;
    this.mem.set(src, iova);
    return { ok: true };
  }
}

function program(d: EmulatedDmaDevice, addr: number, len: number, cmd: number): number {
  d.mmioWrite(DeviceReg.DMA_ADDR_LO, 8, BigInt(addr));
  d.mmioWrite(DeviceReg.DMA_LEN, 4, BigInt(len));
  d.mmioWrite(DeviceReg.CMD, 4, BigInt(cmd));
  return Number(d.mmioRead(DeviceReg.STATUS, 4));
}

describe("EmulatedDmaDevice", () => {
  it("reads its ID, keeps DMA_ADDR as two halves, and moves bytes both ways through its port", () => {
    const port = new FlatPort();
    const d = new EmulatedDmaDevice(port, 0x20, new SeededRandom(3));
    expect(d.mmioRead(DeviceReg.ID, 4)).toBe(BigInt(DEVICE_ID));
    d.mmioWrite(DeviceReg.DMA_ADDR_HI, 4, 0x12n);
    d.mmioWrite(DeviceReg.DMA_ADDR_LO, 4, 0x3400n);
    expect(d.dmaAddress).toBe(0x12_0000_3400);
    expect(d.mmioRead(DeviceReg.DMA_ADDR_LO, 8)).toBe(0x12_0000_3400n);
    port.mem.set([1, 2, 3, 4], 0x100);
    expect(program(d, 0x100, 4, DeviceCmd.TO_DEVICE)).toBe(DeviceStatus.DONE);
    expect(program(d, 0x200, 16, DeviceCmd.FROM_DEVICE)).toBe(DeviceStatus.DONE);
    expect(d.transfers[0]).toEqual({ dir: "to-device", iova: 0x100, data: Uint8Array.of(1, 2, 3, 4) });
    expect(d.transfers[1]!.data).toEqual(port.mem.slice(0x200, 0x210));
    expect(d.transfers[1]!.data.some((b) => b !== 0)).toBe(true);
    expect(port.seen.every((s) => s.req.sid === 0x20 && s.req.pasid === -1)).toBe(true);
    expect(d.counters).toMatchObject({
      dmaReads: 1,
      dmaWrites: 1,
      bytesRead: 4,
      bytesWritten: 16,
      dmaFaults: 0,
    });
  });

  it("reports a refused DMA in STATUS and keeps the fault; refuses bad commands without DMA", () => {
    const port = new FlatPort();
    const d = new EmulatedDmaDevice(port, 0x20, new SeededRandom(3));
    expect(program(d, 0x7ff0, 0x20, DeviceCmd.FROM_DEVICE)).toBe(DeviceStatus.DMA_ERROR);
    expect(d.faults).toHaveLength(1);
    expect(d.transfers).toEqual([]);
    const before = port.seen.length;
    expect(program(d, 0x100, 4, 7)).toBe(DeviceStatus.BAD_COMMAND);
    expect(program(d, 0x100, 0, DeviceCmd.TO_DEVICE)).toBe(DeviceStatus.BAD_COMMAND);
    expect(port.seen.length).toBe(before);
    expect(d.mmioRead(0x800, 4)).toBe(0n); // unimplemented register
  });
});
