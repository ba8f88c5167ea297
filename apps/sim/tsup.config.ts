/** Build: the CLI (bin) and the library face, ESM, with the workspace layers bundled from their dist. */
import { defineConfig } from "tsup";

export default defineConfig({
  entry: { cli: "src/cli.ts", index: "src/index.ts" },
  format: ["esm"],
  dts: { entry: { index: "src/index.ts" } },
  clean: true,
  sourcemap: true,
  target: "node20",
  banner: { js: "" },
});
