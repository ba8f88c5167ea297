/**
 * The one build set-up of every layer package: ESM with type declarations for the face and the
 * ./testing subpath; vitest stays external (an optional peer of the contract suites).
 */
import { defineConfig } from "tsup";

export default defineConfig({
  entry: { index: "src/index.ts", "testing/index": "src/testing/index.ts" },
  format: ["esm"],
  dts: true,
  clean: true,
  sourcemap: true,
  target: "node20",
  external: ["vitest"],
});
