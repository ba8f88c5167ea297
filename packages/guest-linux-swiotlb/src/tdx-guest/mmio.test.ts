import { Gpr, TdVmcall, VmxExitReason } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { TdxGuest, type TdxGuestOptions } from "./guest";
import { MmioEmulator } from "./mmio";
import { ScriptedTd } from "./scripted-td";
import { TdxVcpu } from "./vcpu";
import { newVeInfo } from "./ve-info";
import type { PtRegs } from "./ve-result";

const RIP = 0x3000;
const SHARED = 2 ** 51;

function emulate(
  bytes: number[],
  setup: (regs: PtRegs) => void,
  opts: TdxGuestOptions = {},
  gpa = SHARED + 0x1000,
) {
  const td = new ScriptedTd({ exitOnVmcall: false });
  td.poke(RIP, [...bytes, ...new Array(15).fill(0x90)]);
  const guest = new TdxGuest(opts);
  guest.assumeInit(52);
  const v = new TdxVcpu(guest, td);
  const regs: PtRegs = { gpr: new BigUint64Array(16), ip: RIP, flags: 2n, userMode: false };
  setup(regs);
  const ve = newVeInfo();
  ve.exitReason = VmxExitReason.EPT_VIOLATION;
  ve.gpa = gpa;
  ve.gla = BigInt(gpa);
  const r = td.run(new MmioEmulator(v).handle(regs, ve, new BigUint64Array(16)));
  if (!r.done) throw new Error(r.fatal);
  return { result: r.value, td, guest };
}

describe("MmioEmulator (handle_mmio) on its own", () => {
  it("refuses MMIO from user mode (-EFAULT) before reading any instruction byte", () => {
    const { result, td } = emulate([0x8b, 0x07], (r) => {
      r.userMode = true;
    });
    expect(result).toEqual({ ok: false, errno: 14, reason: "user-mode-mmio" });
    expect(td.vmcalls(TdVmcall.REQUEST_MMIO)).toHaveLength(0);
  });

  it("adds the FS/GS base to an overridden effective address for the page-split check", () => {
    // mov eax, fs:[rdi] with RDI at 0xffe: splits a page only if FS.base shifts it there
    const split = emulate(
      [0x64, 0x8b, 0x07],
      (r) => {
        r.gpr[Gpr.RDI] = 0xffen;
      },
      { fsBase: 0x1000n },
    );
    expect(split.result).toEqual({ ok: false, errno: 14, reason: "page-split" });
    const fine = emulate([0x65, 0x8b, 0x07], (r) => {
      r.gpr[Gpr.RDI] = 0x1000n;
    });
    expect(fine.result).toEqual({ ok: true, length: 3 });
  });

  it("a 67 prefix truncates the effective address to 32 bits", () => {
    // mov eax, [edi] with RDI = 2^32 + 0xffe: EDI = 0xffe, 4 bytes at 0xffe split the page
    const { result } = emulate([0x67, 0x8b, 0x07], (r) => {
      r.gpr[Gpr.RDI] = 0x100000ffen;
    });
    expect(result).toEqual({ ok: false, errno: 14, reason: "page-split" });
  });

  it("for MOVS the page-split check uses [RAX], as insn_get_addr_ref() does without a ModRM", () => {
    const split = emulate([0xa5], (r) => {
      r.gpr[Gpr.RAX] = 0x1ffen;
    });
    expect(split.result).toEqual({ ok: false, errno: 14, reason: "page-split" });
    const movs = emulate([0xa5], (r) => {
      r.gpr[Gpr.RAX] = 0x1000n;
    });
    expect(movs.result).toEqual({ ok: false, errno: 22, reason: "movs" });
  });
});
