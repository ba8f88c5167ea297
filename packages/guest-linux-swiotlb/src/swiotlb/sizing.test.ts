/**
 * Boot sizing of the default pool. Each expected value is derived by hand from the reference's
 * rules (cited per case): §b.1 parser, §b.2 rounding (power of two once the area count is known),
 * §b.3 6 % of RAM clamped to [64 MiB, 1 GiB], §b.4 who wins and the halving fallback.
 */
import { describe, expect, it } from "vitest";
import { TopDownMemblock } from "../memory/memblock";
import { computeSwiotlbSizing, sixPercentOf } from "./sizing";

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

interface Case {
  readonly what: string;
  readonly ram: number;
  readonly cpus: number;
  readonly cmdline?: string;
  readonly slots: number;
  readonly areas: number;
  /** The rule that gives the value. */
  readonly rule: string;
}

const CASES: readonly Case[] = [
  {
    what: "1 GiB",
    ram: GiB,
    cpus: 8,
    slots: 32768,
    areas: 8,
    rule: "§b.3: 6 % = 61.4 MiB < 64 MiB floor -> 32768 slots; already 2^15",
  },
  {
    what: "2 GiB",
    ram: 2 * GiB,
    cpus: 8,
    slots: 65536,
    areas: 8,
    rule: "§b.3: 6 % = 122.9 MiB -> 63104 slots; §b.2: areas known at init -> 2^16",
  },
  {
    what: "4 GiB",
    ram: 4 * GiB,
    cpus: 8,
    slots: 131072,
    areas: 8,
    rule: "§b.3: 6 % = 245.8 MiB -> 125952 slots; §b.2 -> 2^17 = 256 MiB",
  },
  {
    what: "8 GiB",
    ram: 8 * GiB,
    cpus: 8,
    slots: 262144,
    areas: 8,
    rule: "§b.3: 491.5 MiB -> §b.2 -> 512 MiB",
  },
  {
    what: "16 GiB",
    ram: 16 * GiB,
    cpus: 8,
    slots: 524288,
    areas: 8,
    rule: "§b.3: 983 MiB (under the cap) -> §b.2 -> 1 GiB",
  },
  {
    what: "64 GiB",
    ram: 64 * GiB,
    cpus: 8,
    slots: 524288,
    areas: 8,
    rule: "§b.3: 3.84 GiB clamped to 1 GiB",
  },
  {
    what: "1 GiB, 512 CPUs",
    ram: GiB,
    cpus: 512,
    slots: 65536,
    areas: 512,
    rule: "§b.2: below 128 x nareas -> raised to 65536",
  },
  {
    what: "6 CPUs",
    ram: GiB,
    cpus: 6,
    slots: 32768,
    areas: 8,
    rule: "§b.2: area count rounded up to a power of two",
  },
  {
    what: "swiotlb=100000",
    ram: 4 * GiB,
    cpus: 8,
    cmdline: "100000",
    slots: 131072,
    areas: 8,
    rule: "§b.4: explicit count wins; 100096 -> 2^17 (256 MiB)",
  },
  {
    what: "swiotlb=100000 on 64 GiB",
    ram: 64 * GiB,
    cpus: 8,
    cmdline: "100000",
    slots: 131072,
    areas: 8,
    rule: "§b.4: the 6 % hook is ignored",
  },
  {
    what: "swiotlb=32768",
    ram: 4 * GiB,
    cpus: 8,
    cmdline: "32768",
    slots: 131072,
    areas: 8,
    rule: "§b.4: a count equal to the default does not win",
  },
  {
    what: "swiotlb=0x8000,3",
    ram: 4 * GiB,
    cpus: 8,
    cmdline: "0x8000,3",
    slots: 131072,
    areas: 4,
    rule: "§b.1: hex 32768, 3 areas -> 4; §b.4: 6 % still applies -> 2^17",
  },
  {
    what: "swiotlb=,4",
    ram: 4 * GiB,
    cpus: 8,
    cmdline: ",4",
    slots: 131072,
    areas: 4,
    rule: "§b.4: only areas given -> 6 % rule applies",
  },
  {
    what: "swiotlb=65536,force",
    ram: GiB,
    cpus: 8,
    cmdline: "65536,force",
    slots: 65536,
    areas: 8,
    rule: "§b.1: 65536 slots, force",
  },
  {
    what: "swiotlb=0100",
    ram: 4 * GiB,
    cpus: 8,
    cmdline: "0100",
    slots: 1024,
    areas: 8,
    rule: "§b.1: octal 64 -> 128; §b.2: raised to 128 x 8",
  },
  {
    what: "swiotlb=262144,2",
    ram: 4 * GiB,
    cpus: 64,
    cmdline: "262144,2",
    slots: 262144,
    areas: 2,
    rule: "§b.1: areas from the command line, not the CPUs",
  },
];

describe("default pool size for a TDX guest", () => {
  for (const c of CASES) {
    it(`${c.what}: ${c.slots} slots, ${c.areas} areas (${c.rule})`, () => {
      const s = computeSwiotlbSizing({
        ramBytes: c.ram,
        possibleCpus: c.cpus,
        ...(c.cmdline !== undefined ? { cmdline: c.cmdline } : {}),
      });
      expect(s.enabled).toBe(true);
      expect(s.nslabs).toBe(c.slots);
      expect(s.nareas).toBe(c.areas);
      expect(s.bytes).toBe(c.slots * 2048);
      expect(s.forceBounce).toBe(true);
    });
  }

  it("6 % is the kernel's integer arithmetic", () => {
    expect(sixPercentOf(4 * GiB)).toBe(257698037);
    expect(sixPercentOf(99)).toBe(5);
    expect(sixPercentOf(2 ** 52 - 1)).toBe(Math.floor(((2 ** 52 - 1) * 6) / 100));
  });

  it("logs the 4 GiB case as the kernel does", () => {
    const s = computeSwiotlbSizing({ ramBytes: 4 * GiB, possibleCpus: 8 });
    expect(s.log).toEqual([
      "software IO TLB: SWIOTLB bounce buffer size adjusted to 245MB",
      "software IO TLB: area num 8.",
      "software IO TLB: SWIOTLB bounce buffer size roundup to 256MB",
      "PCI-DMA: Using software bounce buffering for IO (SWIOTLB)",
    ]);
    expect(s.cocoRule).toEqual({ sixPercentBytes: 257698037, clampedBytes: 257698037, applied: true });
  });

  it("records that an explicit count overrides the 6 % rule", () => {
    const s = computeSwiotlbSizing({ ramBytes: 64 * GiB, possibleCpus: 8, cmdline: "100000" });
    expect(s.cocoRule).toEqual({
      sixPercentBytes: sixPercentOf(64 * GiB),
      clampedBytes: GiB,
      applied: false,
    });
  });

  it("swiotlb=noforce leaves a TD without any bounce pool", () => {
    const s = computeSwiotlbSizing({ ramBytes: 4 * GiB, possibleCpus: 8, cmdline: "noforce" });
    expect(s.enabled).toBe(false);
    expect(s.disabledReason).toBe("noforce");
    expect(s.nslabs).toBe(0);
  });
});

describe("guests without memory encryption (§b.4 step 3)", () => {
  it("no pool when no device needs bouncing", () => {
    const s = computeSwiotlbSizing({ ramBytes: 2 * GiB, possibleCpus: 4, memEncrypted: false });
    expect(s.enabled).toBe(false);
    expect(s.disabledReason).toBe("not-needed");
    expect(s.cocoRule).toBeUndefined();
  });
  it("the default 64 MiB pool without forced bouncing when RAM is above 4 GiB", () => {
    const s = computeSwiotlbSizing({ ramBytes: 8 * GiB, possibleCpus: 4, memEncrypted: false });
    expect(s).toMatchObject({ enabled: true, nslabs: 32768, nareas: 4, forceBounce: false });
  });
});

describe("placement below 4 GiB and the halving fallback (§b.4 step 3)", () => {
  it("halves a 1 GiB pool to 512 MiB when only 700 MiB is free below 4 GiB", () => {
    const s = computeSwiotlbSizing({ ramBytes: 16 * GiB, possibleCpus: 8, lowMemFreeBytes: 700 * MiB });
    expect(s.nslabs).toBe(262144);
    expect(s.requestedNslabs).toBe(524288);
    expect(s.nareas).toBe(8);
    expect(s.log).toContain(
      "software IO TLB: swiotlb_memblock_alloc: Failed to allocate 1073741824 bytes tlb structure",
    );
    expect(s.log).toContain("software IO TLB: SWIOTLB bounce buffer size adjusted 524288 -> 262144 slabs");
  });

  it("reduces the areas with limit_nareas while halving (not re-rounded)", () => {
    const s = computeSwiotlbSizing({
      ramBytes: GiB,
      possibleCpus: 8,
      cmdline: ",64,force",
      memEncrypted: false,
      lowMemFreeBytes: 4 * MiB,
    });
    // 32768 (64 MiB) -> 16384 -> 8192 -> 4096 (areas 4096/128 = 32) -> 2048 fits (areas 16).
    expect(s.nslabs).toBe(2048);
    expect(s.nareas).toBe(16);
    expect(s.defaultNareas).toBe(64);
  });

  it("gives up silently at 512 slots: no pool at all", () => {
    const s = computeSwiotlbSizing({ ramBytes: GiB, possibleCpus: 8, lowMemFreeBytes: 512 * 1024 });
    expect(s.enabled).toBe(false);
    expect(s.disabledReason).toBe("no-low-memory");
    // 32768 .. 512: seven failed attempts.
    expect(s.log.filter((l) => l.includes("Failed to allocate")).length).toBe(7);
  });

  it("places the pool top-down in the highest free block below 4 GiB and logs the range", () => {
    const mb = new TopDownMemblock([
      [0x10_0000, 0x8000_0000],
      [0x1_0000_0000, 0x2_0000_0000],
    ]);
    const s = computeSwiotlbSizing({ ramBytes: 4 * GiB, possibleCpus: 8, memblock: mb });
    expect(s.base).toBe(0x7000_0000);
    expect(s.log.at(-1)).toBe("software IO TLB: mapped [mem 0x0000000070000000-0x0000000080000000] (256MB)");
    expect(mb.largestLowBlock()).toBe(0x7000_0000 - 0x10_0000);
  });

  it("rejects impossible inputs with typed errors", () => {
    expect(() => computeSwiotlbSizing({ ramBytes: 0, possibleCpus: 1 })).toThrow(/RAM size/);
    expect(() => computeSwiotlbSizing({ ramBytes: GiB, possibleCpus: 0 })).toThrow(/possible CPUs/);
  });
});
