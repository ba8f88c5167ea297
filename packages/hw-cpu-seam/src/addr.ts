/**
 * Branded address types. Every address space has its own brand so a GPA cannot be passed where
 * an HPA is expected. All addresses are plain `number`s below 2^52 (exact in a double); bitwise
 * operators are 32-bit in JS, so code above bit 31 uses arithmetic (see `bitsAbove32`).
 *
 * @spec Intel SDM Vol. 3 §4.1.4 (MAXPHYADDR <= 52); TDX module spec §"GPA shared bit"
 */
import { TdxSimError } from "./errors";

declare const brand: unique symbol;
type Brand<T extends string> = number & { readonly [brand]: T };

/** Host physical address, KeyID bits included (the KeyID travels in the upper PA bits). */
export type Hpa = Brand<"Hpa">;
/** Guest physical address (a TD's; bit GPAW-1 is the shared bit). */
export type Gpa = Brand<"Gpa">;
/** I/O virtual address, as a device puts it on the bus. */
export type Iova = Brand<"Iova">;
/** Intermediate physical address (Arm stage-1 output / stage-2 input). */
export type Ipa = Brand<"Ipa">;
/** Guest virtual address. */
export type Gva = Brand<"Gva">;
/** Host frame number (HPA / 4096). */
export type Hfn = Brand<"Hfn">;
/** Guest frame number (GPA / 4096). */
export type Gfn = Brand<"Gfn">;

/** Largest address any space may hold: 2^52 (exclusive). */
export const ADDRESS_LIMIT = 2 ** 52;
export const PAGE_SIZE = 4096;
export const PAGE_SHIFT = 12;

function check(kind: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0 || n >= ADDRESS_LIMIT) {
    throw new TdxSimError(
      "E_BAD_ADDRESS",
      `${kind} ${String(n)} is not a valid address: it must be an integer in [0, 2^52)`,
    );
  }
}

export function hpa(n: number): Hpa {
  check("HPA", n);
  return n as Hpa;
}
export function gpa(n: number): Gpa {
  check("GPA", n);
  return n as Gpa;
}
export function iova(n: number): Iova {
  check("IOVA", n);
  return n as Iova;
}
export function ipa(n: number): Ipa {
  check("IPA", n);
  return n as Ipa;
}
export function gva(n: number): Gva {
  check("GVA", n);
  return n as Gva;
}
function checkFrame(kind: string, n: number): void {
  if (!Number.isSafeInteger(n) || n < 0 || n >= ADDRESS_LIMIT / PAGE_SIZE) {
    throw new TdxSimError(
      "E_BAD_ADDRESS",
      `${kind} ${String(n)} is not a valid frame number: it must be an integer in [0, 2^40)`,
    );
  }
}

export function hfn(n: number): Hfn {
  checkFrame("HFN", n);
  return n as Hfn;
}
export function gfn(n: number): Gfn {
  checkFrame("GFN", n);
  return n as Gfn;
}

/** Parse "0x…" (or decimal) into a number below 2^52, with a clear error otherwise. */
export function parseAddress(text: string, what = "address"): number {
  const t = text.trim().toLowerCase();
  if (!/^(0x[0-9a-f]+|[0-9]+)$/.test(t)) {
    throw new TdxSimError("E_BAD_ADDRESS", `${what} "${text}" is not a hex (0x…) or decimal number`);
  }
  const v = t.startsWith("0x") ? Number.parseInt(t.slice(2), 16) : Number.parseInt(t, 10);
  if (!Number.isSafeInteger(v) || v >= ADDRESS_LIMIT) {
    throw new TdxSimError("E_BAD_ADDRESS", `${what} "${text}" is not below 2^52`);
  }
  return v;
}

/** Format an address as lower-case 0x hex. */
export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

/**
 * The TDX shared bit for a given guest physical address width: bit GPAW-1 (47 for GPAW 48,
 * 51 for GPAW 52).
 * @spec Intel TDX Module Base Architecture Spec, "Shared EPT and GPA shared bit"; Linux
 *   arch/x86/coco/tdx/tdx.c cc_mkdec()
 */
export function sharedBitIndex(gpaw: 48 | 52): number {
  if (gpaw !== 48 && gpaw !== 52) {
    throw new TdxSimError("E_BAD_GPAW", `GPAW ${String(gpaw)} is not supported: TDX allows 48 or 52`);
  }
  return gpaw - 1;
}

/** The shared-bit mask as a number (2^(GPAW-1)). */
export function sharedBitMask(gpaw: 48 | 52): number {
  return 2 ** sharedBitIndex(gpaw);
}

/** Whether `a` has the shared bit set for this GPAW. */
export function isShared(a: Gpa, gpaw: 48 | 52): boolean {
  return Math.floor(a / sharedBitMask(gpaw)) % 2 === 1;
}

/** Set the shared bit (Linux cc_mkdec). */
export function toShared(a: Gpa, gpaw: 48 | 52): Gpa {
  return (isShared(a, gpaw) ? a : a + sharedBitMask(gpaw)) as Gpa;
}

/** Clear the shared bit (Linux cc_mkenc). */
export function toPrivate(a: Gpa, gpaw: 48 | 52): Gpa {
  return (isShared(a, gpaw) ? a - sharedBitMask(gpaw) : a) as Gpa;
}

/** Bits [hi:lo] of a number below 2^53 (arithmetic, valid above bit 31). */
export function bitsOf(n: number, hi: number, lo: number): number {
  return Math.floor(n / 2 ** lo) % 2 ** (hi - lo + 1);
}

/** Split a number below 2^53 into its low and high 32-bit halves. */
export function lo32(n: number): number {
  return n >>> 0;
}
export function hi32(n: number): number {
  return Math.floor(n / 4294967296) >>> 0;
}
/** Join two 32-bit halves into a number (exact while hi < 2^21). */
export function join32(lo: number, hi: number): number {
  return hi * 4294967296 + (lo >>> 0);
}
