/**
 * The mechanics under PhysicalMemory: KeyID and address checks, the frame walk over the sparse
 * store, the two-pass discipline (validate the whole range, then move bytes, so a faulting access
 * changes nothing but what integrity checking itself records), one copyWithin/set per contiguous
 * run on the fast path, line-by-line integrity (integrity.ts) elsewhere, and fault reporting.
 *
 * @spec /work/shared/reference/tdx-module.md §5.4 (private KeyIDs usable only in SEAM; the PA bits
 *   are reserved outside it), §7 (integrity); vtd.md §7.1 (devices never reach private memory)
 */
import { hex } from "../addr";
import { TdxSimError } from "../errors";
import { AddressMap, type MmioRange, type RamRange, Region } from "./address-map";
import { type Chunk, FrameStore, type FrameStoreOptions, LOC_SHIFT } from "./frame-store";
import {
  checkRead,
  FrameState as FrameStateImport,
  type IntegrityPolicy,
  ReadCheck as ReadCheckImport,
  readLines,
  writeLines,
} from "./integrity";
import { KeyIdKind as KeyIdKindImport, type KeyIdPartition, keyIdKindTable } from "./keyids";
import {
  Initiator as InitiatorImport,
  type MemFault,
  type MemFaultKind,
  MemStatus as MemStatusImport,
} from "./types";

// Imported objects bound to locals: under source transforms (tsx, vitest) every use of an
// imported binding is a getter call, which the per-access paths cannot afford.
const FrameState = FrameStateImport;
const ReadCheck = ReadCheckImport;
const KeyIdKind = KeyIdKindImport;
type KeyIdKind = KeyIdKindImport;
const Initiator = InitiatorImport;
type Initiator = InitiatorImport;
const MemStatus = MemStatusImport;
type MemStatus = MemStatusImport;

export const LOC_MASK = (1 << LOC_SHIFT) - 1;

if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) {
  throw new TdxSimError(
    "E_PLATFORM",
    "PhysicalMemory needs a little-endian host (x86 memory is little-endian)",
  );
}

/** Checked, resolved parameters of a memory. */
export interface EngineParams {
  readonly physAddrBits: number;
  readonly keyIdBits: number;
  readonly keyIds: KeyIdPartition;
  readonly ram: readonly RamRange[] | "all";
  readonly mmio: readonly MmioRange[];
  readonly integrity: IntegrityPolicy;
  readonly backing: FrameStoreOptions | undefined;
}

export abstract class MemoryEngine {
  readonly physAddrBits: number;
  readonly keyIdBits: number;
  /** physAddrBits - keyIdBits: the width of a KeyID-stripped address. */
  readonly hostAddrBits: number;
  readonly keyIds: KeyIdPartition;
  readonly integrity: IntegrityPolicy;

  protected readonly physLimit: number;
  protected readonly hostLimit: number;
  protected readonly kinds: Uint8Array;
  protected readonly store: FrameStore;
  protected readonly chunks: Chunk[];
  protected readonly map: AddressMap;
  protected fault: MemFault | undefined;
  // last frame found in the table (frames never move, so this never goes stale)
  protected lastFn = -1;
  protected lastLoc = -1;
  // per-access scratch (set by prepare)
  protected curKey = 0;
  protected curKind: KeyIdKind = KeyIdKind.Shared;
  protected curA = 0;
  private readonly failLine = new Int32Array(1);
  private readonly bounce = new Uint8Array(4096);

  constructor(p: EngineParams) {
    this.physAddrBits = p.physAddrBits;
    this.keyIdBits = p.keyIdBits;
    this.hostAddrBits = p.physAddrBits - p.keyIdBits;
    this.keyIds = p.keyIds;
    this.integrity = p.integrity;
    this.physLimit = 2 ** p.physAddrBits;
    this.hostLimit = 2 ** this.hostAddrBits;
    this.kinds = keyIdKindTable(p.keyIds);
    this.store = new FrameStore(this.hostAddrBits - 12, p.backing);
    this.chunks = this.store.chunks;
    this.map = new AddressMap(this.hostLimit, p.ram, p.mmio);
  }

  /** Details of the most recent access that did not return Ok. */
  lastFault(): MemFault | undefined {
    return this.fault;
  }

  // ---------------------------------------------------------------- byte-range accesses

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

  // ---------------------------------------------------------------- internals

  /** The chunk of the last successful `fastOffset`. */
  protected fastChunk: Chunk | undefined;

  /**
   * Byte offset in its chunk of [pa, pa+size) when the access stays in one touched frame that the
   * KeyID may use byte-for-byte (shared KeyID on a clean frame, or the owning private KeyID from
   * SEAM/TD on a wholly owned frame); -1 sends the caller to the general path, which also does all
   * checking and fault reporting. Sets `fastChunk`. Allocation-free.
   */
  protected fastOffset(pa: number, who: Initiator, size: number): number {
    if (!(pa >= 0 && pa < this.physLimit) || Math.floor(pa) !== pa) return -1;
    let a = pa;
    let key = 0;
    if (pa >= this.hostLimit) {
      key = Math.floor(pa / this.hostLimit);
      a = pa - key * this.hostLimit;
    }
    const fn = Math.floor(a / 4096);
    const off = a - fn * 4096;
    if (off > 4096 - size) return -1;
    const loc = fn === this.lastFn ? this.lastLoc : this.locate(fn);
    if (loc < 0) return -1;
    const c = this.chunks[loc >>> LOC_SHIFT] as Chunk;
    const i = loc & LOC_MASK;
    const s = c.fstate[i];
    if (key === 0 || this.kinds[key] === KeyIdKind.Shared) {
      if (s !== FrameState.Clean) return -1;
    } else if (
      this.kinds[key] !== KeyIdKind.Private ||
      (who !== Initiator.Seam && who !== Initiator.Td) ||
      s !== FrameState.Uniform ||
      c.fkey[i] !== key
    ) {
      return -1;
    }
    this.fastChunk = c;
    return i * 4096 + off;
  }

  /** Table lookup with the one-entry cache. */
  protected locate(fn: number): number {
    const loc = this.store.lookup(fn);
    if (loc >= 0) {
      this.lastFn = fn;
      this.lastLoc = loc;
    }
    return loc;
  }
  protected ensure(fn: number): number {
    if (fn === this.lastFn) return this.lastLoc;
    const loc = this.store.ensure(fn);
    this.lastFn = fn;
    this.lastLoc = loc;
    return loc;
  }

  /** Check the address and KeyID; set curKey/curKind/curA. Throws on bad input. */
  protected prepare(pa: number, len: number, who: Initiator): MemStatus {
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

  protected setFault(
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
  protected regionFault(a: number, who: Initiator): MemStatus {
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
  protected validateRegions(a: number, len: number, who: Initiator): MemStatus {
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
  protected validateRead(a: number, len: number, who: Initiator): MemStatus {
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
  protected runBytes(
    fn: number,
    loc: number,
    off: number,
    max: number,
    kind: KeyIdKind,
    key: number,
  ): number {
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
  protected fast(c: Chunk, i: number, kind: KeyIdKind, key: number): boolean {
    const s = c.fstate[i];
    return kind === KeyIdKind.Shared ? s === FrameState.Clean : s === FrameState.Uniform && c.fkey[i] === key;
  }

  /** Copy [a, a+len) out to dst at o (already validated). */
  protected readData(a: number, len: number, dst: Uint8Array, o: number): void {
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
  protected writeData(a: number, len: number, src: Uint8Array | null, so: number, fillByte: number): void {
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
  protected copyData(
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
        else if (sc.buf !== null) sc.buf.copy(dc.u8, dp, sp, sp + n);
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
