/**
 * The one error type layers throw: for misuse and bad input only (architectural outcomes are
 * values). Every error carries a stable `code` and a message saying what was wrong and what is
 * allowed.
 */
export class TdxSimError extends Error {
  readonly code: string;
  readonly _tag = "TdxSimError" as const;
  constructor(code: string, message: string) {
    super(message);
    this.name = "TdxSimError";
    this.code = code;
  }
}

/** Throw a TdxSimError when `cond` is false. */
export function ensure(cond: unknown, code: string, message: string | (() => string)): asserts cond {
  if (!cond) throw new TdxSimError(code, typeof message === "string" ? message : message());
}
