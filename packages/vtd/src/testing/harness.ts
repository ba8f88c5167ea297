/**
 * The generic IOMMU contract (`describeIommuContract` from @tdx/hw-cpu-seam/testing) adapted to
 * VT-d: domains are second-stage (or, in scalable mode, first-stage) page tables written in their
 * real format, devices are attached by writing context (and PASID) entries and invalidating the
 * context cache, and invalidation is a page-selective IOTLB (or PASID-IOTLB) invalidation through
 * the invalidation queue followed by a wait descriptor, exactly as a driver does it.
 *
 * @spec reference/vtd.md §6.2 (Linux attach: context entry then the CM-dependent flush; map then
 *   PSI), §5.4 (qi_submit_sync)
 */
import { type DmaRequester, Perm, PhysicalMemory } from "@tdx/hw-cpu-seam";
import type { IommuContractHarness } from "@tdx/hw-cpu-seam/testing";
import type { VtdProfile } from "../spec/capabilities";
import type { VtdUnitOptions } from "../unit/options";
import { VtdUnit } from "../unit/vtd-unit";
import { VtdDriver } from "./driver";
import {
  BumpAllocator,
  FirstStagePageTable,
  LegacyContextTables,
  PasidTables,
  ScalableContextTables,
  SecondStagePageTable,
} from "./tables";

export interface VtdHarnessOptions {
  /** "legacy": second-stage tables in legacy mode; "scalable-ss" / "scalable-fs": a RID_PASID entry. */
  readonly mode?: "legacy" | "scalable-ss" | "scalable-fs";
  readonly profile?: VtdProfile;
  readonly unit?: Partial<Omit<VtdUnitOptions, "mem">>;
}

/** A fresh unit on sparse memory, programmed and enabled, with its driver and table builders. */
export interface VtdTestBench {
  readonly unit: VtdUnit;
  readonly mem: PhysicalMemory;
  readonly alloc: BumpAllocator;
  readonly driver: VtdDriver;
}

/** Memory and a unit with QI enabled (root table not yet set). */
export function makeVtdBench(
  profile?: VtdProfile,
  unitOpts: Partial<Omit<VtdUnitOptions, "mem">> = {},
): VtdTestBench {
  const mem = PhysicalMemory.sparseAll({ physAddrBits: 46 });
  const unit = new VtdUnit({ mem, profile, ...unitOpts });
  const alloc = new BumpAllocator(mem, 0x100_0000, 0x4000_0000);
  const driver = new VtdDriver(unit, mem, alloc);
  driver.enableQueue();
  return { unit, mem, alloc, driver };
}

const SCALABLE: VtdProfile = { scalable: { firstStage: true, secondStage: true, nested: true } };

export function vtdContractHarness(opts: VtdHarnessOptions = {}): IommuContractHarness {
  const mode = opts.mode ?? "legacy";
  const profile = opts.profile ?? (mode === "legacy" ? {} : SCALABLE);
  const { unit, mem, alloc, driver } = makeVtdBench(profile, opts.unit);
  const data = new BumpAllocator(mem, 0x1_0000_0000, 0x10_0000_0000);
  const legacy = mode === "legacy" ? new LegacyContextTables(mem, alloc) : undefined;
  const scalable = mode === "legacy" ? undefined : new ScalableContextTables(mem, alloc);
  driver.setRootTable(legacy ? legacy.root : scalable!.root, !legacy);
  driver.contextGlobal();
  driver.iotlbGlobal();
  driver.enableTranslation();
  const ss = new Map<number, SecondStagePageTable>();
  const fs = new Map<number, FirstStagePageTable>();
  let nextDid = 1;
  const pageSizes = [4096];
  if ((driver.cap.sllps & 1) !== 0) pageSizes.push(2 ** 21);
  if ((driver.cap.sllps & 2) !== 0 && (mode !== "scalable-fs" || driver.cap.fs1gp)) pageSizes.push(2 ** 30);

  return {
    port: unit.port,
    mem,
    pageSizes,
    alloc: (size) => data.alloc(size, Math.max(size, 4096)),
    createDomain() {
      const did = nextDid++;
      if (mode === "scalable-fs") fs.set(did, new FirstStagePageTable(mem, alloc, 4));
      else ss.set(did, new SecondStagePageTable(mem, alloc, 4));
      return did;
    },
    attach(req: DmaRequester, did: number) {
      if (legacy) {
        legacy.setContext(req.sid, { slptptr: ss.get(did)!.root, aw: 2, did });
      } else {
        const pasid = Math.max(req.pasid, 0);
        const pt = new PasidTables(mem, alloc);
        if (mode === "scalable-fs") pt.setEntry(pasid, { pgtt: 1, did, fsptr: fs.get(did)!.root });
        else pt.setEntry(pasid, { pgtt: 2, did, ssptr: ss.get(did)!.root, aw: 2 });
        scalable!.setContext(req.sid, { pasidDir: pt.dir, ridPasid: 0, pasidEnable: req.pasid >= 0 });
      }
      driver.contextDevice(req.sid, legacy ? did : 0);
      driver.iotlbDomain(did);
    },
    map(did, iova, pa, size, perm) {
      const p = { read: (perm & Perm.Read) !== 0, write: (perm & Perm.Write) !== 0 };
      if (mode === "scalable-fs") fs.get(did)!.map(iova, pa, size, { write: p.write, user: true });
      else ss.get(did)!.map(iova, pa, size, p);
    },
    unmap(did, iova, size) {
      if (mode === "scalable-fs") fs.get(did)!.unmap(iova, size);
      else ss.get(did)!.unmap(iova, size);
    },
    invalidate(did, iova, size) {
      const pages = Math.max(1, Math.ceil(size / 4096));
      const am = Math.ceil(Math.log2(pages));
      const span = 4096 * 2 ** am;
      driver.iotlbPages(did, iova - (iova % span), am);
    },
  };
}
