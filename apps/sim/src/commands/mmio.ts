/**
 * tdx-sim mmio decode HEX... | -: decodes x86 instruction bytes the way Linux's TDX #VE handler
 * does for MMIO and writes one JSON object per instruction, keys in the order of the external
 * contract (ARCHITECTURE.md "External contracts"): hex, kind, size, reg, imm, length. Every input
 * is checked before anything is written, so bad hex gives no partial output (exit 2).
 */
import { decodeMmioInstruction, type MmioInstruction, mmioImmediateHex } from "@tdx/hw-cpu-seam";
import type { Command } from "commander";
import { CliInputError, readInput, writeJsonLines } from "../io";

/** One instruction to decode: its normalised hex and its bytes. */
interface HexInput {
  readonly hex: string;
  readonly bytes: Uint8Array;
}

/**
 * Parse one instruction's hex: pairs of hex digits, spaces allowed between them (objdump style),
 * either case. The normalised form (lower case, no spaces) is what the output echoes.
 */
export function parseInstructionHex(text: string, where: string): HexInput {
  const hex = text.replace(/\s+/g, "").toLowerCase();
  if (hex === "") {
    throw new CliInputError("E_MMIO_HEX", `${where} is empty: give the instruction bytes as hex, e.g. 8907`);
  }
  const bad = /[^0-9a-f]/.exec(hex);
  if (bad) {
    throw new CliInputError(
      "E_MMIO_HEX",
      `${where} "${text.trim()}" is not hex: "${bad[0]}" is not allowed (only 0-9, a-f, A-F and spaces)`,
    );
  }
  if (hex.length % 2 !== 0) {
    throw new CliInputError(
      "E_MMIO_HEX",
      `${where} "${text.trim()}" has an odd number of hex digits (${hex.length}): each byte needs two`,
    );
  }
  const bytes = new Uint8Array(hex.length / 2);
  for (let i = 0; i < bytes.length; i++) bytes[i] = Number.parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return { hex, bytes };
}

/**
 * The output object of one instruction. Keys present: hex and kind always; size and length for
 * every decoded kind; reg for write/read/read-zext/read-sext; imm for write-imm; reason (only with
 * --reason: the UnsupportedReason code) for unsupported.
 */
export function mmioDecodeRecord(
  hex: string,
  d: MmioInstruction,
  withReason = false,
): Record<string, unknown> {
  switch (d.kind) {
    case "unsupported":
      return withReason ? { hex, kind: d.kind, reason: d.reason } : { hex, kind: d.kind };
    case "movs":
      return { hex, kind: d.kind, size: d.size, length: d.length };
    case "write-imm":
      return { hex, kind: d.kind, size: d.size, imm: mmioImmediateHex(d), length: d.length };
    default:
      return { hex, kind: d.kind, size: d.size, reg: d.reg, length: d.length };
  }
}

/** The instructions named by the arguments, with "-" standing for the lines of standard input. */
function collectInputs(args: readonly string[]): HexInput[] {
  if (args.filter((a) => a === "-").length > 1) {
    throw new CliInputError("E_MMIO_ARGS", `"-" (standard input) may be given only once`);
  }
  const inputs: HexInput[] = [];
  args.forEach((arg, i) => {
    if (arg !== "-") {
      inputs.push(parseInstructionHex(arg, `argument ${i + 1}`));
      return;
    }
    const lines = readInput("-").split("\n");
    lines.forEach((line, n) => {
      const t = line.trim();
      if (t === "" || t.startsWith("#")) return;
      inputs.push(parseInstructionHex(t, `standard input line ${n + 1}`));
    });
  });
  return inputs;
}

export function registerMmio(program: Command): void {
  const group = program
    .command("mmio")
    .description("Decode x86 MMIO instruction bytes (tdx-sim mmio decode HEX... | -)");
  group
    .command("decode")
    .description(
      "Decode x86-64 instruction bytes as Linux's TDX #VE handler does for MMIO (insn_decode_mmio). " +
        'Writes one JSON object per instruction, {"hex","kind","size","reg","imm","length"}, where kind is ' +
        "write, write-imm, read, read-zext, read-sext, movs or unsupported. Bytes after the first " +
        "instruction are ignored. On bad hex: an error naming the input, nothing written, exit 2.",
    )
    .argument(
      "<hex...>",
      'instruction bytes as hex (e.g. 8907 or "48 89 07"); "-" reads one per line from stdin',
    )
    .option(
      "--reason",
      'add a "reason" key to unsupported instructions: truncated, too-long, lock-prefix, rex-not-last, ' +
        "segment-overrides, vex, evex, opcode, register-operand or modrm-reg",
    )
    .action((args: string[], opts: { reason?: boolean }) => {
      const inputs = collectInputs(args);
      writeJsonLines(
        inputs.map((x) => mmioDecodeRecord(x.hex, decodeMmioInstruction(x.bytes), opts.reason === true)),
      );
    });
}
