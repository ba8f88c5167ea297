/**
 * Memory integrity per 64-byte cache line: the TD-owner bit (logical integrity), the owning
 * private KeyID (standing in for the MAC of cryptographic integrity) and poison. The fast paths in
 * physical-memory.ts never come here for clean frames accessed with a shared KeyID or for frames
 * wholly owned by the accessing private KeyID; everything else is decided line by line here.
 *
 * Rules (each an outcome of the sources below; unverified points are options in the config):
 * - Read, any KeyID, of a poisoned line: machine check (poison is consumed by every reader).
 * - Read with a shared KeyID of a TD-owned line: zeros (`hostReadOfTdOwned: "zeros"`, default) or
 *   a deterministic stand-in for ciphertext (`"ciphertext"`); no poison. [unverified, §7]
 * - Read with private KeyID K of a line that is not TD-owned (written with a shared KeyID, or
 *   never initialised): the TD-bit/MAC check fails, the line is poisoned, machine check.
 * - Read with K of a line owned by another private KeyID: cryptographic mode — MAC mismatch,
 *   poison, machine check; logical mode — no MAC, the TD bit matches, the data decrypts to
 *   garbage (a deterministic scramble here).
 * - Full-line write (64 aligned bytes, what MOVDIR64B does): replaces the line, clears poison;
 *   sets the TD-owner bit and owner KeyID for a private KeyID, clears it for a shared one.
 * - Partial write with a shared KeyID to a TD-owned line: on X86_BUG_TDX_PW_MCE parts
 *   (`partialWriteErratum`) the line is poisoned; otherwise the line is read-modified-written
 *   with the shared KeyID (the host's view — zeros — merged with the new bytes) and stops being
 *   TD-owned. Partial write with K to a line K owns: plain. Partial write with K to a line it does
 *   not own: the fill read fails the integrity check, so the line is poisoned and the bytes are
 *   lost [unverified: modelled as silent poison, reported at the next read].
 * - Partial writes to a poisoned line that is not TD-owned keep the poison.
 *
 * @spec /work/shared/reference/tdx-module.md §7 "Memory encryption and integrity" (Li/Ci, host
 *   reads of TD-owned lines, poison, #MC; from the TDX whitepaper via docs.enclaive.cloud and
 *   intel/tdx-module `tdx_td_dispatcher.c`), §5.5 item 5 (X86_BUG_TDX_PW_MCE, Linux
 *   `tdx_quirk_reset_page`, MOVDIR64B resets), §5.4 (KeyID 0 has no integrity)
 */
import type { Chunk } from "./frame-store";
import { KeyIdKind as KeyIdKindImport } from "./keyids";

// Imported objects bound to locals: under source transforms (tsx, vitest) every use of an
// imported binding is a getter call, which the per-access paths cannot afford.
const KeyIdKind = KeyIdKindImport;
type KeyIdKind = KeyIdKindImport;

/** Per-frame integrity summary kept in Chunk.fstate. */
export const FrameState = {
  /** No TD-owned and no poisoned line: plain RAM for shared KeyIDs. */
  Clean: 0,
  /** Every line owned by the private KeyID in Chunk.fkey, none poisoned. */
  Uniform: 1,
  /** Anything else: decide line by line. */
  Mixed: 2,
} as const;

export type IntegrityMode = "logical" | "cryptographic";
export type HostReadOfTdOwned = "zeros" | "ciphertext";

export interface IntegrityPolicy {
  readonly mode: IntegrityMode;
  readonly hostReadOfTdOwned: HostReadOfTdOwned;
  readonly partialWriteErratum: boolean;
}

export function lineOwned(c: Chunk, i: number, line: number): boolean {
  return ((c.owned[2 * i + (line >>> 5)] as number) & (1 << (line & 31))) !== 0;
}
export function linePoisoned(c: Chunk, i: number, line: number): boolean {
  return ((c.poison[2 * i + (line >>> 5)] as number) & (1 << (line & 31))) !== 0;
}
function setBit(a: Uint32Array, w: number, line: number, on: boolean): void {
  const bit = 1 << (line & 31);
  const v = a[w] as number;
  a[w] = on ? v | bit : v & ~bit;
}
export function setOwned(c: Chunk, i: number, line: number, keyId: number): void {
  setBit(c.owned, 2 * i + (line >>> 5), line, true);
  c.lineKeys()[i * 64 + line] = keyId;
}
export function clearOwned(c: Chunk, i: number, line: number): void {
  setBit(c.owned, 2 * i + (line >>> 5), line, false);
}
export function setPoison(c: Chunk, i: number, line: number, on: boolean): void {
  setBit(c.poison, 2 * i + (line >>> 5), line, on);
}
export function lineOwner(c: Chunk, i: number, line: number): number {
  return c.lineKey === null ? 0 : (c.lineKey[i * 64 + line] as number);
}

/** Recompute a frame's summary after a line-level change. */
export function recomputeFrameState(c: Chunk, i: number): void {
  const o0 = c.owned[2 * i] as number;
  const o1 = c.owned[2 * i + 1] as number;
  if (((c.poison[2 * i] as number) | (c.poison[2 * i + 1] as number)) !== 0) {
    c.fstate[i] = FrameState.Mixed;
    return;
  }
  if ((o0 | o1) === 0) {
    c.fstate[i] = FrameState.Clean;
    return;
  }
  if (o0 === 0xffffffff && o1 === 0xffffffff) {
    const keys = c.lineKeys();
    const k = keys[i * 64] as number;
    let same = true;
    for (let l = 1; l < 64 && same; l++) same = keys[i * 64 + l] === k;
    if (same) {
      c.fstate[i] = FrameState.Uniform;
      c.fkey[i] = k;
      return;
    }
  }
  c.fstate[i] = FrameState.Mixed;
}

/** Set a whole frame's integrity state at once (MOVDIR64B over a page). */
export function initFrame(c: Chunk, i: number, kind: KeyIdKind, keyId: number): void {
  c.u8.fill(0, i * 4096, i * 4096 + 4096);
  c.poison[2 * i] = 0;
  c.poison[2 * i + 1] = 0;
  if (kind === KeyIdKind.Private) {
    c.owned[2 * i] = 0xffffffff;
    c.owned[2 * i + 1] = 0xffffffff;
    c.lineKeys().fill(keyId, i * 64, i * 64 + 64);
    c.fstate[i] = FrameState.Uniform;
    c.fkey[i] = keyId;
  } else {
    c.owned[2 * i] = 0;
    c.owned[2 * i + 1] = 0;
    c.fstate[i] = FrameState.Clean;
  }
}

/**
 * Deterministic stand-in for the keystream of KeyID `keyId` at a line: what ciphertext or a
 * wrong-key decryption looks like. The values mean nothing; they only must not be the plaintext.
 */
export function keystreamByte(lineAddr: number, keyId: number, j: number): number {
  let h =
    Math.imul((lineAddr / 64) >>> 0, 0x9e3779b1) ^
    Math.imul(keyId + 1, 0x85ebca6b) ^
    Math.imul(j + 1, 0xc2b2ae35);
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  return h & 0xff;
}

/** Reasons a read's integrity check fails (for the fault message). */
export const ReadCheck = { Ok: 0, Poisoned: 1, NotOwned: 2, MacMismatch: 3 } as const;
export type ReadCheck = (typeof ReadCheck)[keyof typeof ReadCheck];

/**
 * Check the lines of [off, off+n) of frame i for a read with (kind, keyId). On failure poisons
 * the failing line (integrity failures), stores its line number in `failLine[0]` and returns why.
 */
export function checkRead(
  c: Chunk,
  i: number,
  off: number,
  n: number,
  kind: KeyIdKind,
  keyId: number,
  policy: IntegrityPolicy,
  failLine: Int32Array,
): ReadCheck {
  const first = off >>> 6;
  const last = (off + n - 1) >>> 6;
  for (let l = first; l <= last; l++) {
    let why: ReadCheck = ReadCheck.Ok;
    if (linePoisoned(c, i, l)) why = ReadCheck.Poisoned;
    else if (kind === KeyIdKind.Private) {
      if (!lineOwned(c, i, l)) why = ReadCheck.NotOwned;
      else if (policy.mode === "cryptographic" && lineOwner(c, i, l) !== keyId) why = ReadCheck.MacMismatch;
    }
    if (why !== ReadCheck.Ok) {
      if (why !== ReadCheck.Poisoned) {
        setPoison(c, i, l, true);
        c.fstate[i] = FrameState.Mixed;
      }
      failLine[0] = l;
      return why;
    }
  }
  return ReadCheck.Ok;
}

/**
 * Copy [off, off+n) of frame i (stripped frame base `frameAddr`) into dst at `o` as seen through
 * (kind, keyId). The caller has run checkRead, so no line here is poisoned or fails its check.
 */
export function readLines(
  c: Chunk,
  i: number,
  frameAddr: number,
  off: number,
  n: number,
  dst: Uint8Array,
  o: number,
  kind: KeyIdKind,
  keyId: number,
  policy: IntegrityPolicy,
): void {
  const base = i * 4096;
  const end = off + n;
  for (let p = off; p < end; ) {
    const l = p >>> 6;
    const le = Math.min(end, (l + 1) * 64);
    const owned = lineOwned(c, i, l);
    if (kind === KeyIdKind.Shared && owned) {
      if (policy.hostReadOfTdOwned === "zeros") dst.fill(0, o, o + (le - p));
      else {
        const owner = lineOwner(c, i, l);
        for (let q = p; q < le; q++) {
          dst[o + q - p] = (c.u8[base + q] as number) ^ keystreamByte(frameAddr + l * 64, owner, q & 63);
        }
      }
    } else if (kind === KeyIdKind.Private && lineOwner(c, i, l) !== keyId) {
      // logical integrity, wrong private KeyID: decrypts to garbage
      const owner = lineOwner(c, i, l);
      for (let q = p; q < le; q++) {
        const la = frameAddr + l * 64;
        dst[o + q - p] =
          (c.u8[base + q] as number) ^ keystreamByte(la, owner, q & 63) ^ keystreamByte(la, keyId, q & 63);
      }
    } else {
      for (let q = p; q < le; q++) dst[o + q - p] = c.u8[base + q] as number;
    }
    o += le - p;
    p = le;
  }
}

/**
 * Write src[so, so+n) to [off, off+n) of frame i with (kind, keyId), applying the line rules,
 * then refresh the frame summary. `src === null` writes the byte `fillByte` instead.
 */
export function writeLines(
  c: Chunk,
  i: number,
  frameAddr: number,
  off: number,
  n: number,
  src: Uint8Array | null,
  so: number,
  fillByte: number,
  kind: KeyIdKind,
  keyId: number,
  policy: IntegrityPolicy,
): void {
  const base = i * 4096;
  const end = off + n;
  const u8 = c.u8;
  for (let p = off; p < end; ) {
    const l = p >>> 6;
    const ls = l * 64;
    const le = Math.min(end, ls + 64);
    const full = p === ls && le === ls + 64;
    const owned = lineOwned(c, i, l);
    const poisoned = linePoisoned(c, i, l);
    let store = true;
    if (full) {
      setPoison(c, i, l, false);
      if (kind === KeyIdKind.Private) setOwned(c, i, l, keyId);
      else clearOwned(c, i, l);
    } else if (kind === KeyIdKind.Shared) {
      if (owned) {
        // read-modify-write with a shared KeyID: the merged line is the host's view of the old
        // line plus the new bytes, and it is no longer TD-owned.
        const owner = lineOwner(c, i, l);
        for (let q = ls; q < ls + 64; q++) {
          u8[base + q] =
            policy.hostReadOfTdOwned === "zeros"
              ? 0
              : (u8[base + q] as number) ^ keystreamByte(frameAddr + ls, owner, q & 63);
        }
        clearOwned(c, i, l);
        if (policy.partialWriteErratum) setPoison(c, i, l, true);
      }
    } else if (!poisoned) {
      const mine = owned && lineOwner(c, i, l) === keyId;
      if (!mine) {
        if (owned && policy.mode === "logical") {
          // fill read decrypts another KeyID's line to garbage; the merged line becomes ours
          const owner = lineOwner(c, i, l);
          for (let q = ls; q < ls + 64; q++) {
            u8[base + q] =
              (u8[base + q] as number) ^
              keystreamByte(frameAddr + ls, owner, q & 63) ^
              keystreamByte(frameAddr + ls, keyId, q & 63);
          }
          setOwned(c, i, l, keyId);
        } else {
          // TD bit clear or MAC mismatch on the fill read: poisoned, bytes lost
          setPoison(c, i, l, true);
          store = false;
        }
      }
    }
    if (store) {
      if (src === null) u8.fill(fillByte, base + p, base + le);
      else for (let q = p; q < le; q++) u8[base + q] = src[so + q - off] as number;
    }
    p = le;
  }
  recomputeFrameState(c, i);
}
