/**
 * tdx-sim smmu: placeholder until the layer behind it lands (it says so and exits 2).
 */
import type { Command } from "commander";
import { CliInputError } from "../io";

export function registerSmmu(program: Command): void {
  const group = program.command("smmu").description("Drive one SMMUv3 from a JSON Lines script");
  group
    .command("script")
    .description("Drive one SMMUv3 from a JSON Lines script")
    .argument("[args...]")
    .action(() => {
      throw new CliInputError("E_NOT_BUILT", "'smmu script' is not built yet");
    });
}
