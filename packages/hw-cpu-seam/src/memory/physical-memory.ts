/**
 * Host physical memory with MKTME/TDX KeyIDs in the upper address bits, per-line TD-owner bits and
 * poison, holes and MMIO ranges: the one memory core every layer accesses through
 * `PhysicalMemoryAccess`. Sparse (only touched frames have backing), allocation-free on the
 * access paths, and byte-exact for any size and alignment. This file is the face: configuration,
 * KeyID helpers, the 32/64-bit fast paths, page initialisation and inspection; memory-engine.ts
 * holds the mechanics and integrity.ts the per-line rules.
 *
 * Access rules by KeyID: KeyID 0 and the MKTME KeyIDs are shared; TDX private KeyIDs are usable
 * only in SEAM (initiators Seam and Td) — host software or a device using one gets
 * MemStatus.KeyIdNotAllowed; KeyIDs above the configured ones give MemStatus.KeyIdInvalid.
 *
 * @spec /work/shared/reference/tdx-module.md §5.4 (KeyIDs), §7 (integrity), §5.5 (PW erratum);
 *   vtd.md §7.1 (devices never reach private memory; how hardware reports it is undocumented)
 */
import { hex } from "../addr";
import { TdxSimError } from "../errors";
import type { MmioRange, RamRange } from "./address-map";
import { Region } from "./address-map";
import type { Chunk, FrameStoreOptions } from "./frame-store";
import { LOC_SHIFT } from "./frame-store";
import {
  FrameState as FrameStateImport,
  type HostReadOfTdOwned,
  type IntegrityMode,
  initFrame,
  lineOwned,
  lineOwner,
  linePoisoned,
} from "./integrity";
import {
  KeyIdKind as KeyIdKindImport,
  keyIdPartitionFromMsrs,
  makeKeyIdPartition,
  partitioningMsrOf,
} from "./keyids";
import { type EngineParams, LOC_MASK, MemoryEngine } from "./memory-engine";
import { type Initiator, MemStatus as MemStatusImport, type PhysicalMemoryAccess } from "./types";

// Imported objects bound to locals: under source transforms (tsx, vitest) every use of an
// imported binding is a getter call, which the per-access paths cannot afford.
const KeyIdKind = KeyIdKindImport;
type KeyIdKind = KeyIdKindImport;
const MemStatus = MemStatusImport;
type MemStatus = MemStatusImport;
const FrameState = FrameStateImport;

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

export class PhysicalMemory extends MemoryEngine implements PhysicalMemoryAccess {
  private readonly s8 = new Uint8Array(8);
  private readonly s4 = this.s8.subarray(0, 4);

  constructor(config: PhysicalMemoryConfig) {
    super(resolveConfig(config));
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

  // ---------------------------------------------------------------- 32/64-bit accesses

  read32(pa: number, who: Initiator, out: Uint32Array): MemStatus {
    const p = this.fastOffset(pa, who, 4);
    if (p >= 0) {
      const c = this.fastChunk as Chunk;
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
    const st = this.read(pa, this.s4, who);
    if (st === MemStatus.Ok) out[0] = this.le32(0);
    return st;
  }

  read64(pa: number, who: Initiator, out: Uint32Array): MemStatus {
    const p = this.fastOffset(pa, who, 8);
    if (p >= 0 && (p & 3) === 0) {
      const u32 = (this.fastChunk as Chunk).u32;
      const w = p >>> 2;
      out[0] = u32[w] as number;
      out[1] = u32[w + 1] as number;
      return MemStatus.Ok;
    }
    const st = this.read(pa, this.s8, who);
    if (st === MemStatus.Ok) {
      out[0] = this.le32(0);
      out[1] = this.le32(4);
    }
    return st;
  }

  write32(pa: number, value: number, who: Initiator): MemStatus {
    const p = this.fastOffset(pa, who, 4);
    if (p >= 0 && (p & 3) === 0) {
      (this.fastChunk as Chunk).u32[p >>> 2] = value;
      return MemStatus.Ok;
    }
    this.putLe32(0, value);
    return this.write(pa, this.s4, who);
  }

  write64(pa: number, lo: number, hi: number, who: Initiator): MemStatus {
    const p = this.fastOffset(pa, who, 8);
    if (p >= 0 && (p & 3) === 0) {
      const u32 = (this.fastChunk as Chunk).u32;
      u32[p >>> 2] = lo;
      u32[(p >>> 2) + 1] = hi;
      return MemStatus.Ok;
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

  /**
   * Whether any 64-byte line overlapping [pa, pa + len) is TD-owned (KeyID bits ignored, each page
   * stripped on its own). Allocation-free: untouched and clean frames are skipped by their summary
   * byte, others are checked line by line.
   */
  anyTdOwnedLine(pa: number, len: number): boolean {
    if (len <= 0) return false;
    const last = pa + len - 1;
    for (let page = pa - (pa % 4096); page <= last; page += 4096) {
      const loc = this.store.lookup(Math.floor(this.stripKeyId(page) / 4096));
      if (loc < 0) continue;
      const c = this.chunks[loc >>> LOC_SHIFT] as Chunk;
      const i = loc & LOC_MASK;
      if (c.fstate[i] === FrameState.Clean) continue;
      const from = page < pa ? (pa - page) >>> 6 : 0;
      const to = last - page >= 4095 ? 63 : (last - page) >>> 6;
      for (let l = from; l <= to; l++) if (lineOwned(c, i, l)) return true;
    }
    return false;
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

  // ---------------------------------------------------------------- helpers

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
}

/** Check a configuration and resolve its defaults. */
function resolveConfig(config: PhysicalMemoryConfig): EngineParams {
  const { physAddrBits } = config;
  if (!Number.isInteger(physAddrBits) || physAddrBits < 36 || physAddrBits > 52) {
    throw new TdxSimError(
      "E_MEMORY_CONFIG",
      `physAddrBits ${String(physAddrBits)} is invalid: MAXPHYADDR must be an integer in 36..52`,
    );
  }
  const bits = config.keyIdBits ?? 0;
  if (config.keyIdPartitioning !== undefined && (config.tdxKeyIds || config.mktmeKeyIds !== undefined)) {
    throw new TdxSimError(
      "E_MEMORY_CONFIG",
      "give the KeyID partition either as keyIdPartitioning (the MSR 0x87 value) or as tdxKeyIds/mktmeKeyIds, not both",
    );
  }
  const keyIds =
    config.keyIdPartitioning !== undefined
      ? keyIdPartitionFromMsrs(config.keyIdPartitioning, BigInt(bits) << 32n)
      : makeKeyIdPartition(bits, config.tdxKeyIds, config.mktmeKeyIds);
  if (physAddrBits - bits < 32) {
    throw new TdxSimError(
      "E_MEMORY_CONFIG",
      `physAddrBits ${String(physAddrBits)} with ${String(bits)} KeyID bits leaves ${String(physAddrBits - bits)} address bits: at least 32 are needed`,
    );
  }
  return {
    physAddrBits,
    keyIdBits: bits,
    keyIds,
    ram: config.ram,
    mmio: config.mmio ?? [],
    integrity: {
      mode: config.integrity ?? "cryptographic",
      hostReadOfTdOwned: config.hostReadOfTdOwned ?? "zeros",
      partialWriteErratum: config.partialWriteErratum ?? false,
    },
    backing: config.backing,
  };
}
