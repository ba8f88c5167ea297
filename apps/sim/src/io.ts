/**
 * Shared CLI input/output helpers: reading a file or standard input ("-"), splitting JSON Lines
 * with line numbers, and the typed error every command throws for bad input.
 */
import { readFileSync } from "node:fs";

/** Bad input from the user (file, argument, line). The CLI prints the message and exits 2. */
export class CliInputError extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = "CliInputError";
    this.code = code;
  }
}

/** Read a whole file, or standard input when `path` is "-". */
export function readInput(path: string): string {
  try {
    return readFileSync(path === "-" ? 0 : path, "utf8");
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    throw new CliInputError(
      "E_INPUT_UNREADABLE",
      `cannot read ${path === "-" ? "standard input" : path}: ${why}`,
    );
  }
}

/** One parsed JSON Lines record with its 1-based line number. */
export interface JsonLine {
  readonly line: number;
  readonly value: unknown;
}

/** Parse JSON Lines; blank lines are skipped, a malformed line is an error naming its number. */
export function parseJsonLines(text: string, source: string): JsonLine[] {
  const out: JsonLine[] = [];
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    if (raw === "") continue;
    try {
      out.push({ line: i + 1, value: JSON.parse(raw) });
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      throw new CliInputError("E_INPUT_JSON", `${source}:${i + 1}: not valid JSON (${why})`);
    }
  }
  return out;
}

/** Write one JSON object per line to standard output, buffered into one write. */
export function writeJsonLines(objects: Iterable<unknown>): void {
  const parts: string[] = [];
  for (const o of objects) parts.push(JSON.stringify(o));
  if (parts.length > 0) process.stdout.write(`${parts.join("\n")}\n`);
}
