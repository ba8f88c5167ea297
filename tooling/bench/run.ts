/**
 * `pnpm bench [filter] [--quick]`: finds every packages/*\/bench/*.bench.ts and apps/*\/bench/*.bench.ts,
 * runs its suite, prints a table and writes bench/results.json (each figure beside its same-run
 * baseline and ratio).
 */
import { mkdirSync, readdirSync, writeFileSync } from "node:fs";
import { join, relative, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { formatTable, makeReport, runSuite } from "./harness";
import type { BenchResult, BenchSuite } from "./types";

const root = resolve(import.meta.dirname, "../..");

export function findBenchFiles(base: string): string[] {
  const files: string[] = [];
  for (const group of ["packages", "apps"]) {
    const dir = join(base, group);
    for (const pkg of readdirSync(dir)) {
      const benchDir = join(dir, pkg, "bench");
      let entries: string[];
      try {
        entries = readdirSync(benchDir);
      } catch {
        continue;
      }
      for (const f of entries.sort()) if (f.endsWith(".bench.ts")) files.push(join(benchDir, f));
    }
  }
  return files;
}

async function main(argv: string[]): Promise<void> {
  const quick = argv.includes("--quick");
  const filter = argv.find((a) => !a.startsWith("--"));
  const files = findBenchFiles(root).filter(
    (f) => filter === undefined || relative(root, f).includes(filter),
  );
  if (files.length === 0) {
    process.stderr.write(`bench: no benchmark files${filter ? ` match "${filter}"` : ""}\n`);
    process.exitCode = 1;
    return;
  }
  const all: BenchResult[] = [];
  for (const f of files) {
    const mod = (await import(pathToFileURL(f).href)) as { default: BenchSuite };
    process.stderr.write(`bench: ${relative(root, f)} (${mod.default.name})\n`);
    all.push(
      ...(await runSuite(
        mod.default,
        quick ? { timeMs: 100, warmupMs: 30 } : { timeMs: 1000, warmupMs: 200 },
      )),
    );
  }
  const out = join(root, "bench/results.json");
  mkdirSync(join(root, "bench"), { recursive: true });
  writeFileSync(out, `${JSON.stringify(makeReport(all), null, 2)}\n`);
  process.stdout.write(`${formatTable(all)}\n\nwrote ${relative(root, out)}\n`);
}

await main(process.argv.slice(2));
