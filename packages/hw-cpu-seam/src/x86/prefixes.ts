/**
 * Legacy prefixes and REX in 64-bit mode. Legacy prefixes come in any order; a REX prefix (40-4F)
 * counts only immediately before the opcode. As in Linux's decoder, a repeated prefix counts once
 * and at most four distinct legacy prefixes are taken: a fifth distinct one is read as the opcode.
 *
 * @spec Intel SDM Vol. 2 §2.1.1 "Instruction Prefixes" (groups 1-4: F0/F2/F3, segment overrides
 *   26/2E/36/3E/64/65, 66 operand size, 67 address size), §2.2.1 "REX Prefixes" (a REX followed
 *   by another prefix is ignored), §2.2.1.2 (REX.W takes precedence over 66);
 *   torvalds/linux arch/x86/lib/insn.c insn_get_prefixes() (legacy prefixes, then one REX, then
 *   the opcode; "Skip if same prefix"; a fifth distinct prefix ends the prefixes, "Invalid
 *   instruction"), reference kvm-guest-qemu.md §3.3 (opnd_bytes = 2 with 66, 8 with REX.W, else 4)
 */
import type { ByteCursor } from "./cursor";
import type { MmioAccessSize, SegmentOverride } from "./types";

/** Prefix state of one instruction; reused between decodes. */
export interface Prefixes {
  /** 66 seen. */
  opSize16: boolean;
  /** 67 seen. */
  addr32: boolean;
  /** The last segment override, and how many distinct ones were given (a repeat counts once). */
  segment: SegmentOverride;
  segmentCount: number;
  /** Bit set of the distinct legacy prefixes seen (bit = legacyPrefixBit). */
  seen: number;
  /** How many distinct legacy prefixes were seen. */
  distinct: number;
  /** The last of F2/F3 (group 1), or 0. */
  rep: 0 | 0xf2 | 0xf3;
  /** F0 seen. */
  lock: boolean;
  /** The REX byte (0x40-0x4F), or 0 when there is none. */
  rex: number;
}

export function newPrefixes(): Prefixes {
  return {
    opSize16: false,
    addr32: false,
    segment: "none",
    segmentCount: 0,
    seen: 0,
    distinct: 0,
    rep: 0,
    lock: false,
    rex: 0,
  };
}

export const REX_W = 0x8;
export const REX_R = 0x4;
export const REX_X = 0x2;
export const REX_B = 0x1;

/** A distinct bit per legacy prefix byte, or 0 when `b` is not one. */
function legacyPrefixBit(b: number): number {
  switch (b) {
    case 0x26:
      return 1 << 0;
    case 0x2e:
      return 1 << 1;
    case 0x36:
      return 1 << 2;
    case 0x3e:
      return 1 << 3;
    case 0x64:
      return 1 << 4;
    case 0x65:
      return 1 << 5;
    case 0x66:
      return 1 << 6;
    case 0x67:
      return 1 << 7;
    case 0xf0:
      return 1 << 8;
    case 0xf2:
      return 1 << 9;
    case 0xf3:
      return 1 << 10;
    default:
      return 0;
  }
}

function isLegacyPrefix(b: number): boolean {
  return legacyPrefixBit(b) !== 0;
}

function isRex(b: number): boolean {
  return (b & 0xf0) === 0x40;
}

function segmentOf(b: number): SegmentOverride {
  switch (b) {
    case 0x26:
      return "es";
    case 0x2e:
      return "cs";
    case 0x36:
      return "ss";
    case 0x3e:
      return "ds";
    case 0x64:
      return "fs";
    default:
      return "gs";
  }
}

/**
 * Read the prefixes into `p` and return the first opcode byte, or -1 with `c.fail` set
 * (truncated, too-long, or rex-not-last when a REX byte is followed by another prefix).
 */
export function readPrefixes(c: ByteCursor, p: Prefixes): number {
  p.opSize16 = false;
  p.addr32 = false;
  p.segment = "none";
  p.segmentCount = 0;
  p.seen = 0;
  p.distinct = 0;
  p.rep = 0;
  p.lock = false;
  p.rex = 0;
  let b = c.next();
  // legacyPrefixBit(-1) is 0: the end of the input ends the prefixes too.
  for (let bit = legacyPrefixBit(b); bit !== 0; bit = legacyPrefixBit(b)) {
    const repeat = (p.seen & bit) !== 0;
    // A fifth distinct prefix is where Linux's insn_get_prefixes() stops: it becomes the opcode.
    if (!repeat && p.distinct === 4) return b;
    if (!repeat) {
      p.seen |= bit;
      p.distinct++;
    }
    if (b === 0x66) p.opSize16 = true;
    else if (b === 0x67) p.addr32 = true;
    else if (b === 0xf0) p.lock = true;
    else if (b === 0xf2 || b === 0xf3) p.rep = b;
    else {
      p.segment = segmentOf(b);
      if (!repeat) p.segmentCount++;
    }
    b = c.next();
  }
  if (b < 0 || !isRex(b)) return b;
  p.rex = b;
  b = c.next();
  if (b >= 0 && (isRex(b) || isLegacyPrefix(b))) {
    c.fail = "rex-not-last";
    return -1;
  }
  return b;
}

/** The operand size: 8 with REX.W (which wins over 66), 2 with 66, else 4. */
export function operandSize(p: Prefixes): MmioAccessSize {
  if ((p.rex & REX_W) !== 0) return 8;
  return p.opSize16 ? 2 : 4;
}
