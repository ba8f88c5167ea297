#!/usr/bin/env node
/**
 * Generates the x86 MMIO decoder's test vectors from GNU binutils: assembles every line of
 * instructions.mjs with `as --64`, disassembles with `objdump -d`, and writes, per instruction,
 * its bytes, its source text, objdump's reading and the expected decode computed from the source
 * text by asm-semantics.mjs (the length is the assembler's byte count).
 *
 *   node tooling/x86-vectors/generate.mjs [--out FILE]
 *
 * Default output: packages/hw-cpu-seam/src/x86/fixtures/gnu-as-vectors.json. Exit 3 when `as`
 * or `objdump` is missing, 1 on any other failure.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { expectFromAsm } from "./asm-semantics.mjs";
import { instructionLines } from "./instructions.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, "../..");
const DEFAULT_OUT = join(root, "packages/hw-cpu-seam/src/x86/fixtures/gnu-as-vectors.json");

function run(cmd, args) {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  if (r.error && r.error.code === "ENOENT") {
    process.stderr.write(`generate: \`${cmd}\` is not installed (GNU binutils is needed)\n`);
    process.exit(3);
  }
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} failed:\n${r.stderr}`);
  return r.stdout;
}

/** objdump -d lines "  addr:\tbytes\tdisassembly" → [{ hex, text }]. */
function parseObjdump(out) {
  const insns = [];
  for (const line of out.split("\n")) {
    const m = /^\s*[0-9a-f]+:\t([0-9a-f ]+?)\s*\t(.*)$/.exec(line);
    if (!m) continue;
    insns.push({
      hex: m[1].replace(/\s+/g, ""),
      text: m[2]
        .replace(/\s+#.*$/, "")
        .replace(/\s+/g, " ")
        .trim(),
    });
  }
  return insns;
}

function generate() {
  const lines = instructionLines();
  const dir = mkdtempSync(join(tmpdir(), "x86-vectors-"));
  try {
    const src = join(dir, "vectors.s");
    const obj = join(dir, "vectors.o");
    writeFileSync(src, `.intel_syntax noprefix\n.text\n${lines.join("\n")}\n`);
    run("as", ["--64", "-o", obj, src]);
    const insns = parseObjdump(run("objdump", ["-d", "-M", "intel", "--insn-width=16", obj]));
    if (insns.length !== lines.length) {
      throw new Error(`objdump shows ${insns.length} instructions for ${lines.length} source lines`);
    }
    const assembler = run("as", ["--version"]).split("\n")[0];
    const vectors = lines.map((asm, i) => {
      const insn = insns[i];
      const expect = expectFromAsm(asm);
      if (expect.kind !== "unsupported") expect.length = insn.hex.length / 2;
      return { hex: insn.hex, asm, objdump: insn.text, expect };
    });
    return {
      about:
        "x86 MMIO decoder vectors: bytes from GNU as --64 (Intel syntax), expectations derived from the assembly text. Regenerate with: node tooling/x86-vectors/generate.mjs",
      assembler,
      vectors,
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function main(argv) {
  const i = argv.indexOf("--out");
  const out = i >= 0 && argv[i + 1] !== undefined ? resolve(argv[i + 1]) : DEFAULT_OUT;
  const fixture = generate();
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, `${JSON.stringify(fixture, null, 2)}\n`);
  process.stdout.write(`wrote ${fixture.vectors.length} vectors to ${relative(process.cwd(), out)}\n`);
}

try {
  main(process.argv.slice(2));
} catch (err) {
  process.stderr.write(`generate: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exitCode = 1;
}
