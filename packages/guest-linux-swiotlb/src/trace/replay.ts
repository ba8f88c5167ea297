/**
 * Replays a SWIOTLB trace on a bounce-buffer policy and produces the result lines of the trace
 * format (with the default policy, exactly the kernel's), plus the policy's figures and log.
 * Unmapping an id that was never mapped or is already unmapped, and mapping an id twice, are bad
 * input: a TdxSimError naming the line. Unmapping an id whose map failed in this run (a workload
 * recorded on another policy or pool size, or a converted ftrace capture) is answered
 * `{"id","error":"not-mapped"}`: the driver would have seen the failure and not unmapped.
 *
 * Devices: one device per distinct min_align_mask in the trace (segment boundary 0xFFFFFFFF, as
 * the trace README fixes). Offsets are bounce address minus the policy's offset base (the default
 * pool for the Linux policies, the arena start for cc-swiotlb).
 *
 * @spec shared/data/swiotlb-traces/README.md
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";
import { DmaDevice } from "../device";
import { DmaDirection } from "../dma/constants";
import { createPolicy, type PolicyPlatformOptions } from "../policy/factory";
import { BOUNCE_MAP_ERROR, type BouncePolicyStats, BounceStatus, type PolicyKind } from "../policy/types";
import type { SwiotlbTrace, TraceResult } from "./format";

export interface ReplayOptions extends Omit<PolicyPlatformOptions, "kind" | "nslabs" | "nareas"> {
  readonly policy?: PolicyKind;
  /** Direction used for the maps and unmaps (the trace format has none); default bidirectional. */
  readonly direction?: DmaDirection;
}

export interface ReplayRun {
  readonly policy: PolicyKind;
  readonly results: TraceResult[];
  readonly stats: BouncePolicyStats;
  /** Kernel log lines the run produced. */
  readonly log: readonly string[];
}

interface LiveMapping {
  readonly tlb: number;
  readonly size: number;
  readonly dev: DmaDevice;
}

/** Replay every operation of `trace`. */
export function replayTrace(trace: SwiotlbTrace, opts: ReplayOptions = {}): ReplayRun {
  const kind = opts.policy ?? "linux";
  const { policy, offsetBase } = createPolicy({
    ...opts,
    kind,
    nslabs: trace.header.nslabs,
    nareas: trace.header.nareas,
  });
  const dir = opts.direction ?? DmaDirection.Bidirectional;
  const devices = new Map<number, DmaDevice>();
  const deviceFor = (mask: number): DmaDevice => {
    let d = devices.get(mask);
    if (d === undefined) {
      d = new DmaDevice({
        name: `trace-dev-${mask.toString(16)}`,
        driver: "trace",
        minAlignMask: mask,
        segBoundaryMask: 0xffff_ffff,
      });
      devices.set(mask, d);
    }
    return d;
  };
  const live = new Map<string, LiveMapping>();
  /** id -> line of a failed map, and ids already unmapped (line). */
  const failed = new Map<string, number>();
  const done = new Map<string, number>();
  const results: TraceResult[] = [];
  const src = trace.source;
  for (const op of trace.ops) {
    if (op.op === "map") {
      if (live.has(op.id) || failed.has(op.id) || done.has(op.id)) {
        throw new TdxSimError(
          "E_TRACE_DUPLICATE_ID",
          `${src}:${op.line}: id "${op.id}" was already used by an earlier map: ids must be unique`,
        );
      }
      const dev = deviceFor(op.minAlignMask);
      const tlb = policy.mapSingle(dev, op.orig, op.size, op.allocAlignMask, dir, 0, op.cpu);
      if (tlb === BOUNCE_MAP_ERROR) {
        const f = policy.lastFailure;
        if (f?.kind === "copy-fault")
          throw new TdxSimError("E_TRACE_COPY", `${src}:${op.line}: ${f.message}`);
        failed.set(op.id, op.line);
        results.push({ id: op.id, error: "full" });
      } else {
        live.set(op.id, { tlb, size: op.size, dev });
        results.push({ id: op.id, offset: tlb - offsetBase });
      }
    } else {
      const m = live.get(op.id);
      if (m === undefined) {
        if (failed.has(op.id)) {
          failed.delete(op.id);
          done.set(op.id, op.line);
          results.push({ id: op.id, error: "not-mapped" });
          continue;
        }
        const dl = done.get(op.id);
        const why = dl !== undefined ? `it was already unmapped on line ${dl}` : "no earlier map has that id";
        throw new TdxSimError("E_TRACE_UNKNOWN_ID", `${src}:${op.line}: unmap of id "${op.id}": ${why}`);
      }
      const st = policy.unmapSingle(m.dev, m.tlb, m.size, dir, 0);
      if (st === BounceStatus.NotMapped) {
        throw new TdxSimError(
          "E_TRACE_STATE",
          `${src}:${op.line}: the policy does not know the mapping of "${op.id}"`,
        );
      }
      live.delete(op.id);
      done.set(op.id, op.line);
      results.push({ id: op.id, ok: true });
    }
  }
  return { policy: kind, results, stats: policy.stats(), log: policy.log.text() };
}
