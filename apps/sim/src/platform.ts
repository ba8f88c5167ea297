/**
 * The platform composer: builds physical memory, CPUs, the TDX module, IOMMUs, host, VMM and
 * guest from a scenario. The full composition lands with the layers; this reports their state.
 */
import { PACKAGE_NAME as guest } from "@tdx/guest-linux-swiotlb";
import { PACKAGE_NAME as hw } from "@tdx/hw-cpu-seam";
import { PACKAGE_NAME as kvm } from "@tdx/kvm";
import { PACKAGE_NAME as ovmf } from "@tdx/ovmf-cciommu";
import { PACKAGE_NAME as qemu } from "@tdx/qemu-gmem";
import { PACKAGE_NAME as smmu } from "@tdx/smmu-nested";
import { PACKAGE_NAME as vtd } from "@tdx/vtd";

export interface PlatformReport {
  readonly layers: ReadonlyArray<{ layer: number; name: string; status: string }>;
  readonly summary: string;
}

export function describePlatform(): PlatformReport {
  const names = [hw, vtd, smmu, kvm, guest, ovmf, qemu];
  return {
    layers: names.map((name, i) => ({
      layer: i + 1,
      name,
      status: "package present; composition not built yet",
    })),
    summary:
      "The full-platform simulation (TD launch, MMIO and DMA through emulated and passthrough devices, cost report) is not built yet.",
  };
}
