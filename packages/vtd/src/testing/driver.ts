/**
 * A register-level driver for a VT-d unit, programming it the way Linux's intel-iommu driver does:
 * a shadow of the persistent GCMD bits with one command per write and a GSTS poll, RTADDR + SRTP,
 * queued invalidation (IQT=0, IQA, QIE; descriptors followed by a wait descriptor with a status
 * write, then polling the status word and FSTS.IQE), register-based invalidation when QI is off,
 * and fault-record reading / clearing as `dmar_fault()` does. It only uses the register interface
 * and memory, so it drives any implementation behind `VtdRegisterAccess`.
 *
 * @spec reference/vtd.md §1.4 (handshake: Linux iommu->gcmd shadow, IOMMU_WAIT_OP), §1.7 + §5.4
 *   (Linux __dmar_enable_qi, qi_submit_sync, qi_flush_*), §4.2 step 6 (dmar_fault), §5.3
 */
import { Initiator, type PhysicalMemoryAccess, TdxSimError } from "@tdx/hw-cpu-seam";
import { decodeCap, decodeEcap, type VtdCap, type VtdEcap } from "../spec/capabilities";
import { DescType, WaitFlag } from "../spec/descriptors";
import { Fsts, Gcmd, Reg } from "../spec/registers";
import type { BumpAllocator } from "./tables";

/** What the driver needs of a unit: 4/8-byte register reads and writes. */
export interface VtdRegisterAccess {
  readRegister(off: number, size: 4 | 8): bigint;
  writeRegister(off: number, size: 4 | 8, value: bigint): void;
}

/** A decoded fault record. */
export interface FaultRecord {
  readonly index: number;
  readonly reason: number;
  readonly sid: number;
  readonly address: number;
  readonly read: boolean;
  readonly pasidPresent: boolean;
  readonly pasid: number;
  readonly addressType: number;
}

/** A descriptor: 2 qwords (128-bit queue) or 4 (256-bit). */
export type Descriptor = readonly bigint[];

export class VtdDriver {
  readonly cap: VtdCap;
  readonly ecap: VtdEcap;
  private gcmd = 0;
  private qBase = 0;
  private qEntries = 0;
  private qWide = false;
  private qTail = 0;
  private status = 0;
  private seq = 1;

  constructor(
    readonly unit: VtdRegisterAccess,
    readonly mem: PhysicalMemoryAccess,
    private readonly alloc: BumpAllocator,
  ) {
    this.cap = decodeCap(unit.readRegister(Reg.CAP, 8));
    this.ecap = decodeEcap(unit.readRegister(Reg.ECAP, 8));
  }

  private gsts(): number {
    return Number(this.unit.readRegister(Reg.GSTS, 4));
  }

  /** Write GCMD = shadow | cmd and poll GSTS for `until`. */
  private command(cmd: number, until: (gsts: number) => boolean, what: string): void {
    this.unit.writeRegister(Reg.GCMD, 4, BigInt((this.gcmd | cmd) >>> 0));
    for (let i = 0; i < 1000; i++) if (until(this.gsts())) return;
    throw new TdxSimError(
      "E_DRIVER",
      `${what}: GSTS 0x${this.gsts().toString(16)} never reflected the command`,
    );
  }

  /** RTADDR = root | TTM, then SRTP and wait for RTPS. */
  setRootTable(root: number, scalable = false): void {
    this.unit.writeRegister(Reg.RTADDR, 8, BigInt(root) | (scalable ? 1n << 10n : 0n));
    this.command(Gcmd.SRTP, (s) => (s & Gcmd.SRTP) !== 0, "SRTP");
  }

  enableTranslation(): void {
    this.gcmd |= Gcmd.TE;
    this.command(0, (s) => (s & Gcmd.TE) !== 0, "TE enable");
  }

  disableTranslation(): void {
    this.gcmd &= ~Gcmd.TE;
    this.command(0, (s) => (s & Gcmd.TE) === 0, "TE disable");
  }

  /** Enable queued invalidation: a 4 KiB queue (QS=0), 256-bit descriptors in scalable units. */
  enableQueue(wide = this.ecap.smts): void {
    this.qWide = wide;
    this.qEntries = wide ? 128 : 256;
    this.qBase = this.alloc.alloc(4096);
    this.status = this.alloc.alloc(4096);
    this.qTail = 0;
    this.unit.writeRegister(Reg.IQT, 8, 0n);
    this.unit.writeRegister(Reg.IQA, 8, BigInt(this.qBase) | (wide ? 0x800n : 0n));
    this.gcmd |= Gcmd.QIE;
    this.command(0, (s) => (s & Gcmd.QIE) !== 0, "QIE enable");
  }

  get queueEnabled(): boolean {
    return (this.gcmd & Gcmd.QIE) !== 0;
  }

  /** Write descriptors at the tail without moving IQT; returns the new tail index. */
  place(descs: readonly Descriptor[]): number {
    const width = this.qWide ? 32 : 16;
    for (const d of descs) {
      const at = this.qBase + this.qTail * width;
      const b = new Uint8Array(width);
      for (let q = 0; q < width / 8; q++) {
        const v = d[q] ?? 0n;
        for (let i = 0; i < 8; i++) b[q * 8 + i] = Number((v >> BigInt(8 * i)) & 0xffn);
      }
      this.mem.write(at, b, Initiator.Host);
      this.qTail = (this.qTail + 1) % this.qEntries;
    }
    return this.qTail;
  }

  /** Move IQT to the current tail. */
  ringTail(): void {
    this.unit.writeRegister(Reg.IQT, 8, BigInt(this.qTail << (this.qWide ? 5 : 4)));
  }

  /**
   * Submit descriptors followed by a wait descriptor with status write, then poll the status word
   * (and FSTS.IQE). Returns "done" or "iqe".
   */
  submit(descs: readonly Descriptor[]): "done" | "iqe" {
    const token = this.seq++ >>> 0;
    this.mem.write32(this.status, 0, Initiator.Host);
    const wait = [BigInt(DescType.Wait | WaitFlag.SW) | (BigInt(token) << 32n), BigInt(this.status)];
    this.place([...descs, wait]);
    this.ringTail();
    const out = new Uint32Array(1);
    for (let i = 0; i < 1000; i++) {
      this.mem.read32(this.status, Initiator.Host, out);
      if (out[0] === token) return "done";
      if ((Number(this.unit.readRegister(Reg.FSTS, 4)) & Fsts.IQE) !== 0) return "iqe";
    }
    throw new TdxSimError("E_DRIVER", "invalidation wait descriptor never completed");
  }

  // --- invalidation helpers (queue when enabled, else registers) ---

  contextGlobal(): void {
    if (this.queueEnabled) this.expectDone(this.submit([[BigInt(DescType.ContextCache | (1 << 4)), 0n]]));
    else this.ccmd(1n << 61n);
  }

  contextDevice(sid: number, did = 0, fm = 0): void {
    if (this.queueEnabled) {
      const q0 =
        BigInt(DescType.ContextCache | (3 << 4) | (did << 16)) | (BigInt(sid) << 32n) | (BigInt(fm) << 48n);
      this.expectDone(this.submit([[q0, 0n]]));
    } else {
      this.ccmd((3n << 61n) | (BigInt(fm) << 32n) | (BigInt(sid) << 16n) | BigInt(did));
    }
  }

  iotlbGlobal(): void {
    if (this.queueEnabled) this.expectDone(this.submit([[BigInt(DescType.Iotlb | (1 << 4)), 0n]]));
    else this.iotlbReg(1n << 60n, 0n);
  }

  iotlbDomain(did: number): void {
    if (this.queueEnabled)
      this.expectDone(this.submit([[BigInt(DescType.Iotlb | (2 << 4) | (did << 16)), 0n]]));
    else this.iotlbReg((2n << 60n) | (BigInt(did) << 32n), 0n);
  }

  /** Page-selective: 2^am pages at addr. */
  iotlbPages(did: number, addr: number, am: number, ih = false): void {
    const qw1 = BigInt(addr) | BigInt(am) | (ih ? 0x40n : 0n);
    if (this.queueEnabled)
      this.expectDone(this.submit([[BigInt(DescType.Iotlb | (3 << 4) | (did << 16)), qw1]]));
    else this.iotlbReg((3n << 60n) | (BigInt(did) << 32n), qw1);
  }

  pasidCache(did: number, pasid: number, gran: 0 | 1 | 3 = 1): void {
    this.expectDone(
      this.submit([
        [BigInt(DescType.PasidCache | (gran << 4) | (did << 16)) | (BigInt(pasid) << 32n), 0n, 0n, 0n],
      ]),
    );
  }

  pasidIotlb(did: number, pasid: number, range?: { addr: number; am: number }): void {
    const g = range ? 3 : 2;
    const q0 = BigInt(DescType.PasidIotlb | (g << 4) | (did << 16)) | (BigInt(pasid) << 32n);
    const q1 = range ? BigInt(range.addr) | BigInt(range.am) : 0n;
    this.expectDone(this.submit([[q0, q1, 0n, 0n]]));
  }

  private expectDone(r: "done" | "iqe"): void {
    if (r !== "done")
      throw new TdxSimError("E_DRIVER", "the invalidation queue reported an error (FSTS.IQE)");
  }

  private ccmd(value: bigint): void {
    this.unit.writeRegister(Reg.CCMD, 8, value | (1n << 63n));
    if ((this.unit.readRegister(Reg.CCMD, 8) & (1n << 63n)) !== 0n) {
      throw new TdxSimError("E_DRIVER", "CCMD.ICC never cleared");
    }
  }

  private iotlbReg(value: bigint, iva: bigint): void {
    const iro = this.ecap.iro * 16;
    if (iva !== 0n) this.unit.writeRegister(iro, 8, iva);
    this.unit.writeRegister(iro + 8, 8, value | (1n << 63n));
    if ((this.unit.readRegister(iro + 8, 8) & (1n << 63n)) !== 0n) {
      throw new TdxSimError("E_DRIVER", "IOTLB.IVT never cleared");
    }
  }

  // --- faults ---

  /** Decode every fault record with F set, starting at FSTS.FRI, as Linux dmar_fault() walks them. */
  pendingFaults(): FaultRecord[] {
    const out: FaultRecord[] = [];
    const fro = this.cap.fro * 16;
    const n = this.cap.nfr;
    const fri = (Number(this.unit.readRegister(Reg.FSTS, 4)) >>> 8) & 0xff;
    for (let k = 0; k < n; k++) {
      const i = (fri + k) % n;
      const lo = this.unit.readRegister(fro + 16 * i, 8);
      const hi = this.unit.readRegister(fro + 16 * i + 8, 8);
      if (hi >> 63n === 0n) continue;
      out.push({
        index: i,
        reason: Number((hi >> 32n) & 0xffn),
        sid: Number(hi & 0xffffn),
        address: Number(lo & ~0xfffn),
        read: ((hi >> 62n) & 1n) === 1n,
        pasidPresent: ((hi >> 31n) & 1n) === 1n,
        pasid: Number((hi >> 40n) & 0xfffffn),
        addressType: Number((hi >> 60n) & 3n),
      });
    }
    return out;
  }

  /** Clear every pending record (write 1 to F) and then FSTS, as dmar_fault() does. */
  clearFaults(): void {
    const fro = this.cap.fro * 16;
    for (let i = 0; i < this.cap.nfr; i++) this.unit.writeRegister(fro + 16 * i + 12, 4, 0x8000_0000n);
    this.unit.writeRegister(Reg.FSTS, 4, BigInt(Fsts.PFO | Fsts.PPF | Fsts.IQE | Fsts.PRO));
  }
}
