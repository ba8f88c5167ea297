#!/usr/bin/env node
/**
 * The tdx-sim executable. In the workspace (sources present) it runs the CLI from TypeScript
 * through tsx with the @tdx/source condition, so no build is needed; an installed package runs
 * the built dist/cli.js.
 */
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const source = join(here, "../src/cli.ts");
const args = process.argv.slice(2);

if (existsSync(source)) {
  const r = spawnSync(process.execPath, ["--conditions=@tdx/source", "--import", "tsx", source, ...args], {
    stdio: "inherit",
  });
  process.exitCode = r.status ?? 1;
} else {
  const { main } = await import("../dist/cli.js");
  process.exitCode = await main(args);
}
