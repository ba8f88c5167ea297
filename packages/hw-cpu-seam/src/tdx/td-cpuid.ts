/**
 * CPUID inside a TD, as the TDX module virtualises it (every CPUID exits to the module): leaves
 * 0x40000000-0x4FFFFFFF always raise #VE; a leaf above the last base or extended leaf counts as
 * the last base leaf; a leaf/sub-leaf outside the module's lookup table raises #VE (all zeros
 * under TD_CTLS.REDUCE_VE); leaves the table marks faulting raise #VE unless REDUCE_VE; CPUID(2)
 * raises #VE unless VIRT_CPUID2; 0xB and 0x1F raise #VE unless ENUM_TOPOLOGY and then report the
 * vCPU's x2APIC id in EDX; CPUID(1).EBX[31:24] is the x2APIC id (ENUM_TOPOLOGY) or VCPU_INDEX.
 * Every other value comes from the TD's CPUID table built at TDH.MNG.INIT from the platform CPU
 * (`tdGuestView`: "IntelTDX    " in 0x21, hypervisor bit, GPAW).
 *
 * @spec shared/reference/tdx-module.md §4.2 (#VE sources: CPUID leaves the module does not
 *   virtualise); intel/tdx-module src/td_dispatcher/vm_exits/td_cpuid.c td_cpuid_exit(),
 *   include/auto_gen/cpuid_configurations.c (cpuid_lookup: leaves, sub-leaves, `faulting`)
 */
import { CpuidTable } from "../cpu/cpuid";
import type { TdControl, VcpuControl } from "./control";
import type { TdxModuleCore } from "./core";
import { TdCtls } from "./td-params";

/** CPUID leaves reserved for hypervisors: always #VE in a TD. @spec td_cpuid.c CPUID_RESERVED_* */
export const CPUID_PARAVIRT_FIRST = 0x40000000;
export const CPUID_PARAVIRT_LAST = 0x4fffffff;

const FIRST_EXTENDED_LEAF = 0x80000000;
const ANY_SUBLEAF = -1;
const NOT_IN_TABLE = -2;

/**
 * Highest sub-leaf the module's lookup table holds for `leaf` (ANY_SUBLEAF: the sub-leaf is
 * ignored), or NOT_IN_TABLE. @spec cpuid_configurations.c cpuid_lookup[]
 */
function tableMaxSubleaf(leaf: number): number {
  switch (leaf) {
    case 0x4:
      return 4;
    case 0x7:
    case 0xb:
      return 2;
    case 0xd:
      return 0x12;
    case 0x14:
    case 0x1d:
      return 1;
    case 0x1f:
      return 5;
    case 0x21:
      return 0;
    case 0x23:
      return 3;
    case 0x0:
    case 0x1:
    case 0x2:
    case 0x3:
    case 0x5:
    case 0x6:
    case 0x8:
    case 0xa:
    case 0xe:
    case 0x11:
    case 0x12:
    case 0x13:
    case 0x15:
    case 0x19:
    case 0x1a:
    case 0x1c:
    case 0x1e:
    case 0x20:
    case 0x22:
    case 0x80000000:
    case 0x80000001:
    case 0x80000006:
    case 0x80000007:
    case 0x80000008:
      return ANY_SUBLEAF;
    default:
      return NOT_IN_TABLE;
  }
}

/** Entries marked `faulting` (CPUID_VALID = 0): #VE unless REDUCE_VE. */
function isFaulting(leaf: number): boolean {
  return leaf === 0x6 || leaf === 0x80000006;
}

/**
 * The TD's virtual CPUID table: LP 0's CPUID when the module runs on a CpuComplex, else a
 * single-LP CPU of `cpuModel`; then the TD view for its GPAW. CPUID_CONFIG values from TD_PARAMS
 * are not applied [approximation, see DESIGN.md].
 */
export function tdCpuidTable(m: TdxModuleCore, gpaw: 48 | 52): CpuidTable {
  const native =
    m.cfg.cpus?.lp(0).cpuidTable ??
    CpuidTable.native(
      {
        model: m.opt.cpuModel,
        physAddrBits: m.cfg.memory.physAddrBits,
        linearAddrBits: gpaw === 52 ? 57 : 48,
        tme: true,
      },
      { x2apicId: 0, threadsPerCore: 1, coresPerPackage: 1 },
    );
  return native.tdGuestView(gpaw);
}

/**
 * Execute CPUID(leaf, subleaf) for `vcpu` as the module does. Returns true with EAX, EBX, ECX,
 * EDX in out[0..3] when the module answers, false when it injects #VE (exit reason 10).
 */
export function virtualCpuid(
  td: TdControl,
  vcpu: VcpuControl,
  leaf: number,
  subleaf: number,
  out: Uint32Array,
): boolean {
  if (leaf >= CPUID_PARAVIRT_FIRST && leaf <= CPUID_PARAVIRT_LAST) return false;
  const table = td.cpuid!;
  const ctls = td.tdCtls;
  const reduceVe = (ctls & TdCtls.REDUCE_VE) !== 0n;
  const enumTopology = (ctls & TdCtls.ENUM_TOPOLOGY) !== 0n;
  const lastBase = table.get(0, 0).eax;
  const lastExt = table.get(FIRST_EXTENDED_LEAF, 0).eax;
  let l = leaf;
  if (l > lastExt || (l > lastBase && l < FIRST_EXTENDED_LEAF)) l = lastBase;
  const max = tableMaxSubleaf(l);
  if (max === NOT_IN_TABLE || (max !== ANY_SUBLEAF && subleaf > max)) {
    if (!reduceVe) return false;
    out.fill(0);
    if (l === 0xb || l === 0x1f) {
      out[2] = subleaf & 0xff; // ECX[7:0]: the sub-leaf (level number)
      out[3] = vcpu.x2apicId;
    }
    return true;
  }
  if (!reduceVe && isFaulting(l)) return false;
  const r = table.get(l, subleaf);
  out[0] = r.eax;
  out[1] = r.ebx;
  out[2] = r.ecx;
  out[3] = r.edx;
  switch (l) {
    case 0x1: {
      const apic = (enumTopology ? vcpu.x2apicId : vcpu.index) & 0xff;
      out[1] = ((r.ebx & 0x00ffffff) | (apic << 24)) >>> 0;
      break;
    }
    case 0x2:
      if ((ctls & TdCtls.VIRT_CPUID2) === 0n) return false;
      break;
    case 0xb:
    case 0x1f:
      if (!enumTopology) return false;
      out[3] = vcpu.x2apicId;
      break;
  }
  return true;
}
