/**
 * CPUs: topology and x2APIC IDs, MSR values and access rules, CPUID leaves (native and TD view),
 * and the mode transitions of VMX/SEAM with their fault, VM-exit and VMfailInvalid outcomes.
 */
import { describe, expect, it } from "vitest";
import { makeKeyIdPartition } from "../memory/keyids";
import { CpuComplex, type CpuComplexConfig } from "./cpu-complex";
import { CpuidBit, CpuModel, TDX_CPUID_LEAF, vendorString } from "./cpuid";
import { CpuExitReason, SeamcallSwStatus, seamcallSwStatus } from "./logical-processor";
import { Msr, msrField, TmeActivate } from "./msrs";

const keyIds = makeKeyIdPartition(6, { first: 16, count: 48 });

function cpus(extra: Partial<CpuComplexConfig> = {}): CpuComplex {
  return new CpuComplex({
    topology: { packages: 2, coresPerPackage: 3, threadsPerCore: 2 },
    physAddrBits: 52,
    keyIds,
    seamrr: { base: 0x7e00_0000, size: 0x0200_0000 },
    ...extra,
  });
}

function read(c: CpuComplex, lp: number, msr: number): bigint {
  const r = c.lp(lp).rdmsr(msr);
  if (!r.ok) throw new Error(`rdmsr 0x${msr.toString(16)} failed: ${JSON.stringify(r)}`);
  return r.value;
}

describe("topology", () => {
  it("numbers LPs package-major and packs thread/core/package into x2APIC IDs", () => {
    const c = cpus();
    expect(c.lps.length).toBe(12);
    // 2 threads -> 1 bit, 3 cores -> 2 bits: package at bit 3
    expect(c.lps.map((l) => l.place.x2apicId)).toEqual([0, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13]);
    expect(c.topology.firstLpOfEachPackage()).toEqual([0, 6]);
    expect(c.packageLps(1).map((l) => l.index)).toEqual([6, 7, 8, 9, 10, 11]);
    expect(() => c.lp(12)).toThrow(/0\.\.11/);
  });
});

describe("MSRs", () => {
  it("reports the KeyID partition in MSR 0x87 and the KeyID bits in TME_ACTIVATE", () => {
    const c = cpus();
    expect(read(c, 0, Msr.IA32_MKTME_KEYID_PARTITIONING)).toBe((48n << 32n) | 15n);
    const act = read(c, 5, Msr.IA32_TME_ACTIVATE);
    expect(msrField(act, 35, 32)).toBe(6);
    expect(msrField(act, 39, 36)).toBe(2); // [16, 64) = upper 2 of 6 KeyID bits reserved for TDX
    expect(act & TmeActivate.LOCK).toBe(1n);
    expect(act & TmeActivate.AES_XTS_128_WITH_INTEGRITY).not.toBe(0n);
    const cap = read(c, 0, Msr.IA32_TME_CAPABILITY);
    expect(msrField(cap, 35, 32)).toBe(6);
    expect(msrField(cap, 50, 36)).toBe(63);
  });

  it("programs SEAMRR base/mask with the CONFIGURED, ENABLED and LOCKED bits", () => {
    const c = cpus();
    expect(read(c, 0, Msr.IA32_SEAMRR_PHYS_BASE)).toBe(0x7e00_0008n);
    const mask = read(c, 0, Msr.IA32_SEAMRR_PHYS_MASK);
    expect(mask & 0xc00n).toBe(0xc00n);
    expect(mask >> 12n).toBe(((1n << 52n) - 1n - (0x200_0000n - 1n)) >> 12n);
    expect(read(c, 0, Msr.IA32_MTRRCAP) & (1n << 15n)).toBe(1n << 15n);
    expect(c.inSeamrr(0x7f00_0000)).toBe(true);
    expect(c.inSeamrr(0x8000_0000)).toBe(false);
  });

  it("faults #GP on unknown MSRs, read-only MSRs, locked MSRs and reserved bits", () => {
    const lp = cpus().lp(0);
    expect(lp.rdmsr(0x12345)).toMatchObject({ ok: false, fault: "#GP", vector: 13 });
    expect(lp.wrmsr(Msr.IA32_MKTME_KEYID_PARTITIONING, 0n)).toMatchObject({ ok: false, reason: /read-only/ });
    expect(lp.wrmsr(Msr.IA32_TME_ACTIVATE, 0n)).toMatchObject({ ok: false, reason: /locked/ });
    expect(lp.wrmsr(Msr.IA32_SEAMRR_PHYS_BASE, 0n)).toMatchObject({ ok: false, reason: /locked/ });
    expect(lp.wrmsr(Msr.IA32_FEATURE_CONTROL, 5n)).toMatchObject({ ok: false, reason: /locked/ });
    expect(lp.wrmsr(Msr.IA32_PAT, 0x0007_0406_0007_0402n)).toMatchObject({
      ok: false,
      reason: /reserved memory type/,
    });
    expect(lp.wrmsr(Msr.IA32_EFER, 1n << 20n)).toMatchObject({ ok: false, reason: /reserved/ });
    expect(lp.wrmsr(Msr.IA32_PAT, 0x0006_0406_0007_0406n)).toEqual({ ok: true });
    expect(lp.rdmsr(Msr.IA32_PAT)).toEqual({ ok: true, value: 0x0006_0406_0007_0406n });
  });

  it("shares package- and core-scoped MSRs and keeps thread-scoped ones per LP", () => {
    const c = cpus();
    expect(c.lp(0).wrmsr(Msr.IA32_PAT, 0x0606_0606_0606_0606n)).toEqual({ ok: true });
    expect(read(c, 1, Msr.IA32_PAT)).toBe(0x0007_0406_0007_0406n);
    expect(read(c, 0, Msr.IA32_APIC_BASE) & (1n << 8n)).toBe(1n << 8n); // BSP
    expect(read(c, 1, Msr.IA32_APIC_BASE) & (1n << 8n)).toBe(0n);
    expect(read(c, 7, Msr.IA32_X2APIC_APICID)).toBe(9n);
  });

  it("couples IA32_TSC and IA32_TSC_ADJUST and advances TSCs only through the virtual clock", () => {
    const c = cpus();
    c.tick(1000n);
    expect(read(c, 3, Msr.IA32_TSC)).toBe(1000n);
    expect(c.lp(3).wrmsr(Msr.IA32_TSC, 5000n)).toEqual({ ok: true });
    expect(read(c, 3, Msr.IA32_TSC_ADJUST)).toBe(4000n);
    expect(c.lp(3).wrmsr(Msr.IA32_TSC_ADJUST, 0n)).toEqual({ ok: true });
    expect(read(c, 3, Msr.IA32_TSC)).toBe(1000n);
    expect(read(c, 2, Msr.IA32_TSC_ADJUST)).toBe(0n);
  });

  it("x2APIC ID MSR is #GP when the APIC is not in x2APIC mode", () => {
    const lp = cpus().lp(1);
    expect(lp.wrmsr(Msr.IA32_APIC_BASE, 0xfee0_0000n | (1n << 11n))).toEqual({ ok: true });
    expect(lp.rdmsr(Msr.IA32_X2APIC_APICID)).toMatchObject({ ok: false, reason: /x2APIC mode/ });
  });
});

describe("CPUID", () => {
  it("reports GenuineIntel, the family/model and MAXPHYADDR with the KeyID bits included", () => {
    const lp = cpus().lp(7);
    expect(vendorString(lp.cpuid(0))).toBe("GenuineIntel");
    expect(lp.cpuid(1).eax).toBe(0x000806f8); // 06_8F stepping 8
    expect(lp.cpuid(1).ebx >>> 24).toBe(9);
    expect((lp.cpuid(1).ecx >>> CpuidBit.VMX) & 1).toBe(1);
    expect((lp.cpuid(1).ecx >>> CpuidBit.HYPERVISOR) & 1).toBe(0);
    expect((lp.cpuid(7, 0).ecx >>> CpuidBit.TME) & 1).toBe(1);
    expect((lp.cpuid(7, 0).ecx >>> CpuidBit.MOVDIR64B) & 1).toBe(1);
    expect(lp.cpuid(0x80000008).eax).toBe(52 | (57 << 8));
  });

  it("describes the topology in leaf 0xB/0x1F", () => {
    const lp = cpus().lp(9);
    expect(lp.cpuid(0xb, 0)).toEqual({ eax: 1, ebx: 2, ecx: 0x100, edx: 11 });
    expect(lp.cpuid(0x1f, 1)).toEqual({ eax: 3, ebx: 6, ecx: 0x201, edx: 11 });
    expect(lp.cpuid(0x1f, 2).ecx >>> 8).toBe(0);
  });

  it("returns the highest basic leaf for leaves beyond the maximum", () => {
    const lp = cpus().lp(0);
    expect(lp.cpuid(0x40000000)).toEqual(lp.cpuid(0x1f, 0));
    expect(lp.cpuid(0x80000009)).toEqual(lp.cpuid(0x1f, 0));
  });

  it("gives a TD the 'IntelTDX    ' leaf (EBX, EDX, ECX), the hypervisor bit and its GPAW", () => {
    const td = cpus().lp(0).cpuidTable.tdGuestView(52);
    expect(td.get(0).eax).toBeGreaterThanOrEqual(TDX_CPUID_LEAF);
    const l21 = td.get(TDX_CPUID_LEAF, 0);
    expect(vendorString(l21)).toBe("IntelTDX    ");
    expect(l21.ebx).toBe(0x65746e49); // "Inte"
    expect(l21.edx).toBe(0x5844546c); // "lTDX"
    expect(l21.ecx).toBe(0x20202020);
    expect((td.get(1).ecx >>> CpuidBit.HYPERVISOR) & 1).toBe(1);
    expect((td.get(1).ecx >>> CpuidBit.VMX) & 1).toBe(0);
    expect((td.get(0x80000008).eax >>> 16) & 0xff).toBe(52);
    expect(td.withOverrides([{ leaf: 0x21, regs: { eax: 1, ebx: 2, ecx: 3, edx: 4 } }]).get(0x21).eax).toBe(
      1,
    );
  });

  it("knows which models have the partial-write erratum", () => {
    expect(CpuModel.SapphireRapidsX.pwErratum).toBe(true);
    expect(CpuModel.EmeraldRapidsX.pwErratum).toBe(true);
    expect(CpuModel.GraniteRapidsX.pwErratum).toBe(false);
    expect(cpus({ model: CpuModel.EmeraldRapidsX }).lp(0).cpuid(1).eax).toBe(0x000c06f2);
  });
});

describe("modes: VMX, SEAM and TDs", () => {
  it("runs the host -> module -> TD -> module -> host round trip", () => {
    const c = cpus();
    c.loadSeamModule();
    const lp = c.lp(0);
    expect(lp.mode).toBe("legacy");
    expect(lp.vmxon()).toEqual({ kind: "ok", mode: "vmx-root" });
    expect(lp.seamcall()).toEqual({ kind: "ok", mode: "seam-root" });
    expect(lp.vmEnter()).toEqual({ kind: "ok", mode: "seam-non-root" });
    expect(lp.rdmsr(Msr.IA32_TSC)).toEqual({ ok: false, fault: "vm-exit", exitReason: CpuExitReason.RDMSR });
    expect(lp.tdcall()).toEqual({ kind: "ok", mode: "seam-root" });
    expect(lp.vmEnter().kind).toBe("ok");
    expect(lp.vmExit()).toBe("seam-root");
    expect(lp.seamret()).toEqual({ kind: "ok", mode: "vmx-root" });
    expect(lp.vmxoff()).toEqual({ kind: "ok", mode: "legacy" });
  });

  it("SEAMCALL fails as the instruction does: #UD outside VMX, VMfailInvalid without a module, VM exit in a VM", () => {
    const c = cpus();
    const lp = c.lp(1);
    const ud = lp.seamcall();
    expect(ud).toMatchObject({ kind: "fault", name: "#UD", vector: 6 });
    expect(seamcallSwStatus(ud)).toBe(SeamcallSwStatus.UD);
    lp.vmxon();
    const fail = lp.seamcall();
    expect(fail).toMatchObject({ kind: "vmfail-invalid", reason: /no TDX module/ });
    expect(seamcallSwStatus(fail)).toBe(0x8000ff00ffff0000n);
    lp.vmEnter();
    expect(lp.seamcall()).toMatchObject({ kind: "vm-exit", exitReason: 76 });
    expect(lp.tdcall()).toMatchObject({ kind: "vm-exit", exitReason: 77 });
    expect(seamcallSwStatus({ kind: "ok", mode: "seam-root" })).toBeUndefined();
  });

  it("without SEAMRR, SEAMCALL is VMfailInvalid and no module can be loaded", () => {
    const c = cpus({ seamrr: undefined });
    const lp = c.lp(0);
    lp.vmxon();
    expect(lp.seamcall()).toMatchObject({ kind: "vmfail-invalid", reason: /SEAMRR/ });
    expect(() => c.loadSeamModule()).toThrow(/SEAMRR is not configured/);
  });

  it("a TD's SEAMCALL is #UD, and TDCALL outside a TD is #UD", () => {
    const c = cpus();
    c.loadSeamModule();
    const lp = c.lp(2);
    expect(lp.tdcall()).toMatchObject({ kind: "fault", name: "#UD" });
    lp.vmxon();
    lp.seamcall();
    lp.vmEnter();
    expect(lp.seamcall()).toMatchObject({ kind: "fault", name: "#UD", reason: /TD/ });
    expect(lp.seamret()).toMatchObject({ kind: "fault", name: "#UD" });
  });

  it("VMXON needs IA32_FEATURE_CONTROL locked with VMX outside SMX", () => {
    const c = cpus();
    c.lp(0).msrs.poke(Msr.IA32_FEATURE_CONTROL, 1n);
    expect(c.lp(1).vmxon()).toMatchObject({ kind: "fault", name: "#GP" }); // same core: shared MSR
    expect(c.lp(2).vmxon().kind).toBe("ok");
    expect(() => c.lp(3).vmExit()).toThrow(/only a guest/);
  });

  it("validates the SEAMRR configuration", () => {
    expect(() => cpus({ seamrr: { base: 0x1000, size: 0x3000 } })).toThrow(/power of two/);
    expect(() => cpus({ seamrr: { base: 0x1000, size: 0x2000 } })).toThrow(/aligned/);
  });
});
