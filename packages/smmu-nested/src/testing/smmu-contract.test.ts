/** This package's SmmuV3 against its own SMMUv3 contract suite. */
import { PhysicalMemory } from "@tdx/hw-cpu-seam";
import { SmmuV3 } from "../smmu";
import { describeSmmuContract } from "./smmu-contract";

describeSmmuContract("SmmuV3", (idr) => {
  const mem = new PhysicalMemory({ physAddrBits: 48, ram: "all" });
  const smmu = new SmmuV3(mem, { idr });
  return { regs: smmu, port: smmu, mem };
});
