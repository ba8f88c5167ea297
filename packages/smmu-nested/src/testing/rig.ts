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

/** A stage-2 table with the shallowest start level that needs no more than `maxConcat` tables. */
export function makeStage2(
  space: TableMemory,
  g: GranuleLog2 = 12,
  inputBits = 48,
  startLevel?: number,
): PageTable {
  let start = startLevel;
  if (start === undefined) {
    start = 3;
    while (start > 0 && s2ConcatenatedTables(g, start - 1, inputBits) !== 0) start--;
    if (g === 12 && start === 0 && inputBits <= 39) start = 1;
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
