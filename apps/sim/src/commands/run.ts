/**
 * tdx-sim run: the default full-platform scenario. The composition of all layers comes with the
 * layer packages; until then it reports which layers are present and what is not built yet.
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
      process.stdout.write("tdx-sim: default platform scenario\n");
      for (const l of report.layers)
        process.stdout.write(`  layer ${l.layer} ${l.name.padEnd(26)} ${l.status}\n`);
      process.stdout.write(`\n${report.summary}\n`);
    });
}
