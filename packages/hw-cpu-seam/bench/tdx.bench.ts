/**
 * TDX module costs in the simulator: SEAMCALL dispatch (TDH.SYS.RD, TDH.MNG.RD), a TD-exit round
 * trip (TDH.VP.ENTER -> guest TDG.VP.VMCALL -> exit), and guest accesses to accepted private
 * memory (aligned 8-byte reads through the Secure EPT and TLB, 4 KiB reads) against a plain
 * typed-array baseline measured in the same run. The issue sets no targets for these.
 */
import type { BenchSuite } from "../../../tooling/bench/types";
import { Gpr, GuestMem, SeamcallLeaf, SysField, TdField, TdVmcall, tdgVpVmcall } from "../src/index";
import { makeSimTdxPlatform, TdxHostDriver } from "../src/testing/index";

const READS_PER_ENTRY = 20000;
const PAGES = 64;

const p = makeSimTdxPlatform();
const h = new TdxHostDriver(p);
h.bringUp();
const td = h.createTd();
for (let i = 0; i < PAGES; i++) td.addPage(0x10_0000 + i * 4096, new Uint8Array(4096).fill(i));
td.finalize();

let mode: "vmcall" | "read64" | "read4k" = "vmcall";
td.loadGuestCode(function* (ctx) {
  const pair = new Uint32Array(2);
  const page = new Uint8Array(4096);
  let sink = 0;
  for (;;) {
    if (mode === "read64") {
      for (let i = 0; i < READS_PER_ENTRY; i++) {
        if (ctx.read64(0x10_0000 + ((i * 8) % (PAGES * 4096)), pair) !== GuestMem.Ok)
          throw new Error("read failed");
        sink ^= pair[0]!;
      }
    } else if (mode === "read4k") {
      for (let i = 0; i < READS_PER_ENTRY / 100; i++) {
        ctx.read(0x10_0000 + (i % PAGES) * 4096, page);
        sink ^= page[0]!;
      }
    }
    ctx.regs.gpr[Gpr.R12] = BigInt(sink & 0xff);
    yield* tdgVpVmcall(ctx, TdVmcall.HLT);
  }
});

const regs = new BigUint64Array(16);
const tdvpr = BigInt(td.pages.vcpus[0]!.tdvpr);
const tdr = BigInt(td.tdr);
function enter(): void {
  regs[Gpr.RAX] = BigInt(SeamcallLeaf.VP_ENTER);
  regs[Gpr.RCX] = tdvpr;
  p.module.seamcall(0, regs);
}
enter(); // start the program

const baseline = new Uint32Array((PAGES * 4096) / 4);
for (let i = 0; i < baseline.length; i++) baseline[i] = i;

const suite: BenchSuite = {
  name: "tdx-module",
  cases: [
    {
      name: "SEAMCALL TDH.SYS.RD (dispatch + metadata)",
      opsPerCall: 1000,
      fn: () => {
        for (let i = 0; i < 1000; i++) {
          regs[Gpr.RAX] = BigInt(SeamcallLeaf.SYS_RD);
          regs[Gpr.RDX] = SysField.MAX_TDMRS;
          p.module.seamcall(0, regs);
        }
      },
    },
    {
      name: "SEAMCALL TDH.MNG.RD (TDR lookup + PAMT check)",
      opsPerCall: 1000,
      fn: () => {
        for (let i = 0; i < 1000; i++) {
          regs[Gpr.RAX] = BigInt(SeamcallLeaf.MNG_RD);
          regs[Gpr.RCX] = tdr;
          regs[Gpr.RDX] = TdField.NUM_VCPUS;
          p.module.seamcall(0, regs);
        }
      },
    },
    {
      name: "TD-exit round trip (VP.ENTER -> TDG.VP.VMCALL exit)",
      opsPerCall: 100,
      fn: () => {
        mode = "vmcall";
        for (let i = 0; i < 100; i++) enter();
      },
    },
    {
      name: "baseline: Uint32Array pair read",
      opsPerCall: READS_PER_ENTRY,
      fn: () => {
        let s = 0;
        for (let i = 0; i < READS_PER_ENTRY; i++) {
          const w = ((i * 8) % (PAGES * 4096)) >>> 2;
          s ^= baseline[w]! ^ baseline[w + 1]!;
        }
        if (s === -1) throw new Error("unreachable");
      },
    },
    {
      name: "guest read64 of accepted private memory (SEPT + TLB)",
      opsPerCall: READS_PER_ENTRY,
      baseline: "baseline: Uint32Array pair read",
      fn: () => {
        mode = "read64";
        enter();
      },
    },
    {
      name: "guest 4 KiB read of private memory",
      opsPerCall: READS_PER_ENTRY / 100,
      bytesPerOp: 4096,
      fn: () => {
        mode = "read4k";
        enter();
      },
    },
  ],
};

export default suite;
