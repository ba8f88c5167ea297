/**
 * A byte cursor over one instruction: it never reads past the caller's end nor past the 15-byte
 * architectural limit, and records why it stopped. One cursor is reused for every decode
 * (decoding is synchronous), so a decode allocates nothing here.
 *
 * @spec Intel SDM Vol. 2 §2.3.11 "Instruction length" (more than 15 bytes raises #GP);
 *   torvalds/linux arch/x86/include/asm/insn.h MAX_INSN_SIZE = 15 (the #VE handler copies 15
 *   bytes at RIP)
 */
import type { UnsupportedReason } from "./types";

/** The longest legal x86 instruction, in bytes. */
export const MAX_INSN_LENGTH = 15;

export class ByteCursor {
  private bytes: Uint8Array = new Uint8Array(0);
  private start = 0;
  private limit = 0;
  /** Absolute position of the next byte. */
  pos = 0;
  /** Set when `next()` ran out of bytes, or by a decoding step that rejects the bytes. */
  fail: UnsupportedReason = "opcode";

  reset(bytes: Uint8Array, start: number, end: number): void {
    this.bytes = bytes;
    this.start = start;
    this.pos = start;
    this.limit = Math.min(end, start + MAX_INSN_LENGTH);
  }

  /** The next byte, or -1 (with `fail` set to truncated / too-long) when there is none. */
  next(): number {
    if (this.pos < this.limit) return this.bytes[this.pos++]!;
    this.fail = this.pos - this.start >= MAX_INSN_LENGTH ? "too-long" : "truncated";
    return -1;
  }

  /** Bytes consumed since `reset`. */
  get length(): number {
    return this.pos - this.start;
  }
}
