/**
 * The security probe, run by the provisional host while the TD idles: what a malicious host and
 * its device can and cannot do to the TD's private memory.
 * - The host edits its own IOMMU table: the leaf of an IOVA the device legitimately holds (the
 *   first page of the TD's SWIOTLB pool) now points at the TD's secret page — first with the TD's
 *   private KeyID in the address, then with KeyID 0 (the same physical lines, TD-owned). The
 *   device then writes and reads that IOVA through VT-d. The TDX rules of the unit block the
 *   private-KeyID output (fault 0xF0) and any device write to TD-owned lines (0xF2); a read through
 *   KeyID 0 returns no TD data. The host's fault handler reads the fault records.
 * - The host CPU reads the secret page: through KeyID 0 it sees zeros (TD-owned lines), through
 *   the TD's private KeyID the access is refused (host software may not use private KeyIDs).
 * The leaf is restored afterwards; the TD checks its secret when it wakes.
 *
 * @spec shared/reference/vtd.md §7.1 (devices never reach private memory; output with a private
 *   KeyID aborted, model-specific code); packages/vtd src/tdx/tdx-policy.ts (0xF0 private KeyID,
 *   0xF2 TD-owned lines); shared/reference/tdx-module.md §5.4 (private KeyIDs: SEAM only)
 */
import { Initiator, MemStatus, TdxSimError } from "@tdx/hw-cpu-seam";
import { faultReasonName } from "@tdx/vtd";
import { hex } from "../trace/names";
import { NO_TRACE, type Tracer } from "../trace/tracer";
import { PAGE, TdLayout } from "./layout";
import type { ProvisionalHost } from "./provisional-host";

/** Bytes each probe moves. */
export const PROBE_BYTES = 64;
/** What the malicious device writes. */
export const PROBE_FILL = 0xee;

export interface ProbeAttempt {
  readonly attempt: string;
  readonly access: "read" | "write";
  readonly iova: number;
  /** The address the host put in the leaf (KeyID bits included) and its KeyID. */
  readonly targetHpa: number;
  readonly keyId: number;
  readonly blocked: boolean;
  readonly faultCode?: number;
  readonly faultName?: string;
  /** For reads that went through: whether the device saw only zeros. */
  readonly sawOnlyZeros?: boolean;
}

export interface HostCpuRead {
  readonly keyId: number;
  readonly status: string;
  readonly sawOnlyZeros: boolean;
}

export interface FaultRecordView {
  readonly reason: number;
  readonly reasonName: string;
  readonly sid: number;
  readonly address: number;
  readonly write: boolean;
}

export interface SecurityProbeResult {
  readonly victimGpa: number;
  readonly attempts: ProbeAttempt[];
  readonly faultRecords: FaultRecordView[];
  readonly hostCpuReads: HostCpuRead[];
  /** The IOVA's leaf was put back to its shared backing. */
  readonly restored: boolean;
}

const STATUS_NAMES = new Map<number, string>(Object.entries(MemStatus).map(([k, v]) => [v, k]));

/** The trace records each attempt as a slice on the host track and each outcome as an instant. */
export function runSecurityProbe(host: ProvisionalHost, trace: Tracer = NO_TRACE): SecurityProbeResult {
  const mem = host.memory;
  const keyUnit = 2 ** (mem.physAddrBits - mem.keyIdBits);
  const victim = host.td.pages.data.get(TdLayout.SECRET);
  if (!victim) {
    throw new TdxSimError(
      "E_SCENARIO_PROBE",
      `the TD's secret page (GPA 0x${TdLayout.SECRET.toString(16)}) has no private backing to aim at`,
    );
  }
  const iova = TdLayout.SWIOTLB_LOW;
  const original = host.backingOf(iova);
  const attempts: ProbeAttempt[] = [];
  const faultRecords: FaultRecordView[] = [];
  const device = host.device;

  // The host's fault interrupt handler (dmar_fault) runs after each fault event.
  const service = () => {
    for (const f of host.iommu.serviceFaults()) {
      faultRecords.push({
        reason: f.reason,
        reasonName: faultReasonName(f.reason),
        sid: f.sid,
        address: f.address,
        write: !f.read,
      });
    }
  };
  const outcome = (a: ProbeAttempt) => {
    attempts.push(a);
    if (trace.enabled) {
      trace.instant(
        "probeResult",
        `${a.access}: ${a.blocked ? `blocked ${hex(a.faultCode ?? 0)}` : "went through"}`,
        {
          access: a.access,
          blocked: a.blocked,
          faultCode: a.faultCode === undefined ? "none" : hex(a.faultCode),
        },
      );
    }
  };
  const attack = (attempt: string, keyId: number) => {
    const target = victim.pa + keyId * keyUnit;
    if (trace.enabled)
      trace.begin("probeAttempt", `probe: ${attempt}`, { attempt, keyId, targetHpa: hex(target) });
    host.iommu.rewriteLeaf(iova, target);
    const w = device.dmaWrite(iova, new Uint8Array(PROBE_BYTES).fill(PROBE_FILL));
    outcome({
      attempt,
      access: "write",
      iova,
      targetHpa: target,
      keyId,
      blocked: !w.ok,
      ...(w.ok ? {} : { faultCode: w.fault?.code, faultName: w.fault?.name }),
    });
    service();
    const buf = new Uint8Array(PROBE_BYTES);
    const r = device.dmaRead(iova, buf);
    outcome({
      attempt,
      access: "read",
      iova,
      targetHpa: target,
      keyId,
      blocked: !r.ok,
      ...(r.ok
        ? { sawOnlyZeros: buf.every((b) => b === 0) }
        : { faultCode: r.fault?.code, faultName: r.fault?.name }),
    });
    service();
    if (trace.enabled) trace.end("probeAttempt");
  };
  attack("IOMMU leaf -> TD secret page, TD private KeyID", host.td.hkid);
  attack("IOMMU leaf -> TD secret page, KeyID 0 alias", 0);
  if (original >= 0) host.iommu.rewriteLeaf(iova, original);

  const hostCpuReads: HostCpuRead[] = [];
  for (const keyId of [0, host.td.hkid]) {
    const buf = new Uint8Array(PAGE).fill(0xff);
    const st = mem.read(victim.pa + keyId * keyUnit, buf, Initiator.Host);
    const read: HostCpuRead = {
      keyId,
      status: STATUS_NAMES.get(st) ?? String(st),
      sawOnlyZeros: st === MemStatus.Ok && buf.every((b) => b === 0),
    };
    hostCpuReads.push(read);
    if (trace.enabled)
      trace.instant("probeHostRead", `host CPU read via KeyID ${keyId}: ${read.status}`, read);
  }
  return { victimGpa: TdLayout.SECRET, attempts, faultRecords, hostCpuReads, restored: original >= 0 };
}
