/**
 * tdx-sim run: the default full-platform scenario. The composition of all layers comes with the
 * host, VMM and firmware layers; until then it reports which layers are built, what each offers,
 * and what is missing.
 */
import type { Command } from "commander";
import { describePlatform } from "../platform";

export function registerRun(program: Command): void {
  program
    .command("run")
    .description("Run the default full-platform scenario (launch a TD, MMIO and DMA, report)")
    .option("--json", "print the report as JSON")
    .action((opts: { json?: boolean }) => {
      const report = describePlatform();
      if (opts.json) {
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        return;
      }
      const lines = ["tdx-sim: default platform scenario", ""];
      for (const l of report.layers) {
        lines.push(`  layer ${l.layer} ${l.name.padEnd(26)} ${l.built ? "built" : "     "}  ${l.offers}`);
      }
      lines.push("", report.summary);
      process.stdout.write(`${lines.join("\n")}\n`);
    });
}
