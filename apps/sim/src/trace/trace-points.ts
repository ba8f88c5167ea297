/**
 * Every trace point of a `tdx-sim run`, declared in one place (in the spirit of QEMU's
 * trace-events files): its category, the track it is drawn on, whether it is a slice, an instant
 * or a counter, and the typed arguments it carries. The scenario's hooks name a point and pass
 * exactly these arguments; the writer adds nothing else. Addresses are lower-case hex strings.
 *
 * Tracks are Chrome trace-event threads (`tid`) of one process (`pid` 1), one per agent that does
 * work in sequence, so that slices nest per track: the host (KVM + QEMU, provisional: SEAMCALLs
 * and exit handling), vCPU 0 (the TD's guest kernel), the emulated device and the VT-d unit.
 *
 * @spec shared/reference/ecosystem.md §3 "Trace export" (Chrome trace-event JSON, ts/dur in µs,
 *   one tid per vCPU/queue/IOMMU, slices nest, M events thread_name/process_name)
 */

/** The trace's one process. */
export const TRACE_PID = 1;
export const TRACE_PROCESS_NAME = "tdx-sim platform (default scenario)";

/** Tracks (Chrome `tid`s). */
export const Track = {
  HOST: 1,
  VCPU0: 2,
  DEVICE: 3,
  VTD: 4,
} as const;
export type Track = (typeof Track)[keyof typeof Track];

/** Track names as the viewer shows them (thread_name metadata), in display order. */
export const TRACK_NAMES: Readonly<Record<Track, string>> = {
  [Track.HOST]: "host: KVM + QEMU (provisional)",
  [Track.VCPU0]: "vCPU 0: TD guest kernel",
  [Track.DEVICE]: "device 0000:00:04.0: DMA engine",
  [Track.VTD]: "VT-d unit",
};

/** A JSON-representable argument value. */
export type ArgValue = string | number | boolean;

/** The arguments of every trace point, by point. */
export interface TraceArgs {
  /** One SEAMCALL the host issued (TDH.VP.ENTER included: it spans the TD's run). */
  seamcall: { leaf: string; lp: number; status: string };
  /** The TD running on vCPU 0, from TDH.VP.ENTER's entry to the TD exit. */
  tdRun: { exit: string };
  /** The host serving one TDG.VP.VMCALL exit. */
  tdvmcall: { subfunction: string; r10: string };
  /** A #VE the guest's handler took (its TDG.VP.VEINFO.GET). */
  ve: { reason: string; exitReason: number; gpa: string };
  /** One TDG.MEM.PAGE.ACCEPT. */
  accept: { gpa: string; level: number; status: string };
  /** One MMIO round trip as the host sees it (#VE.RequestMMIO, KVM_EXIT_MMIO to the VMM). */
  mmio: { gpa: string; size: number; dir: "read" | "write"; value: string; inDevice: boolean };
  /** One MapGPA as the host serves it (KVM's checks, QEMU's kvm_convert_memory per chunk). */
  mapGpa: { start: string; size: number; to: "shared" | "private"; pages: number; status: string };
  /** dma_map_single / dma_unmap_single of a bounced streaming buffer. */
  swiotlbMap: { size: number; dir: string; slotOffset: string; bouncedBytes: number; ok: boolean };
  swiotlbUnmap: { size: number; dir: string; slotOffset: string; bouncedBytes: number; ok: boolean };
  /** The guest kernel's own swiotlb_bounced tracepoint (@tdx/guest-linux-swiotlb onBounced). */
  swiotlbBounced: { dev: string; devAddr: string; size: number; force: boolean };
  /** A register access the device model handled. */
  deviceMmio: { offset: string; size: number; dir: "read" | "write"; value: string };
  /** One DMA the device issued through its IOMMU port. */
  dma: { iova: string; len: number; dir: "read" | "write"; ok: boolean };
  /** The VT-d unit translating one DMA (counts from the unit's translator statistics). */
  vtdTranslate: {
    iova: string;
    len: number;
    write: boolean;
    requests: number;
    iotlbHits: number;
    walks: number;
    walkReads: number;
  };
  /** A fault the VT-d unit reported for a DMA (reason code as the model records it). */
  vtdFault: { reason: string; reasonName: string; iova: string; write: boolean };
  /** An IOTLB / context-cache invalidation the host submitted and waited for. */
  iotlbInvalidation: { kind: string; did: number; iova: string; pages: number };
  /** One attempt of the security probe (the malicious host's leaf rewrite and its DMA). */
  probeAttempt: { attempt: string; keyId: number; targetHpa: string };
  /** The outcome of one probe access. */
  probeResult: { access: "read" | "write"; blocked: boolean; faultCode: string };
  /** The host CPU reading the TD's secret page through a KeyID. */
  probeHostRead: { keyId: number; status: string; sawOnlyZeros: boolean };
  /** Counters. */
  swiotlbSlots: { inUse: number };
  sharedPages: { pages: number };
  /** The writer reached --trace-max-events and stopped. */
  traceCapped: { maxEvents: number };
}

export type TracePointName = keyof TraceArgs;

export type PointKind = "slice" | "instant" | "counter";

export interface TracePointSpec {
  readonly cat: string;
  readonly track: Track;
  readonly kind: PointKind;
}

const slice = (cat: string, track: Track): TracePointSpec => ({ cat, track, kind: "slice" });
const instant = (cat: string, track: Track): TracePointSpec => ({ cat, track, kind: "instant" });
const counter = (cat: string): TracePointSpec => ({ cat, track: Track.HOST, kind: "counter" });

/** The declarations. */
export const TRACE_POINTS: { readonly [K in TracePointName]: TracePointSpec } = {
  seamcall: slice("seamcall", Track.HOST),
  tdRun: slice("td", Track.VCPU0),
  tdvmcall: slice("tdvmcall", Track.HOST),
  ve: slice("ve", Track.VCPU0),
  accept: slice("accept", Track.VCPU0),
  mmio: slice("mmio", Track.HOST),
  mapGpa: slice("mapgpa", Track.HOST),
  swiotlbMap: slice("swiotlb", Track.VCPU0),
  swiotlbUnmap: slice("swiotlb", Track.VCPU0),
  swiotlbBounced: instant("swiotlb", Track.VCPU0),
  deviceMmio: slice("device", Track.DEVICE),
  dma: slice("dma", Track.DEVICE),
  vtdTranslate: slice("vtd", Track.VTD),
  vtdFault: instant("vtd-fault", Track.VTD),
  iotlbInvalidation: slice("vtd", Track.VTD),
  probeAttempt: slice("probe", Track.HOST),
  probeResult: instant("probe", Track.HOST),
  probeHostRead: instant("probe", Track.HOST),
  swiotlbSlots: counter("swiotlb"),
  sharedPages: counter("memory"),
  traceCapped: instant("trace", Track.HOST),
};

/** Counter series names (the `name` of `ph:"C"` events). */
export const COUNTER_NAMES: Readonly<Partial<Record<TracePointName, string>>> = {
  swiotlbSlots: "SWIOTLB slots in use",
  sharedPages: "TD shared pages",
};
