/**
 * With a CpuComplex, SEAMCALL runs through the logical processor's mode machine: it needs VMX
 * root (else Linux's software statuses for #UD / VMfailInvalid), the LP is in SEAM non-root while
 * the guest runs and back in VMX root after, and TDH.SYS.INIT reads MSR 0x87 from the LP.
 */
import { describe, expect, it } from "vitest";
import { CpuComplex } from "../cpu/cpu-complex";
import { SeamcallSwStatus } from "../cpu/logical-processor";
import { TdVmcall, tdgVpVmcall } from "./guest-calls";
import { TdxHostDriver } from "./host-driver";
import { SeamcallLeaf } from "./leaves";
import { TdxModule } from "./module";
import { makeSimTdxPlatform } from "./sim-platform";
import { TdxStatus } from "./status-codes";

describe("TDX module on modelled CPUs", () => {
  it("enters SEAM root from VMX root only, and runs the guest in SEAM non-root", () => {
    const p = makeSimTdxPlatform({ cpus: true });
    const cpus = p.cpus!;
    const h = new TdxHostDriver(p);
    cpus.lp(1).vmxoff();
    expect(h.call(1, SeamcallLeaf.SYS_INIT).status).toBe(SeamcallSwStatus.UD);
    expect(cpus.lp(1).mode).toBe("legacy");
    cpus.lp(1).vmxon();
    h.bringUp();
    expect(p.module.privateHkids).toEqual({ first: 32, last: 63 });
    expect(cpus.lps.map((l) => l.mode)).toEqual(["vmx-root", "vmx-root", "vmx-root", "vmx-root"]);
    const td = h.createTd();
    td.finalize();
    const modes: string[] = [];
    td.loadGuestCode(function* (ctx) {
      modes.push(cpus.lp(3).mode);
      yield* tdgVpVmcall(ctx, TdVmcall.HLT);
    });
    expect(td.enter(0, 3).outcome.kind).toBe("exit");
    expect(modes).toEqual(["seam-non-root"]);
    expect(cpus.lp(3).mode).toBe("vmx-root");
    expect(h.call(3, SeamcallLeaf.MR_FINALIZE, { rcx: td.tdr }).status).toBe(TdxStatus.OP_STATE_INCORRECT);
  });

  it("returns VMfailInvalid's software status when no module is loaded", () => {
    const p = makeSimTdxPlatform();
    const cpus = new CpuComplex({
      topology: { packages: 1, coresPerPackage: 1, threadsPerCore: 1 },
      physAddrBits: 46,
      keyIds: p.memory.keyIds,
      seamrr: { base: 3 * 1024 ** 3 - 32 * 1024 ** 2, size: 32 * 1024 ** 2 },
    });
    cpus.lp(0).vmxon();
    const m = new TdxModule({ memory: p.memory, cpus, cmrs: p.cmrs });
    const h = new TdxHostDriver({ ...p, lpPackages: [0], seamcall: (lp, r) => m.seamcall(lp, r) });
    expect(h.call(0, SeamcallLeaf.SYS_INIT).status).toBe(SeamcallSwStatus.VMFAILINVALID);
    cpus.loadSeamModule();
    expect(h.call(0, SeamcallLeaf.SYS_INIT).status).toBe(TdxStatus.SUCCESS);
  });
});
