/**
 * The device-facing DMA interface of a VT-d unit (DeviceDmaPort): `translate` returns a
 * page-sized entry in the style of QEMU's IOMMU translate (input page, output page, mask,
 * permissions); `dmaRead` / `dmaWrite` move bytes at an IOVA for (source-id, PASID?), split at
 * translated-page boundaries. Every page is translated before any byte moves, so a fault anywhere
 * transfers nothing; the fault comes back as a value and is recorded as the unit records faults.
 * Requests without PASID to 0xFEEx_xxxx are interrupt requests: writes go to the unit's
 * interrupt-request sink, reads are unsupported requests.
 *
 * Posted writes (option, depth > 0): a device write is translated when issued but reaches memory
 * later, like a posted PCIe write in flight. It lands when the queue is full, before any read from
 * the port (reads do not pass posted writes), on `flushPostedWrites()`, or when an IOTLB
 * invalidation requests a write drain (DW with CAP.DWD). Without a drain, a write translated
 * before an unmap can land after the invalidation completed: what drains exist to prevent.
 *
 * @spec hw-cpu-seam dma/types.ts (DeviceDmaPort, IotlbEntry, DmaResult); reference/vtd.md §2.5
 *   step 2 (interrupt window), §6.1 (QEMU vtd_iommu_translate returns {iova, translated_addr,
 *   addr_mask, perm}); §7.1 (TDX rules, model-specific codes)
 */
import {
  type DeviceDmaPort,
  type DmaRequester,
  type DmaResult,
  Initiator,
  type IotlbEntry,
  Perm,
  type PhysicalMemoryAccess,
  type TranslateResult,
} from "@tdx/hw-cpu-seam";
import { Perm8 } from "../caches/translation-cache";
import { AddressType, type FaultRecorder, type VtdFault } from "../faults/fault-recorder";
import { FaultReason } from "../spec/fault-reasons";
import type { TdxDmaPolicy } from "../tdx/tdx-policy";
import type { Translation } from "../translate/translation";
import { checkRequest } from "../unit/request";

const OK: DmaResult = Object.freeze({ ok: true });

/** What the port needs of its unit (VtdUnit provides it). */
export interface DmaPortUnit {
  translateFast(
    sid: number,
    pasid: number,
    addr: number,
    write: boolean,
    exec?: boolean,
    priv?: boolean,
  ): number;
  readonly lastTranslation: Translation;
  readonly lastFault: VtdFault | undefined;
  readonly recorder: FaultRecorder;
  readonly tdx: TdxDmaPolicy;
  readonly onInterruptRequest: ((sid: number, address: number, data: Uint8Array) => void) | undefined;
}

export class VtdDmaPort implements DeviceDmaPort {
  private hpa = new Float64Array(16);
  private len = new Int32Array(16);
  /** Per chunk: 1 = interrupt request (no memory access). */
  private irq = new Uint8Array(16);
  /** Posted writes in flight: translated HPA and the bytes. */
  private readonly posted: { hpa: number; data: Uint8Array }[] = [];
  /** First address past the memory: an untranslated output beyond it reaches nothing. */
  private readonly memLimit: number;

  constructor(
    private readonly unit: DmaPortUnit,
    private readonly mem: PhysicalMemoryAccess,
    /** Posted writes kept in flight (0: every write completes before dmaWrite returns). */
    readonly postedWriteDepth = 0,
  ) {
    this.memLimit = 2 ** mem.physAddrBits;
  }

  /** Posted writes not yet in memory. */
  get postedWrites(): number {
    return this.posted.length;
  }

  /** Let every posted write reach memory (a drain, or ordering before a read). */
  flushPostedWrites(): void {
    while (this.posted.length > 0) {
      const w = this.posted.shift()!;
      this.mem.write(w.hpa, w.data, Initiator.Device);
    }
  }

  private report(code: number, req: DmaRequester, iova: number, write: boolean): VtdFault {
    return this.unit.recorder.report({
      code,
      sid: req.sid,
      pasid: req.pasid,
      iova,
      write,
      execute: req.instr ?? false,
      privileged: req.priv ?? false,
      addressType: AddressType.Untranslated,
      fpd: false,
    });
  }

  translate(req: DmaRequester, iova: number, access: Perm): TranslateResult {
    checkRequest(req, iova);
    const write = (access & Perm.Write) !== 0;
    const u = this.unit;
    let code = u.translateFast(req.sid, req.pasid, iova, write, req.instr ?? false, req.priv ?? false);
    if (code === -1)
      return { ok: false, fault: this.report(FaultReason.UnsupportedRequest, req, iova, write) };
    if (code === 0 && write && (access & Perm.Read) !== 0 && (u.lastTranslation.perm & Perm8.R) === 0) {
      code = u.translateFast(req.sid, req.pasid, iova, false, req.instr ?? false, req.priv ?? false);
    }
    if (code !== 0) return { ok: false, fault: u.lastFault! };
    const t = u.lastTranslation;
    const entry: IotlbEntry = {
      iova: t.iovaBase,
      translatedAddr: t.outBase,
      addrMask: t.size - 1,
      perm: (((t.perm & Perm8.R) !== 0 ? Perm.Read : 0) |
        ((t.perm & Perm8.W) !== 0 ? Perm.Write : 0)) as Perm,
    };
    return { ok: true, entry };
  }

  private grow(n: number): void {
    if (n <= this.hpa.length) return;
    const size = Math.max(n, this.hpa.length * 2);
    this.hpa = new Float64Array(size);
    this.len = new Int32Array(size);
    this.irq = new Uint8Array(size);
  }

  /** Translate every chunk of [iova, iova+length); returns the chunk count or a fault. */
  private plan(req: DmaRequester, iova: number, length: number, write: boolean): number | VtdFault {
    checkRequest(req, iova);
    if (iova + length > 2 ** 52) return this.report(FaultReason.AddressBeyondMgaw, req, iova, write);
    const u = this.unit;
    const t = u.lastTranslation;
    let n = 0;
    let off = 0;
    while (off < length) {
      const addr = iova + off;
      const code = u.translateFast(req.sid, req.pasid, addr, write, req.instr ?? false, req.priv ?? false);
      let chunk: number;
      if (code === -1) {
        if (!write) return this.report(FaultReason.UnsupportedRequest, req, addr, write);
        chunk = Math.min(length - off, 0xfeef_ffff + 1 - addr);
        this.grow(n + 1);
        this.irq[n] = 1;
        this.hpa[n] = addr;
      } else if (code !== 0) {
        return u.lastFault!;
      } else {
        chunk = Math.min(length - off, t.iovaBase + t.size - addr);
        const hpa = t.outBase + (addr - t.iovaBase);
        // An identity output (TE=0, pass-through, translated request) past the memory: the
        // platform answers the request as unsupported, nothing the memory model may be asked.
        if (hpa + chunk > this.memLimit) return this.report(FaultReason.MemoryError, req, addr, write);
        if (write && u.tdx.writeHitsTdOwned(hpa, chunk))
          return this.report(FaultReason.TdxOwnedLines, req, addr, write);
        this.grow(n + 1);
        this.irq[n] = 0;
        this.hpa[n] = hpa;
      }
      this.len[n] = chunk;
      n++;
      off += chunk;
    }
    return n;
  }

  private memFault(req: DmaRequester, iova: number, write: boolean): DmaResult {
    const f = this.report(FaultReason.MemoryError, req, iova, write);
    const why = this.mem.lastFault();
    return {
      ok: false,
      fault: why ? { ...f, message: `${f.message}; memory: ${why.message}` } : f,
    };
  }

  dmaRead(req: DmaRequester, iova: number, dst: Uint8Array): DmaResult {
    if (this.posted.length > 0) this.flushPostedWrites();
    if (dst.length === 0) return OK;
    const n = this.plan(req, iova, dst.length, false);
    if (typeof n !== "number") return { ok: false, fault: n };
    if (n === 1) {
      return this.mem.read(this.hpa[0]!, dst, Initiator.Device) === 0 ? OK : this.memFault(req, iova, false);
    }
    let off = 0;
    for (let i = 0; i < n; i++) {
      const l = this.len[i]!;
      if (this.mem.read(this.hpa[i]!, dst.subarray(off, off + l), Initiator.Device) !== 0) {
        return this.memFault(req, iova + off, false);
      }
      off += l;
    }
    return OK;
  }

  dmaWrite(req: DmaRequester, iova: number, src: Uint8Array): DmaResult {
    if (src.length === 0) return OK;
    const n = this.plan(req, iova, src.length, true);
    if (typeof n !== "number") return { ok: false, fault: n };
    let off = 0;
    for (let i = 0; i < n; i++) {
      const l = this.len[i]!;
      const part = n === 1 ? src : src.subarray(off, off + l);
      if (this.irq[i] === 1) {
        this.unit.onInterruptRequest?.(req.sid, this.hpa[i]!, part);
      } else if (this.postedWriteDepth > 0) {
        if (this.posted.length >= this.postedWriteDepth) {
          const oldest = this.posted.shift()!;
          this.mem.write(oldest.hpa, oldest.data, Initiator.Device);
        }
        this.posted.push({ hpa: this.hpa[i]!, data: part.slice() });
      } else if (this.mem.write(this.hpa[i]!, part, Initiator.Device) !== 0) {
        return this.memFault(req, iova + off, true);
      }
      off += l;
    }
    return OK;
  }
}
