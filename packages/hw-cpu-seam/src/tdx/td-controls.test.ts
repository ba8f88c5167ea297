/**
 * TD-scope controls the guest reads and writes with TDG.VM.RD/WR, with the module's write rules:
 * a request naming no writable bit is NOT_WRITABLE, changing a bit the guest may not write is
 * VALUE_NOT_VALID (so Linux's NOTIFY_ENABLES write with mask -1 succeeds), TD_CTLS starts with
 * PENDING_VE_DISABLE = ATTRIBUTES.SEPT_VE_DISABLE and lets the guest change it only with
 * CONFIG_FLAGS.FLEXIBLE_PENDING_VE — and then pending pages exit to the VMM instead of #VE.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { TdVmcall, tdgVmRd, tdgVmWr, tdgVpVmcall } from "./guest-calls";
import { ExceptionVector, GuestMem, type GuestOp, type TdGuestContext } from "./guest-interface";
import { TdxHostDriver } from "./host-driver";
import { TdField } from "./metadata";
import { Gpr } from "./regs";
import { makeSimTdxPlatform } from "./sim-platform";
import { TdxStatus } from "./status-codes";
import { EeqType } from "./td-exit";
import { ConfigFlags, TdAttributes, TdCtls } from "./td-params";

const DATA_GPA = 0x10000;
let h: TdxHostDriver;
beforeEach(() => {
  h = new TdxHostDriver(makeSimTdxPlatform());
  h.bringUp();
});

function run(opts: Parameters<TdxHostDriver["createTd"]>[0], body: (ctx: TdGuestContext) => GuestOp<void>) {
  const td = h.createTd(opts);
  td.finalize();
  td.loadGuestCode(function* (ctx) {
    yield* body(ctx);
    for (;;) yield* tdgVpVmcall(ctx, TdVmcall.HLT);
  });
  return td;
}

describe("TDG.VM.RD/WR of the TD controls", () => {
  it("NOTIFY_ENABLES: Linux's (0, mask -1) write succeeds; changing a bit the guest may not write is refused", () => {
    const got: unknown[] = [];
    const td = run({}, function* (ctx) {
      got.push(yield* tdgVmWr(ctx, TdField.NOTIFY_ENABLES, 1n, 1n));
      got.push(yield* tdgVmWr(ctx, TdField.NOTIFY_ENABLES, 0n, -1n & 0xffffffffffffffffn));
      got.push((yield* tdgVmWr(ctx, TdField.NOTIFY_ENABLES, 2n, 2n)).status);
      got.push((yield* tdgVmWr(ctx, TdField.NOTIFY_ENABLES, 2n, 3n)).status);
      got.push(yield* tdgVmRd(ctx, TdField.CONFIG_FLAGS));
      got.push((yield* tdgVmWr(ctx, TdField.CONFIG_FLAGS, 0n, 1n)).status);
      // a failed TDG.VM.RD leaves R8 = 0
      ctx.regs.gpr[Gpr.R8] = 5n;
      got.push(yield* tdgVmRd(ctx, TdField.EPTP));
    });
    td.enter(0, 0);
    expect(got).toEqual([
      { status: 0n, old: 0n },
      { status: 0n, old: 1n },
      TdxStatus.METADATA_FIELD_NOT_WRITABLE,
      TdxStatus.METADATA_FIELD_VALUE_NOT_VALID,
      { status: 0n, value: ConfigFlags.NO_RBP_MOD },
      TdxStatus.METADATA_FIELD_NOT_WRITABLE,
      { status: TdxStatus.METADATA_FIELD_NOT_READABLE, value: 0n },
    ]);
  });

  it("TD_CTLS starts as SEPT_VE_DISABLE; without FLEXIBLE_PENDING_VE the guest cannot change PENDING_VE_DISABLE", () => {
    const got: unknown[] = [];
    const td = run({ attributes: TdAttributes.SEPT_VE_DISABLE }, function* (ctx) {
      got.push((yield* tdgVmRd(ctx, TdField.TD_CTLS)).value);
      got.push((yield* tdgVmWr(ctx, TdField.TD_CTLS, 0n, TdCtls.PENDING_VE_DISABLE)).status);
      got.push((yield* tdgVmWr(ctx, TdField.TD_CTLS, TdCtls.VIRT_CPUID2, TdCtls.VIRT_CPUID2)).status);
      got.push((yield* tdgVmRd(ctx, TdField.TD_CTLS)).value);
    });
    td.enter(0, 0);
    expect(got).toEqual([
      TdCtls.PENDING_VE_DISABLE,
      TdxStatus.METADATA_FIELD_VALUE_NOT_VALID,
      0n,
      TdCtls.PENDING_VE_DISABLE | TdCtls.VIRT_CPUID2,
    ]);
  });

  it("with FLEXIBLE_PENDING_VE the guest sets PENDING_VE_DISABLE and a pending page then exits instead of #VE", () => {
    const got: unknown[] = [];
    let ves = 0;
    const td = run(
      { configFlags: ConfigFlags.NO_RBP_MOD | ConfigFlags.FLEXIBLE_PENDING_VE },
      function* (ctx) {
        ctx.setExceptionHandler(ExceptionVector.VE, () => {
          ves++;
          return undefined;
        });
        got.push(ctx.read(DATA_GPA, new Uint8Array(1)));
        const pv = TdCtls.PENDING_VE_DISABLE;
        got.push((yield* tdgVmWr(ctx, TdField.TD_CTLS, pv, pv)).status);
        got.push(ctx.read(DATA_GPA, new Uint8Array(1)));
        yield* ctx.load(DATA_GPA, new Uint8Array(1));
      },
    );
    td.augPage(DATA_GPA);
    const e = td.enter(0, 0);
    expect(got).toEqual([GuestMem.Ve, 0n, GuestMem.Exit]);
    expect(e.outcome).toMatchObject({
      kind: "exit",
      exit: { kind: "ept-violation", gpa: DATA_GPA, eeqType: EeqType.PENDING_EPT_VIOLATION },
    });
    expect(ves).toBe(0);
  });
});
