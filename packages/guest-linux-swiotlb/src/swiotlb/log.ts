/**
 * The kernel log lines the SWIOTLB and DMA layers emit, kept in order so operators see what a
 * real guest would print. "Once" messages are printed once per log; rate-limited messages are all
 * counted, and text is kept up to a line limit (the kernel's ratelimit of 10 lines per 5 s is not
 * modelled: runs have no wall clock).
 *
 * @spec shared/reference/swiotlb.md §b.5 (boot logs), §c.5 (full message), §d.2 (overflow warning)
 */

export type LogLevel = "info" | "warn";

export interface LogLine {
  readonly level: LogLevel;
  readonly text: string;
}

export class KernelLog {
  readonly lines: LogLine[] = [];
  /** Lines not kept because the limit was reached. */
  dropped = 0;
  private readonly limit: number;
  private readonly onceKeys = new Set<string>();

  constructor(limit = 10_000) {
    this.limit = limit;
  }

  info(text: string): void {
    this.push("info", text);
  }

  warn(text: string): void {
    this.push("warn", text);
  }

  /** pr_warn_once / dev_WARN_ONCE: only the first call with this key prints. */
  once(key: string, level: LogLevel, text: string): void {
    if (this.onceKeys.has(key)) return;
    this.onceKeys.add(key);
    this.push(level, text);
  }

  /** The kept lines' text, in order. */
  text(): string[] {
    return this.lines.map((l) => l.text);
  }

  private push(level: LogLevel, text: string): void {
    if (this.lines.length >= this.limit) {
      this.dropped++;
      return;
    }
    this.lines.push({ level, text });
  }
}
