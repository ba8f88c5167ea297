import { Gpr, TdCtls, TdcallLeaf } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { TdcsField } from "./abi";
import { TdxGuest, type TdxGuestOptions } from "./guest";
import { tdxEarlyInit } from "./init";
import { ScriptedTd } from "./scripted-td";
import { TdxVcpu } from "./vcpu";

const SEPT_VE_DISABLE = 1n << 28n;
const DEBUG = 1n;

function setup(attributes: bigint, fields: [bigint, bigint][], opts: TdxGuestOptions = {}) {
  const td = new ScriptedTd({ gpaw: 52, attributes });
  for (const [f, val] of fields) td.fields.set(f, val);
  const guest = new TdxGuest(opts);
  const v = new TdxVcpu(guest, td);
  const writes = () =>
    td.calls(TdcallLeaf.VM_WR).map((c) => [c.regs[Gpr.RDX], c.regs[Gpr.R8], c.regs[Gpr.R9]] as const);
  return { td, guest, v, writes };
}

const BASE_FIELDS: [bigint, bigint][] = [
  [TdcsField.NOTIFY_ENABLES, 1n],
  [TdcsField.CONFIG_FLAGS, 0n],
  [TdcsField.TD_CTLS, 0n],
  [TdcsField.TOPOLOGY_ENUM_CONFIGURED, 1n],
];

describe("tdx_early_init", () => {
  it("without the CPUID 0x21 signature the kernel is not a TDX guest and issues no TDCALL", () => {
    const { td, v, guest } = setup(SEPT_VE_DISABLE, BASE_FIELDS);
    const asked: [number, number][] = [];
    td.cpuidTable = (leaf, sub) => {
      asked.push([leaf, sub]);
      return { eax: 0, ebx: 0, ecx: 0, edx: 0 };
    };
    const r = td.run(tdxEarlyInit(v));
    expect(r).toEqual({ done: true, value: { kind: "not-tdx" } });
    expect(asked).toEqual([[0x21, 0]]);
    expect(td.tdcalls).toHaveLength(0);
    expect(guest.info).toBeUndefined();
  });

  it("detects TDX by executing CPUID(0x21, 0) on the vCPU and leaves the caller's registers and RIP as they were", () => {
    const { td, v } = setup(SEPT_VE_DISABLE, BASE_FIELDS);
    td.regs.gpr.fill(0x5555n);
    td.regs.rip = 0x1000;
    const before = td.regs.gpr.slice();
    const r = td.run(tdxEarlyInit(v));
    expect(r.done && r.value.kind).toBe("tdx");
    expect([...td.regs.gpr]).toEqual([...before]);
    expect(td.regs.rip).toBe(0x1000);
  });

  it("reads GPAW and attributes with TDG.VP.INFO (shared bit 2^51 for GPAW 52), zeroes NOTIFY_ENABLES, sets REDUCE_VE", () => {
    const { td, v, guest, writes } = setup(SEPT_VE_DISABLE, BASE_FIELDS);
    const r = td.run(tdxEarlyInit(v));
    expect(r.done && r.value.kind).toBe("tdx");
    expect(guest.tdx).toEqual({
      gpaw: 52,
      sharedMask: 2 ** 51,
      attributes: SEPT_VE_DISABLE,
      tdCtls: TdCtls.PENDING_VE_DISABLE | TdCtls.REDUCE_VE,
    });
    expect(td.tdcalls[0]!.leaf).toBe(TdcallLeaf.VP_INFO);
    expect(writes()).toEqual([
      [TdcsField.NOTIFY_ENABLES, 0n, 0xffffffffffffffffn],
      [TdcsField.TD_CTLS, TdCtls.REDUCE_VE, TdCtls.REDUCE_VE],
    ]);
    expect(td.fields.get(TdcsField.NOTIFY_ENABLES)).toBe(0n);
    expect(guest.isPrivateGpa(0xfed00000)).toBe(true);
    expect(guest.isPrivateGpa(2 ** 51 + 0xfed00000)).toBe(false);
  });

  it("a TD with SEPT #VE enabled and no way to disable it panics unless it is a DEBUG TD", () => {
    const bad = setup(0n, BASE_FIELDS);
    const r = bad.td.run(tdxEarlyInit(bad.v));
    expect(r).toEqual({ done: false, fatal: "TD misconfiguration: SEPT #VE has to be disabled" });
    const dbg = setup(DEBUG, BASE_FIELDS);
    expect(dbg.td.run(tdxEarlyInit(dbg.v)).done).toBe(true);
    expect(dbg.guest.log).toContain("TD misconfiguration: SEPT #VE has to be disabled");
  });

  it("with FLEXIBLE_PENDING_VE the guest disables SEPT #VE itself through TD_CTLS", () => {
    const fields: [bigint, bigint][] = [...BASE_FIELDS, [TdcsField.CONFIG_FLAGS, 2n]];
    const { td, v, writes } = setup(0n, fields);
    td.run(tdxEarlyInit(v));
    expect(writes()[1]).toEqual([TdcsField.TD_CTLS, TdCtls.PENDING_VE_DISABLE, TdCtls.PENDING_VE_DISABLE]);
    expect(td.fields.get(TdcsField.TD_CTLS)! & TdCtls.PENDING_VE_DISABLE).toBe(TdCtls.PENDING_VE_DISABLE);
  });

  it("if the module refuses REDUCE_VE the guest falls back to ENUM_TOPOLOGY, only when the topology is configured", () => {
    const { td, v, guest, writes } = setup(SEPT_VE_DISABLE, BASE_FIELDS);
    td.fields.delete(TdcsField.TD_CTLS); // TD_CTLS writes fail
    td.run(tdxEarlyInit(v));
    expect(writes().map((w) => w[1])).toEqual([0n, TdCtls.REDUCE_VE, TdCtls.ENUM_TOPOLOGY]);
    expect(guest.tdx.tdCtls).toBe(TdCtls.PENDING_VE_DISABLE);
    const unconfigured = setup(SEPT_VE_DISABLE, [...BASE_FIELDS, [TdcsField.TOPOLOGY_ENUM_CONFIGURED, 0n]], {
      veReduction: "enum-topology",
    });
    unconfigured.td.run(tdxEarlyInit(unconfigured.v));
    expect(unconfigured.writes()).toHaveLength(1);
    expect(unconfigured.guest.log).toContain("VMM did not configure X2APIC_IDs properly");
  });
});
