/** The VT-d contract run against this package's VtdUnit. */
import { PhysicalMemory } from "@tdx/hw-cpu-seam";
import { VtdUnit } from "../unit/vtd-unit";
import { describeVtdContract } from "./vtd-contract";

describeVtdContract("@tdx/vtd VtdUnit", ({ cap, ecap }) => {
  const mem = PhysicalMemory.sparseAll({ physAddrBits: 46 });
  const unit = new VtdUnit({ mem, cap, ecap });
  return { regs: unit, port: unit.port, mem };
});
