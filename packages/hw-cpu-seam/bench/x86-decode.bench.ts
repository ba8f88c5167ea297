/**
 * x86 MMIO instruction decode rate: the io.h accessor forms a #VE handler meets (readl/writel and
 * friends: MOV, MOVZX, MOV imm, with disp8/SIB/REX variants), and a mix with rejected forms (ALU
 * on memory, VEX, LOCK). Instructions are laid out in one buffer and decoded by offset, as the
 * handler decodes the 15 bytes it fetched at RIP. No targets: the issue sets none for decoding.
 */
import type { BenchSuite } from "../../../tooling/bench/types";
import { decodeMmioInstruction } from "../src/index";

function layout(hexes: readonly string[]): { bytes: Uint8Array; starts: Int32Array } {
  const all = hexes.map((h) => Uint8Array.from(h.match(/../g) ?? [], (b) => Number.parseInt(b, 16)));
  const bytes = new Uint8Array(all.reduce((n, b) => n + b.length, 0) + 15);
  const starts = new Int32Array(all.length);
  let at = 0;
  all.forEach((b, i) => {
    starts[i] = at;
    bytes.set(b, at);
    at += b.length;
  });
  return { bytes, starts };
}

const IO_ACCESSORS = layout([
  "8b07", // readl: mov eax, [rdi]
  "8907", // writel: mov [rdi], eax
  "488b4708", // readq: mov rax, [rdi+8]
  "0fb707", // readw: movzx eax, word [rdi]
  "0fb607", // readb: movzx eax, byte [rdi]
  "668907", // writew
  "8807", // writeb
  "41c7442410ffffffff", // mov dword [r12+0x10], -1
  "438b0c8f", // mov ecx, [r15+r9*4]
  "8b0510000000", // mov eax, [rip+0x10]
]);

const MIXED = layout([
  "8b07",
  "0107", // add [rdi], eax
  "c5fe6f07", // vmovdqu
  "f08907", // lock mov
  "48c70425ffffff7ffeffffff",
  "f348a5", // rep movsq
  "89d8", // mov eax, ebx
  "650fbf442408",
]);

let sink = 0;

function decodeAll(set: { bytes: Uint8Array; starts: Int32Array }): void {
  const { bytes, starts } = set;
  for (let i = 0; i < starts.length; i++) {
    const d = decodeMmioInstruction(bytes, starts[i]!, bytes.length);
    sink += d.kind === "unsupported" ? 1 : d.length;
  }
}

const suite: BenchSuite = {
  name: "hw-cpu-seam x86 MMIO decode",
  cases: [
    {
      name: "decode io.h accessor forms",
      fn: () => decodeAll(IO_ACCESSORS),
      opsPerCall: IO_ACCESSORS.starts.length,
    },
    {
      name: "decode mixed incl. rejected forms",
      fn: () => decodeAll(MIXED),
      opsPerCall: MIXED.starts.length,
    },
  ],
};

export default suite;
export { sink as decodeSink };
