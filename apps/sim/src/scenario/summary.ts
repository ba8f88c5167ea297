/**
 * The readable summary `tdx-sim run` prints: one block per concern, figures from the report only.
 */
import type { ScenarioReport } from "./report";

const n = (v: number) => v.toLocaleString("en-US");
const us = (v: number) => `${v.toLocaleString("en-US", { maximumFractionDigits: 1 })} µs`;

function list(rec: Record<string, number>, limit = 6): string {
  const e = Object.entries(rec).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const shown = e.slice(0, limit).map(([k, v]) => `${k} ${n(v)}`);
  if (e.length > limit) shown.push(`+${e.length - limit} more`);
  return shown.join(", ");
}

const total = (rec: Record<string, number>) => Object.values(rec).reduce((a, b) => a + b, 0);

function endText(r: ScenarioReport): string {
  const e = r.end;
  if (e.kind === "halted") return "halted";
  if (e.kind === "fatal") return `guest reported a fatal error: ${e.message}`;
  if (e.kind === "unexpected-exit") return `stopped: ${e.detail}`;
  return `stopped after ${n(e.exits)} exits`;
}

function integrityText(c: { transfers: number; bytes: number; mismatches: number }): string {
  return `${n(c.transfers)} transfers, ${n(c.bytes)} B, ${c.mismatches === 0 ? "byte-exact" : `${n(c.mismatches)} MISMATCHED`}`;
}

export function formatSummary(r: ScenarioReport): string {
  const c = r.counts;
  const o = r.options;
  const sec = r.security;
  const L: string[] = [];
  L.push(
    `tdx-sim run: default platform scenario (seed ${o.seed}; ${n(o.dmaCount)} DMA transfers of ${n(o.dmaSize)} B each way; VT-d ${o.iommu})`,
  );
  L.push(`note: ${r.notModelled}`, "");
  L.push(
    `TD        HKID ${r.td.hkid}, GPAW ${r.td.gpaw ?? "?"} (shared bit ${r.td.sharedBit}), 1 vCPU, ${n(r.td.ramBytes / 1048576)} MiB; ${endText(r)}`,
  );
  L.push(`          MRTD ${r.td.mrtd}`);
  L.push(`launch    ${n(c.seamcalls.launchTotal)} SEAMCALLs: ${list(c.seamcalls.launch, 5)}`);
  L.push(`run       ${n(c.seamcalls.runTotal)} SEAMCALLs: ${list(c.seamcalls.run, 5)}`);
  L.push(`          TD exits ${n(total(c.tdExits))} (${list(c.tdExits)}); TDVMCALLs: ${list(c.tdvmcalls)}`);
  L.push(
    `          #VEs ${n(total(c.ves))} (${list(c.ves) || "none"})${c.vesFailed ? `, ${n(c.vesFailed)} failed` : ""}`,
  );
  L.push(
    `MapGPA    ${n(c.mapGpa.calls)} calls (${n(c.mapGpa.userspaceExits)} userspace exits): ${n(c.mapGpa.pagesToShared)} pages to shared, ${n(c.mapGpa.pagesToPrivate)} to private; ${n(c.accepted.pages4k)} accepted`,
  );
  L.push(
    `MMIO      ${n(c.mmio.roundTrips)} round trips (${n(c.mmio.reads)} reads, ${n(c.mmio.writes)} writes): #VE -> TDVMCALL -> host -> device; device ID ${r.guest.deviceId ?? "not read"}`,
  );
  L.push(
    `SWIOTLB   ${n(c.swiotlb.poolBytes / 1024)} KiB pool; ${n(c.swiotlb.maps)} maps, ${n(c.swiotlb.bounces)} bounces, ${n(c.swiotlb.bytesBounced)} B bounced, hiwater ${n(c.swiotlb.hiwaterSlots)} slots${c.swiotlb.mapFailures ? `, ${n(c.swiotlb.mapFailures)} MAP FAILURES` : ""}`,
  );
  L.push(
    `VT-d      ${n(c.vtd.translations)} translations (${n(c.vtd.iotlbHits)} IOTLB hits, ${n(c.vtd.iotlbMisses)} walks of ${n(c.vtd.walkReads)} reads); ${n(c.vtd.faults)} faults; ${n(c.vtd.invalidationRequests)} invalidations; ${n(c.vtd.pagesMapped)} pages mapped`,
  );
  L.push(`DMA       to device: ${integrityText(r.dma.toDevice)}`);
  L.push(`          from device: ${integrityText(r.dma.fromDevice)}`);
  L.push(
    `          coherent: ${r.dma.coherent.bytesEachWay} B each way, ${r.dma.coherent.mismatches === 0 ? "byte-exact" : "MISMATCHED"}, ${r.dma.coherent.freed ? "freed" : "NOT freed"}`,
  );
  sec.attempts.forEach((a, i) => {
    const what = a.blocked
      ? `blocked, fault 0x${(a.faultCode ?? 0).toString(16)}`
      : a.sawOnlyZeros
        ? "went through, saw only zeros"
        : "went through, SAW DATA";
    const label = i === 0 ? "security  " : "          ";
    L.push(
      `${label}device ${a.access} via ${a.attempt.replace(/^IOMMU leaf -> TD secret page, /, "")}: ${what}`,
    );
  });
  for (const h of sec.hostCpuReads) {
    L.push(
      `          host CPU read of the TD page with KeyID ${h.keyId}: ${h.status}${h.status === "Ok" ? (h.sawOnlyZeros ? ", zeros" : ", SAW DATA") : ""}`,
    );
  }
  L.push(
    `          ${n(sec.faultRecords.length)} VT-d fault records read; TD secret ${sec.tdSecretIntact ? "intact" : "CHANGED"}`,
  );
  const t = r.time;
  const top = Object.entries(t.run.breakdownNs)
    .filter(([, v]) => v > 0)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 4)
    .map(([k, v]) => `${k} ${Math.round((100 * v) / 1000 / t.run.totalUs)}%`)
    .join(", ");
  L.push(`time      predicted ${us(t.run.totalUs)} for the run (${top}) + ${us(t.launch.totalUs)} launch`);
  L.push(
    "          default per-event costs are partly calibrated guesses: see apps/sim/src/scenario/cost-model.ts",
  );
  if (r.guest.errors.length > 0) L.push("", "guest errors:", ...r.guest.errors.map((e) => `  ${e}`));
  return `${L.join("\n")}\n`;
}
