/**
 * Argument checks shared by every bounce-buffer policy's map entry point (misuse of the model,
 * not an architectural outcome, so a TdxSimError): a mapping size the kernel's `size_t`-based
 * paths accept and an original buffer inside the physical address space.
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";

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
