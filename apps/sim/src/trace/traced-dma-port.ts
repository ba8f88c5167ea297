/**
 * VT-d tracing from outside the unit: the device's DeviceDmaPort wrapped so each DMA becomes a
 * translation slice on the VT-d track, with what the unit's translator statistics and fault
 * recorder counted during it (requests, IOTLB hits, walks, walk reads, faults). The slice costs
 * the cost model's `iotlbHitNs` per hit and `walkReadNs` per walk read; each fault the unit
 * reported is an instant event with the fault's reason code. The unit does not expose a per-page
 * trace point, so one DMA (split at page boundaries inside the unit) is one slice.
 *
 * @spec shared/reference/vtd.md §4.2 (fault recording), §8.3 (IOTLB / walk costs: no public
 *   per-operation figure; priced by the cost model)
 */
import type { DeviceDmaPort, DmaRequester, DmaResult } from "@tdx/hw-cpu-seam";
import { hex } from "./names";
import type { Tracer } from "./tracer";

/** What the wrapper reads from the unit: its translator statistics and its fault count. */
export interface TranslationCounters {
  readonly stats: {
    readonly requests: number;
    readonly iotlbHits: number;
    readonly walks: number;
    readonly walkReads: number;
  };
  /** Faults the unit has reported so far (recorded or not). */
  faults(): number;
}

export function tracedDmaPort(port: DeviceDmaPort, unit: TranslationCounters, t: Tracer): DeviceDmaPort {
  if (!t.enabled) return port;
  const traced = (iova: number, len: number, write: boolean, access: () => DmaResult): DmaResult => {
    const s = unit.stats;
    const requests = s.requests;
    const hits = s.iotlbHits;
    const walks = s.walks;
    const reads = s.walkReads;
    const faults = unit.faults();
    t.begin("vtdTranslate", write ? "translate (write)" : "translate (read)", {
      iova: hex(iova),
      len,
      write,
      requests: 0,
      iotlbHits: 0,
      walks: 0,
      walkReads: 0,
    });
    const r = access();
    const dHits = s.iotlbHits - hits;
    const dReads = s.walkReads - reads;
    t.advance(dHits * t.costs.iotlbHitNs + dReads * t.costs.walkReadNs);
    for (let n = unit.faults() - faults; n > 0; n--) {
      const f = r.ok ? undefined : r.fault;
      t.instant("vtdFault", `fault ${f ? hex(f.code) : "?"}`, {
        reason: f ? hex(f.code) : "unknown",
        reasonName: f?.name ?? "unknown",
        iova: hex(f?.iova ?? iova),
        write,
      });
    }
    t.end("vtdTranslate", {
      requests: s.requests - requests,
      iotlbHits: dHits,
      walks: s.walks - walks,
      walkReads: dReads,
    });
    return r;
  };
  return {
    translate: (req, iova, access) => port.translate(req, iova, access),
    dmaRead: (req: DmaRequester, iova: number, dst: Uint8Array) =>
      traced(iova, dst.length, false, () => port.dmaRead(req, iova, dst)),
    dmaWrite: (req: DmaRequester, iova: number, src: Uint8Array) =>
      traced(iova, src.length, true, () => port.dmaWrite(req, iova, src)),
  };
}
