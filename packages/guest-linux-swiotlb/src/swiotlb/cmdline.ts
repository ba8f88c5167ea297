/**
 * The `swiotlb=` kernel parameter exactly as Linux parses it (setup_io_tlb_npages): an optional
 * slot count (C integer, base auto-detected, rounded up to 128), an optional area count (rounded
 * up to a power of two, 0 -> 1, re-rounding the slot count), then `force` or `noforce`, each part
 * optionally preceded by one comma. Text the parser does not consume is ignored by the kernel;
 * it is reported here so users see it.
 *
 * @spec shared/reference/swiotlb.md §b.1, §b.2; Linux kernel/dma/swiotlb.c setup_io_tlb_npages,
 *   swiotlb_adjust_nareas, round_up_default_nslabs; lib/vsprintf.c simple_strtoul,
 *   lib/kstrtox.c _parse_integer_fixup_radix
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";

/** One number read the way simple_strtoul(str, &end, 0) reads it. */
export interface ParsedUlong {
  readonly value: number;
  /** Index just past the last consumed character. */
  readonly end: number;
}

function isDigit(c: string | undefined): boolean {
  return c !== undefined && c >= "0" && c <= "9";
}

function isXDigit(c: string | undefined): boolean {
  return c !== undefined && /^[0-9a-fA-F]$/.test(c);
}

/**
 * simple_strtoul with base 0: "0x" followed by a hex digit selects base 16, a leading "0" base 8,
 * anything else base 10; digits are read while valid for the base. Values at or above 2^53 are
 * refused (the kernel would wrap at 2^64; no real parameter gets there).
 */
export function simpleStrtoul(s: string, start: number): ParsedUlong {
  let i = start;
  let base = 10;
  if (s[i] === "0") {
    if ((s[i + 1] === "x" || s[i + 1] === "X") && isXDigit(s[i + 2])) {
      base = 16;
      i += 2;
    } else {
      base = 8;
    }
  }
  let value = 0;
  for (; i < s.length; i++) {
    const d = Number.parseInt(s[i]!, 16);
    if (Number.isNaN(d) || d >= base) break;
    value = value * base + d;
    if (value >= 2 ** 53) {
      throw new TdxSimError(
        "E_SWIOTLB_CMDLINE",
        `swiotlb=${s}: the number starting at offset ${start} does not fit in 53 bits (the model's limit)`,
      );
    }
  }
  return { value, end: i };
}

/** What `swiotlb=` sets, in the order the kernel applies it. */
export interface SwiotlbParam {
  /** Slot count after rounding up to a multiple of 128, if a count was given. */
  readonly nslabs?: number;
  /** Area count as written (before power-of-two rounding), if given. */
  readonly nareas?: number;
  /** `force`: create the pool and bounce every device. */
  readonly force: boolean;
  /** `noforce`: never allocate the default pool. */
  readonly noforce: boolean;
  /** Trailing text the kernel silently ignores ("" when everything was understood). */
  readonly ignored: string;
}

/** ALIGN(x, 128). */
export function alignToSegment(x: number): number {
  return Math.ceil(x / 128) * 128;
}

/** Parse the value of `swiotlb=` (the text after the equals sign). */
export function parseSwiotlbParam(text: string): SwiotlbParam {
  if (typeof text !== "string") {
    throw new TdxSimError("E_SWIOTLB_CMDLINE", "swiotlb= takes a string such as 65536, 65536,8 or force");
  }
  let i = 0;
  let nslabs: number | undefined;
  let nareas: number | undefined;
  if (isDigit(text[i])) {
    const r = simpleStrtoul(text, i);
    nslabs = alignToSegment(r.value);
    i = r.end;
  }
  if (text[i] === ",") i++;
  if (isDigit(text[i])) {
    const r = simpleStrtoul(text, i);
    if (r.value > 2 ** 31) {
      throw new TdxSimError(
        "E_SWIOTLB_CMDLINE",
        `swiotlb=${text}: area count ${r.value} is above 2^31 (an unsigned int)`,
      );
    }
    nareas = r.value;
    i = r.end;
  }
  if (text[i] === ",") i++;
  const rest = text.slice(i);
  const force = rest === "force";
  const noforce = rest === "noforce";
  return {
    ...(nslabs !== undefined ? { nslabs } : {}),
    ...(nareas !== undefined ? { nareas } : {}),
    force,
    noforce,
    ignored: force || noforce ? "" : rest,
  };
}

/** roundup_pow_of_two (exact for every integer below 2^53). */
export function roundUpPow2(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}

/** is_power_of_2. */
export function isPow2(n: number): boolean {
  return n > 0 && roundUpPow2(n) === n;
}
