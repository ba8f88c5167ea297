/**
 * tdx-sim mmio: placeholder until the layer behind it lands (it says so and exits 2).
 */
import type { Command } from "commander";
import { CliInputError } from "../io";

export function registerMmio(program: Command): void {
  const group = program
    .command("mmio")
    .description("Decode x86 MMIO instruction bytes (tdx-sim mmio decode HEX... | -)");
  group
    .command("decode")
    .description("Decode x86 MMIO instruction bytes (tdx-sim mmio decode HEX... | -)")
    .argument("[args...]")
    .action(() => {
      throw new CliInputError("E_NOT_BUILT", "'mmio decode' is not built yet");
    });
}
