/**
 * tdx-sim smmu script FILE: drive one SMMUv3 at register level from a JSON Lines script (format:
 * /work/shared/ARCHITECTURE.md "External contracts"), one JSON answer per line on standard
 * output. The interpreter is @tdx/smmu-nested's; a malformed line is a typed error naming the
 * line (exit 2).
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";
import { runSmmuScript } from "@tdx/smmu-nested";
import type { Command } from "commander";
import { CliInputError, readInput, writeJsonLines } from "../io";

export function registerSmmu(program: Command): void {
  const group = program.command("smmu").description("Drive one SMMUv3 from a JSON Lines script");
  group
    .command("script")
    .description("Drive one SMMUv3 from a JSON Lines script")
    .argument("<file>", 'script file (JSON Lines), or "-" for standard input')
    .action((file: string) => {
      const text = readInput(file);
      let answers: ReturnType<typeof runSmmuScript>;
      try {
        answers = runSmmuScript(text, file === "-" ? "stdin" : file);
      } catch (err) {
        if (err instanceof TdxSimError) throw new CliInputError(err.code, err.message);
        throw err;
      }
      writeJsonLines(answers);
    });
}
