/**
 * The host kernel's half of vSVA, in the manner of Linux iommufd nesting on SMMUv3: a stage-2
 * "nesting parent" (guest IPA -> host PA, its own VMID), a vIOMMU holding the vSID -> pSID map
 * (vDEVICEs), nested attachment of a guest's vSTE (only the stage-1 fields the guest may own,
 * merged with the parent's stage 2, Config = nested, MEV), forwarding of the guest's cache
 * invalidations with the VMID and StreamID rewritten, event routing (stalls to the fault queue,
 * forwardable stage-1 events to the vEVENTQ with the vSID, the rest kept by the host), page
 * responses turned into CMD_RESUME, and stage-2 changes followed by the invalidations nesting
 * needs (TLBI_S2_IPA alone leaves combined entries behind).
 *
 * @spec reference/smmu.md §7.3 (accepted vSTE bits, physical STE composition), §7.4 (invalidation
 *   forwarding table), §7.5 (vEVENTQ, forwarded event ids), §7.6 (fault queue, page response),
 *   §4.6 (stage-2 invalidation obligations), §6.5 (the vSVA fault loop); sources: torvalds/linux
 *   drivers/iommu/arm/arm-smmu-v3/arm-smmu-v3-iommufd.c, include/uapi/linux/iommufd.h
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";
import type { TableMemory } from "../alloc";
import { decodeCommand, ResumeAction, type SmmuCommand } from "../commands";
import type { SmmuDriver } from "../driver";
import { EventId, type SmmuEvent } from "../events";
import { s2ConcatenatedTables } from "../granule";
import { PageTable } from "../pgtable";
import { encodeSte, SteConfigKind } from "../ste";
import { GuestRam } from "./guest-ram";

/** vSTE bits a guest may set (dw0, dw1; as [lo, hi] words). */
export const VSTE_DW0_MASK: readonly [number, number] = [0xffffffff, 0xf80fffff];
export const VSTE_DW1_MASK: readonly [number, number] = [0x380000ff, 0x00000000];

/** Event ids a vIOMMU forwards to its guest (with the StreamID rewritten to the vSID). */
export const FORWARDED_EVENTS: ReadonlySet<number> = new Set([
  EventId.C_BAD_STE,
  EventId.F_STREAM_DISABLED,
  EventId.C_BAD_SUBSTREAMID,
  EventId.C_BAD_CD,
  EventId.F_TRANSLATION,
  EventId.F_ADDR_SIZE,
  EventId.F_ACCESS,
  EventId.F_PERMISSION,
]);

/** Errno-style outcome of a host call, as iommufd returns it. */
export type HostResult<T = object> =
  | ({ readonly ok: true } & T)
  | {
      readonly ok: false;
      readonly errno: "EIO" | "ENOENT" | "EINVAL";
      readonly message: string;
      readonly done?: number;
    };

/** The stage-2 parent HWPT: guest RAM mapped at stage 2 under one VMID. */
export interface NestingParent {
  readonly vmid: number;
  readonly s2: PageTable;
  readonly guest: GuestRam;
  /** STE fields the parent contributes (S2VMID, VTCR, S2TTB, S2AA64, S2R, S2PTW). */
  readonly s2Ste: Readonly<Record<string, number | boolean>>;
}

/** A page fault delivered to user space (iommufd `iommu_hwpt_pgfault`). */
export interface HostPageFault {
  readonly cookie: number;
  readonly vsid: number;
  readonly pasid: number;
  readonly addr: number;
  readonly read: boolean;
  readonly write: boolean;
  readonly exec: boolean;
  readonly priv: boolean;
  /** Group id = the STAG of the stalled transaction. */
  readonly grpid: number;
  /** The physical event behind it. */
  readonly event: SmmuEvent;
}

/** Page response codes (IOMMUFD_PAGE_RESP_*). */
export const PageResponse = { SUCCESS: 0, INVALID: 1 } as const;

export class Viommu {
  readonly vdevices = new Map<number, number>();
  readonly faults: HostPageFault[] = [];
  readonly vevents: SmmuEvent[] = [];
  /** Outstanding page faults by cookie. */
  readonly pending = new Map<number, { psid: number; stag: number }>();
  constructor(
    readonly id: number,
    readonly parent: NestingParent,
  ) {}
  psidOf(vsid: number): number | undefined {
    return this.vdevices.get(vsid);
  }
  vsidOf(psid: number): number | undefined {
    for (const [v, p] of this.vdevices) if (p === psid) return v;
    return undefined;
  }
}

export class VsvaHost {
  private readonly viommus: Viommu[] = [];
  private nextCookie = 1;
  /** Events the host kept (stage-2 faults, unowned streams, non-forwarded ids). */
  readonly hostLog: SmmuEvent[] = [];
  /** Every command the host issued on the physical queue on a guest's behalf, decoded. */
  readonly forwardLog: SmmuCommand[] = [];

  constructor(
    readonly driver: SmmuDriver,
    readonly host: TableMemory,
  ) {}

  /**
   * IOMMU_HWPT_ALLOC(NEST_PARENT): a 4 KiB-granule stage 2 over `inputBits` of IPA, with guest RAM
   * [ipaBase, ipaBase + size) backed by fresh host pages.
   */
  createNestingParent(vmid: number, ipaBase: number, size: number, inputBits = 40): NestingParent {
    const f = this.driver.features;
    if (!f.s1p || !f.s2p) throw new TdxSimError("E_VSVA", "nesting needs a unit with both S1P and S2P");
    const start = [2, 1, 0].find((l) => s2ConcatenatedTables(12, l, inputBits) !== 0) ?? 0;
    const s2 = new PageTable(this.host, { stage: 2, g: 12, inputBits, startLevel: start });
    const guest = new GuestRam(this.host, s2, ipaBase, size);
    const s2Ste = {
      s2Vmid: vmid,
      s2T0sz: 64 - inputBits,
      s2Sl0: 2 - start,
      s2Tg: 0,
      s2Ps: 5,
      s2Aa64: true,
      s2R: true,
      s2Ptw: true,
      s2Ttb: s2.root,
    };
    return { vmid, s2, guest, s2Ste };
  }

  /** IOMMU_VIOMMU_ALLOC on a nesting parent. */
  allocViommu(parent: NestingParent): Viommu {
    const v = new Viommu(this.viommus.length + 1, parent);
    this.viommus.push(v);
    return v;
  }

  /** IOMMU_VDEVICE_ALLOC: bind physical StreamID `psid` to virtual `vsid`. Starts as abort. */
  vdeviceAlloc(v: Viommu, psid: number, vsid: number): HostResult {
    if (v.vdevices.has(vsid))
      return { ok: false, errno: "EINVAL", message: `vSID ${vsid} already has a vDEVICE` };
    v.vdevices.set(vsid, psid);
    this.driver.installSte(psid, encodeSte({ v: true, config: SteConfigKind.ABORT }));
    return { ok: true };
  }

  /**
   * IOMMU_HWPT_ALLOC on the vIOMMU with the guest's vSTE dw0-dw1 (4 words), then attach. Bits
   * outside the accepted masks, or Config/EATS values a guest may not use, give EIO. V = 0 is
   * normalised to a zero STE, so the guest still sees C_BAD_STE.
   */
  attachNested(v: Viommu, vsid: number, vste: ArrayLike<number>): HostResult {
    const psid = v.psidOf(vsid);
    if (psid === undefined) return { ok: false, errno: "ENOENT", message: `no vDEVICE for vSID ${vsid}` };
    const w0 = vste[0]! >>> 0;
    const w1 = vste[1]! >>> 0;
    const w2 = vste[2]! >>> 0;
    const w3 = vste[3]! >>> 0;
    if ((w0 & 1) === 0) {
      this.driver.installSte(psid, new Uint32Array(16));
      return { ok: true };
    }
    if (
      (w0 & ~VSTE_DW0_MASK[0]) !== 0 ||
      (w1 & ~VSTE_DW0_MASK[1]) !== 0 ||
      (w2 & ~VSTE_DW1_MASK[0]) !== 0 ||
      w3 !== 0
    ) {
      this.driver.installSte(psid, new Uint32Array(16));
      return { ok: false, errno: "EIO", message: "vSTE sets bits a guest may not control" };
    }
    const config = (w0 >>> 1) & 7;
    const eats = (w2 >>> 28) & 3;
    if (
      eats > 1 ||
      (config !== SteConfigKind.ABORT && config !== SteConfigKind.BYPASS && config !== SteConfigKind.S1_TRANS)
    ) {
      this.driver.installSte(psid, new Uint32Array(16));
      return {
        ok: false,
        errno: "EIO",
        message: `vSTE Config ${config} / EATS ${eats} is not allowed for a guest`,
      };
    }
    const p = v.parent.s2Ste;
    let ste: Uint32Array;
    if (config === SteConfigKind.ABORT) ste = encodeSte({ v: true, config: SteConfigKind.ABORT });
    else if (config === SteConfigKind.BYPASS)
      ste = encodeSte({ v: true, config: SteConfigKind.S2_TRANS, ...p });
    else {
      ste = encodeSte({ v: true, config: SteConfigKind.NESTED, ...p, mev: true, eats });
      ste[0] = (ste[0]! | (w0 & 0xfffffff0)) >>> 0; // S1Fmt, S1ContextPtr[31:6]
      ste[1] = (ste[1]! | w1) >>> 0; // S1ContextPtr[51:32], S1CDMax
      ste[2] = (ste[2]! | (w2 & 0x080000ff)) >>> 0; // S1DSS, S1CIR/COR/CSH, S1STALLD
    }
    this.driver.installSte(psid, ste);
    return { ok: true };
  }

  /**
   * IOMMU_HWPT_INVALIDATE on a vIOMMU: raw guest commands, forwarded one by one with the VMID
   * replaced by the parent's and vSIDs replaced by pSIDs (TLBI_NSNH_ALL becomes TLBI_NH_ALL of the
   * VMID); any other command is EIO. `done` counts the commands that went through.
   */
  invalidate(v: Viommu, cmds: readonly ArrayLike<number>[]): HostResult<{ done: number }> {
    const out: SmmuCommand[] = [];
    const vmid = v.parent.vmid;
    for (let i = 0; i < cmds.length; i++) {
      const c = decodeCommand(cmds[i]!);
      let phys: SmmuCommand | undefined;
      switch (c.op) {
        case "TLBI_NSNH_ALL":
          phys = { op: "TLBI_NH_ALL", vmid };
          break;
        case "TLBI_NH_ALL":
        case "TLBI_NH_ASID":
        case "TLBI_NH_VA":
        case "TLBI_NH_VAA":
          phys = { ...c, vmid };
          break;
        case "ATC_INV":
        case "CFGI_CD":
        case "CFGI_CD_ALL": {
          const psid = v.psidOf(c.sid);
          if (psid !== undefined) phys = { ...c, sid: psid };
          break;
        }
        default:
          break;
      }
      if (phys === undefined) {
        this.flush(out);
        return { ok: false, errno: "EIO", message: `guest command ${c.op} cannot be forwarded`, done: i };
      }
      out.push(phys);
      if (out.length === 63) this.flush(out);
    }
    this.flush(out);
    return { ok: true, done: cmds.length };
  }

  private flush(out: SmmuCommand[]): void {
    if (out.length === 0) return;
    this.forwardLog.push(...out);
    this.driver.mustSubmit(out);
    out.length = 0;
  }

  /**
   * The host's event thread: drain the physical event queue and route each record. A stall goes
   * to the owning vIOMMU's fault queue as a page fault; a forwardable stage-1 event of a vDEVICE
   * goes to its vEVENTQ with the vSID; anything else (stage-2 faults included) stays here.
   */
  pollEvents(): void {
    for (const e of this.driver.readEvents()) {
      const v = this.viommus.find((x) => x.vsidOf(e.sid) !== undefined);
      const vsid = v?.vsidOf(e.sid);
      if (v === undefined || vsid === undefined) {
        this.hostLog.push(e);
        continue;
      }
      if (e.stall && !e.s2) {
        const cookie = this.nextCookie++;
        v.pending.set(cookie, { psid: e.sid, stag: e.stag });
        v.faults.push({
          cookie,
          vsid,
          pasid: e.ssv ? e.ssid : -1,
          addr: e.inputAddr - (e.inputAddr % 4096),
          read: e.rnw,
          write: !e.rnw,
          exec: e.ind,
          priv: e.pnu,
          grpid: e.stag,
          event: e,
        });
      } else if (!e.s2 && FORWARDED_EVENTS.has(e.id)) {
        const w = [...e.words];
        w[1] = vsid;
        v.vevents.push({ ...e, sid: vsid, words: w });
      } else {
        if (e.stall) {
          // a stalled stage-2 fault is the host's own: it has nothing to fix, so it aborts it
          this.driver.mustSubmit([{ op: "RESUME", sid: e.sid, stag: e.stag, action: ResumeAction.ABORT }]);
        }
        this.hostLog.push(e);
      }
    }
  }

  /** Read (and remove) the page faults of a vIOMMU's fault queue. */
  readFaults(v: Viommu): HostPageFault[] {
    return v.faults.splice(0);
  }
  /** Read (and remove) a vIOMMU's vEVENTQ records. */
  readVevents(v: Viommu): SmmuEvent[] {
    return v.vevents.splice(0);
  }

  /** write() on the fault queue: SUCCESS retries the stalled transaction, INVALID aborts it. */
  pageResponse(v: Viommu, cookie: number, code: number): HostResult {
    const p = v.pending.get(cookie);
    if (p === undefined)
      return { ok: false, errno: "EINVAL", message: `no outstanding fault with cookie ${cookie}` };
    v.pending.delete(cookie);
    const action = code === PageResponse.SUCCESS ? ResumeAction.RETRY : ResumeAction.ABORT;
    const cmd: SmmuCommand = { op: "RESUME", sid: p.psid, stag: p.stag, action };
    this.forwardLog.push(cmd);
    this.driver.mustSubmit([cmd]);
    return { ok: true };
  }

  /** The outstanding fault cookie for (vSID, STAG), as the VMM keeps it. */
  cookieFor(v: Viommu, vsid: number, stag: number): number | undefined {
    const psid = v.psidOf(vsid);
    for (const [c, p] of v.pending) if (p.psid === psid && p.stag === stag) return c;
    return undefined;
  }

  /** Terminate every stall of a vDEVICE (before tearing it down). */
  stallTerm(v: Viommu, vsid: number): HostResult {
    const psid = v.psidOf(vsid);
    if (psid === undefined) return { ok: false, errno: "ENOENT", message: `no vDEVICE for vSID ${vsid}` };
    for (const [c, p] of v.pending) if (p.psid === psid) v.pending.delete(c);
    this.driver.mustSubmit([{ op: "STALL_TERM", sid: psid }]);
    return { ok: true };
  }

  /**
   * Change the stage-2 mapping of one guest page (migration, balloon, ...). With `strict`
   * (default) the host follows TLBI_S2_IPA with TLBI_NH_ALL of the VMID, because combined
   * stage-1+2 entries are tagged by VA and survive an IPA-based invalidation; without it, only
   * TLBI_S2_IPA is issued and the device can keep using the old page (the trap).
   */
  remapStage2(parent: NestingParent, ipa: number, newPa: number, strict = true): void {
    parent.s2.map(ipa, newPa, 12);
    const cmds: SmmuCommand[] = [{ op: "TLBI_S2_IPA", vmid: parent.vmid, addr: ipa, leaf: true }];
    if (strict) cmds.push({ op: "TLBI_NH_ALL", vmid: parent.vmid });
    this.driver.mustSubmit(cmds);
  }
}
