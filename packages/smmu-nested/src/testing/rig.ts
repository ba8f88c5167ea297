/**
 * A ready-made test rig: a sparse host memory, one SMMUv3 unit, a Linux-style driver that has
 * brought it up, and helpers that build real STEs, CDs and page tables for stage 1, stage 2 and
 * nested streams. Shared by this package's tests, its contract suite and the generic IOMMU
 * contract adapter.
 */
import { PhysicalMemory } from "@tdx/hw-cpu-seam";
import { BumpAllocator, hostTableMemory, type TableMemory } from "../alloc";
import { type CdFields, encodeCd } from "../cd";
import { type DriverConfig, SmmuDriver } from "../driver";
import { type GranuleLog2, s2ConcatenatedTables } from "../granule";
import { PageTable } from "../pgtable";
import { type SmmuOptions, SmmuV3 } from "../smmu";
import { encodeSte, SteConfigKind, type SteFields } from "../ste";
import { GuestRam } from "../vsva/guest-ram";

export interface SmmuRig {
  readonly mem: PhysicalMemory;
  readonly smmu: SmmuV3;
  readonly driver: SmmuDriver;
  /** Host physical memory as a table builder sees it, allocating from [0x1000_0000, 0x8000_0000). */
  readonly host: TableMemory;
}

export interface RigOptions extends SmmuOptions {
  readonly driver?: DriverConfig;
  /** Physical address bits of the host memory (default 48). */
  readonly physAddrBits?: number;
}

/** A unit on sparse all-RAM memory, reset and enabled by the driver. */
export function makeRig(opts: RigOptions = {}): SmmuRig {
  const mem = new PhysicalMemory({ physAddrBits: opts.physAddrBits ?? 48, ram: "all" });
  const smmu = new SmmuV3(mem, opts);
  const host = hostTableMemory(mem, new BumpAllocator(0x1000_0000, 0x8000_0000));
  const driver = new SmmuDriver(smmu, host);
  driver.reset(opts.driver);
  return { mem, smmu, driver, host };
}

/** A stage-1 context: its page table and the CD that points at it. */
export interface Stage1Context {
  readonly pt: PageTable;
  readonly cd: Uint32Array;
}

/** Stage-1 CD fields for a TTB0-only context (Linux SVA/io-pgtable style: EPD1, AA64, R, A). */
export function s1CdFields(
  ttb0: number,
  asid: number,
  g: GranuleLog2 = 12,
  inputBits = 48,
  extra: CdFields = {},
): CdFields {
  const tg0 = g === 12 ? 0 : g === 16 ? 1 : 2;
  return {
    v: true,
    t0sz: 64 - inputBits,
    tg0,
    epd1: true,
    ips: 5,
    aa64: true,
    r: true,
    a: true,
    asid,
    ttb0,
    ...extra,
  };
}

/** Build a stage-1 table in `space` and its CD. */
export function makeStage1(
  space: TableMemory,
  asid: number,
  g: GranuleLog2 = 12,
  inputBits = 48,
  extra: CdFields = {},
): Stage1Context {
  const pt = new PageTable(space, { stage: 1, g, inputBits });
  return { pt, cd: encodeCd(s1CdFields(pt.root, asid, g, inputBits, extra)) };
}

/** Stage-2 STE fields for a table (S2AA64, S2R, S2PTW as Linux sets them). */
export function s2SteFields(pt: PageTable, vmid: number, extra: SteFields = {}): SteFields {
  const g = pt.fmt.g;
  const s2Tg = g === 12 ? 0 : g === 16 ? 1 : 2;
  const s2Sl0 = g === 12 ? 2 - pt.startLevel : 3 - pt.startLevel;
  return {
    v: true,
    config: SteConfigKind.S2_TRANS,
    s2Vmid: vmid,
    s2T0sz: 64 - pt.fmt.inputBits,
    s2Sl0,
    s2Tg,
    s2Ps: 5,
    s2Aa64: true,
    s2R: true,
    s2Ptw: true,
    s2Ttb: pt.root,
    ...extra,
  };
}

/**
 * A stage-2 table starting at the deepest level S2SL0 can encode that needs at most 16
 * concatenated tables (4 KiB: L2..L0; 16/64 KiB: L3..L1), unless `startLevel` is given.
 */
export function makeStage2(
  space: TableMemory,
  g: GranuleLog2 = 12,
  inputBits = 48,
  startLevel?: number,
): PageTable {
  let start = startLevel;
  if (start === undefined) {
    const levels = g === 12 ? [2, 1, 0] : [3, 2, 1];
    start = levels.find((l) => s2ConcatenatedTables(g, l, inputBits) !== 0) ?? levels[2]!;
  }
  return new PageTable(space, { stage: 2, g, inputBits, startLevel: start });
}

/** Install a one-CD stage-1 STE (S1CDMax = 0) for `sid` whose CD lives at a fresh host address. */
export function installStage1Stream(
  rig: SmmuRig,
  sid: number,
  ctx: Stage1Context,
  extra: SteFields = {},
): number {
  const cdAddr = rig.host.alloc(64, 64);
  rig.host.write(cdAddr, new Uint8Array(ctx.cd.buffer));
  rig.driver.installSte(
    sid,
    encodeSte({ v: true, config: SteConfigKind.S1_TRANS, s1ContextPtr: cdAddr, ...extra }),
  );
  return cdAddr;
}

/** A nested stream: a host stage 2 over a guest RAM window, and a guest stage-1 context in it. */
export interface NestedStream {
  readonly s2: PageTable;
  readonly guest: GuestRam;
  readonly s1: Stage1Context;
  /** IPA of the guest's CD (table). */
  readonly cdIpa: number;
  readonly vmid: number;
  readonly asid: number;
}

/**
 * Build and install a nested STE for `sid`: stage 2 (4 KiB, `s2Bits` IPA bits) mapping a guest
 * RAM window of `guestBytes` at IPA `ipaBase`; a guest stage-1 table (4 KiB, 48-bit VA) and one
 * CD at an IPA, reached through stage 2.
 */
export function installNestedStream(
  rig: SmmuRig,
  sid: number,
  opts: {
    readonly vmid?: number;
    readonly asid?: number;
    readonly s2Bits?: number;
    readonly ipaBase?: number;
    readonly guestBytes?: number;
    readonly cd?: CdFields;
    readonly ste?: SteFields;
  } = {},
): NestedStream {
  const vmid = opts.vmid ?? 7;
  const asid = opts.asid ?? 3;
  const s2 = makeStage2(rig.host, 12, opts.s2Bits ?? 48);
  const guest = new GuestRam(rig.host, s2, opts.ipaBase ?? 0x4000_0000, opts.guestBytes ?? 0x40_0000);
  const cdIpa = guest.alloc(64, 64);
  const s1 = makeStage1(guest, asid, 12, 48, opts.cd);
  guest.write(cdIpa, new Uint8Array(s1.cd.buffer));
  rig.driver.installSte(
    sid,
    encodeSte({ ...s2SteFields(s2, vmid), config: SteConfigKind.NESTED, s1ContextPtr: cdIpa, ...opts.ste }),
  );
  return { s2, guest, s1, cdIpa, vmid, asid };
}
