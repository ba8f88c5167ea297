/**
 * Backing store for host RAM: touched 4 KiB frames live in a few large ArrayBuffers ("chunks",
 * allocated lazily and growing geometrically up to `maxChunkFrames`), found from the frame number
 * through a three-level radix table held in pooled Int32Arrays (no Map, no per-frame object).
 * Untouched frames cost nothing, so a 1 TiB (or 2^48) address space is cheap when sparse.
 *
 * A frame's location is `chunk * 2^18 + index in chunk` (an int32). Each chunk also holds the
 * per-frame and per-line integrity state (see integrity.ts for its meaning).
 */
import { TdxSimError } from "../errors";

/** Frames per leaf node (256 KiB of address space per leaf; small, so scattered frames stay cheap). */
const LEAF_BITS = 6;
const LEAF_SIZE = 1 << LEAF_BITS;
/** Leaf pointers per mid node (65536 leaves = 16 GiB per mid node). */
const MID_BITS = 16;
const MID_SIZE = 1 << MID_BITS;
/** Frames covered by one top-level entry. */
const TOP_SPAN = 2 ** (LEAF_BITS + MID_BITS);

/** Bits of the frame index inside a location. */
export const LOC_SHIFT = 18;
const LOC_MASK = (1 << LOC_SHIFT) - 1;
const MAX_CHUNKS = 1 << (31 - LOC_SHIFT);

/** One backing buffer and its integrity metadata. Monomorphic class on purpose. */
/** Node's Buffer when present: `Buffer.copy` moves bytes between chunks without allocating a view. */
interface NodeBufferLike extends Uint8Array {
  copy(target: Uint8Array, targetStart: number, sourceStart: number, sourceEnd: number): number;
}
const NodeBuffer = (
  globalThis as { Buffer?: { from(ab: ArrayBuffer, off: number, len: number): NodeBufferLike } }
).Buffer;

export class Chunk {
  readonly u8: Uint8Array;
  /** A Buffer view of `u8` (same bytes) under Node, else null. */
  readonly buf: NodeBufferLike | null;
  readonly u32: Uint32Array;
  /** TD-owner bit per 64-byte line: two words per frame (lines 0-31, 32-63). */
  readonly owned: Uint32Array;
  /** Poison bit per line, same layout. */
  readonly poison: Uint32Array;
  /** Per-frame summary: FrameState.* (integrity.ts). */
  readonly fstate: Uint8Array;
  /** For FrameState.Uniform frames: the private KeyID that owns every line. */
  readonly fkey: Uint16Array;
  /** Owner KeyID per line (64 per frame), allocated on the first private write in the chunk. */
  lineKey: Uint16Array | null = null;
  used = 0;

  constructor(readonly frames: number) {
    this.u8 = new Uint8Array(frames * 4096);
    this.u32 = new Uint32Array(this.u8.buffer);
    this.buf = NodeBuffer ? NodeBuffer.from(this.u8.buffer as ArrayBuffer, 0, this.u8.byteLength) : null;
    this.owned = new Uint32Array(frames * 2);
    this.poison = new Uint32Array(frames * 2);
    this.fstate = new Uint8Array(frames);
    this.fkey = new Uint16Array(frames);
  }

  lineKeys(): Uint16Array {
    if (this.lineKey === null) this.lineKey = new Uint16Array(this.frames * 64);
    return this.lineKey;
  }
}

export interface FrameStoreOptions {
  /** Frames in the first chunk (default 256 = 1 MiB); later chunks double. */
  readonly initialChunkFrames?: number;
  /** Largest chunk in frames (default 65536 = 256 MiB; at most 2^18 = 1 GiB). */
  readonly maxChunkFrames?: number;
}

export class FrameStore {
  readonly chunks: Chunk[] = [];
  private readonly top: Int32Array;
  private mids: Int32Array;
  private midCount = 0;
  private leaves: Int32Array;
  private leafCount = 0;
  private nextChunkFrames: number;
  private readonly maxChunkFrames: number;
  /** Frames allocated so far. */
  allocatedFrames = 0;

  /** @param frameBits bits of the frame number (host address bits - 12) */
  constructor(frameBits: number, opts: FrameStoreOptions = {}) {
    const topEntries = Math.max(1, Math.ceil(2 ** frameBits / TOP_SPAN));
    this.top = new Int32Array(topEntries);
    this.mids = new Int32Array(MID_SIZE);
    this.leaves = new Int32Array(LEAF_SIZE * 64);
    this.nextChunkFrames = opts.initialChunkFrames ?? 256;
    this.maxChunkFrames = opts.maxChunkFrames ?? 65536;
    const okPow2 = (n: number) => Number.isInteger(n) && n >= 1 && (n & (n - 1)) === 0 && n <= 1 << LOC_SHIFT;
    if (
      !okPow2(this.nextChunkFrames) ||
      !okPow2(this.maxChunkFrames) ||
      this.nextChunkFrames > this.maxChunkFrames
    ) {
      throw new TdxSimError(
        "E_MEMORY_CONFIG",
        `chunk sizes ${String(this.nextChunkFrames)}/${String(this.maxChunkFrames)} frames are invalid: both must be powers of two up to 2^18 frames (1 GiB), initial <= max`,
      );
    }
  }

  /** Location of frame `fn`, or -1 when it has never been touched. */
  lookup(fn: number): number {
    const t = Math.floor(fn / TOP_SPAN);
    const low = fn - t * TOP_SPAN;
    const mid = this.top[t] as number;
    if (mid === 0) return -1;
    const leaf = this.mids[(mid - 1) * MID_SIZE + (low >>> LEAF_BITS)] as number;
    if (leaf === 0) return -1;
    return (this.leaves[(leaf - 1) * LEAF_SIZE + (low & (LEAF_SIZE - 1))] as number) - 1;
  }

  /** Location of frame `fn`, allocating zeroed backing for it if needed. */
  ensure(fn: number): number {
    const t = Math.floor(fn / TOP_SPAN);
    const low = fn - t * TOP_SPAN;
    let mid = this.top[t] as number;
    if (mid === 0) {
      mid = ++this.midCount;
      if (mid * MID_SIZE > this.mids.length) this.mids = grow(this.mids);
      this.top[t] = mid;
    }
    const mi = (mid - 1) * MID_SIZE + (low >>> LEAF_BITS);
    let leaf = this.mids[mi] as number;
    if (leaf === 0) {
      leaf = ++this.leafCount;
      if (leaf * LEAF_SIZE > this.leaves.length) this.leaves = grow(this.leaves);
      this.mids[mi] = leaf;
    }
    const li = (leaf - 1) * LEAF_SIZE + (low & (LEAF_SIZE - 1));
    const have = this.leaves[li] as number;
    if (have !== 0) return have - 1;
    const loc = this.allocate();
    this.leaves[li] = loc + 1;
    return loc;
  }

  private allocate(): number {
    let ci = this.chunks.length - 1;
    let c = this.chunks[ci];
    if (c === undefined || c.used === c.frames) {
      if (this.chunks.length >= MAX_CHUNKS) {
        throw new TdxSimError(
          "E_MEMORY_EXHAUSTED",
          `physical memory backing is full (${String(MAX_CHUNKS)} chunks): touch fewer frames or raise maxChunkFrames`,
        );
      }
      c = new Chunk(this.nextChunkFrames);
      this.nextChunkFrames = Math.min(this.nextChunkFrames * 2, this.maxChunkFrames);
      this.chunks.push(c);
      ci = this.chunks.length - 1;
    }
    this.allocatedFrames++;
    return ci * 2 ** LOC_SHIFT + c.used++;
  }

  chunkOf(loc: number): Chunk {
    return this.chunks[loc >>> LOC_SHIFT] as Chunk;
  }

  /** Bytes of backing buffers allocated (data + integrity metadata). */
  backingBytes(): number {
    let n = this.top.byteLength + this.mids.byteLength + this.leaves.byteLength;
    for (const c of this.chunks) {
      n += c.u8.byteLength + c.owned.byteLength * 2 + c.fstate.byteLength + c.fkey.byteLength;
      n += c.lineKey?.byteLength ?? 0;
    }
    return n;
  }
}

/** Frame index inside its chunk. */
export function frameIndex(loc: number): number {
  return loc & LOC_MASK;
}

function grow(a: Int32Array): Int32Array {
  const b = new Int32Array(a.length * 2);
  b.set(a);
  return b;
}
