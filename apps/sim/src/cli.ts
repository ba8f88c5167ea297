#!/usr/bin/env node
/**
 * The tdx-sim command line: one commander program, one module per command group under
 * commands/. Bad input exits 2 with a message that says what was wrong.
 */
import { Command, CommanderError } from "commander";
import { registerMmio } from "./commands/mmio";
import { registerRun } from "./commands/run";
import { registerSmmu } from "./commands/smmu";
import { registerSwiotlb } from "./commands/swiotlb";
import { registerVtd } from "./commands/vtd";
import { CliInputError } from "./io";

export function buildProgram(): Command {
  const program = new Command("tdx-sim")
    .description(
      "An executable, spec-faithful model of the Intel TDX confidential-VM I/O stack (and nested Arm SMMUv3).",
    )
    .version("0.0.0")
    .showHelpAfterError()
    .exitOverride();
  registerRun(program);
  registerMmio(program);
  registerSwiotlb(program);
  registerVtd(program);
  registerSmmu(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  try {
    await program.parseAsync(argv, { from: "user" });
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with exit code 0; usage errors with 1 (already printed).
      return err.exitCode === 0 ? 0 : 2;
    }
    if (err instanceof CliInputError) {
      process.stderr.write(`tdx-sim: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
}

const invokedDirectly = process.argv[1] !== undefined && /cli\.(ts|js)$/.test(process.argv[1]);
if (invokedDirectly) {
  // A closed pipe (`tdx-sim ... | head`) ends the program quietly, as other Unix tools do.
  process.stdout.on("error", (err: NodeJS.ErrnoException) => {
    if (err.code === "EPIPE") process.exit(0);
    throw err;
  });
  main(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (err: unknown) => {
      process.stderr.write(
        `tdx-sim: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
      );
      process.exitCode = 70;
    },
  );
}
