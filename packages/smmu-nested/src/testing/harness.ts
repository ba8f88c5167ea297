/**
 * Adapts an SMMUv3 unit to the generic IOMMU contract of @tdx/hw-cpu-seam/testing: each domain is
 * a real translation regime built in memory (a stage-1 page table and its CD, a stage-2 table and
 * its VMID, or a nested pair with an identity stage 2), attached by writing an STE with
 * CFGI_STE + CMD_SYNC, and invalidated with the TLBI commands Linux would issue.
 */
import { type DmaRequester, Initiator, Perm, PhysicalMemory, TdxSimError } from "@tdx/hw-cpu-seam";
import type { IommuContractHarness } from "@tdx/hw-cpu-seam/testing";
import { BumpAllocator, hostTableMemory } from "../alloc";
import { encodeCd } from "../cd";
import type { SmmuCommand } from "../commands";
import { SmmuDriver } from "../driver";
import { PageTable } from "../pgtable";
import { type SmmuOptions, SmmuV3 } from "../smmu";
import { encodeSte, SteConfigKind } from "../ste";
import { s1CdFields, s2SteFields } from "./rig";

export type SmmuDomainKind = "stage1" | "stage2" | "nested";

interface DomainState {
  readonly pt: PageTable;
  readonly cdAddr: number;
  readonly asid: number;
  readonly vmid: number;
  readonly identityS2?: PageTable;
}

/** Build a harness whose domains are of the given kind, on a fresh unit and memory. */
export function makeSmmuIommuHarness(kind: SmmuDomainKind, opts: SmmuOptions = {}): IommuContractHarness {
  const mem = new PhysicalMemory({ physAddrBits: 48, ram: "all" });
  const smmu = new SmmuV3(mem, opts);
  const tables = hostTableMemory(mem, new BumpAllocator(0x1000_0000, 0x8000_0000));
  const data = new BumpAllocator(0x1_0000_0000, 0x80_0000_0000);
  const driver = new SmmuDriver(smmu, tables);
  driver.reset();
  const domains: DomainState[] = [];
  const attrs = (perm: Perm) => ({ read: (perm & Perm.Read) !== 0, write: (perm & Perm.Write) !== 0 });

  function identityStage2(): PageTable {
    // 40-bit IPA, L1 start with 2 concatenated tables, 1 GiB identity blocks
    const s2 = new PageTable(tables, { stage: 2, g: 12, inputBits: 40, startLevel: 1 });
    for (let gb = 0; gb < 1024; gb++) s2.map(gb * 2 ** 30, gb * 2 ** 30, 30);
    return s2;
  }

  function domainOf(d: number): DomainState {
    const s = domains[d];
    if (s === undefined) throw new TdxSimError("E_HARNESS", `no domain ${d}`);
    return s;
  }

  return {
    port: smmu,
    mem,
    pageSizes: [4096, 2 ** 21, 2 ** 30],
    alloc(size) {
      const a = data.alloc(size, size);
      mem.fill(a, size, 0, Initiator.Host);
      return a;
    },
    createDomain() {
      const id = domains.length;
      const asid = 100 + id;
      const vmid = kind === "stage1" ? 0 : 10 + id;
      if (kind === "stage2") {
        const pt = new PageTable(tables, { stage: 2, g: 12, inputBits: 40, startLevel: 1 });
        domains.push({ pt, cdAddr: 0, asid: -1, vmid });
        return id;
      }
      const pt = new PageTable(tables, { stage: 1, g: 12, inputBits: 48 });
      const cdAddr = tables.alloc(64, 64);
      tables.write(cdAddr, new Uint8Array(encodeCd(s1CdFields(pt.root, asid)).buffer));
      domains.push({
        pt,
        cdAddr,
        asid,
        vmid,
        ...(kind === "nested" ? { identityS2: identityStage2() } : {}),
      });
      return id;
    },
    attach(req: DmaRequester, d: number) {
      const s = domainOf(d);
      let ste: Uint32Array;
      if (kind === "stage1")
        ste = encodeSte({ v: true, config: SteConfigKind.S1_TRANS, s1ContextPtr: s.cdAddr });
      else if (kind === "stage2") ste = encodeSte(s2SteFields(s.pt, s.vmid));
      else
        ste = encodeSte({
          ...s2SteFields(s.identityS2!, s.vmid),
          config: SteConfigKind.NESTED,
          s1ContextPtr: s.cdAddr,
        });
      driver.installSte(req.sid, ste);
    },
    map(d, iova, pa, size, perm) {
      domainOf(d).pt.map(iova, pa, Math.log2(size), attrs(perm));
    },
    unmap(d, iova, size) {
      domainOf(d).pt.unmap(iova, Math.log2(size));
    },
    invalidate(d, iova, size) {
      const s = domainOf(d);
      const cmds: SmmuCommand[] = [];
      for (let a = iova; a < iova + size && cmds.length < 16; a += 4096) {
        cmds.push(
          kind === "stage2"
            ? { op: "TLBI_S2_IPA", vmid: s.vmid, addr: a, leaf: true }
            : { op: "TLBI_NH_VA", vmid: s.vmid, asid: s.asid, addr: a, leaf: true },
        );
      }
      if (size > 16 * 4096)
        cmds.push(
          kind === "stage2"
            ? { op: "TLBI_S12_VMALL", vmid: s.vmid }
            : { op: "TLBI_NH_ASID", vmid: s.vmid, asid: s.asid },
        );
      driver.mustSubmit(cmds);
    },
  };
}
