/**
 * The buffer store of the cc-swiotlb policy: every buffer as one index into typed arrays (start,
 * class, original, alloc size, offset, live flag), a doubly linked free list per size class
 * (list_add at the head on free, list_add_tail on refill, take from the head), and the refill
 * chunks sorted by address so an address finds its buffer by binary search (what the RFC's
 * xarray keyed by buffer end gives). No object per buffer, no Map.
 *
 * @spec LKML "[PATCH 2/4] swiotlb: Add a new cc-swiotlb implementation for Confidential VMs"
 *   (cc-swiotlb.c: struct io_tlb_slot, struct slot_terrace, __cc_alloc_slot_from_list,
 *   __cc_free_slot_to_list, cc_populate_pages, xa_find_after lookups)
 */

/** Buffer sizes of the five classes. @spec cc-swiotlb.c SLOT_SIZES */
export const CC_SLOT_SIZES: readonly number[] = [512, 2048, 4096, 16 * 1024, 512 * 1024];
export const CC_NCLASSES = 5;

function grow<T extends Float64Array | Int32Array | Uint8Array>(old: T, bigger: T): T {
  bigger.set(old as never);
  return bigger;
}

export class CcBufferStore {
  private cap = 0;
  /** Buffers created so far. */
  count = 0;
  start = new Float64Array(0);
  cls = new Uint8Array(0);
  /** Original buffer of a live mapping (-1 when free). */
  orig = new Float64Array(0);
  /** alloc_size + offset as the RFC stores it. */
  allocSize = new Int32Array(0);
  /** orig & min_align_mask of the live mapping. */
  offset = new Int32Array(0);
  live = new Uint8Array(0);
  private next = new Int32Array(0);
  private prev = new Int32Array(0);
  private readonly head = new Int32Array(CC_NCLASSES).fill(-1);
  private readonly tail = new Int32Array(CC_NCLASSES).fill(-1);
  /** free_count_by_size / total_count_by_size. */
  readonly freeCount = new Int32Array(CC_NCLASSES);
  readonly totalCount = new Int32Array(CC_NCLASSES);

  private nchunks = 0;
  private chunkStart = new Float64Array(16);
  private chunkEnd = new Float64Array(16);
  private chunkFirst = new Int32Array(16);
  private chunkClass = new Uint8Array(16);

  /** Refill chunks held. */
  get chunks(): number {
    return this.nchunks;
  }

  /** Add `n` free buffers of class `c` carved from the chunk at `gpa`, at the tail of the list. */
  addChunk(gpa: number, c: number, n: number): void {
    this.ensureCapacity(this.count + n);
    const first = this.count;
    const size = CC_SLOT_SIZES[c]!;
    for (let j = 0; j < n; j++) {
      const b = first + j;
      this.start[b] = gpa + j * size;
      this.cls[b] = c;
      this.orig[b] = -1;
      this.allocSize[b] = 0;
      this.offset[b] = 0;
      this.live[b] = 0;
      this.pushTail(c, b);
    }
    this.count += n;
    this.freeCount[c] = this.freeCount[c]! + n;
    this.totalCount[c] = this.totalCount[c]! + n;
    if (this.nchunks === this.chunkStart.length) {
      const m = this.nchunks * 2;
      this.chunkStart = grow(this.chunkStart, new Float64Array(m));
      this.chunkEnd = grow(this.chunkEnd, new Float64Array(m));
      this.chunkFirst = grow(this.chunkFirst, new Int32Array(m));
      this.chunkClass = grow(this.chunkClass, new Uint8Array(m));
    }
    let i = this.nchunks;
    while (i > 0 && this.chunkStart[i - 1]! > gpa) {
      this.chunkStart[i] = this.chunkStart[i - 1]!;
      this.chunkEnd[i] = this.chunkEnd[i - 1]!;
      this.chunkFirst[i] = this.chunkFirst[i - 1]!;
      this.chunkClass[i] = this.chunkClass[i - 1]!;
      i--;
    }
    this.chunkStart[i] = gpa;
    this.chunkEnd[i] = gpa + n * size;
    this.chunkFirst[i] = first;
    this.chunkClass[i] = c;
    this.nchunks++;
  }

  /** list_first_entry + list_del_init: the head buffer of class `c`, or -1 when the list is empty. */
  pop(c: number): number {
    const b = this.head[c]!;
    if (b < 0) return -1;
    const n = this.next[b]!;
    this.head[c] = n;
    if (n >= 0) this.prev[n] = -1;
    else this.tail[c] = -1;
    this.freeCount[c] = this.freeCount[c]! - 1;
    return b;
  }

  /** __cc_free_slot_to_list: clear the buffer and put it at the head of its list. */
  release(b: number): void {
    const c = this.cls[b]!;
    this.orig[b] = -1;
    this.allocSize[b] = 0;
    this.live[b] = 0;
    const h = this.head[c]!;
    this.next[b] = h;
    this.prev[b] = -1;
    if (h >= 0) this.prev[h] = b;
    else this.tail[c] = b;
    this.head[c] = b;
    this.freeCount[c] = this.freeCount[c]! + 1;
  }

  /** The live buffer containing `addr`, or -1. */
  liveAt(addr: number): number {
    let lo = 0;
    let hi = this.nchunks - 1;
    let ci = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (this.chunkStart[mid]! <= addr) {
        ci = mid;
        lo = mid + 1;
      } else {
        hi = mid - 1;
      }
    }
    if (ci < 0 || addr >= this.chunkEnd[ci]!) return -1;
    const b =
      this.chunkFirst[ci]! + Math.floor((addr - this.chunkStart[ci]!) / CC_SLOT_SIZES[this.chunkClass[ci]!]!);
    return this.live[b] === 1 ? b : -1;
  }

  private pushTail(c: number, b: number): void {
    const t = this.tail[c]!;
    this.prev[b] = t;
    this.next[b] = -1;
    if (t >= 0) this.next[t] = b;
    else this.head[c] = b;
    this.tail[c] = b;
  }

  private ensureCapacity(n: number): void {
    if (n <= this.cap) return;
    let cap = Math.max(1024, this.cap);
    while (cap < n) cap *= 2;
    this.start = grow(this.start, new Float64Array(cap));
    this.cls = grow(this.cls, new Uint8Array(cap));
    this.orig = grow(this.orig, new Float64Array(cap));
    this.allocSize = grow(this.allocSize, new Int32Array(cap));
    this.offset = grow(this.offset, new Int32Array(cap));
    this.live = grow(this.live, new Uint8Array(cap));
    this.next = grow(this.next, new Int32Array(cap));
    this.prev = grow(this.prev, new Int32Array(cap));
    this.cap = cap;
  }
}
