/**
 * How the TDX module (and the CPU on a TD's behalf) touches physical memory: HKIDs travel in the
 * upper PA bits (the top `keyIdBits` of `physAddrBits`), every access names its initiator, and a
 * failing access inside the module is a simulator invariant violation (the module only touches
 * pages it validated through the PAMT), so it throws instead of returning a status.
 *
 * @spec shared/reference/tdx-module.md §5.4 (HKID bits: hkid_start_bit = MAX_PA - keyid_bits),
 *   §7 (module writes private pages with direct 64-B writes, the global KeyID for PAMT/TDR)
 */
import { TdxSimError } from "../errors";
import { Initiator, MemStatus, type PhysicalMemoryAccess } from "../memory/types";

/** PA arithmetic for KeyIDs in the upper physical-address bits (valid above bit 31). */
export class KeyIdLayout {
  /** 2^(physAddrBits - keyIdBits): the KeyID field's unit, and the limit of plain PAs. */
  readonly keyUnit: number;
  readonly maxKeyId: number;
  constructor(
    readonly physAddrBits: number,
    readonly keyIdBits: number,
  ) {
    if (!(physAddrBits > keyIdBits && physAddrBits <= 52 && keyIdBits >= 0)) {
      throw new TdxSimError(
        "E_TDX_CONFIG",
        `physAddrBits ${physAddrBits} / keyIdBits ${keyIdBits} are inconsistent: need 0 <= keyIdBits < physAddrBits <= 52`,
      );
    }
    this.keyUnit = 2 ** (physAddrBits - keyIdBits);
    this.maxKeyId = 2 ** keyIdBits - 1;
  }
  withKey(pa: number, keyId: number): number {
    return (pa % this.keyUnit) + keyId * this.keyUnit;
  }
  keyOf(pa: number): number {
    return Math.floor(pa / this.keyUnit);
  }
  strip(pa: number): number {
    return pa % this.keyUnit;
  }
}

/** Module-side memory helper: accesses by SEAM that must succeed. */
export class SeamMemory {
  readonly layout: KeyIdLayout;
  private readonly pair = new Uint32Array(2);
  constructor(readonly mem: PhysicalMemoryAccess) {
    this.layout = new KeyIdLayout(mem.physAddrBits, mem.keyIdBits);
  }

  private check(st: MemStatus, what: string, pa: number): void {
    if (st === MemStatus.Ok) return;
    const f = this.mem.lastFault();
    throw new TdxSimError(
      "E_TDX_MODULE_MEMORY",
      `TDX module ${what} at PA 0x${pa.toString(16)} failed (${f?.kind ?? st}): ${f?.message ?? "no detail"}; ` +
        "the module only touches pages it validated, so the platform memory is inconsistent with the CMRs/TDMRs",
    );
  }

  /** 64-bit read by SEAM; returns the low half and leaves the high half in `hi`. */
  read64(pa: number): number {
    this.check(this.mem.read64(pa, Initiator.Seam, this.pair), "read64", pa);
    return this.pair[0]!;
  }
  /** High half of the last `read64`. */
  get hi(): number {
    return this.pair[1]!;
  }
  write64(pa: number, lo: number, hi: number): void {
    this.check(this.mem.write64(pa, lo >>> 0, hi >>> 0, Initiator.Seam), "write64", pa);
  }
  read(pa: number, dst: Uint8Array): void {
    this.check(this.mem.read(pa, dst, Initiator.Seam), "read", pa);
  }
  write(pa: number, src: Uint8Array): void {
    this.check(this.mem.write(pa, src, Initiator.Seam), "write", pa);
  }
  fill(pa: number, len: number, byte: number): void {
    this.check(this.mem.fill(pa, len, byte, Initiator.Seam), "fill", pa);
  }
  /** Read by SEAM that may fail (host-supplied shared structures): returns the status. */
  tryRead(pa: number, dst: Uint8Array): MemStatus {
    return this.mem.read(pa, dst, Initiator.Seam);
  }
  /** Write by SEAM that may fail (host-supplied shared output buffers). */
  tryWrite(pa: number, src: Uint8Array): MemStatus {
    return this.mem.write(pa, src, Initiator.Seam);
  }
}

/** Little-endian u64 at `off` of `b` as a number (exact below 2^53). */
export function u64At(b: Uint8Array, off: number): number {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  return dv.getUint32(off + 4, true) * 4294967296 + dv.getUint32(off, true);
}

/** Little-endian u64 at `off` of `b` as a bigint (ABI values). */
export function u64BigAt(b: Uint8Array, off: number): bigint {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(off, true);
}

/** Store a bigint as little-endian u64 at `off`. */
export function putU64(b: Uint8Array, off: number, v: bigint | number): void {
  new DataView(b.buffer, b.byteOffset, b.byteLength).setBigUint64(
    off,
    BigInt.asUintN(64, typeof v === "bigint" ? v : BigInt(v)),
    true,
  );
}
