/**
 * The instruction lines (GNU as, Intel syntax without register prefixes) the MMIO decoder is
 * tested on: every GPR at every width in both directions, every addressing form and its special
 * encodings, prefixes, immediates of every size, MOVZX/MOVSX, MOVS, and instructions that must be
 * rejected. Deterministic: the same list on every run.
 */

const LOW8 = ["r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"];
const R64 = ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", ...LOW8];
const R32 = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", ...LOW8.map((r) => `${r}d`)];
const R16 = ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di", ...LOW8.map((r) => `${r}w`)];
const R8 = ["al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil", ...LOW8.map((r) => `${r}b`)];
const HIGH8 = ["ah", "ch", "dh", "bh"];
const PTR = { 1: "BYTE", 2: "WORD", 4: "DWORD", 8: "QWORD" };
const BY_SIZE = { 1: R8, 2: R16, 4: R32, 8: R64 };

function registerMoves(lines) {
  // Every register at every width, both directions, through [rdi] (no REX needed for the address)
  // and through [r9] (REX.B), so REX.R and REX.B appear alone and together.
  for (const size of [1, 2, 4, 8]) {
    for (const reg of BY_SIZE[size]) {
      for (const base of ["rdi", "r9"]) {
        lines.push(`mov ${PTR[size]} PTR [${base}], ${reg}`);
        lines.push(`mov ${reg}, ${PTR[size]} PTR [${base}]`);
      }
    }
  }
  // AH..BH exist only without REX, so only with legacy bases.
  for (const reg of HIGH8) {
    for (const base of ["rdi", "rbx", "rsp"]) {
      lines.push(`mov BYTE PTR [${base}], ${reg}`);
      lines.push(`mov ${reg}, BYTE PTR [${base}]`);
    }
  }
}

function addressingForms(lines) {
  // Every base alone, with disp8 (positive, negative, zero) and disp32: rsp/r12 need a SIB byte,
  // rbp/r13 a disp8 of 0.
  for (const base of R64) {
    lines.push(`mov eax, DWORD PTR [${base}]`);
    lines.push(`mov DWORD PTR [${base}+0x10], ecx`);
    lines.push(`mov rdx, QWORD PTR [${base}-0x80]`);
    lines.push(`mov WORD PTR [${base}+0x12345678], r10w`);
    lines.push(`mov r11b, BYTE PTR [${base}-0x1000]`);
  }
  // SIB: every index (rsp cannot be one) at every scale, with legacy and REX.B bases.
  const scales = [1, 2, 4, 8];
  for (const index of R64.filter((r) => r !== "rsp")) {
    for (const scale of scales) lines.push(`mov eax, DWORD PTR [rdi+${index}*${scale}]`);
    lines.push(`mov QWORD PTR [r13+${index}*2+0x8], rsi`);
    lines.push(`mov ebx, DWORD PTR [rbp+${index}*4]`);
    lines.push(`mov r8d, DWORD PTR [rsp+${index}*8-0x4]`);
    lines.push(`mov DWORD PTR [r12+${index}*1+0x7fff0000], r15d`);
  }
  // Index only (SIB base=101, mod=00: disp32, no base).
  for (const [index, scale, disp] of [
    ["rax", 2, "0x0"],
    ["r12", 8, "0x10"],
    ["rbp", 4, "-0x8"],
    ["r13", 1, "0x7ffffff0"],
  ]) {
    lines.push(`mov ecx, DWORD PTR [${index}*${scale}+${disp}]`.replace("+-", "-"));
  }
  // RIP-relative and absolute disp32 (SIB with no base and no index).
  for (const disp of ["0x0", "0x10", "-0x100", "0x7fffffff", "-0x80000000"]) {
    lines.push(`mov eax, DWORD PTR [rip+${disp}]`.replace("+-", "-"));
    lines.push(`mov QWORD PTR [rip+${disp}], r14`.replace("+-", "-"));
  }
  for (const addr of ["0x0", "0x1000", "0x7fffffff"]) {
    lines.push(`mov eax, DWORD PTR ds:${addr}`);
    lines.push(`mov BYTE PTR ds:${addr}, r9b`);
  }
  // 67: 32-bit addressing.
  for (const mem of [
    "[edi]",
    "[r9d]",
    "[esp+0x8]",
    "[ebp]",
    "[eax+ecx*4+0x10]",
    "[r13d+r14d*8-0x20]",
    "[eip+0x10]",
  ]) {
    lines.push(`mov eax, DWORD PTR ${mem}`);
    lines.push(`mov WORD PTR ${mem}, dx`);
  }
  // Segment overrides: non-default ones need a prefix; default ones do not.
  for (const mem of [
    "fs:[rdi]",
    "gs:[rdi+0x28]",
    "es:[rdi]",
    "cs:[rdi]",
    "ss:[rdi]",
    "ds:[rbp]",
    "ds:[rsp+0x8]",
    "ds:[rdi]",
    "ss:[rbp+0x8]",
    "gs:[rip+0x40]",
    "fs:0x28",
    "gs:[r12+rax*8]",
  ]) {
    lines.push(`mov rax, QWORD PTR ${mem}`);
    lines.push(`mov DWORD PTR ${mem}, r8d`);
  }
}

function immediateStores(lines) {
  const values = {
    1: ["0x0", "0x5a", "0x7f", "0x80", "-1", "0xff"],
    2: ["0x0", "0x1234", "0x7fff", "-2", "0xffff"],
    4: ["0x0", "0x12345678", "0x7fffffff", "0x80000000", "-1"],
    8: ["0x0", "0x12345678", "0x7fffffff", "-2", "-0x80000000"],
  };
  const mems = ["[rdi]", "[r9+0x10]", "[rsp+rax*4+0x12345678]", "[rip+0x100]", "ds:0x7fffffff", "[r13]"];
  for (const size of [1, 2, 4, 8]) {
    values[size].forEach((v, i) => {
      lines.push(`mov ${PTR[size]} PTR ${mems[i % mems.length]}, ${v}`);
    });
  }
  lines.push("mov QWORD PTR ds:0x7fffffff, -2");
  lines.push("mov WORD PTR fs:[eax], 0x55aa");
}

function extendingLoads(lines) {
  for (const m of ["movzx", "movsx"]) {
    for (let n = 0; n < 16; n++) {
      const base = n % 2 === 0 ? "rsi" : "r10";
      lines.push(`${m} ${R16[n]}, BYTE PTR [${base}]`);
      lines.push(`${m} ${R32[n]}, BYTE PTR [${base}+0x4]`);
      lines.push(`${m} ${R64[n]}, BYTE PTR [${base}+rcx*2]`);
      lines.push(`${m} ${R32[n]}, WORD PTR [${base}-0x2]`);
      lines.push(`${m} ${R64[n]}, WORD PTR [rip+0x20]`);
    }
  }
}

function stringMoves(lines) {
  for (const s of ["b", "w", "d", "q"]) {
    lines.push(`movs${s}`);
    lines.push(`rep movs${s}`);
  }
  lines.push("repne movsb");
  lines.push("movs BYTE PTR es:[edi], BYTE PTR ds:[esi]");
  lines.push("rep movs DWORD PTR es:[edi], DWORD PTR ds:[esi]");
  lines.push("movs QWORD PTR es:[rdi], QWORD PTR fs:[rsi]");
  lines.push("rep movs WORD PTR es:[rdi], WORD PTR gs:[rsi]");
}

function rejected(lines) {
  for (const op of ["add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"]) {
    lines.push(`${op} DWORD PTR [rdi], eax`);
    lines.push(`${op} rax, QWORD PTR [rdi]`);
    lines.push(`${op} BYTE PTR [rdi], 0x1`);
  }
  lines.push(
    "test DWORD PTR [rdi], eax",
    "test BYTE PTR [rdi], 0x1",
    "xchg DWORD PTR [rdi], eax",
    "xchg QWORD PTR [r8], rcx",
    "movnti DWORD PTR [rdi], eax",
    "movnti QWORD PTR [rdi], rax",
    "movdqa xmm0, XMMWORD PTR [rdi]",
    "movdqa XMMWORD PTR [rdi], xmm1",
    "movaps xmm0, XMMWORD PTR [rdi]",
    "movups XMMWORD PTR [rdi], xmm2",
    "vmovdqu ymm0, YMMWORD PTR [rdi]",
    "vmovdqu YMMWORD PTR [r9+r10*2], ymm1",
    "vmovdqu8 zmm0, ZMMWORD PTR [rdi]",
    "vmovdqu32 ZMMWORD PTR [rdi], zmm3",
    "lock add DWORD PTR [rdi], eax",
    "lock or QWORD PTR [rdi], 0x1",
    "lock xchg DWORD PTR [rdi], eax",
    "lock cmpxchg DWORD PTR [rdi], ecx",
    "cmpxchg QWORD PTR [rdi], rcx",
    "push QWORD PTR [rdi]",
    "pop QWORD PTR [rdi]",
    "inc DWORD PTR [rdi]",
    "not DWORD PTR [rdi]",
    "movsxd rax, DWORD PTR [rdi]",
    "mov WORD PTR [rdi], ds",
    "mov eax, ebx",
    "mov al, bl",
    "mov rax, r8",
    "mov r9w, ax",
    "movzx eax, bl",
    "movsx rax, cx",
    "mov eax, 0x5",
    "mov rax, -1",
  );
}

/** All lines, in a fixed order. */
export function instructionLines() {
  const lines = [];
  registerMoves(lines);
  addressingForms(lines);
  immediateStores(lines);
  extendingLoads(lines);
  stringMoves(lines);
  rejected(lines);
  return lines;
}
