/**
 * Sparse backing at scale: a 1 TiB host address space with 256 MiB touched (65536 frames spread
 * over the whole range) must stay well under 1 GiB of memory, and every frame keeps its bytes.
 */
import { describe, expect, it } from "vitest";
import { PhysicalMemory } from "./physical-memory";
import { Initiator, MemStatus } from "./types";

const TiB = 2 ** 40;
const FRAMES = 65536;

describe("sparse 1 TiB address space", () => {
  it("touching 65536 frames spread over 1 TiB costs about the touched bytes, not the span", () => {
    const before = process.memoryUsage();
    const m = new PhysicalMemory({ physAddrBits: 46, keyIdBits: 6, ram: [{ base: 0, size: TiB }] });
    const stride = TiB / FRAMES; // 16 MiB between touched frames
    const page = new Uint8Array(4096);
    for (let i = 0; i < FRAMES; i++) {
      page[0] = i & 0xff;
      page[1] = i >>> 8;
      page[4095] = 0x5a;
      expect(m.write(i * stride + ((i * 4096) % stride), page, Initiator.Host)).toBe(MemStatus.Ok);
    }
    const after = process.memoryUsage();
    const rssDelta = after.rss - before.rss;
    const abDelta = after.arrayBuffers - before.arrayBuffers;
    expect(m.stats().allocatedFrames).toBe(FRAMES);
    expect(m.stats().backingBytes).toBeLessThan(2 ** 30);
    expect(abDelta).toBeLessThan(2 ** 30);
    expect(rssDelta).toBeLessThan(2 ** 30);
    const b = new Uint8Array(4096);
    for (let i = 0; i < FRAMES; i += 97) {
      expect(m.read(i * stride + ((i * 4096) % stride), b, Initiator.Host)).toBe(MemStatus.Ok);
      expect([b[0], b[1], b[4095]]).toEqual([i & 0xff, i >>> 8, 0x5a]);
    }
  });
});
