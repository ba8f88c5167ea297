/**
 * tdx-sim swiotlb: the guest's SWIOTLB from the command line (@tdx/guest-linux-swiotlb).
 *
 *   replay FILE   replay a trace (shared/data/swiotlb-traces/README.md format) or an ftrace capture
 *                 of swiotlb_bounced (auto-detected, or --ftrace) on a bounce-buffer policy and write
 *                 one JSON result per operation to standard output (ARCHITECTURE.md "External
 *                 contracts"); --emit-trace writes the converted trace instead.
 *   compare FILE  the same workload under linux, linux-dynamic and cc-swiotlb: a table, or --json.
 *   size          the default pool a TD gets for a RAM size, CPU count and swiotlb= value.
 *
 * Bad input (a malformed line, an unmap of an unknown id, a bad option) is an error naming what
 * was wrong: nothing on standard output, exit 2.
 */
import {
  comparePolicies,
  computeSwiotlbSizing,
  formatComparisonTable,
  formatResult,
  formatTrace,
  ftraceToTrace,
  looksLikeFtrace,
  POLICY_KINDS,
  type PolicyKind,
  parseFtrace,
  parseTrace,
  type ReplayOptions,
  replayTrace,
  type SwiotlbTrace,
} from "@tdx/guest-linux-swiotlb";
import { TdxSimError } from "@tdx/hw-cpu-seam";
import type { Command } from "commander";
import { CliInputError, readInput } from "../io";

interface WorkloadFlags {
  ftrace?: boolean;
  ram?: string;
  cpus?: string;
  swiotlb?: string;
  holdUs?: string;
  minAlignMask?: string[];
  workDelay?: string;
  kccdDelay?: string;
  ccFixPartialSync?: boolean;
}

interface ReplayFlags extends WorkloadFlags {
  policy?: string;
  emitTrace?: boolean;
  stats?: boolean;
}

const UNITS: Record<string, number> = { "": 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30, t: 2 ** 40 };

/** "4G", "512MiB", "65536", "0x1000" -> bytes. */
export function parseSize(text: string, what: string): number {
  const m = /^(0x[0-9a-f]+|\d+)\s*([kmgt]?)(?:i?b)?$/i.exec(text.trim());
  if (!m) {
    throw new CliInputError(
      "E_SWIOTLB_OPTION",
      `${what} "${text}" is not a size: use bytes or K/M/G/T (e.g. 4G, 512M)`,
    );
  }
  const n = m[1]!.toLowerCase().startsWith("0x") ? Number.parseInt(m[1]!, 16) : Number(m[1]);
  const v = n * UNITS[m[2]!.toLowerCase()]!;
  if (!Number.isSafeInteger(v) || v <= 0)
    throw new CliInputError("E_SWIOTLB_OPTION", `${what} "${text}" must be a positive size below 2^53`);
  return v;
}

function parseCount(text: string, what: string, min: number, max: number): number {
  const v = /^\d+$/.test(text.trim()) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(v) || v < min || v > max) {
    throw new CliInputError("E_SWIOTLB_OPTION", `${what} "${text}" must be an integer from ${min} to ${max}`);
  }
  return v;
}

function parseMask(text: string, what: string): number {
  const t = text.trim().toLowerCase();
  const v = /^0x[0-9a-f]+$/.test(t) ? Number.parseInt(t, 16) : /^\d+$/.test(t) ? Number(t) : Number.NaN;
  if (!Number.isSafeInteger(v) || v < 0 || v > 0xffff_ffff) {
    throw new CliInputError(
      "E_SWIOTLB_OPTION",
      `${what} "${text}" must be a mask from 0 to 0xffffffff (hex or decimal)`,
    );
  }
  return v;
}

/** --min-align-mask MASK (every device) or DEV=MASK (repeatable). */
function minAlignMasks(list: readonly string[] | undefined): number | Record<string, number> | undefined {
  if (list === undefined || list.length === 0) return undefined;
  const perDev: Record<string, number> = {};
  let all: number | undefined;
  for (const item of list) {
    const eq = item.lastIndexOf("=");
    if (eq < 0) all = parseMask(item, "--min-align-mask");
    else perDev[item.slice(0, eq)] = parseMask(item.slice(eq + 1), `--min-align-mask ${item.slice(0, eq)}`);
  }
  if (all !== undefined && Object.keys(perDev).length > 0) {
    throw new CliInputError(
      "E_SWIOTLB_OPTION",
      "--min-align-mask: give either one MASK for every device or DEV=MASK pairs, not both",
    );
  }
  return all ?? perDev;
}

/** Read FILE as a trace, or as an ftrace capture converted with the pool the flags describe. */
function loadWorkload(file: string, flags: WorkloadFlags): SwiotlbTrace {
  const text = readInput(file);
  const source = file === "-" ? "stdin" : file;
  if (!(flags.ftrace ?? looksLikeFtrace(text))) return parseTrace(text, source);
  const capture = parseFtrace(text, source);
  const maxCpu = capture.events.reduce((m, e) => Math.max(m, e.cpu), 0);
  const cpus =
    flags.cpus !== undefined ? parseCount(flags.cpus, "--cpus", 1, 8192) : (capture.headerCpus ?? maxCpu + 1);
  const sizing = computeSwiotlbSizing({
    ramBytes: flags.ram !== undefined ? parseSize(flags.ram, "--ram") : 2 ** 30,
    possibleCpus: cpus,
    ...(flags.swiotlb !== undefined ? { cmdline: flags.swiotlb } : {}),
  });
  if (!sizing.enabled) {
    throw new CliInputError(
      "E_SWIOTLB_OPTION",
      `this configuration has no SWIOTLB pool (${sizing.disabledReason}): nothing to replay on`,
    );
  }
  const masks = minAlignMasks(flags.minAlignMask);
  return ftraceToTrace(
    capture,
    {
      nslabs: sizing.nslabs,
      nareas: sizing.nareas,
      ...(flags.holdUs !== undefined
        ? { holdUs: parseCount(flags.holdUs, "--hold-us", 0, 3_600_000_000) }
        : {}),
      ...(masks !== undefined ? { minAlignMask: masks } : {}),
    },
    source,
  );
}

function replayOptions(flags: WorkloadFlags): Omit<ReplayOptions, "policy"> {
  return {
    ...(flags.workDelay !== undefined
      ? { workDelayOps: parseCount(flags.workDelay, "--work-delay", 0, 1e9) }
      : {}),
    ...(flags.kccdDelay !== undefined
      ? { kccdDelayOps: parseCount(flags.kccdDelay, "--kccd-delay", 0, 1e9) }
      : {}),
    ...(flags.ccFixPartialSync ? { ccFixPartialSync: true } : {}),
  };
}

function policyOf(text: string | undefined): PolicyKind {
  const p = text ?? "linux";
  if (!(POLICY_KINDS as readonly string[]).includes(p)) {
    throw new CliInputError(
      "E_SWIOTLB_OPTION",
      `--policy "${p}" is not allowed: use ${POLICY_KINDS.join(", ")}`,
    );
  }
  return p as PolicyKind;
}

/** Run `f`, turning the library's input errors into CLI input errors (exit 2). */
function guarded<T>(f: () => T): T {
  try {
    return f();
  } catch (err) {
    if (err instanceof TdxSimError) throw new CliInputError(err.code, err.message);
    throw err;
  }
}

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function workloadOptions(cmd: Command): Command {
  return cmd
    .option("--ftrace", "read FILE as an ftrace capture of swiotlb:swiotlb_bounced (default: auto-detect)")
    .option(
      "--ram <size>",
      "ftrace: guest RAM for the default pool size (6 % rule), e.g. 4G (default 1G: 64 MiB)",
    )
    .option(
      "--cpus <n>",
      "ftrace: possible CPUs, for the area count (default: the capture's #P, else highest CPU + 1)",
    )
    .option("--swiotlb <value>", "ftrace: the swiotlb= kernel parameter value, e.g. 131072,8")
    .option(
      "--hold-us <n>",
      "ftrace: how long each mapping stays live in µs (the tracepoint has no unmaps; default 1000)",
    )
    .option(
      "--min-align-mask <mask>",
      "ftrace: min_align_mask for every device, or DEV=MASK (repeatable)",
      collect,
    )
    .option(
      "--work-delay <ops>",
      "linux-dynamic: operations before the pool-growth work item runs (default 16)",
    )
    .option(
      "--kccd-delay <ops>",
      "cc-swiotlb: operations before the refill thread runs after a wake-up (default 16)",
    )
    .option(
      "--cc-fix-partial-sync",
      "cc-swiotlb: copy partial syncs from the matching offset (the RFC does not)",
    );
}

export function registerSwiotlb(program: Command): void {
  const group = program
    .command("swiotlb")
    .description("The guest's SWIOTLB: replay traces, compare bounce-buffer policies, size the pool");

  workloadOptions(
    group
      .command("replay")
      .description(
        "Replay a SWIOTLB trace (JSON Lines: a {nslabs,nareas} header, then map/unmap operations) or an ftrace capture " +
          'of swiotlb_bounced, and write one JSON result per operation: {id,offset}, {id,error:"full"}, {id,ok:true}; ' +
          '{id,error:"not-mapped"} answers the unmap of a map that failed in this run. Offsets are relative to the ' +
          "default pool (linux policies) or the cc-swiotlb arena. Malformed lines and unmaps of unknown ids: exit 2.",
      )
      .argument("<file>", 'the trace or capture, or "-" for standard input')
      .option(
        "--policy <name>",
        "linux (default, one static pool), linux-dynamic (CONFIG_SWIOTLB_DYNAMIC) or cc-swiotlb",
      )
      .option("--emit-trace", "write the (converted) trace instead of replaying it")
      .option("--stats", "also print the policy's figures and kernel log to standard error"),
  ).action((file: string, flags: ReplayFlags) => {
    const policy = policyOf(flags.policy);
    const trace = guarded(() => loadWorkload(file, flags));
    if (flags.emitTrace) {
      process.stdout.write(formatTrace(trace));
      return;
    }
    const run = guarded(() => replayTrace(trace, { ...replayOptions(flags), policy }));
    if (run.results.length > 0) process.stdout.write(`${run.results.map(formatResult).join("\n")}\n`);
    if (flags.stats) {
      process.stderr.write(`${JSON.stringify(run.stats)}\n`);
      for (const l of run.log) process.stderr.write(`${l}\n`);
    }
  });

  workloadOptions(
    group
      .command("compare")
      .description(
        "Run one workload (trace or ftrace capture) under linux, linux-dynamic and cc-swiotlb and print their memory " +
          "reserved, peak use, failures, copies and conversions side by side.",
      )
      .argument("<file>", 'the trace or capture, or "-" for standard input')
      .option("--json", "one JSON object per policy instead of a table"),
  ).action((file: string, flags: WorkloadFlags & { json?: boolean }) => {
    const trace = guarded(() => loadWorkload(file, flags));
    const rows = guarded(() => comparePolicies(trace, replayOptions(flags)));
    if (flags.json) {
      process.stdout.write(
        `${rows.map((r) => JSON.stringify({ ...r.stats, skippedUnmaps: r.skippedUnmaps, warnings: r.warnings })).join("\n")}\n`,
      );
    } else {
      process.stdout.write(`${formatComparisonTable(rows)}\n`);
    }
  });

  group
    .command("size")
    .description(
      "The default SWIOTLB pool of a TD: 6 % of RAM within 64 MiB - 1 GiB, swiotlb=, areas, below-4-GiB fallback",
    )
    .requiredOption("--ram <size>", "guest RAM (memblock_phys_mem_size), e.g. 16G")
    .option("--cpus <n>", "possible CPUs (default 1)")
    .option("--swiotlb <value>", "the swiotlb= kernel parameter value")
    .option("--low-mem <size>", "largest free contiguous block below 4 GiB (default: unlimited)")
    .option("--no-encryption", "a guest without memory encryption (not a TD)")
    .action(
      (flags: { ram: string; cpus?: string; swiotlb?: string; lowMem?: string; encryption: boolean }) => {
        const sizing = guarded(() =>
          computeSwiotlbSizing({
            ramBytes: parseSize(flags.ram, "--ram"),
            possibleCpus: flags.cpus !== undefined ? parseCount(flags.cpus, "--cpus", 1, 8192) : 1,
            memEncrypted: flags.encryption,
            ...(flags.swiotlb !== undefined ? { cmdline: flags.swiotlb } : {}),
            ...(flags.lowMem !== undefined ? { lowMemFreeBytes: parseSize(flags.lowMem, "--low-mem") } : {}),
          }),
        );
        process.stdout.write(`${JSON.stringify(sizing)}\n`);
      },
    );
}
