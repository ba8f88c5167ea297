/**
 * ModRM, SIB and displacement in 64-bit mode, into effective-address components. The special
 * encodings, all decided on the low three bits before REX is applied:
 * - r/m=100 means a SIB byte follows (so RSP and R12 as a base need one);
 * - mod=00 r/m=101 means RIP + disp32 (so RBP and R13 as a base need a disp8 of 0);
 * - SIB index=100 without REX.X means no index (R12 is a valid index with REX.X);
 * - SIB base=101 with mod=00 means no base and a disp32 (absolute address, or index*scale+disp32).
 *
 * @spec Intel SDM Vol. 2 §2.1.5 Tables 2-2 and 2-3 (32/64-bit ModRM and SIB), §2.2.1.2 Table 2-4
 *   "Special Cases of REX Encodings", §2.2.1.6 "RIP-Relative Addressing"
 */
import type { ByteCursor } from "./cursor";
import { REX_B, REX_R, REX_X } from "./prefixes";
import { NO_REGISTER } from "./types";

/** The decoded ModRM operand fields; reused between decodes. */
export interface ModrmFields {
  /** ModRM.mod (0-3). */
  mod: number;
  /** ModRM.reg with REX.R: a register number or an opcode extension (/digit in the low 3 bits). */
  reg: number;
  base: number;
  index: number;
  scale: 1 | 2 | 4 | 8;
  disp: number;
  ripRelative: boolean;
}

export function newModrmFields(): ModrmFields {
  return { mod: 0, reg: 0, base: NO_REGISTER, index: NO_REGISTER, scale: 1, disp: 0, ripRelative: false };
}

/** Read the ModRM byte alone (mod and reg), for checks that come before the memory operand. */
export function readModrmByte(c: ByteCursor, rex: number, f: ModrmFields): number {
  const m = c.next();
  if (m < 0) return -1;
  f.mod = m >>> 6;
  f.reg = ((m >>> 3) & 7) | ((rex & REX_R) !== 0 ? 8 : 0);
  return m;
}

function readDisp8(c: ByteCursor): number | undefined {
  const b = c.next();
  if (b < 0) return undefined;
  return (b << 24) >> 24;
}

function readDisp32(c: ByteCursor): number | undefined {
  const b0 = c.next();
  const b1 = b0 < 0 ? -1 : c.next();
  const b2 = b1 < 0 ? -1 : c.next();
  const b3 = b2 < 0 ? -1 : c.next();
  if (b3 < 0) return undefined;
  return b0 | (b1 << 8) | (b2 << 16) | (b3 << 24);
}

/**
 * Decode the memory operand of ModRM byte `modrm` (mod != 3) and its SIB/displacement into `f`.
 * Returns false with `c.fail` set when the bytes end early.
 */
export function readMemoryOperand(c: ByteCursor, rex: number, modrm: number, f: ModrmFields): boolean {
  const mod = modrm >>> 6;
  const rm = modrm & 7;
  f.base = NO_REGISTER;
  f.index = NO_REGISTER;
  f.scale = 1;
  f.disp = 0;
  f.ripRelative = false;
  let disp32 = mod === 2;
  if (rm === 4) {
    const sib = c.next();
    if (sib < 0) return false;
    const idx = ((sib >>> 3) & 7) | ((rex & REX_X) !== 0 ? 8 : 0);
    if (idx !== 4) {
      f.index = idx;
      f.scale = (1 << (sib >>> 6)) as 1 | 2 | 4 | 8;
    }
    if ((sib & 7) === 5 && mod === 0) disp32 = true;
    else f.base = (sib & 7) | ((rex & REX_B) !== 0 ? 8 : 0);
  } else if (rm === 5 && mod === 0) {
    f.ripRelative = true;
    disp32 = true;
  } else {
    f.base = rm | ((rex & REX_B) !== 0 ? 8 : 0);
  }
  if (mod === 1) {
    const d = readDisp8(c);
    if (d === undefined) return false;
    f.disp = d;
  } else if (disp32) {
    const d = readDisp32(c);
    if (d === undefined) return false;
    f.disp = d;
  }
  return true;
}
