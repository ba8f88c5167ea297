/**
 * Register-based invalidation: the context command register (CCMD) and the IOTLB invalidate
 * register pair (IVA + IOTLB at ECAP.IRO*16). Software sets ICC / IVT with a requested
 * granularity; the unit performs the invalidation, reports the actual granularity (CAIG / IAIG,
 * 0 = not performed) and clears ICC / IVT. While queued invalidation is enabled these registers
 * must not be used: such a write is ignored and ICC / IVT stay set, as QEMU does.
 *
 * @spec reference/vtd.md §1.5 (CCMD fields; FM masks devfn bits), §5.3 (register flows; PSI needs
 *   CAP.PSI; AM > MAMV -> IAIG 0; DR/DW), §1.4 ("While QIE=1, register-based invalidation must not
 *   be used; QEMU ignores such writes"), QEMU vtd_handle_ccmd_write, vtd_handle_iotlb_write,
 *   vtd_iotlb_flush
 */
import type { RegisterLayout } from "../registers/layout";
import type { RegisterFile } from "../registers/register-file";
import type { VtdCap } from "../spec/capabilities";
import { Ccmd, Gran, IotlbReg, Iva, Reg } from "../spec/registers";
import type { UnitState } from "../unit/state";
import type { CacheOps } from "./cache-ops";

export class RegisterInvalidation {
  /** Register invalidations ignored because queued invalidation was enabled. */
  ignoredWhileQi = 0;

  constructor(
    private readonly regs: RegisterFile,
    private readonly layout: RegisterLayout,
    private readonly state: UnitState,
    private readonly cap: VtdCap,
    private readonly ops: CacheOps,
  ) {}

  /** After a write that completed CCMD's high dword. */
  onCcmdWrite(): void {
    const hi = this.regs.raw32(Reg.CCMD + 4);
    if ((hi & Ccmd.ICC_HI) === 0) return;
    if (this.state.qiEnabled) {
      this.ignoredWhileQi++;
      return;
    }
    const lo = this.regs.raw32(Reg.CCMD);
    const cirg = (hi >>> Ccmd.CIRG_SHIFT_HI) & 3;
    let caig = 0;
    if (cirg === Gran.Global) {
      this.ops.contextGlobal();
      caig = Gran.Global;
    } else if (cirg === Gran.Domain) {
      const scalable = this.state.rootMode === 1;
      this.ops.contextDomain(lo & 0xffff, scalable);
      caig = scalable ? Gran.Global : Gran.Domain;
    } else if (cirg === Gran.Device) {
      this.ops.contextDevice((lo >>> 16) & 0xffff, hi & Ccmd.FM_MASK_HI);
      caig = Gran.Device;
    }
    this.regs.update32(Reg.CCMD + 4, Ccmd.ICC_HI | (3 << Ccmd.CAIG_SHIFT_HI), caig << Ccmd.CAIG_SHIFT_HI);
  }

  /** After a write that completed the IOTLB register's high dword. */
  onIotlbWrite(): void {
    const off = this.layout.iotlb + 4;
    const hi = this.regs.raw32(off);
    if ((hi & IotlbReg.IVT_HI) === 0) return;
    if (this.state.qiEnabled) {
      this.ignoredWhileQi++;
      return;
    }
    const iirg = (hi >>> IotlbReg.IIRG_SHIFT_HI) & 3;
    const did = hi & 0xffff;
    let iaig = 0;
    if (iirg === Gran.Global) {
      this.ops.iotlbGlobal();
      iaig = Gran.Global;
    } else if (iirg === Gran.Domain || (iirg === Gran.Page && !this.cap.psi)) {
      this.ops.iotlbDomain(did);
      iaig = Gran.Domain;
    } else if (iirg === Gran.Page) {
      const ivaLo = this.regs.raw32(this.layout.iva);
      const ivaHi = this.regs.raw32(this.layout.iva + 4);
      const am = ivaLo & Iva.AM_MASK;
      if (am <= this.cap.mamv) {
        const addr = ivaHi * 4294967296 + ((ivaLo & 0xffff_f000) >>> 0);
        this.ops.iotlbPages(did, addr, am, (ivaLo & Iva.IH) !== 0);
        iaig = Gran.Page;
      }
    }
    if (iaig !== 0) this.ops.drain((hi & IotlbReg.DR_HI) !== 0, (hi & IotlbReg.DW_HI) !== 0);
    this.regs.update32(off, IotlbReg.IVT_HI | (3 << IotlbReg.IAIG_SHIFT_HI), iaig << IotlbReg.IAIG_SHIFT_HI);
  }
}
