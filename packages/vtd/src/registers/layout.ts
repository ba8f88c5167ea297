/**
 * The register window of one unit: where the IOTLB and fault-recording registers sit (from
 * ECAP.IRO and CAP.FRO/NFR), how large the window is, and each register's reset value and
 * writable / write-1-to-clear / write-only bits for a given CAP/ECAP, following QEMU's vtd_init.
 * Feature-gated fields (QI, IR, PRS, PMR, EIM, scalable-mode bits) are read-only zero when the
 * capability is absent, as the specification makes them reserved.
 *
 * @spec reference/vtd.md §1.1-§1.7; QEMU hw/i386/intel_iommu.c vtd_init (masks: GCMD 0xff800000 WO,
 *   RTADDR 0xfffffffffffffc00, CCMD 0xe0000003ffffffff with SID/FM write-only, FSTS W1C, FECTL IM,
 *   FEDATA 0xffff, FEADDR 0xfffffffc, IQT 0x7fff0, IQA 0xfffffffffffff807, ICS W1C, IECTL IM,
 *   IOTLB 0xb003ffff00000000, IVA 0xfffffffffffff07f write-only, FRCD F W1C, IRTA 0xfffffffffffff80f)
 */
import { TdxSimError } from "@tdx/hw-cpu-seam";
import type { VtdCap, VtdEcap } from "../spec/capabilities";
import { EventCtl, FIXED_BLOCK_END, Fsts, Gcmd, ICS_IWC, IotlbRegOff, Reg } from "../spec/registers";
import type { RegisterFile } from "./register-file";

/** Where the variable-position registers are, and the window size. */
export interface RegisterLayout {
  /** IVA register offset (ECAP.IRO*16); the IOTLB register is at +8. */
  readonly iva: number;
  readonly iotlb: number;
  /** FRCD[0] offset (CAP.FRO*16) and the number of records (CAP.NFR+1). */
  readonly frcd: number;
  readonly nfr: number;
  /** Window size in bytes (a multiple of 4 KiB). */
  readonly size: number;
}

export function computeLayout(cap: VtdCap, ecap: VtdEcap): RegisterLayout {
  const iva = ecap.iro * 16;
  const frcd = cap.fro * 16;
  const frcdEnd = frcd + 16 * cap.nfr;
  if (iva < FIXED_BLOCK_END) {
    throw new TdxSimError(
      "E_VTD_CAPS",
      `ECAP.IRO 0x${ecap.iro.toString(16)} puts the IOTLB registers at 0x${iva.toString(16)}, inside the fixed registers: it must be at least 0x${(FIXED_BLOCK_END / 16).toString(16)}`,
    );
  }
  if (frcd < FIXED_BLOCK_END) {
    throw new TdxSimError(
      "E_VTD_CAPS",
      `CAP.FRO 0x${cap.fro.toString(16)} puts FRCD[0] at 0x${frcd.toString(16)}, inside the fixed registers: it must be at least 0x${(FIXED_BLOCK_END / 16).toString(16)}`,
    );
  }
  if (iva < frcdEnd && frcd < iva + 16) {
    throw new TdxSimError(
      "E_VTD_CAPS",
      `the IOTLB registers (0x${iva.toString(16)}) overlap the fault recording registers (0x${frcd.toString(16)}-0x${(frcdEnd - 1).toString(16)}): choose CAP.FRO/NFR and ECAP.IRO apart`,
    );
  }
  const end = Math.max(FIXED_BLOCK_END, iva + 16, frcdEnd);
  const size = Math.ceil(end / 4096) * 4096;
  return { iva, iotlb: iva + IotlbRegOff.IOTLB, frcd, nfr: cap.nfr, size };
}

/** Define every register's reset value and bit semantics. */
export function defineRegisters(
  regs: RegisterFile,
  layout: RegisterLayout,
  cap: VtdCap,
  ecap: VtdEcap,
  version: number,
): void {
  regs.clear();
  const capLo = Number(cap.raw & 0xffff_ffffn);
  const capHi = Number(cap.raw >> 32n);
  const ecapLo = Number(ecap.raw & 0xffff_ffffn);
  const ecapHi = Number(ecap.raw >> 32n);
  regs.define32(Reg.VER, version, 0);
  regs.define64(Reg.CAP, [capLo, capHi], [0, 0]);
  regs.define64(Reg.ECAP, [ecapLo, ecapHi], [0, 0]);

  let gcmd = Gcmd.TE | Gcmd.SRTP | Gcmd.WBF;
  if (ecap.qi) gcmd |= Gcmd.QIE;
  if (ecap.ir) gcmd |= Gcmd.IRE | Gcmd.SIRTP | Gcmd.CFI;
  if (cap.afl) gcmd |= Gcmd.SFL | Gcmd.EAFL;
  regs.define32(Reg.GCMD, 0, gcmd, 0, 0xffff_ffff);
  regs.define32(Reg.GSTS, 0, 0);
  // RTADDR: RTA [63:12]; TTM bit 10 (scalable) only with ECAP.SMTS; bit 11 reserved.
  regs.define64(Reg.RTADDR, [0, 0], [(0xffff_f000 | (ecap.smts ? 0x400 : 0)) >>> 0, 0xffff_ffff]);
  // CCMD: ICC 63, CIRG 62:61, FM 33:32, SID 31:16, DID 15:0; SID and FM are write-only.
  regs.define64(Reg.CCMD, [0, 0], [0xffff_ffff, 0xe000_0003], [0, 0], [0xffff_0000, 0x0000_0003]);
  regs.define32(Reg.FSTS, 0, 0, Fsts.PFO | Fsts.AFO | Fsts.APF | Fsts.IQE | Fsts.ICE | Fsts.ITE | Fsts.PRO);
  regs.define32(Reg.FECTL, EventCtl.IM, EventCtl.IM);
  regs.define32(Reg.FEDATA, 0, 0x0000_ffff);
  regs.define32(Reg.FEADDR, 0, 0xffff_fffc);
  regs.define32(Reg.FEUADDR, 0, ecap.eim ? 0xffff_ffff : 0);
  regs.define64(Reg.AFLOG, [0, 0], [0, 0]);
  // Protected memory regions: EPM writable only if CAP.PLMR or PHMR; bases/limits at 2 MiB granularity.
  const pmr = cap.plmr || cap.phmr;
  regs.define32(Reg.PMEN, 0, pmr ? 0x8000_0000 : 0);
  regs.define32(Reg.PLMBASE, 0, cap.plmr ? 0xffe0_0000 : 0);
  regs.define32(Reg.PLMLIMIT, 0, cap.plmr ? 0xffe0_0000 : 0);
  regs.define64(Reg.PHMBASE, [0, 0], cap.phmr ? [0xffe0_0000, 0xffff_ffff] : [0, 0]);
  regs.define64(Reg.PHMLIMIT, [0, 0], cap.phmr ? [0xffe0_0000, 0xffff_ffff] : [0, 0]);
  // Queued invalidation.
  regs.define64(Reg.IQH, [0, 0], [0, 0]);
  regs.define64(Reg.IQT, [0, 0], ecap.qi ? [0x0007_fff0, 0] : [0, 0]);
  regs.define64(
    Reg.IQA,
    [0, 0],
    ecap.qi ? [(0xffff_f007 | (ecap.smts ? 0x800 : 0)) >>> 0, 0xffff_ffff] : [0, 0],
  );
  regs.define32(Reg.ICS, 0, 0, ecap.qi ? ICS_IWC : 0);
  regs.define32(Reg.IECTL, ecap.qi ? EventCtl.IM : 0, ecap.qi ? EventCtl.IM : 0);
  regs.define32(Reg.IEDATA, 0, ecap.qi ? 0xffff_ffff : 0);
  regs.define32(Reg.IEADDR, 0, ecap.qi ? 0xffff_fffc : 0);
  regs.define32(Reg.IEUADDR, 0, ecap.qi && ecap.eim ? 0xffff_ffff : 0);
  regs.define64(Reg.IQER, [0, 0], [0, 0]);
  regs.define64(
    Reg.IRTA,
    [0, 0],
    ecap.ir ? [(0xffff_f00f | (ecap.eim ? 0x800 : 0)) >>> 0, 0xffff_ffff] : [0, 0],
  );
  // Page-request queue registers exist with ECAP.PRS (the model never issues page requests).
  regs.define64(Reg.PQH, [0, 0], ecap.prs ? [0x0007_ffe0, 0] : [0, 0]);
  regs.define64(Reg.PQT, [0, 0], [0, 0]);
  regs.define64(Reg.PQA, [0, 0], ecap.prs ? [0xffff_f007, 0xffff_ffff] : [0, 0]);
  regs.define32(Reg.PRS, 0, 0, ecap.prs ? 0x3 : 0);
  regs.define32(Reg.PECTL, ecap.prs ? EventCtl.IM : 0, ecap.prs ? EventCtl.IM : 0);
  regs.define32(Reg.PEDATA, 0, ecap.prs ? 0xffff_ffff : 0);
  regs.define32(Reg.PEADDR, 0, ecap.prs ? 0xffff_fffc : 0);
  regs.define32(Reg.PEUADDR, 0, ecap.prs && ecap.eim ? 0xffff_ffff : 0);
  // IOTLB registers: IVA is write-only; IOTLB: IVT 63, IIRG 61:60, DR 49, DW 48, DID 47:32.
  regs.define64(layout.iva, [0, 0], [0xffff_f07f, 0xffff_ffff], [0, 0], [0xffff_f07f, 0xffff_ffff]);
  regs.define64(layout.iotlb, [0, 0], [0, 0xb003_ffff]);
  // Fault recording registers: read-only except F (bit 127), write-1-to-clear.
  for (let i = 0; i < layout.nfr; i++) {
    const base = layout.frcd + 16 * i;
    regs.define64(base, [0, 0], [0, 0]);
    regs.define64(base + 8, [0, 0], [0, 0], [0, 0x8000_0000]);
  }
}
