import { Gpr, TdcallLeaf, TdVmcall, TdVmcallStatus } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { RecordingEncryptionOps } from "../memory/conversion";
import { InlineTdxEncryptionOps, setMemoryDecrypted, setMemoryEncrypted } from "./conversion";
import { TdxGuest } from "./guest";
import { ScriptedTd } from "./scripted-td";
import { TdxVcpu } from "./vcpu";

const SHARED = 2 ** 51;

function setup(exitOnVmcall = true) {
  const td = new ScriptedTd({ exitOnVmcall });
  const guest = new TdxGuest();
  guest.assumeInit(52);
  const v = new TdxVcpu(guest, td);
  return { td, guest, v };
}

describe("set_memory_decrypted / set_memory_encrypted", () => {
  it("decrypt: one MapGPA of the shared alias, no acceptance; nr_shared counts the pages", () => {
    const { td, guest, v } = setup();
    const r = td.run(setMemoryDecrypted(v, 0x8000000, 16));
    expect(r).toEqual({ done: true, value: 0 });
    const calls = td.vmcalls(TdVmcall.MAP_GPA);
    expect(calls.map((c) => [c.regs[Gpr.R12], c.regs[Gpr.R13]])).toEqual([
      [BigInt(SHARED + 0x8000000), 0x10000n],
    ]);
    expect(td.calls(TdcallLeaf.MEM_PAGE_ACCEPT)).toHaveLength(0);
    expect(guest.nrShared).toBe(16);
    expect(td.exits).toBe(1);
  });

  it("encrypt: MapGPA of the private range, then TDG.MEM.PAGE.ACCEPT (2M where aligned, else 4K)", () => {
    const { td, guest, v } = setup();
    guest.nrShared = 513;
    const r = td.run(setMemoryEncrypted(v, 0x200000, 513));
    expect(r).toEqual({ done: true, value: 0 });
    const order = td.tdcalls
      .filter((c) => c.leaf === TdcallLeaf.VP_VMCALL || c.leaf === TdcallLeaf.MEM_PAGE_ACCEPT)
      .map((c) => (c.leaf === TdcallLeaf.VP_VMCALL ? "map" : `accept ${c.regs[Gpr.RCX]!.toString(16)}`));
    expect(order).toEqual(["map", "accept 200001", "accept 400000"]);
    expect(guest.nrShared).toBe(0);
  });

  it("a failed MapGPA or acceptance is -EIO with the CPA WARN, and nr_shared is unchanged", () => {
    const a = setup();
    a.td.vmm = (r) => {
      r[Gpr.R10] = TdVmcallStatus.RETRY;
      r[Gpr.R11] = BigInt(SHARED + 0x8000000);
    };
    expect(a.td.run(setMemoryDecrypted(a.v, 0x8000000, 1))).toEqual({ done: true, value: -5 });
    expect(a.guest.nrShared).toBe(0);
    expect(a.guest.log[0]).toMatch(
      /CPA VMM failure to convert memory \(addr=0x8000000, numpages=1\) to decrypted: -5/,
    );
    const b = setup();
    b.td.accept = () => 0xc000010000000001n;
    expect(b.td.run(setMemoryEncrypted(b.v, 0x8000000, 1))).toEqual({ done: true, value: -5 });
  });

  it("a misaligned address is WARNed and aligned down; bad input is an error", () => {
    const { td, guest, v } = setup();
    td.run(setMemoryDecrypted(v, 0x8000010, 1));
    expect(td.vmcalls(TdVmcall.MAP_GPA)[0]!.regs[Gpr.R12]).toBe(BigInt(SHARED + 0x8000000));
    expect(guest.log).toContain("WARNING: misaligned address: 0x8000010");
    expect(() => td.run(setMemoryDecrypted(v, 0x8000000, 0))).toThrow(/positive integer/);
    expect(() => td.run(setMemoryDecrypted(v, SHARED + 0x8000000, 1))).toThrow(/without the shared bit/);
  });
});

describe("InlineTdxEncryptionOps (the SWIOTLB layer's MemoryEncryptionOps)", () => {
  it("runs the TDX conversions synchronously on a vCPU whose VMCALLs complete inline, under the recording wrapper", () => {
    const { td, guest, v } = setup(false);
    const ops = new RecordingEncryptionOps(new InlineTdxEncryptionOps(v));
    expect(ops.setMemoryDecrypted(0x4000000, 512)).toBe(0);
    expect(ops.setMemoryEncrypted(0x4000000, 512)).toBe(0);
    expect(ops.records.map((r) => [r.kind, r.status])).toEqual([
      ["decrypt", 0],
      ["encrypt", 0],
    ]);
    expect(td.vmcalls(TdVmcall.MAP_GPA)).toHaveLength(2);
    const accepts = td.calls(TdcallLeaf.MEM_PAGE_ACCEPT);
    expect(accepts.map((c) => c.regs[Gpr.RCX])).toEqual([0x4000001n]); // one 2 MiB accept
    expect(guest.nrShared).toBe(0);
  });

  it("refuses with a clear error when the conversion would need a TD exit", () => {
    const { v } = setup(true);
    expect(() => new InlineTdxEncryptionOps(v).setMemoryDecrypted(0x4000000, 1)).toThrow(
      /set_memory_decrypted needs a TD exit/,
    );
  });
});
