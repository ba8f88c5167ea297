/**
 * End to end against the real TDX module of @tdx/hw-cpu-seam: the test is the host (it brings
 * the module up, builds a TD whose kernel text holds the MMIO instructions, finalizes and enters
 * it through SEAMCALL) and the device (it answers each TDG.VP.VMCALL<#VE.RequestMMIO> exit and
 * re-enters). The guest is this package's TDX guest: early init, the #VE handler, MMIO emulation.
 * The MMIO page is a shared GPA whose shared-EPT entry has suppress-#VE clear (KVM's MMIO SPTE),
 * so every access raises #VE in the guest.
 */

import {
  Gpr,
  type GuestOp,
  TdAttributes,
  type TdGuestContext,
  TdVmcall,
  TdVmcallStatus,
  VmxExitReason,
  type VpEnterOutcome,
} from "@tdx/hw-cpu-seam";
import { makeSimTdxPlatform, type TdHandle, TdxHostDriver } from "@tdx/hw-cpu-seam/testing";
import { describe, expect, it } from "vitest";
import { setMemoryDecrypted, setMemoryEncrypted } from "./conversion";
import { type MmioRegisterModel, TdxGuest } from "./guest";
import { type TdxInitResult, tdxEarlyInit } from "./init";
import { fatalErrorMessage, TdxVcpu } from "./vcpu";
import { TdxVeHandler, type VeOutcome } from "./ve-dispatch";

const CODE = 0x100000; // kernel text
const MMIO_LOW = 0xfeb00000;
const FILL = 0x1122334455667788n;
const RSP = 0xffffc90000001f58n;
const READ_REPLY = 0xdeadbeefcafebaben;

type Expect = readonly [number, bigint][];
interface MmioCase {
  readonly name: string;
  readonly bytes: readonly number[];
  readonly store: boolean;
  readonly size: 1 | 2 | 4 | 8;
  readonly disp?: number;
  /** Registers after a read, per model (or both). */
  readonly regs?: Expect | { readonly linux: Expect; readonly isa: Expect };
  /** R15 of a write, per model (or both). */
  readonly value?: bigint | { readonly linux: bigint; readonly isa: bigint };
}

const CASES: readonly MmioCase[] = [
  {
    name: "mov al,[rdi]",
    bytes: [0x8a, 0x07],
    store: false,
    size: 1,
    regs: [[Gpr.RAX, 0x11223344556677ben]],
  },
  {
    name: "mov ax,[rdi]",
    bytes: [0x66, 0x8b, 0x07],
    store: false,
    size: 2,
    regs: [[Gpr.RAX, 0x112233445566baben]],
  },
  { name: "mov eax,[rdi]", bytes: [0x8b, 0x07], store: false, size: 4, regs: [[Gpr.RAX, 0xcafebaben]] },
  { name: "mov rax,[rdi]", bytes: [0x48, 0x8b, 0x07], store: false, size: 8, regs: [[Gpr.RAX, READ_REPLY]] },
  {
    name: "mov r9d,[rdi+0x10]",
    bytes: [0x44, 0x8b, 0x4f, 0x10],
    store: false,
    size: 4,
    disp: 0x10,
    regs: [[Gpr.R9, 0xcafebaben]],
  },
  {
    name: "mov r8b,[rdi]",
    bytes: [0x44, 0x8a, 0x07],
    store: false,
    size: 1,
    regs: [[Gpr.R8, 0x11223344556677ben]],
  },
  {
    name: "mov ah,[rdi]",
    bytes: [0x8a, 0x27],
    store: false,
    size: 1,
    regs: { linux: [[Gpr.RSP, 0xffffc90000001fben]], isa: [[Gpr.RAX, 0x112233445566be88n]] },
  },
  {
    name: "movzx eax,byte [rdi]",
    bytes: [0x0f, 0xb6, 0x07],
    store: false,
    size: 1,
    regs: { linux: [[Gpr.RAX, 0x11223344000000ben]], isa: [[Gpr.RAX, 0xben]] },
  },
  {
    name: "movzx rax,word [rdi]",
    bytes: [0x48, 0x0f, 0xb7, 0x07],
    store: false,
    size: 2,
    regs: [[Gpr.RAX, 0xbaben]],
  },
  {
    name: "movsx eax,byte [rdi]",
    bytes: [0x0f, 0xbe, 0x07],
    store: false,
    size: 1,
    regs: { linux: [[Gpr.RAX, 0x11223344ffffffben]], isa: [[Gpr.RAX, 0xffffffben]] },
  },
  {
    name: "movsx rax,word [rdi]",
    bytes: [0x48, 0x0f, 0xbf, 0x07],
    store: false,
    size: 2,
    regs: [[Gpr.RAX, 0xffffffffffffbaben]],
  },
  { name: "mov [rdi],al", bytes: [0x88, 0x07], store: true, size: 1, value: 0x88n },
  { name: "mov [rdi],ax", bytes: [0x66, 0x89, 0x07], store: true, size: 2, value: 0x7788n },
  { name: "mov [rdi],eax", bytes: [0x89, 0x07], store: true, size: 4, value: 0x55667788n },
  { name: "mov [rdi],rax", bytes: [0x48, 0x89, 0x07], store: true, size: 8, value: FILL },
  { name: "mov [rdi],ah", bytes: [0x88, 0x27], store: true, size: 1, value: { linux: 0x58n, isa: 0x77n } },
  { name: "movb $0x80,[rdi]", bytes: [0xc6, 0x07, 0x80], store: true, size: 1, value: 0xffffffffffffff80n },
  {
    name: "movw $0x9234,[rdi]",
    bytes: [0x66, 0xc7, 0x07, 0x34, 0x92],
    store: true,
    size: 2,
    value: 0xffffffffffff9234n,
  },
  {
    name: "movl $0x12345678,[rdi]",
    bytes: [0xc7, 0x07, 0x78, 0x56, 0x34, 0x12],
    store: true,
    size: 4,
    value: 0x12345678n,
  },
  {
    name: "movq $-2,[rdi]",
    bytes: [0x48, 0xc7, 0x07, 0xfe, 0xff, 0xff, 0xff],
    store: true,
    size: 8,
    value: 0xfffffffffffffffen,
  },
];

const MOVSB = [0xa4];
const SLOT = 16;

/** The kernel text page: case i at CODE + 16*i, then MOVSB twice. */
function kernelText(): Uint8Array {
  const text = new Uint8Array(4096).fill(0x90);
  for (const [i, c] of CASES.entries()) text.set(c.bytes, i * SLOT);
  text.set(MOVSB, CASES.length * SLOT);
  text.set(MOVSB, (CASES.length + 1) * SLOT);
  return text;
}

interface Observed {
  init?: TdxInitResult;
  accesses: { outcome: string; gpr: BigUint64Array; rip: number; last: VeOutcome }[];
}

type GuestBody = (
  ctx: TdGuestContext,
  v: TdxVcpu,
  h: TdxVeHandler,
  o: Observed,
  mmio: number,
) => GuestOp<void>;

function buildTd(model: MmioRegisterModel, program: GuestBody) {
  const p = makeSimTdxPlatform();
  const h = new TdxHostDriver(p);
  h.bringUp();
  const td = h.createTd({ vcpus: 1, attributes: TdAttributes.SEPT_VE_DISABLE });
  td.addMeasuredPage(CODE, kernelText());
  td.finalize();
  const mmio = td.sharedBit + MMIO_LOW;
  td.sharedEptFor(0).mmioVe(mmio);
  const observed: Observed = { accesses: [] };
  td.loadGuestCode(function* (ctx) {
    const guest = new TdxGuest({ mmioRegisters: model });
    const v = new TdxVcpu(guest, ctx);
    const handler = new TdxVeHandler(v).install();
    observed.init = yield* tdxEarlyInit(v);
    yield* program(ctx, v, handler, observed, mmio);
  });
  return { td, observed, mmio };
}

interface MmioRequest {
  size: bigint;
  dir: bigint;
  gpa: bigint;
  value: bigint;
}

/** Run the TD as host + device until it halts or reports a fatal error. */
function runHost(td: TdHandle): { requests: MmioRequest[]; end: "hlt" | string } {
  const requests: MmioRequest[] = [];
  let e = td.enter(0, 0);
  for (let n = 0; n < 1000; n++) {
    const o: VpEnterOutcome = e.outcome;
    if (o.kind !== "exit" || o.exit.kind !== "tdvmcall") throw new Error(`unexpected TD exit ${o.kind}`);
    const r = o.exit.regs;
    expect(r[Gpr.R10]).toBe(0n);
    const fn = Number(r[Gpr.R11]);
    if (fn === TdVmcall.HLT) return { requests, end: "hlt" };
    if (fn === TdVmcall.REPORT_FATAL_ERROR) return { requests, end: fatalErrorMessage(r) };
    expect(fn).toBe(TdVmcall.REQUEST_MMIO);
    requests.push({ size: r[Gpr.R12]!, dir: r[Gpr.R13]!, gpa: r[Gpr.R14]!, value: r[Gpr.R15]! });
    e = td.enter(0, 0, { r10: 0, r11: r[Gpr.R13] === 0n ? READ_REPLY : 0 });
  }
  throw new Error("the TD did not halt");
}

function* accessAll(
  ctx: TdGuestContext,
  v: TdxVcpu,
  handler: TdxVeHandler,
  o: Observed,
  mmio: number,
): GuestOp<void> {
  for (const [i, c] of CASES.entries()) {
    const g = v.cpu.regs.gpr;
    g.fill(FILL);
    g[Gpr.RSP] = RSP;
    g[Gpr.RDI] = BigInt(mmio);
    v.cpu.regs.rip = CODE + i * SLOT;
    const gpa = mmio + (c.disp ?? 0);
    const buf = new Uint8Array(c.size);
    const outcome = c.store ? yield* ctx.store(gpa, buf) : yield* ctx.load(gpa, buf);
    o.accesses.push({ outcome, gpr: g.slice(), rip: v.cpu.regs.rip, last: { ...handler.last } });
  }
  for (;;) yield* v.hypercall(v.args, TdVmcall.HLT, 1n);
}

describe("MMIO through #VE against the TDX module", () => {
  for (const model of ["linux", "isa"] as const) {
    it(`${model}: every read and write size goes through #VE.RequestMMIO with the right registers`, () => {
      const { td, observed, mmio } = buildTd(model, accessAll);
      const { requests, end } = runHost(td);
      expect(end).toBe("hlt");
      expect(observed.init).toMatchObject({ kind: "tdx", info: { gpaw: td.gpaw, sharedMask: td.sharedBit } });
      expect(requests).toHaveLength(CASES.length);
      CASES.forEach((c, i) => {
        const req = requests[i]!;
        const seen = observed.accesses[i]!;
        expect([c.name, req.size, req.dir, req.gpa]).toEqual([
          c.name,
          BigInt(c.size),
          c.store ? 1n : 0n,
          BigInt(mmio + (c.disp ?? 0)),
        ]);
        expect([c.name, seen.outcome, seen.rip, seen.last.kind]).toEqual([
          c.name,
          "emulated",
          CODE + i * SLOT + c.bytes.length,
          "emulated",
        ]);
        const expected = new BigUint64Array(16).fill(FILL);
        expected[Gpr.RSP] = RSP;
        expected[Gpr.RDI] = BigInt(mmio);
        if (c.store) {
          const want = typeof c.value === "bigint" ? c.value : c.value![model];
          expect([c.name, req.value]).toEqual([c.name, want]);
        } else {
          expect([c.name, req.value]).toEqual([c.name, 0n]);
          const changes = Array.isArray(c.regs) ? c.regs : (c.regs as { linux: Expect; isa: Expect })[model];
          for (const [r, val] of changes) expected[r] = val;
        }
        expect([c.name, [...seen.gpr]]).toEqual([c.name, [...expected]]);
      });
      expect(td.driver).toBeDefined();
    });
  }

  it("refuses MOVS: with an exception fixup the kernel resumes there; without one it oopses and the host sees the panic", () => {
    const movs = CODE + CASES.length * SLOT;
    const { td, observed } = buildTd("linux", function* (ctx, v, handler, o, mmio) {
      v.guest.exceptionFixups.set(movs, movs + 0x800);
      v.cpu.regs.gpr[Gpr.RSI] = BigInt(mmio);
      v.cpu.regs.rip = movs;
      const outcome = yield* ctx.load(mmio, new Uint8Array(1));
      o.accesses.push({
        outcome,
        gpr: v.cpu.regs.gpr.slice(),
        rip: v.cpu.regs.rip,
        last: { ...handler.last },
      });
      v.cpu.regs.rip = movs + SLOT; // the second MOVSB has no fixup
      yield* ctx.load(mmio, new Uint8Array(1));
      throw new Error("not reached: the guest panicked");
    });
    const { requests, end } = runHost(td);
    expect(requests).toHaveLength(0);
    expect(observed.accesses[0]).toMatchObject({
      outcome: "emulated",
      rip: movs + 0x800,
      last: { kind: "fixup", failure: "movs", errno: 22, exitReason: VmxExitReason.EPT_VIOLATION },
    });
    expect(end).toBe("Fatal exception");
  });
});

describe("conversions against the TDX module", () => {
  it("to private: MapGPA (the host retries once, then AUGs), then ACCEPT 4K and 2M of the AUGed pages; back to shared", () => {
    const start = 0x401ff000;
    const pages = 1 + 512; // a 4 KiB page, then a 2 MiB-aligned 2 MiB
    const seen: { enc?: number; dec?: number; zero?: boolean; nrShared?: number; accepted?: number[] } = {};
    const { td } = buildTd("linux", function* (_ctx, v) {
      v.guest.nrShared = pages;
      seen.enc = yield* setMemoryEncrypted(v, start, pages);
      seen.accepted = [...v.guest.stats.acceptDone];
      const probe = new Uint8Array(8).fill(0xee);
      seen.zero = v.cpu.read(0x40200000, probe) === 0 && probe.every((b) => b === 0);
      seen.dec = yield* setMemoryDecrypted(v, 0x40200000, 512);
      seen.nrShared = v.guest.nrShared;
      for (;;) yield* v.hypercall(v.args, TdVmcall.HLT, 1n);
    });
    const maps: [bigint, bigint][] = [];
    let e = td.enter(0, 0);
    for (let n = 0; n < 20; n++) {
      const o = e.outcome;
      if (o.kind !== "exit" || o.exit.kind !== "tdvmcall")
        throw new Error(`unexpected exit ${JSON.stringify(o.kind)}`);
      const r = o.exit.regs;
      const fn = Number(r[Gpr.R11]);
      if (fn === TdVmcall.HLT) break;
      expect(fn).toBe(TdVmcall.MAP_GPA);
      maps.push([r[Gpr.R12]!, r[Gpr.R13]!]);
      if (maps.length === 1) {
        // KVM: an interrupt is pending after the first 4 KiB: RETRY with the next GPA
        e = td.enter(0, 0, { r10: TdVmcallStatus.RETRY, r11: start + 0x1000 });
        continue;
      }
      if (maps.length === 2) {
        td.augPage(start, 0);
        td.augPage(0x40200000, 1);
      } else {
        td.removePrivate(0x40200000);
      }
      e = td.enter(0, 0, { r10: 0 });
    }
    expect(maps).toEqual([
      [BigInt(start), BigInt(pages * 4096)],
      [BigInt(start + 0x1000), BigInt(pages * 4096 - 0x1000)],
      [BigInt(td.sharedBit + 0x40200000), 0x200000n],
    ]);
    expect(seen).toEqual({ enc: 0, accepted: [1, 1, 0], zero: true, dec: 0, nrShared: 512 });
  });
});
