/**
 * tdx-sim vtd: placeholder until the layer behind it lands (it says so and exits 2).
 */
import type { Command } from "commander";
import { CliInputError } from "../io";

export function registerVtd(program: Command): void {
  const group = program.command("vtd").description("Drive one VT-d unit from a JSON Lines script");
  group
    .command("script")
    .description("Drive one VT-d unit from a JSON Lines script")
    .argument("[args...]")
    .action(() => {
      throw new CliInputError("E_NOT_BUILT", "'vtd script' is not built yet");
    });
}
