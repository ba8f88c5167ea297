/**
 * What an Intel-syntax instruction line means for MMIO emulation, derived from the text alone
 * (mnemonic, operand registers, PTR sizes, immediates), never from any decoder: this is the
 * independent expectation the x86 MMIO decoder's test vectors are checked against.
 *
 * Facts used (Intel SDM Vol. 1 §3.7.4 default segments, Vol. 2 MOV/MOVZX/MOVSX/MOVS;
 * shared/reference/kvm-guest-qemu.md §3.3 for which forms Linux emulates and the access size):
 * - mov mem, reg → write (size of reg); mov reg, mem → read; mov mem, imm → write-imm with the
 *   immediate truncated to the PTR size (what memory receives);
 * - movzx/movsx reg, mem → read-zext/read-sext, size = the memory (source) size;
 * - movs{b,w,d,q} (optionally rep/repne) → movs, size from the suffix;
 * - anything else, or an instruction without a memory operand, is unsupported;
 * - the default segment is SS for a base of rsp/rbp (esp/ebp), else DS; naming the default
 *   segment needs no prefix, so the expected override is "none".
 */

const LOW8 = ["r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"];
const NAMES = {
  8: ["rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", ...LOW8],
  4: ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", ...LOW8.map((r) => `${r}d`)],
  2: ["ax", "cx", "dx", "bx", "sp", "bp", "si", "di", ...LOW8.map((r) => `${r}w`)],
  1: ["al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil", ...LOW8.map((r) => `${r}b`)],
};
const HIGH8 = ["ah", "ch", "dh", "bh"];
const PTR_SIZES = { BYTE: 1, WORD: 2, DWORD: 4, QWORD: 8, XMMWORD: 16, YMMWORD: 32, ZMMWORD: 64 };
const EVEX_ONLY = new Set(["vmovdqu8", "vmovdqu16", "vmovdqu32", "vmovdqu64"]);

/** A general-purpose register by name: its number (0-15), width, and whether it is AH..BH. */
export function gpr(name) {
  for (const size of [8, 4, 2, 1]) {
    const n = NAMES[size].indexOf(name);
    if (n >= 0) return { name, number: n, size, high: false };
  }
  const h = HIGH8.indexOf(name);
  if (h >= 0) return { name, number: h, size: 1, high: true };
  return undefined;
}

function parseNumber(text) {
  const t = text.trim();
  const neg = t.startsWith("-");
  const body = neg ? t.slice(1) : t;
  if (!/^(0x[0-9a-f]+|[0-9]+)$/i.test(body)) return undefined;
  const v = BigInt(body);
  return neg ? -v : v;
}

/** Split operands on commas outside brackets. */
function splitOperands(text) {
  const out = [];
  let depth = 0;
  let cur = "";
  for (const ch of text) {
    if (ch === "[") depth++;
    if (ch === "]") depth--;
    if (ch === "," && depth === 0) {
      out.push(cur.trim());
      cur = "";
    } else cur += ch;
  }
  if (cur.trim() !== "") out.push(cur.trim());
  return out;
}

/** Parse `[base + index*scale + disp]`, `[rip+disp]` or an absolute `seg:disp`. */
function parseAddress(inner) {
  const mem = { base: -1, index: -1, scale: 1, disp: 0, ripRelative: false, addressSize: 8 };
  let baseReg;
  const terms = inner.replace(/\s+/g, "").replace(/-/g, "+-").split("+").filter(Boolean);
  for (const term of terms) {
    const scaled = /^([a-z0-9]+)\*([1248])$/.exec(term);
    if (scaled) {
      const r = gpr(scaled[1]);
      if (!r) throw new Error(`bad index register in "${inner}"`);
      mem.index = r.number;
      mem.scale = Number(scaled[2]);
      mem.addressSize = r.size;
      continue;
    }
    if (term === "rip" || term === "eip") {
      mem.ripRelative = true;
      mem.addressSize = term === "rip" ? 8 : 4;
      continue;
    }
    const r = gpr(term);
    if (r) {
      if (baseReg === undefined) {
        baseReg = r;
        mem.base = r.number;
      } else {
        mem.index = r.number;
        mem.scale = 1;
      }
      mem.addressSize = r.size;
      continue;
    }
    const n = parseNumber(term);
    if (n === undefined) throw new Error(`cannot parse address term "${term}" in "${inner}"`);
    mem.disp += Number(n);
  }
  return { mem, baseReg };
}

/** Parse one operand: a register, an immediate, or a memory operand. */
export function parseOperand(text) {
  const r = gpr(text);
  if (r) return { type: "reg", ...r };
  if (/^[xyz]mm[0-9]+$/.test(text)) return { type: "vreg", name: text };
  if (/^(es|cs|ss|ds|fs|gs)$/.test(text)) return { type: "sreg", name: text };
  const imm = parseNumber(text);
  if (imm !== undefined) return { type: "imm", value: imm };
  const m = /^(?:([A-Z]+)\s+PTR\s+)?(?:(es|cs|ss|ds|fs|gs):)?(?:\[(.*)\]|(-?(?:0x[0-9a-f]+|[0-9]+)))$/.exec(
    text,
  );
  if (!m) throw new Error(`cannot parse operand "${text}"`);
  const size = m[1] === undefined ? undefined : PTR_SIZES[m[1]];
  const { mem, baseReg } = m[3] !== undefined ? parseAddress(m[3]) : parseAddress(m[4]);
  const written = m[2];
  const defaultSegment =
    baseReg !== undefined && (baseReg.number === 4 || baseReg.number === 5) ? "ss" : "ds";
  mem.segment = written === undefined || written === defaultSegment ? "none" : written;
  return { type: "mem", size, mem };
}

function unsupported(reason) {
  return reason === undefined ? { kind: "unsupported" } : { kind: "unsupported", reason };
}

/** The immediate as memory receives it: `size` bytes, as 0x and 2*size hex digits. */
function immediateHex(value, size) {
  const mask = (1n << BigInt(8 * size)) - 1n;
  return `0x${(value & mask).toString(16).padStart(2 * size, "0")}`;
}

/**
 * The expected MMIO decode of one Intel-syntax line (without the length, which only the
 * assembler knows).
 */
export function expectFromAsm(line) {
  const words = line.trim().split(/\s+/);
  const prefixes = [];
  while (["rep", "repe", "repz", "repne", "repnz", "lock"].includes(words[0])) prefixes.push(words.shift());
  const mnemonic = words.shift();
  const ops = splitOperands(words.join(" ")).map(parseOperand);
  const locked = prefixes.includes("lock");

  if (/^movs[bwdq]$/.test(mnemonic) && ops.length === 0) {
    const size = { b: 1, w: 2, d: 4, q: 8 }[mnemonic[4]];
    const rep = prefixes.some((p) => p.startsWith("repn")) ? "repne" : prefixes.length > 0 ? "rep" : "none";
    return { kind: "movs", size, addressSize: 8, segment: "none", rep };
  }
  if (mnemonic === "movs" && ops.length === 2 && ops.every((o) => o.type === "mem")) {
    const rep = prefixes.some((p) => p.startsWith("repn")) ? "repne" : prefixes.length > 0 ? "rep" : "none";
    const src = ops[1];
    return { kind: "movs", size: src.size, addressSize: src.mem.addressSize, segment: src.mem.segment, rep };
  }
  if (mnemonic.startsWith("v")) {
    const evex = EVEX_ONLY.has(mnemonic) || ops.some((o) => o.type === "vreg" && o.name.startsWith("zmm"));
    return unsupported(evex ? "evex" : "vex");
  }
  const isMovFamily = mnemonic === "mov" || mnemonic === "movzx" || mnemonic === "movsx";
  if (!isMovFamily) return unsupported("opcode");
  if (locked) return unsupported("lock-prefix");
  const [dst, src] = ops;
  if (ops.length !== 2) throw new Error(`"${line}": expected two operands`);
  if (ops.some((o) => o.type === "sreg" || o.type === "vreg")) return unsupported("opcode");
  if (!ops.some((o) => o.type === "mem")) {
    // No memory operand: register to register is ModRM mod=3; register from immediate may be
    // either B8+r or C7 /0 mod=3 depending on the assembler, so no reason is implied.
    return unsupported(src.type === "reg" ? "register-operand" : undefined);
  }
  if (mnemonic === "movzx" || mnemonic === "movsx") {
    if (dst.type !== "reg" || src.type !== "mem") throw new Error(`"${line}": bad ${mnemonic}`);
    return {
      kind: mnemonic === "movzx" ? "read-zext" : "read-sext",
      size: src.size,
      reg: dst.name,
      regNumber: dst.number,
      regHigh: dst.high,
      regSize: dst.size,
      mem: src.mem,
    };
  }
  if (dst.type === "mem" && src.type === "reg") {
    return withReg("write", src, dst.mem);
  }
  if (dst.type === "reg" && src.type === "mem") {
    return withReg("read", dst, src.mem);
  }
  if (dst.type === "mem" && src.type === "imm") {
    if (dst.size === undefined) throw new Error(`"${line}": immediate store needs a PTR size`);
    return { kind: "write-imm", size: dst.size, imm: immediateHex(src.value, dst.size), mem: dst.mem };
  }
  throw new Error(`"${line}": no rule for these operands`);
}

function withReg(kind, r, mem) {
  return { kind, size: r.size, reg: r.name, regNumber: r.number, regHigh: r.high, regSize: r.size, mem };
}
