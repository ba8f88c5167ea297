/**
 * Host physical memory with MKTME/TDX KeyIDs in the upper address bits, per-line TD-owner bits and
 * poison, holes and MMIO ranges: the one memory core every layer accesses through
 * `PhysicalMemoryAccess`. Sparse (only touched frames have backing), allocation-free on the
 * access paths, and byte-exact for any size and alignment.
 *
 * Access rules by KeyID (tdx-module.md §5.4): KeyID 0 and the MKTME KeyIDs are shared; TDX private
 * KeyIDs are usable only in SEAM (initiators Seam and Td) — host software or a device using one gets
 * MemStatus.KeyIdNotAllowed (outside SEAM those PA bits are treated as reserved); KeyIDs above the
 * configured ones give MemStatus.KeyIdInvalid. Integrity rules per line: integrity.ts.
 *
 * @spec /work/shared/reference/tdx-module.md §5.4 (KeyIDs), §7 (integrity), §5.5 (PW erratum);
 *   vtd.md §7.1 (devices never reach private memory; how hardware reports it is undocumented)
 */
import { hex } from "../addr";
import { TdxSimError } from "../errors";
import { AddressMap, type MmioRange, type RamRange, Region } from "./address-map";
import { type Chunk, FrameStore, type FrameStoreOptions, LOC_SHIFT } from "./frame-store";
import {
  checkRead,
  FrameState,
  type HostReadOfTdOwned,
  type IntegrityMode,
  type IntegrityPolicy,
  initFrame,
  lineOwned,
  lineOwner,
  linePoisoned,
  ReadCheck,
  readLines,
  writeLines,
} from "./integrity";
import {
  KeyIdKind,
  type KeyIdLayout,
  keyIdKindTable,
  keyIdLayoutFromMsrs,
  makeKeyIdLayout,
  partitioningMsrOf,
} from "./keyids";
import { Initiator, type MemFault, type MemFaultKind, MemStatus, type PhysicalMemoryAccess } from "./types";

const LOC_MASK = (1 << LOC_SHIFT) - 1;

if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
  throw new TdxSimError(
    "E_PLATFORM",
    "PhysicalMemory needs a little-endian host (x86 memory is little-endian)",
  );
}

export interface PhysicalMemoryConfig {
  /** MAXPHYADDR including the KeyID bits (CPUID 0x80000008 EAX[7:0]); 36..52. */
  readonly physAddrBits: number;
  /** Upper PA bits holding the KeyID (IA32_TME_ACTIVATE MK_TME_KEYID_BITS); default 0. */
  readonly keyIdBits?: number;
  /** TDX private KeyIDs; default: a quarter of the KeyID space shared, the rest private. */
  readonly tdxKeyIds?: { readonly first: number; readonly count: number };
  /** Number of MKTME KeyIDs (shared, 1..n); default tdxKeyIds.first - 1. */
  readonly mktmeKeyIds?: number;
  /**
   * Alternatively, the IA32_MKTME_KEYID_PARTITIONING (MSR 0x87) value; with it, `keyIdBits`
   * still gives the KeyID bit count (IA32_TME_ACTIVATE bits 35:32).
   */
  readonly keyIdPartitioning?: bigint;
  /** RAM ranges (KeyID-stripped, 4 KiB aligned), or "all": everything below 2^(physAddrBits-keyIdBits). */
  readonly ram: readonly RamRange[] | "all";
  /** MMIO ranges (KeyID-stripped, 4 KiB aligned); they win over RAM. */
  readonly mmio?: readonly MmioRange[];
  /** Default "cryptographic" (the module picks an integrity algorithm unless MCHECK says none, §7). */
  readonly integrity?: IntegrityMode;
  /** What a shared-KeyID read of a TD-owned line returns; default "zeros" [unverified, §7]. */
  readonly hostReadOfTdOwned?: HostReadOfTdOwned;
  /** X86_BUG_TDX_PW_MCE (Sapphire/Emerald Rapids): partial shared writes poison private lines. Default false. */
  readonly partialWriteErratum?: boolean;
  /** Backing-store tuning. */
  readonly backing?: FrameStoreOptions;
}

/** Integrity state of one line, for inspection (TDX module model, tests, traces). */
export interface LineIntegrity {
  readonly owned: boolean;
  readonly poisoned: boolean;
  /** The private KeyID that owns the line, when owned. */
  readonly ownerKeyId: number | undefined;
}

/** Integrity summary of one 4 KiB page. */
export interface PageIntegrity {
  readonly ownedLines: number;
  readonly poisonedLines: number;
  /** Distinct owner KeyIDs, ascending. */
  readonly ownerKeyIds: readonly number[];
}

export interface MemoryStats {
  readonly allocatedFrames: number;
  readonly chunks: number;
  readonly backingBytes: number;
}

export class PhysicalMemory implements PhysicalMemoryAccess {
  readonly physAddrBits: number;
  readonly keyIdBits: number;
  /** physAddrBits - keyIdBits: the width of a KeyID-stripped address. */
  readonly hostAddrBits: number;
  readonly keyIds: KeyIdLayout;
  readonly integrity: IntegrityPolicy;

  private readonly physLimit: number;
  private readonly hostLimit: number;
  private readonly kinds: Uint8Array;
  private readonly store: FrameStore;
  private readonly chunks: Chunk[];
  private readonly map: AddressMap;
  private fault: MemFault | undefined;
  // last frame found in the table (frames never move, so this never goes stale)
  private lastFn = -1;
  private lastLoc = -1;
  // per-access scratch (set by prepare)
  private curKey = 0;
  private curKind: KeyIdKind = KeyIdKind.Shared;
  private curA = 0;
  private readonly s8 = new Uint8Array(8);
  private readonly s4 = this.s8.subarray(0, 4);
  private readonly failLine = new Int32Array(1);
  private readonly bounce = new Uint8Array(4096);

  constructor(config: PhysicalMemoryConfig) {
    const { physAddrBits } = config;
    if (!Number.isInteger(physAddrBits) || physAddrBits < 36 || physAddrBits > 52) {
      throw new TdxSimError(
        "E_MEMORY_CONFIG",
        `physAddrBits ${String(physAddrBits)} is invalid: MAXPHYADDR must be an integer in 36..52`,
      );
    }
    const bits = config.keyIdBits ?? 0;
    this.keyIds =
      config.keyIdPartitioning !== undefined
        ? keyIdLayoutFromMsrs(config.keyIdPartitioning, BigInt(bits) << 32n)
        : makeKeyIdLayout(bits, config.tdxKeyIds, config.mktmeKeyIds);
    this.physAddrBits = physAddrBits;
    this.keyIdBits = bits;
    this.hostAddrBits = physAddrBits - bits;
    if (this.hostAddrBits < 32) {
      throw new TdxSimError(
        "E_MEMORY_CONFIG",
        `physAddrBits ${String(physAddrBits)} with ${String(bits)} KeyID bits leaves ${String(this.hostAddrBits)} address bits: at least 32 are needed`,
      );
    }
    this.physLimit = 2 ** physAddrBits;
    this.hostLimit = 2 ** this.hostAddrBits;
    this.kinds = keyIdKindTable(this.keyIds);
    this.store = new FrameStore(this.hostAddrBits - 12, config.backing);
    this.chunks = this.store.chunks;
    this.map = new AddressMap(this.hostLimit, config.ram, config.mmio ?? []);
    this.integrity = {
      mode: config.integrity ?? "cryptographic",
      hostReadOfTdOwned: config.hostReadOfTdOwned ?? "zeros",
      partialWriteErratum: config.partialWriteErratum ?? false,
    };
  }

  /** Every address below 2^(physAddrBits - keyIdBits) is RAM, backed only where touched. */
  static sparseAll(config: Omit<PhysicalMemoryConfig, "ram"> & { readonly ram?: "all" }): PhysicalMemory {
    return new PhysicalMemory({ ...config, ram: "all" });
  }

  // ---------------------------------------------------------------- KeyID helpers

  keyIdOf(pa: number): number {
    return Math.floor(pa / this.hostLimit);
  }
  stripKeyId(pa: number): number {
    return pa - Math.floor(pa / this.hostLimit) * this.hostLimit;
  }
  withKeyId(pa: number, keyId: number): number {
    if (!Number.isInteger(keyId) || keyId < 0 || keyId >= 2 ** this.keyIdBits) {
      throw new TdxSimError(
        "E_BAD_KEYID",
        `KeyID ${String(keyId)} does not fit ${String(this.keyIdBits)} KeyID bits: it must be an integer in [0, ${String(2 ** this.keyIdBits)})`,
      );
    }
    return this.stripKeyId(pa) + keyId * this.hostLimit;
  }
  keyIdKind(keyId: number): KeyIdKind {
    return (this.kinds[keyId] ?? KeyIdKind.Invalid) as KeyIdKind;
  }
  isPrivateKeyId(keyId: number): boolean {
    return this.kinds[keyId] === KeyIdKind.Private;
  }
  /** IA32_MKTME_KEYID_PARTITIONING value for this layout. */
  keyIdPartitioningMsr(): bigint {
    return partitioningMsrOf(this.keyIds);
  }

  // ---------------------------------------------------------------- PhysicalMemoryAccess

  lastFault(): MemFault | undefined {
    return this.fault;
  }

  read(pa: number, dst: Uint8Array, who: Initiator): MemStatus {
    const len = dst.length;
    const st = this.prepare(pa, len, who);
    if (st !== MemStatus.Ok || len === 0) return st;
    const v = this.validateRead(this.curA, len, who);
    if (v !== MemStatus.Ok) return v;
    this.readData(this.curA, len, dst, 0);
    return MemStatus.Ok;
  }

  write(pa: number, src: Uint8Array, who: Initiator): MemStatus {
    const len = src.length;
    const st = this.prepare(pa, len, who);
    if (st !== MemStatus.Ok || len === 0) return st;
    const v = this.validateRegions(this.curA, len, who);
    if (v !== MemStatus.Ok) return v;
    this.writeData(this.curA, len, src, 0, 0);
    return MemStatus.Ok;
  }

  fill(pa: number, len: number, byte: number, who: Initiator): MemStatus {
    const st = this.prepare(pa, len, who);
    if (st !== MemStatus.Ok || len === 0) return st;
    const v = this.validateRegions(this.curA, len, who);
    if (v !== MemStatus.Ok) return v;
    this.writeData(this.curA, len, null, 0, byte & 0xff);
    return MemStatus.Ok;
  }

  copy(dstPa: number, srcPa: number, len: number, who: Initiator): MemStatus {
    let st = this.prepare(srcPa, len, who);
    if (st !== MemStatus.Ok) return st;
    const sKey = this.curKey;
    const sKind = this.curKind;
    const sA = this.curA;
    st = this.prepare(dstPa, len, who);
    if (st !== MemStatus.Ok || len === 0) return st;
    const dKey = this.curKey;
    const dKind = this.curKind;
    const dA = this.curA;
    this.curKey = sKey;
    this.curKind = sKind;
    st = this.validateRead(sA, len, who);
    if (st !== MemStatus.Ok) return st;
    this.curKey = dKey;
    this.curKind = dKind;
    st = this.validateRegions(dA, len, who);
    if (st !== MemStatus.Ok) return st;
    if (Math.abs(sA - dA) < len) {
      // same physical bytes through (maybe) different KeyIDs: memmove through a temporary
      const tmp = new Uint8Array(len);
      this.curKey = sKey;
      this.curKind = sKind;
      this.readData(sA, len, tmp, 0);
      this.curKey = dKey;
      this.curKind = dKind;
      this.writeData(dA, len, tmp, 0, 0);
      return MemStatus.Ok;
    }
    this.copyData(dA, dKey, dKind, sA, sKey, sKind, len);
    return MemStatus.Ok;
  }

  read32(pa: number, who: Initiator, out: Uint32Array): MemStatus {
    if (pa >= 0 && pa < this.hostLimit && Math.floor(pa) === pa) {
      const fn = Math.floor(pa / 4096);
      const off = pa - fn * 4096;
      if (off <= 4092) {
        const loc = fn === this.lastFn ? this.lastLoc : this.locate(fn);
        if (loc >= 0) {
          const c = this.chunks[loc >>> LOC_SHIFT] as Chunk;
          const i = loc & LOC_MASK;
          if (c.fstate[i] === FrameState.Clean) {
            const p = i * 4096 + off;
            if ((p & 3) === 0) out[0] = c.u32[p >>> 2] as number;
            else {
              const u = c.u8;
              out[0] =
                ((u[p] as number) |
                  ((u[p + 1] as number) << 8) |
                  ((u[p + 2] as number) << 16) |
                  ((u[p + 3] as number) << 24)) >>>
                0;
            }
            return MemStatus.Ok;
          }
        }
      }
    }
    const st = this.read(pa, this.s4, who);
    if (st === MemStatus.Ok) out[0] = this.le32(0);
    return st;
  }

  read64(pa: number, who: Initiator, out: Uint32Array): MemStatus {
    if (pa >= 0 && pa < this.hostLimit && Math.floor(pa) === pa) {
      const fn = Math.floor(pa / 4096);
      const off = pa - fn * 4096;
      if (off <= 4088) {
        const loc = fn === this.lastFn ? this.lastLoc : this.locate(fn);
        if (loc >= 0) {
          const c = this.chunks[loc >>> LOC_SHIFT] as Chunk;
          const i = loc & LOC_MASK;
          if (c.fstate[i] === FrameState.Clean) {
            const p = i * 4096 + off;
            if ((p & 3) === 0) {
              const w = p >>> 2;
              out[0] = c.u32[w] as number;
              out[1] = c.u32[w + 1] as number;
              return MemStatus.Ok;
            }
          }
        }
      }
    }
    const st = this.read(pa, this.s8, who);
    if (st === MemStatus.Ok) {
      out[0] = this.le32(0);
      out[1] = this.le32(4);
    }
    return st;
  }

  write32(pa: number, value: number, who: Initiator): MemStatus {
    if (pa >= 0 && pa < this.hostLimit && Math.floor(pa) === pa) {
      const fn = Math.floor(pa / 4096);
      const off = pa - fn * 4096;
      if (off <= 4092) {
        const loc = fn === this.lastFn ? this.lastLoc : this.locate(fn);
        if (loc >= 0) {
          const c = this.chunks[loc >>> LOC_SHIFT] as Chunk;
          const i = loc & LOC_MASK;
          const p = i * 4096 + off;
          if (c.fstate[i] === FrameState.Clean && (p & 3) === 0) {
            c.u32[p >>> 2] = value;
            return MemStatus.Ok;
          }
        }
      }
    }
    this.putLe32(0, value);
    return this.write(pa, this.s4, who);
  }

  write64(pa: number, lo: number, hi: number, who: Initiator): MemStatus {
    if (pa >= 0 && pa < this.hostLimit && Math.floor(pa) === pa) {
      const fn = Math.floor(pa / 4096);
      const off = pa - fn * 4096;
      if (off <= 4088) {
        const loc = fn === this.lastFn ? this.lastLoc : this.locate(fn);
        if (loc >= 0) {
          const c = this.chunks[loc >>> LOC_SHIFT] as Chunk;
          const i = loc & LOC_MASK;
          const p = i * 4096 + off;
          if (c.fstate[i] === FrameState.Clean && (p & 3) === 0) {
            c.u32[p >>> 2] = lo;
            c.u32[(p >>> 2) + 1] = hi;
            return MemStatus.Ok;
          }
        }
      }
    }
    this.putLe32(0, lo);
    this.putLe32(4, hi);
    return this.write(pa, this.s8, who);
  }

  // ---------------------------------------------------------------- integrity management

  /**
   * Initialise the 4 KiB page at `pa` the way MOVDIR64B over every line does (the TDX module
   * when it adds/accepts a page, the host when it resets a reclaimed page): zero it, clear poison,
   * and make every line owned by pa's KeyID if that is private, or not TD-owned if shared.
   * `pa` must be page aligned; the initiator must be allowed to use the KeyID.
   */
  initPage(pa: number, who: Initiator): MemStatus {
    const st = this.prepare(pa, 4096, who);
    if (st !== MemStatus.Ok) return st;
    if (this.curA % 4096 !== 0) {
      throw new TdxSimError("E_UNALIGNED", `initPage(${hex(pa)}): the address must be 4 KiB aligned`);
    }
    const v = this.validateRegions(this.curA, 4096, who);
    if (v !== MemStatus.Ok) return v;
    const loc = this.store.ensure(this.curA / 4096);
    initFrame(this.chunks[loc >>> LOC_SHIFT] as Chunk, loc & LOC_MASK, this.curKind, this.curKey);
    return MemStatus.Ok;
  }

  /** Integrity state of the line holding `pa` (KeyID bits ignored). */
  lineIntegrity(pa: number): LineIntegrity {
    const a = this.stripKeyId(pa);
    const loc = this.store.lookup(Math.floor(a / 4096));
    if (loc < 0) return { owned: false, poisoned: false, ownerKeyId: undefined };
    const c = this.chunks[loc >>> LOC_SHIFT] as Chunk;
    const i = loc & LOC_MASK;
    const l = (a % 4096) >>> 6;
    const owned = lineOwned(c, i, l);
    return { owned, poisoned: linePoisoned(c, i, l), ownerKeyId: owned ? lineOwner(c, i, l) : undefined };
  }

  /** Integrity summary of the page holding `pa` (KeyID bits ignored). */
  pageIntegrity(pa: number): PageIntegrity {
    const a = this.stripKeyId(pa);
    const loc = this.store.lookup(Math.floor(a / 4096));
    if (loc < 0) return { ownedLines: 0, poisonedLines: 0, ownerKeyIds: [] };
    const c = this.chunks[loc >>> LOC_SHIFT] as Chunk;
    const i = loc & LOC_MASK;
    let owned = 0;
    let poisoned = 0;
    const keys = new Set<number>();
    for (let l = 0; l < 64; l++) {
      if (lineOwned(c, i, l)) {
        owned++;
        keys.add(lineOwner(c, i, l));
      }
      if (linePoisoned(c, i, l)) poisoned++;
    }
    return { ownedLines: owned, poisonedLines: poisoned, ownerKeyIds: [...keys].sort((x, y) => x - y) };
  }

  /** What the address map says about `pa` (KeyID bits ignored). */
  regionOf(pa: number): "ram" | "hole" | "mmio" {
    const a = this.stripKeyId(pa);
    if (this.store.lookup(Math.floor(a / 4096)) >= 0) return "ram";
    const r = this.map.classify(a);
    return r === Region.Ram ? "ram" : r === Region.Mmio ? "mmio" : "hole";
  }

  stats(): MemoryStats {
    return {
      allocatedFrames: this.store.allocatedFrames,
      chunks: this.chunks.length,
      backingBytes: this.store.backingBytes(),
    };
  }

  // ---------------------------------------------------------------- internals

  private le32(o: number): number {
    const s = this.s8;
    return (
      ((s[o] as number) |
        ((s[o + 1] as number) << 8) |
        ((s[o + 2] as number) << 16) |
        ((s[o + 3] as number) << 24)) >>>
      0
    );
  }
  private putLe32(o: number, v: number): void {
    const s = this.s8;
    s[o] = v & 0xff;
    s[o + 1] = (v >>> 8) & 0xff;
    s[o + 2] = (v >>> 16) & 0xff;
    s[o + 3] = (v >>> 24) & 0xff;
  }

  /** Table lookup with the one-entry cache. */
  private locate(fn: number): number {
    const loc = this.store.lookup(fn);
    if (loc >= 0) {
      this.lastFn = fn;
      this.lastLoc = loc;
    }
    return loc;
  }
  private ensure(fn: number): number {
    if (fn === this.lastFn) return this.lastLoc;
    const loc = this.store.ensure(fn);
    this.lastFn = fn;
    this.lastLoc = loc;
    return loc;
  }

  /** Check the address and KeyID; set curKey/curKind/curA. Throws on bad input. */
  private prepare(pa: number, len: number, who: Initiator): MemStatus {
    if (!(pa >= 0 && pa < this.physLimit) || Math.floor(pa) !== pa) {
      throw new TdxSimError(
        "E_BAD_ADDRESS",
        `HPA ${String(pa)} is invalid: it must be an integer in [0, 2^${String(this.physAddrBits)}) (physAddrBits, KeyID bits included)`,
      );
    }
    if (!(len >= 0) || Math.floor(len) !== len) {
      throw new TdxSimError(
        "E_BAD_LENGTH",
        `length ${String(len)} is invalid: it must be a non-negative integer`,
      );
    }
    const keyId = pa >= this.hostLimit ? Math.floor(pa / this.hostLimit) : 0;
    const a = pa - keyId * this.hostLimit;
    if (a + len > this.hostLimit) {
      throw new TdxSimError(
        "E_BAD_ADDRESS",
        `access [${hex(pa)}, +${hex(len)}) runs past the top of the host address space (2^${String(this.hostAddrBits)}) into the KeyID bits: accesses must stay below it`,
      );
    }
    if (
      who !== Initiator.Host &&
      who !== Initiator.Seam &&
      who !== Initiator.Td &&
      who !== Initiator.Device
    ) {
      throw new TdxSimError(
        "E_BAD_INITIATOR",
        `initiator ${String(who)} is invalid: use Initiator.Host, Seam, Td or Device`,
      );
    }
    const kind = this.kinds[keyId] as KeyIdKind;
    this.curKey = keyId;
    this.curKind = kind;
    this.curA = a;
    if (kind === KeyIdKind.Invalid) {
      return this.setFault(
        MemStatus.KeyIdInvalid,
        "keyid-invalid",
        pa,
        keyId,
        who,
        `KeyID ${String(keyId)} is not configured: shared KeyIDs are 0..${String(this.keyIds.mktmeKeyIds)}, private ${String(this.keyIds.tdxFirst)}..${String(this.keyIds.tdxFirst + this.keyIds.tdxCount - 1)}`,
      );
    }
    if (kind === KeyIdKind.Private && (who === Initiator.Host || who === Initiator.Device)) {
      return this.setFault(
        MemStatus.KeyIdNotAllowed,
        "keyid-not-allowed",
        pa,
        keyId,
        who,
        `KeyID ${String(keyId)} is a TDX private KeyID, usable only in SEAM (the TDX module or a TD); ${who === Initiator.Host ? "host software" : "a device"} may use shared KeyIDs 0..${String(this.keyIds.mktmeKeyIds)} only`,
      );
    }
    return MemStatus.Ok;
  }

  private setFault(
    st: MemStatus,
    kind: MemFaultKind,
    pa: number,
    keyId: number,
    who: Initiator,
    message: string,
  ): MemStatus {
    this.fault = { kind, pa, keyId, initiator: who, message };
    return st;
  }

  /** Fault for the untouched frame at stripped address `a` if it is not RAM. */
  private regionFault(a: number, who: Initiator): MemStatus {
    const r = this.map.classify(a);
    if (r === Region.Ram) return MemStatus.Ok;
    const pa = a + this.curKey * this.hostLimit;
    if (r === Region.Mmio) {
      return this.setFault(
        MemStatus.Mmio,
        "mmio",
        pa,
        this.curKey,
        who,
        `${hex(a)} is in MMIO range "${this.map.mmioName(this.map.lastMmio)}": route the access to its device`,
      );
    }
    return this.setFault(
      MemStatus.Hole,
      "hole",
      pa,
      this.curKey,
      who,
      `${hex(a)} is not backed by RAM (a hole in the physical address map)`,
    );
  }

  /** Every frame of [a, a+len) must be RAM. */
  private validateRegions(a: number, len: number, who: Initiator): MemStatus {
    const end = a + len;
    for (let fb = Math.floor(a / 4096) * 4096; fb < end; fb += 4096) {
      const fn = fb / 4096;
      if ((fn === this.lastFn ? this.lastLoc : this.locate(fn)) >= 0) continue;
      const st = this.regionFault(fb, who);
      if (st !== MemStatus.Ok) {
        if (this.fault !== undefined && fb < a)
          this.fault = { ...this.fault, pa: a + this.curKey * this.hostLimit };
        return st;
      }
    }
    return MemStatus.Ok;
  }

  /** Regions, then integrity checks (which may poison lines), for a read of [a, a+len). */
  private validateRead(a: number, len: number, who: Initiator): MemStatus {
    const st = this.validateRegions(a, len, who);
    if (st !== MemStatus.Ok) return st;
    const kind = this.curKind;
    const key = this.curKey;
    for (let p = a, rem = len; rem > 0; ) {
      const fn = Math.floor(p / 4096);
      const off = p - fn * 4096;
      const n = Math.min(4096 - off, rem);
      let loc = fn === this.lastFn ? this.lastLoc : this.locate(fn);
      let check = loc >= 0 || kind === KeyIdKind.Private;
      if (loc >= 0) {
        const c = this.chunks[loc >>> LOC_SHIFT] as Chunk;
        const i = loc & LOC_MASK;
        const s = c.fstate[i];
        if (
          kind === KeyIdKind.Shared ? s !== FrameState.Mixed : s === FrameState.Uniform && c.fkey[i] === key
        )
          check = false;
      }
      if (check) {
        if (loc < 0) loc = this.ensure(fn); // a private read of untouched RAM: it gets poisoned
        const c = this.chunks[loc >>> LOC_SHIFT] as Chunk;
        const why = checkRead(c, loc & LOC_MASK, off, n, kind, key, this.integrity, this.failLine);
        if (why !== ReadCheck.Ok) {
          const lineAddr = fn * 4096 + (this.failLine[0] as number) * 64;
          const at = Math.max(lineAddr, p) + key * this.hostLimit;
          const reason =
            why === ReadCheck.Poisoned
              ? "the line is poisoned"
              : why === ReadCheck.NotOwned
                ? `the line is not TD-owned, so the read with private KeyID ${String(key)} fails the integrity check (the line was written with a shared KeyID or never initialised) and is now poisoned`
                : `the line is owned by another private KeyID, so the MAC check fails and the line is now poisoned`;
          return this.setFault(
            MemStatus.MachineCheck,
            "machine-check",
            at,
            key,
            who,
            `machine check reading ${hex(at)}: ${reason}`,
          );
        }
      }
      p += n;
      rem -= n;
    }
    return MemStatus.Ok;
  }

  /** Bytes of contiguous backing starting at frame `loc`, up to `max`, for fast-path frames. */
  private runBytes(fn: number, loc: number, off: number, max: number, kind: KeyIdKind, key: number): number {
    let n = Math.min(4096 - off, max);
    let c = this.chunks[loc >>> LOC_SHIFT] as Chunk;
    while (n < max) {
      const i = (loc & LOC_MASK) + 1;
      if (i >= c.frames) break;
      const next = this.store.lookup(fn + 1);
      if (next !== loc + 1 || !this.fast(c, i, kind, key)) break;
      fn++;
      loc = next;
      n = Math.min(n + 4096, max);
      c = this.chunks[loc >>> LOC_SHIFT] as Chunk;
    }
    return n;
  }

  /** Whether frame i of c can be accessed byte-for-byte with this KeyID. */
  private fast(c: Chunk, i: number, kind: KeyIdKind, key: number): boolean {
    const s = c.fstate[i];
    return kind === KeyIdKind.Shared ? s === FrameState.Clean : s === FrameState.Uniform && c.fkey[i] === key;
  }

  /** Copy [a, a+len) out to dst at o (already validated). */
  private readData(a: number, len: number, dst: Uint8Array, o: number): void {
    const kind = this.curKind;
    const key = this.curKey;
    for (let rem = len; rem > 0; ) {
      const fn = Math.floor(a / 4096);
      const off = a - fn * 4096;
      const loc = fn === this.lastFn ? this.lastLoc : this.locate(fn);
      let n: number;
      if (loc < 0) {
        n = Math.min(4096 - off, rem);
        dst.fill(0, o, o + n); // untouched RAM reads as zeros (shared KeyID; validated)
      } else {
        const c = this.chunks[loc >>> LOC_SHIFT] as Chunk;
        const i = loc & LOC_MASK;
        if (this.fast(c, i, kind, key)) {
          n = this.runBytes(fn, loc, off, rem, kind, key);
          const p = i * 4096 + off;
          if (n <= 16) for (let q = 0; q < n; q++) dst[o + q] = c.u8[p + q] as number;
          else dst.set(c.u8.subarray(p, p + n), o);
        } else {
          n = Math.min(4096 - off, rem);
          readLines(c, i, fn * 4096, off, n, dst, o, kind, key, this.integrity);
        }
      }
      a += n;
      o += n;
      rem -= n;
    }
  }

  /** Write src[so..] (or fillByte when src is null) to [a, a+len) (already validated). */
  private writeData(a: number, len: number, src: Uint8Array | null, so: number, fillByte: number): void {
    const kind = this.curKind;
    const key = this.curKey;
    for (let rem = len; rem > 0; ) {
      const fn = Math.floor(a / 4096);
      const off = a - fn * 4096;
      const loc = this.ensure(fn);
      const c = this.chunks[loc >>> LOC_SHIFT] as Chunk;
      const i = loc & LOC_MASK;
      let n: number;
      if (this.fast(c, i, kind, key)) {
        n = this.runBytes(fn, loc, off, rem, kind, key);
        const p = i * 4096 + off;
        if (src === null) c.u8.fill(fillByte, p, p + n);
        else if (n <= 16) for (let q = 0; q < n; q++) c.u8[p + q] = src[so + q] as number;
        else c.u8.set(src.subarray(so, so + n), p);
      } else {
        n = Math.min(4096 - off, rem);
        writeLines(c, i, fn * 4096, off, n, src, so, fillByte, kind, key, this.integrity);
      }
      a += n;
      so += n;
      rem -= n;
    }
  }

  /** Copy between two non-overlapping validated ranges, one copyWithin/set per contiguous run. */
  private copyData(
    dA: number,
    dKey: number,
    dKind: KeyIdKind,
    sA: number,
    sKey: number,
    sKind: KeyIdKind,
    len: number,
  ): void {
    const bounce = this.bounce;
    for (let rem = len; rem > 0; ) {
      const sFn = Math.floor(sA / 4096);
      const sOff = sA - sFn * 4096;
      const dFn = Math.floor(dA / 4096);
      const dOff = dA - dFn * 4096;
      const sLoc = this.store.lookup(sFn);
      const dLoc = this.ensure(dFn);
      const dc = this.chunks[dLoc >>> LOC_SHIFT] as Chunk;
      const di = dLoc & LOC_MASK;
      const dFast = this.fast(dc, di, dKind, dKey);
      let n: number;
      if (
        sLoc >= 0 &&
        dFast &&
        this.fast(this.chunks[sLoc >>> LOC_SHIFT] as Chunk, sLoc & LOC_MASK, sKind, sKey)
      ) {
        const sc = this.chunks[sLoc >>> LOC_SHIFT] as Chunk;
        const sRun = this.runBytes(sFn, sLoc, sOff, rem, sKind, sKey);
        n = this.runBytes(dFn, dLoc, dOff, sRun, dKind, dKey);
        const sp = (sLoc & LOC_MASK) * 4096 + sOff;
        const dp = di * 4096 + dOff;
        if (sc === dc) dc.u8.copyWithin(dp, sp, sp + n);
        else dc.u8.set(sc.u8.subarray(sp, sp + n), dp);
      } else {
        // one segment inside a single source and destination frame, through the bounce buffer
        n = Math.min(4096 - sOff, 4096 - dOff, rem);
        this.curKey = sKey;
        this.curKind = sKind;
        this.readData(sA, n, bounce, 0);
        this.curKey = dKey;
        this.curKind = dKind;
        this.writeData(dA, n, bounce, 0, 0);
      }
      sA += n;
      dA += n;
      rem -= n;
    }
  }
}
