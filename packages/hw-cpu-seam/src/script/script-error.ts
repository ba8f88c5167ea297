/**
 * Errors of the register-level script core: one class for every malformed line and every
 * operation a unit cannot take, located by line (and by script name when the caller has one) and
 * carrying the error code of the unit's script dialect (E_VTD_SCRIPT, E_SMMU_SCRIPT, ...).
 */
import { TdxSimError } from "../errors";

/** Where an operation stands: the dialect's error code, its 1-based line, the script's name. */
export interface ScriptLine {
  readonly code: string;
  readonly line: number;
  /** The script's name (a file name, "stdin"), or undefined when the caller has none. */
  readonly source: string | undefined;
}

/** "bad.jsonl:3" when the script has a name, "line 3" when it has none. */
export function scriptLocation(line: number, source: string | undefined): string {
  return source === undefined ? `line ${line}` : `${source}:${line}`;
}

/** A malformed script line, or an operation the unit could not take, with its location. */
export class RegisterScriptError extends TdxSimError {
  readonly line: number;
  readonly source: string | undefined;
  constructor(code: string, line: number, message: string, source?: string) {
    super(code, `${scriptLocation(line, source)}: ${message}`);
    this.line = line;
    this.source = source;
  }
}

/** Throw a RegisterScriptError for the line `at`. */
export function scriptFail(at: ScriptLine, message: string): never {
  throw new RegisterScriptError(at.code, at.line, message, at.source);
}
