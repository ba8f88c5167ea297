/**
 * The single source of the layering rules of ../shared/ARCHITECTURE.md: each layer package and
 * the layer packages it may import. Used by .dependency-cruiser.cjs (imports in source files) and
 * by check-package-deps.mjs (dependencies declared in package.json).
 */
/** @type {Record<string, string[]>} package directory -> directories it may import */
const ALLOWED = {
  "hw-cpu-seam": [],
  vtd: ["hw-cpu-seam"],
  "smmu-nested": ["hw-cpu-seam"],
  kvm: ["hw-cpu-seam", "vtd", "smmu-nested"],
  "guest-linux-swiotlb": ["hw-cpu-seam"],
  "ovmf-cciommu": ["hw-cpu-seam", "guest-linux-swiotlb"],
  "qemu-gmem": ["hw-cpu-seam", "kvm", "ovmf-cciommu"],
};
module.exports = { ALLOWED, LAYERS: Object.keys(ALLOWED) };
