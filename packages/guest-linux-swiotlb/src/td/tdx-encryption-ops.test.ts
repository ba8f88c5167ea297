/**
 * The TD conversions the DMA layer uses: the TDX guest's MapGPA (and acceptance) plus the kernel's
 * record of shared pages, updated as __set_memory_enc_pgtable() leaves the PTEs on success and
 * failure.
 */
import { Gpr, TdcallLeaf, TdVmcall, TdVmcallStatus } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { TdxGuest } from "../tdx-guest/guest";
import { ScriptedTd } from "../tdx-guest/scripted-td";
import { TdxVcpu } from "../tdx-guest/vcpu";
import { SharedPageMap } from "./shared-pages";
import { TdxGuestEncryptionOps } from "./tdx-encryption-ops";

const SHARED = 2 ** 51;

function setup() {
  const td = new ScriptedTd();
  const guest = new TdxGuest();
  guest.assumeInit(52);
  const pages = new SharedPageMap(16 * 1024 * 1024);
  const ops = new TdxGuestEncryptionOps(new TdxVcpu(guest, td), pages);
  return { td, guest, pages, ops };
}

describe("TdxGuestEncryptionOps", () => {
  it("decrypt: MapGPA of the shared alias (a TD exit), then the pages are mapped shared", () => {
    const { td, pages, ops, guest } = setup();
    expect(td.run(ops.setMemoryDecryptedOp(0x100000, 4))).toEqual({ done: true, value: 0 });
    expect(td.exits).toBe(1);
    expect(td.vmcalls(TdVmcall.MAP_GPA).map((c) => c.regs[Gpr.R12])).toEqual([BigInt(SHARED + 0x100000)]);
    expect([pages.isShared(0x100000), pages.isShared(0x103fff), pages.isShared(0x104000)]).toEqual([
      true,
      true,
      false,
    ]);
    expect([pages.sharedPages, guest.nrShared]).toEqual([4, 4]);
  });

  it("encrypt: MapGPA and acceptance first, then the pages are private again", () => {
    const { td, pages, ops } = setup();
    td.run(ops.setMemoryDecryptedOp(0x100000, 2));
    expect(td.run(ops.setMemoryEncryptedOp(0x100000, 2))).toEqual({ done: true, value: 0 });
    expect(td.calls(TdcallLeaf.MEM_PAGE_ACCEPT).map((c) => c.regs[Gpr.RCX])).toEqual([0x100000n, 0x101000n]);
    expect(pages.sharedPages).toBe(0);
  });

  it("a failed decryption leaves the PTEs shared; a failed encryption keeps them shared", () => {
    const { td, pages, ops } = setup();
    td.vmm = (r) => {
      r[Gpr.R10] = TdVmcallStatus.INVALID_OPERAND;
    };
    expect(td.run(ops.setMemoryDecryptedOp(0x200000, 1))).toEqual({ done: true, value: -5 });
    expect(pages.isShared(0x200000)).toBe(true);
    expect(td.run(ops.setMemoryEncryptedOp(0x200000, 1))).toEqual({ done: true, value: -5 });
    expect(pages.isShared(0x200000)).toBe(true);
  });
});
