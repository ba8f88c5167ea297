#!/usr/bin/env node
/**
 * Layering guard for declared dependencies: every @tdx/* dependency in a layer package's
 * package.json must be a layer it may import (tooling/layering/layers.cjs). Exits 1 naming the
 * file and the rule on a violation.
 */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { join } from "node:path";

const require = createRequire(import.meta.url);
const { ALLOWED } = require("./layers.cjs");

export function checkPackageDeps(root) {
  const problems = [];
  const dir = join(root, "packages");
  for (const name of readdirSync(dir)) {
    const file = join(dir, name, "package.json");
    if (!existsSync(file)) continue;
    const pj = JSON.parse(readFileSync(file, "utf8"));
    const me = String(pj.name ?? "").replace(/^@tdx\//, "");
    if (!(me in ALLOWED)) continue;
    const deps = {
      ...pj.dependencies,
      ...pj.peerDependencies,
      ...pj.devDependencies,
      ...pj.optionalDependencies,
    };
    for (const dep of Object.keys(deps)) {
      if (!dep.startsWith("@tdx/")) continue;
      const target = dep.slice(5);
      if (target in ALLOWED && !ALLOWED[me].includes(target)) {
        problems.push(
          `${file}: ${pj.name} depends on ${dep}; rule layer-${me}: may import only ${ALLOWED[me].join(", ") || "no other layer"}`,
        );
      }
    }
  }
  return problems;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const problems = checkPackageDeps(process.cwd());
  for (const p of problems) console.error(`error ${p}`);
  if (problems.length > 0) process.exit(1);
  console.log("package.json layering: ok");
}
