/**
 * The MSRs of one logical processor as RDMSR/WRMSR in a root mode (VMX root or SEAM root) see
 * them. Values live in thread-, core- or package-scoped storage shared by the LPs of that core or
 * package, so a write by one thread is seen by its siblings where hardware shares the register.
 * Unknown MSRs, writes to read-only or locked MSRs and writes setting reserved bits are #GP,
 * returned as values.
 *
 * @spec Intel SDM Vol. 2B RDMSR/WRMSR (#GP for unimplemented MSRs and reserved bits), Vol. 3A
 *   §12.12 (PAT entry encodings 2, 3 and >7 reserved), Vol. 3B §18.17.3 (writing IA32_TSC adjusts
 *   IA32_TSC_ADJUST by the same delta and vice versa); lock bits from ./msrs.ts sources
 */
import { TdxSimError } from "../errors";
import { ApicBase, Efer, FeatureControl, Msr, type MsrScope, Seamrr, TmeActivate } from "./msrs";

/** Outcome of RDMSR. */
export type MsrReadResult =
  | { readonly ok: true; readonly value: bigint }
  | { readonly ok: false; readonly fault: "#GP"; readonly vector: 13; readonly reason: string };
/** Outcome of WRMSR. */
export type MsrWriteResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly fault: "#GP"; readonly vector: 13; readonly reason: string };

/** Storage of MSR values for one scope instance (one thread, one core, one package). */
export class MsrBank {
  readonly values = new Map<number, bigint>();
}

interface MsrDef {
  readonly scope: MsrScope;
  /** undefined = read-only */
  readonly check?: (file: MsrFile, value: bigint, old: bigint) => string | undefined;
  /** Extra effect after a successful write. */
  readonly after?: (file: MsrFile, value: bigint, old: bigint) => void;
}

const U64 = (1n << 64n) - 1n;

function reserved(value: bigint, allowed: bigint, name: string): string | undefined {
  const bad = value & ~allowed & U64;
  return bad === 0n ? undefined : `${name}: bits 0x${bad.toString(16)} are reserved`;
}
function lockedBy(old: bigint, lock: bigint, name: string): string | undefined {
  return (old & lock) !== 0n ? `${name} is locked` : undefined;
}
function addrBits(file: MsrFile, lo: number): bigint {
  return ((1n << BigInt(file.physAddrBits)) - 1n) & ~((1n << BigInt(lo)) - 1n);
}
function patOk(v: bigint): string | undefined {
  for (let i = 0n; i < 8n; i++) {
    const e = (v >> (8n * i)) & 0xffn;
    if (e === 2n || e === 3n || e > 7n) return `IA32_PAT entry ${i} has reserved memory type ${e}`;
  }
  return undefined;
}

const DEFS = new Map<number, MsrDef>([
  [
    Msr.IA32_TSC,
    {
      scope: "thread",
      check: () => undefined,
      after: (f, v, old) => f.adjustRaw(Msr.IA32_TSC_ADJUST, v - old),
    },
  ],
  [
    Msr.IA32_TSC_ADJUST,
    {
      scope: "thread",
      check: () => undefined,
      after: (f, v, old) => f.adjustRaw(Msr.IA32_TSC, v - old),
    },
  ],
  [
    Msr.IA32_APIC_BASE,
    {
      scope: "thread",
      check: (f, v) =>
        reserved(v, ApicBase.BSP | ApicBase.EXTD | ApicBase.EN | addrBits(f, 12), "IA32_APIC_BASE"),
    },
  ],
  [
    Msr.IA32_FEATURE_CONTROL,
    {
      scope: "core",
      check: (_f, v, old) =>
        lockedBy(old, FeatureControl.LOCKED, "IA32_FEATURE_CONTROL") ??
        reserved(
          v,
          FeatureControl.LOCKED | FeatureControl.VMX_INSIDE_SMX | FeatureControl.VMX_OUTSIDE_SMX,
          "IA32_FEATURE_CONTROL",
        ),
    },
  ],
  [Msr.IA32_MKTME_KEYID_PARTITIONING, { scope: "package" }],
  [Msr.IA32_MTRRCAP, { scope: "thread" }],
  [Msr.IA32_PAT, { scope: "thread", check: (_f, v) => patOk(v) }],
  [Msr.IA32_TME_CAPABILITY, { scope: "package" }],
  [
    Msr.IA32_TME_ACTIVATE,
    {
      scope: "package",
      check: (_f, v, old) =>
        lockedBy(old, TmeActivate.LOCK, "IA32_TME_ACTIVATE") ??
        reserved(v, TmeActivate.DEFINED, "IA32_TME_ACTIVATE"),
    },
  ],
  [
    Msr.IA32_SEAMRR_PHYS_BASE,
    {
      scope: "core",
      check: (f, v) =>
        lockedBy(f.peek(Msr.IA32_SEAMRR_PHYS_MASK), Seamrr.MASK_LOCKED, "SEAMRR") ??
        reserved(v, Seamrr.BASE_CONFIGURED | addrBits(f, 12), "IA32_SEAMRR_PHYS_BASE"),
    },
  ],
  [
    Msr.IA32_SEAMRR_PHYS_MASK,
    {
      scope: "core",
      check: (f, v, old) =>
        lockedBy(old, Seamrr.MASK_LOCKED, "SEAMRR") ??
        reserved(v, Seamrr.MASK_LOCKED | Seamrr.MASK_ENABLED | addrBits(f, 12), "IA32_SEAMRR_PHYS_MASK"),
    },
  ],
  [Msr.IA32_X2APIC_APICID, { scope: "thread" }],
  [
    Msr.IA32_EFER,
    {
      scope: "thread",
      check: (_f, v) => reserved(v, Efer.SCE | Efer.LME | Efer.LMA | Efer.NXE, "IA32_EFER"),
    },
  ],
]);

/** Whether the model implements an MSR. */
export function isModelledMsr(msr: number): boolean {
  return DEFS.has(msr);
}
export function msrScope(msr: number): MsrScope | undefined {
  return DEFS.get(msr)?.scope;
}

export class MsrFile {
  constructor(
    readonly physAddrBits: number,
    private readonly thread: MsrBank,
    private readonly core: MsrBank,
    private readonly pkg: MsrBank,
  ) {}

  private bank(scope: MsrScope): MsrBank {
    return scope === "thread" ? this.thread : scope === "core" ? this.core : this.pkg;
  }

  rdmsr(msr: number): MsrReadResult {
    const def = DEFS.get(msr);
    if (def === undefined) return gp(`MSR 0x${msr.toString(16)} is not implemented`);
    if (msr === Msr.IA32_X2APIC_APICID && (this.peek(Msr.IA32_APIC_BASE) & ApicBase.EXTD) === 0n) {
      return gp("x2APIC MSRs are accessible only in x2APIC mode (IA32_APIC_BASE.EXTD)");
    }
    return { ok: true, value: this.peek(msr) };
  }

  wrmsr(msr: number, value: bigint): MsrWriteResult {
    const def = DEFS.get(msr);
    if (def === undefined) return gp(`MSR 0x${msr.toString(16)} is not implemented`);
    if (value < 0n || value > U64) return gp(`value ${value} is not a 64-bit unsigned integer`);
    if (def.check === undefined) return gp(`MSR 0x${msr.toString(16)} is read-only`);
    const old = this.peek(msr);
    const why = def.check(this, value, old);
    if (why !== undefined) return gp(why);
    this.bank(def.scope).values.set(msr, value);
    def.after?.(this, value, old);
    return { ok: true };
  }

  /** The stored value (0 if never set), without access checks. */
  peek(msr: number): bigint {
    const def = DEFS.get(msr);
    if (def === undefined) return 0n;
    return this.bank(def.scope).values.get(msr) ?? 0n;
  }

  /** Platform/BIOS initialisation: set a value bypassing write checks (firmware does this before locking). */
  poke(msr: number, value: bigint): void {
    const def = DEFS.get(msr);
    if (def === undefined) {
      throw new TdxSimError(
        "E_UNKNOWN_MSR",
        `poke: MSR 0x${msr.toString(16)} is not modelled; modelled MSRs are listed in cpu/msrs.ts Msr`,
      );
    }
    this.bank(def.scope).values.set(msr, value & U64);
  }

  /** Add a signed delta to a stored value modulo 2^64 (TSC / TSC_ADJUST coupling, clock ticks). */
  adjustRaw(msr: number, delta: bigint): void {
    const def = DEFS.get(msr);
    if (def === undefined) return;
    const b = this.bank(def.scope);
    b.values.set(msr, ((b.values.get(msr) ?? 0n) + delta) & U64);
  }
}

function gp(reason: string): { ok: false; fault: "#GP"; vector: 13; reason: string } {
  return { ok: false, fault: "#GP", vector: 13, reason };
}
