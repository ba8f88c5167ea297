/**
 * tdx-sim vtd script FILE: drives one VT-d unit at register level from a JSON Lines script
 * (reset, mem.write, mem.read, reg.write, reg.read, dma; other ops answered {"ok":true}) and writes
 * one JSON object per operation, in order (ARCHITECTURE.md "External contracts"). The interpreter
 * lives in @tdx/vtd; every line is parsed before anything runs, and a malformed line (or an
 * operation the unit cannot take) is an error naming the line: nothing written, exit 2.
 */
import { runVtdScript, type ScriptRunnerOptions, VtdScriptError } from "@tdx/vtd";
import type { Command } from "commander";
import { CliInputError, readInput, writeJsonLines } from "../io";

interface ScriptFlags {
  faultCodes?: string;
  faultCollapse?: string;
}

function runnerOptions(flags: ScriptFlags): ScriptRunnerOptions {
  const policy: Record<string, string> = {};
  if (flags.faultCodes !== undefined) {
    if (flags.faultCodes !== "scalable" && flags.faultCodes !== "qemu") {
      throw new CliInputError(
        "E_VTD_OPTION",
        `--fault-codes "${flags.faultCodes}" is not allowed: use scalable or qemu`,
      );
    }
    policy.scalableFaultCodes = flags.faultCodes;
  }
  if (flags.faultCollapse !== undefined) {
    if (!["none", "same-sid", "identical"].includes(flags.faultCollapse)) {
      throw new CliInputError(
        "E_VTD_OPTION",
        `--fault-collapse "${flags.faultCollapse}" is not allowed: use none, same-sid or identical`,
      );
    }
    policy.faultCollapse = flags.faultCollapse;
  }
  return { policy };
}

export function registerVtd(program: Command): void {
  const group = program.command("vtd").description("Drive one VT-d unit from a JSON Lines script");
  group
    .command("script")
    .description(
      "Drive one VT-d unit at register level from a JSON Lines script: reset (CAP/ECAP), mem.write, " +
        "mem.read, reg.write, reg.read and dma (device read/write through the unit, no PASID). Writes one " +
        'JSON object per operation; other ops are answered {"ok":true}. Host memory is sparse RAM below ' +
        "2^48. A malformed line: an error naming it, nothing written, exit 2.",
    )
    .argument("<file>", 'the script (JSON Lines), or "-" for standard input')
    .option(
      "--fault-codes <set>",
      "scalable-mode fault reasons: scalable (spec, default) or qemu (legacy codes)",
    )
    .option("--fault-collapse <policy>", "fault collapsing: none (default), same-sid (QEMU) or identical")
    .action((file: string, flags: ScriptFlags) => {
      const text = readInput(file);
      const opts = runnerOptions(flags);
      let out: unknown[];
      try {
        out = runVtdScript(text, opts);
      } catch (err) {
        if (err instanceof VtdScriptError) {
          throw new CliInputError(err.code, `${file === "-" ? "standard input" : file}: ${err.message}`);
        }
        throw err;
      }
      writeJsonLines(out);
    });
}
