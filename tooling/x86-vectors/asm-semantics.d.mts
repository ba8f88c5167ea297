/** Types of asm-semantics.mjs: the expected MMIO decode of an Intel-syntax instruction line. */
export interface ExpectedMemory {
  base: number;
  index: number;
  scale: number;
  disp: number;
  ripRelative: boolean;
  addressSize: number;
  segment: string;
}
export interface ExpectedDecode {
  kind: string;
  reason?: string;
  size?: number;
  reg?: string;
  regNumber?: number;
  regHigh?: boolean;
  regSize?: number;
  imm?: string;
  mem?: ExpectedMemory;
  addressSize?: number;
  segment?: string;
  rep?: string;
}
export function gpr(name: string): { name: string; number: number; size: number; high: boolean } | undefined;
export function parseOperand(
  text: string,
): { type: string; size?: number; mem?: ExpectedMemory } & Record<string, unknown>;
export function expectFromAsm(line: string): ExpectedDecode;
