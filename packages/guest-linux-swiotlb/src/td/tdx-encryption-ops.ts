/**
 * The SWIOTLB and DMA layers' conversions inside a TD: the guest-code form
 * (`MemoryEncryptionGuestOps`) over the TDX guest's set_memory_decrypted / set_memory_encrypted
 * (MapGPA, which exits to the VMM; acceptance when going private), keeping the kernel's record of
 * shared pages (`SharedPageMap`, the PTE shared bit) as __set_memory_enc_pgtable() leaves it:
 * to shared, the PTEs change before MapGPA and stay changed even if it fails; to private, MapGPA
 * and acceptance come first and the PTEs change only when both succeeded.
 *
 * @spec shared/reference/kvm-guest-qemu.md §3.5 (prepare/finish hooks and their order), §3.7;
 *   torvalds/linux arch/x86/mm/pat/set_memory.c __set_memory_enc_pgtable(), arch/x86/coco/tdx/
 *   tdx.c tdx_enc_status_change_prepare/finish()
 */
import { type GuestOp, PAGE_SIZE } from "@tdx/hw-cpu-seam";
import type { ConversionStatus, MemoryEncryptionGuestOps } from "../memory/conversion";
import { setMemoryDecrypted, setMemoryEncrypted } from "../tdx-guest/conversion";
import type { TdxVcpu } from "../tdx-guest/vcpu";
import type { SharedPageMap } from "./shared-pages";

export class TdxGuestEncryptionOps implements MemoryEncryptionGuestOps {
  constructor(
    readonly vcpu: TdxVcpu,
    readonly pages: SharedPageMap,
  ) {}

  *setMemoryDecryptedOp(gpa: number, numPages: number): GuestOp<ConversionStatus> {
    const st = yield* setMemoryDecrypted(this.vcpu, gpa, numPages);
    // The shared bit went into the PTEs before MapGPA (the finish hook); a failure leaves it.
    this.pages.set(gpa - (gpa % PAGE_SIZE), numPages, true);
    return st;
  }

  *setMemoryEncryptedOp(gpa: number, numPages: number): GuestOp<ConversionStatus> {
    const st = yield* setMemoryEncrypted(this.vcpu, gpa, numPages);
    // The prepare hook (MapGPA, accept) runs first; on failure the PTEs keep the shared bit.
    if (st === 0) this.pages.set(gpa - (gpa % PAGE_SIZE), numPages, false);
    return st;
  }
}
