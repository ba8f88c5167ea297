/**
 * The x86 vector generator: its text-derived expectations on hand-checked lines, and, where GNU
 * binutils is installed, that regenerating gives exactly the committed fixture.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { expectFromAsm } from "./asm-semantics.mjs";

const root = resolve(__dirname, "../..");
const committed = join(root, "packages/hw-cpu-seam/src/x86/fixtures/gnu-as-vectors.json");
const hasBinutils = ["as", "objdump"].every((tool) => spawnSync(tool, ["--version"]).status === 0);

describe("expectFromAsm", () => {
  it("derives kind, size and register from MOV operands", () => {
    expect(expectFromAsm("mov DWORD PTR [rdi], eax")).toMatchObject({ kind: "write", size: 4, reg: "eax" });
    expect(expectFromAsm("mov ah, BYTE PTR [rbx]")).toMatchObject({
      kind: "read",
      size: 1,
      reg: "ah",
      regNumber: 0,
      regHigh: true,
    });
    expect(expectFromAsm("movzx r9, WORD PTR [rsi]")).toMatchObject({
      kind: "read-zext",
      size: 2,
      regSize: 8,
    });
  });

  it("truncates immediates to the bytes memory receives", () => {
    expect(expectFromAsm("mov QWORD PTR [rdi], -2")).toMatchObject({ imm: "0xfffffffffffffffe" });
    expect(expectFromAsm("mov WORD PTR [rdi], -2")).toMatchObject({ imm: "0xfffe" });
    expect(expectFromAsm("mov BYTE PTR [rdi], 0x5")).toMatchObject({ imm: "0x05" });
  });

  it("derives the memory operand, with default segments needing no prefix", () => {
    expect(expectFromAsm("mov eax, DWORD PTR ss:[rbp+r12*8-0x10]").mem).toEqual({
      base: 5,
      index: 12,
      scale: 8,
      disp: -16,
      ripRelative: false,
      addressSize: 8,
      segment: "none",
    });
    expect(expectFromAsm("mov eax, DWORD PTR ds:[rsp]").mem?.segment).toBe("ds");
    expect(expectFromAsm("mov eax, DWORD PTR [eip+0x10]").mem).toMatchObject({
      ripRelative: true,
      addressSize: 4,
    });
  });

  it("marks everything outside the MOV forms unsupported", () => {
    expect(expectFromAsm("add DWORD PTR [rdi], eax")).toEqual({ kind: "unsupported", reason: "opcode" });
    expect(expectFromAsm("vmovdqu8 zmm0, ZMMWORD PTR [rdi]")).toEqual({
      kind: "unsupported",
      reason: "evex",
    });
    expect(expectFromAsm("mov eax, ebx")).toEqual({ kind: "unsupported", reason: "register-operand" });
    expect(expectFromAsm("rep movsq")).toMatchObject({ kind: "movs", size: 8, rep: "rep" });
  });
});

describe("generate.mjs", () => {
  it.skipIf(!hasBinutils)(
    hasBinutils
      ? "regenerates exactly the committed fixture"
      : "regenerates exactly the committed fixture — SKIPPED: GNU as/objdump not installed",
    () => {
      const dir = mkdtempSync(join(tmpdir(), "x86-vectors-test-"));
      try {
        const out = join(dir, "vectors.json");
        const r = spawnSync(process.execPath, [join(__dirname, "generate.mjs"), "--out", out], {
          encoding: "utf8",
        });
        expect(r.status, r.stderr).toBe(0);
        const fresh = JSON.parse(readFileSync(out, "utf8"));
        const saved = JSON.parse(readFileSync(committed, "utf8"));
        // The binutils version line may differ; the vectors may not.
        expect(fresh.vectors.length).toBe(saved.vectors.length);
        expect(fresh.vectors).toEqual(saved.vectors);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  );
});
