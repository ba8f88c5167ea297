/**
 * What the scalable-mode path needs of the translation pipeline that hosts it (the Translator):
 * the shared parts, the preallocated result and walk, and the common steps (fault reporting,
 * identity output, IOTLB service, IOTLB fill). Keeps the two files free of a dependency cycle.
 */
import type { ContextCache } from "../caches/context-cache";
import type { PasidCache } from "../caches/pasid-cache";
import type { TranslationCache } from "../caches/translation-cache";
import type { FaultRecorder } from "../faults/fault-recorder";
import type { RegisterFile } from "../registers/register-file";
import type { VtdCap, VtdEcap } from "../spec/capabilities";
import type { ContextResolver } from "../tables/context";
import type { PasidResolver } from "../tables/pasid";
import type { TdxDmaPolicy } from "../tdx/tdx-policy";
import type { UnitState } from "../unit/state";
import type { FirstStageWalker } from "../walk/first-stage";
import type { SecondStageWalker, SsCodes } from "../walk/second-stage";
import type { WalkResult } from "../walk/walk-result";
import type { Translation } from "./translation";

/** Everything the pipeline works with. */
export interface TranslatorParts {
  readonly state: UnitState;
  readonly regs: RegisterFile;
  readonly cap: VtdCap;
  readonly ecap: VtdEcap;
  readonly cc: ContextCache;
  readonly pc: PasidCache;
  readonly iotlb: TranslationCache;
  readonly psc: TranslationCache;
  readonly ctx: ContextResolver;
  readonly pasid: PasidResolver;
  readonly ss: SecondStageWalker;
  readonly fs: FirstStageWalker;
  readonly recorder: FaultRecorder;
  readonly tdx: TdxDmaPolicy;
  readonly negativeCaching: boolean;
  readonly qemuCodes: boolean;
}

export interface PathHost {
  readonly p: TranslatorParts;
  readonly out: Translation;
  readonly walk: WalkResult;
  readonly stats: { requests: number; iotlbHits: number; walks: number; walkReads: number; faults: number };
  readonly smSs: SsCodes;
  readonly mgawLimit: number;
  fault(
    code: number,
    sid: number,
    reqPasid: number,
    addr: number,
    write: boolean,
    exec: boolean,
    priv: boolean,
    at: number,
    fpd: boolean,
  ): number;
  identity(addr: number, pasid: number, did: number): void;
  fromIotlb(slot: number, need: number): boolean;
  fill(did: number, pasid: number, addr: number, w: WalkResult, kind: number): void;
}
