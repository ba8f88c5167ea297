/**
 * tdx-sim swiotlb: placeholder until the layer behind it lands (it says so and exits 2).
 */
import type { Command } from "commander";
import { CliInputError } from "../io";

export function registerSwiotlb(program: Command): void {
  const group = program.command("swiotlb").description("Replay a SWIOTLB trace");
  group
    .command("replay")
    .description("Replay a SWIOTLB trace")
    .argument("[args...]")
    .action(() => {
      throw new CliInputError("E_NOT_BUILT", "'swiotlb replay' is not built yet");
    });
}
