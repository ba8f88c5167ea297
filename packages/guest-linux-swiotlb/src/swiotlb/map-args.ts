/**
 * Argument checks shared by every bounce-buffer policy's map and sync entry points (misuse of the model,
 * not an architectural outcome, so a TdxSimError): a mapping size the kernel's `size_t`-based
 * paths accept and an original buffer inside the physical address space.
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";
import { DmaDirection } from "../dma/constants";

export function checkMapArgs(orig: number, mappingSize: number): void {
  if (!(mappingSize > 0) || mappingSize > 0x7fff_ffff || !Number.isInteger(mappingSize)) {
    throw new TdxSimError(
      "E_SWIOTLB_SIZE",
      `mapping size ${String(mappingSize)} is invalid: 1 to 2^31 - 1 bytes`,
    );
  }
  if (!(orig >= 0 && orig + mappingSize <= 2 ** 52)) {
    throw new TdxSimError(
      "E_SWIOTLB_ADDR",
      `original buffer ${String(orig)}+${mappingSize} is not inside [0, 2^52)`,
    );
  }
}

/** The kernel's BUG_ON for a sync direction other than the three real ones (DMA_NONE). */
export function checkSyncDirection(dir: DmaDirection): void {
  if (
    dir !== DmaDirection.ToDevice &&
    dir !== DmaDirection.FromDevice &&
    dir !== DmaDirection.Bidirectional
  ) {
    throw new TdxSimError(
      "E_DMA_DIRECTION",
      `sync with direction ${String(dir)} is a kernel BUG_ON: use to-device, from-device or bidirectional`,
    );
  }
}
