/**
 * The physical-memory contract: what any implementation of `PhysicalMemoryAccess` must do — byte-
 * exact accesses of any size and alignment, little-endian 32/64-bit accesses that agree with byte
 * accesses, memmove-like copies, faults as values for holes, MMIO and misused KeyIDs, and (when the
 * implementation models TDX integrity) the TD-owner rules, and the KeyID queries of the interface
 * (`keyIdOf`, `stripKeyId`, `isPrivateKeyId` agreeing with what host software may access,
 * `anyTdOwnedLine` agreeing with the owner bits the accesses set). Run it with `describeMemoryContract`.
 *
 * @spec /work/shared/reference/tdx-module.md §5.4 (private KeyIDs only in SEAM), §7 (TD-owner bit:
 *   host reads see zeros, a host write makes the TD's next read a machine check), §5.4 (the KeyID
 *   in the top MK_TME_KEYID_BITS of the PA: hkid_start_bit = MAX_PA - keyid_bits)
 */
import { describe, expect, it } from "vitest";
import { Initiator, MemStatus, type PhysicalMemoryAccess } from "../memory/types";
import { SeededRandom } from "../random/seeded-random";

export interface MemoryContractHarness {
  readonly mem: PhysicalMemoryAccess;
  /** A RAM range (KeyID-stripped, at least 64 KiB, 4 KiB aligned) the suite may use freely. */
  readonly ram: { readonly base: number; readonly size: number };
  /** A KeyID-stripped address that is not backed by anything, if the memory has holes. */
  readonly hole?: number;
  /** A KeyID-stripped address inside an MMIO range, if the memory has one. */
  readonly mmio?: number;
  /** A TDX private KeyID, if the memory models them. */
  readonly privateKeyId?: number;
  /**
   * Initialise the page at `pa` (KeyID included) for its KeyID as MOVDIR64B does. Needed, with
   * `privateKeyId`, for the integrity tests.
   */
  readonly initPage?: (pa: number, who: Initiator) => MemStatus;
}

const OK = MemStatus.Ok;

/** A deterministic [0, 1) source (the project's SeededRandom) so failures reproduce. */
export function seededRandom(seed: number): () => number {
  const r = new SeededRandom(seed);
  return () => r.next();
}

function withKey(mem: PhysicalMemoryAccess, a: number, keyId: number): number {
  return a + keyId * 2 ** (mem.physAddrBits - mem.keyIdBits);
}

/** Register the memory contract tests for one implementation. */
export function describeMemoryContract(name: string, make: () => MemoryContractHarness): void {
  describe(`memory contract: ${name}`, () => {
    it("reads back what was written, byte-exact at any size and alignment (random vs a flat array)", () => {
      const h = make();
      const span = Math.min(h.ram.size, 64 * 1024);
      const ref = new Uint8Array(span);
      const rnd = seededRandom(42);
      for (let k = 0; k < 600; k++) {
        const len = Math.floor(rnd() * 5000);
        const off = Math.floor(rnd() * (span - len));
        const op = Math.floor(rnd() * 4);
        if (op === 0) {
          const b = new Uint8Array(len).map(() => Math.floor(rnd() * 256));
          expect(h.mem.write(h.ram.base + off, b, Initiator.Host)).toBe(OK);
          ref.set(b, off);
        } else if (op === 1) {
          const b = new Uint8Array(len);
          expect(h.mem.read(h.ram.base + off, b, Initiator.Host)).toBe(OK);
          expect(b).toEqual(ref.subarray(off, off + len));
        } else if (op === 2) {
          const to = Math.floor(rnd() * (span - len));
          expect(h.mem.copy(h.ram.base + to, h.ram.base + off, len, Initiator.Host)).toBe(OK);
          ref.copyWithin(to, off, off + len);
        } else {
          const v = Math.floor(rnd() * 256);
          expect(h.mem.fill(h.ram.base + off, len, v, Initiator.Host)).toBe(OK);
          ref.fill(v, off, off + len);
        }
      }
      const all = new Uint8Array(span);
      expect(h.mem.read(h.ram.base, all, Initiator.Host)).toBe(OK);
      expect(all).toEqual(ref);
    });

    it("32- and 64-bit accesses are little-endian and agree with byte accesses, aligned or not", () => {
      const h = make();
      const base = h.ram.base + 4096 - 13; // straddles a 4 KiB boundary for some offsets
      const out = new Uint32Array(2);
      const rnd = seededRandom(7);
      for (let k = 0; k < 200; k++) {
        const off = Math.floor(rnd() * 32);
        const lo = Math.floor(rnd() * 2 ** 32);
        const hi = Math.floor(rnd() * 2 ** 32);
        expect(h.mem.write64(base + off, lo, hi, Initiator.Host)).toBe(OK);
        const b = new Uint8Array(8);
        expect(h.mem.read(base + off, b, Initiator.Host)).toBe(OK);
        const dv = new DataView(b.buffer);
        expect(dv.getUint32(0, true)).toBe(lo);
        expect(dv.getUint32(4, true)).toBe(hi);
        expect(h.mem.read64(base + off, Initiator.Host, out)).toBe(OK);
        expect([out[0], out[1]]).toEqual([lo, hi]);
        expect(h.mem.write32(base + off + 2, 0xdeadbeef, Initiator.Host)).toBe(OK);
        expect(h.mem.read32(base + off + 2, Initiator.Host, out)).toBe(OK);
        expect(out[0]).toBe(0xdeadbeef);
        expect(h.mem.read32(base + off, Initiator.Host, out)).toBe(OK);
        expect(out[0]).toBe(((0xbeef * 65536) % 2 ** 32) + (lo & 0xffff));
      }
    });

    it("copies overlapping ranges like memmove", () => {
      const h = make();
      const src = new Uint8Array(9000).map((_, i) => (i * 7 + 3) & 0xff);
      expect(h.mem.write(h.ram.base, src, Initiator.Host)).toBe(OK);
      expect(h.mem.copy(h.ram.base + 100, h.ram.base, 9000, Initiator.Host)).toBe(OK);
      const b = new Uint8Array(9000);
      expect(h.mem.read(h.ram.base + 100, b, Initiator.Host)).toBe(OK);
      expect(b).toEqual(src);
      expect(h.mem.copy(h.ram.base, h.ram.base + 100, 9000, Initiator.Host)).toBe(OK);
      expect(h.mem.read(h.ram.base, b, Initiator.Host)).toBe(OK);
      expect(b).toEqual(src);
    });

    it("reports a hole as a value with its address, and a faulting write changes nothing", () => {
      const h = make();
      if (h.hole === undefined) return;
      const b = new Uint8Array(16);
      expect(h.mem.read(h.hole, b, Initiator.Host)).toBe(MemStatus.Hole);
      expect(h.mem.lastFault()).toMatchObject({
        kind: "hole",
        pa: h.hole,
        keyId: 0,
        initiator: Initiator.Host,
      });
      // a write starting in RAM and running into the hole writes nothing
      const before = new Uint8Array(8);
      const pre = h.hole - 8;
      if (h.mem.read(pre, before, Initiator.Host) === OK) {
        expect(h.mem.write(pre, new Uint8Array(16).fill(0xee), Initiator.Host)).toBe(MemStatus.Hole);
        expect(h.mem.lastFault()?.pa).toBe(h.hole);
        const after = new Uint8Array(8);
        expect(h.mem.read(pre, after, Initiator.Host)).toBe(OK);
        expect(after).toEqual(before);
      }
      const out = new Uint32Array(2);
      expect(h.mem.read64(h.hole, Initiator.Device, out)).toBe(MemStatus.Hole);
      expect(h.mem.lastFault()?.initiator).toBe(Initiator.Device);
    });

    it("reports an MMIO range as a value, never as silent zeros", () => {
      const h = make();
      if (h.mmio === undefined) return;
      const out = new Uint32Array(1);
      expect(h.mem.read32(h.mmio, Initiator.Host, out)).toBe(MemStatus.Mmio);
      expect(h.mem.lastFault()).toMatchObject({ kind: "mmio", pa: h.mmio });
      expect(h.mem.write32(h.mmio, 1, Initiator.Host)).toBe(MemStatus.Mmio);
    });

    it("refuses a private KeyID to host software and to devices, and rejects unconfigured KeyIDs", () => {
      const h = make();
      if (h.privateKeyId === undefined) return;
      const pa = withKey(h.mem, h.ram.base, h.privateKeyId);
      const b = new Uint8Array(8);
      expect(h.mem.read(pa, b, Initiator.Host)).toBe(MemStatus.KeyIdNotAllowed);
      expect(h.mem.lastFault()).toMatchObject({ kind: "keyid-not-allowed", keyId: h.privateKeyId });
      expect(h.mem.write(pa, b, Initiator.Device)).toBe(MemStatus.KeyIdNotAllowed);
      expect(h.mem.copy(h.ram.base, pa, 8, Initiator.Host)).toBe(MemStatus.KeyIdNotAllowed);
    });

    it("finds the KeyID in the upper PA bits and strips it, for every KeyID and address width", () => {
      const h = make();
      const hostBits = h.mem.physAddrBits - h.mem.keyIdBits;
      const keyIds = 2 ** h.mem.keyIdBits;
      const rnd = seededRandom(11);
      const addrs = [0, h.ram.base, h.ram.base + h.ram.size - 1, 2 ** hostBits - 1];
      for (let n = 0; n < 64; n++) addrs.push(Math.floor(rnd() * 2 ** hostBits));
      for (let k = 0; k < Math.min(keyIds, 1024); k++) {
        for (const a of addrs) {
          const pa = withKey(h.mem, a, k);
          expect(h.mem.keyIdOf(pa)).toBe(k);
          expect(h.mem.stripKeyId(pa)).toBe(a);
        }
      }
      expect(h.mem.keyIdOf(2 ** h.mem.physAddrBits - 1)).toBe(keyIds - 1);
    });

    it("calls a KeyID private exactly when host software may not use it", () => {
      const h = make();
      const keyIds = 2 ** h.mem.keyIdBits;
      expect(h.mem.isPrivateKeyId(0)).toBe(false); // KeyID 0 (TME) is never private
      expect(h.mem.isPrivateKeyId(keyIds)).toBe(false); // beyond the KeyID bits
      if (h.privateKeyId !== undefined) expect(h.mem.isPrivateKeyId(h.privateKeyId)).toBe(true);
      const b = new Uint8Array(8);
      for (let k = 0; k < Math.min(keyIds, 1024); k++) {
        const status = h.mem.read(withKey(h.mem, h.ram.base, k), b, Initiator.Host);
        expect([OK, MemStatus.KeyIdNotAllowed, MemStatus.KeyIdInvalid]).toContain(status);
        expect({ keyId: k, private: h.mem.isPrivateKeyId(k) }).toEqual({
          keyId: k,
          private: status === MemStatus.KeyIdNotAllowed,
        });
      }
    });

    it("reports TD-owned lines of a range line by line, whatever KeyID the range carries", () => {
      const h = make();
      if (h.privateKeyId === undefined || h.initPage === undefined) return;
      const page = h.ram.base + 16384;
      const next = page + 4096;
      const key = h.privateKeyId;
      expect(h.mem.anyTdOwnedLine(page, 8192)).toBe(false); // never touched
      expect(h.mem.write(next + 100, Uint8Array.of(1, 2, 3), Initiator.Host)).toBe(OK);
      expect(h.mem.anyTdOwnedLine(page, 8192)).toBe(false); // host data owns nothing
      expect(h.initPage(withKey(h.mem, page, key), Initiator.Seam)).toBe(OK);
      expect(h.mem.anyTdOwnedLine(page + 4095, 1)).toBe(true);
      expect(h.mem.anyTdOwnedLine(withKey(h.mem, page, key), 1)).toBe(true);
      expect(h.mem.anyTdOwnedLine(page - 64, 64)).toBe(false); // the line before the page
      expect(h.mem.anyTdOwnedLine(page - 64, 65)).toBe(true); // one byte into it
      expect(h.mem.anyTdOwnedLine(next, 4096)).toBe(false);
      expect(h.mem.anyTdOwnedLine(page + 4095, 2)).toBe(true); // straddles into the next page
      expect(h.mem.anyTdOwnedLine(page, 0)).toBe(false);
      // A host write of whole lines clears their owner bits; only the TD's lines still count.
      expect(h.mem.write(page, new Uint8Array(4096 - 64), Initiator.Host)).toBe(OK);
      expect(h.mem.anyTdOwnedLine(page, 4096 - 64)).toBe(false);
      expect(h.mem.anyTdOwnedLine(page + 4096 - 65, 2)).toBe(true); // the last line is still the TD's
      // A private full-line write by the TD makes a line TD-owned again.
      const line = page + 7 * 64;
      expect(h.mem.write(withKey(h.mem, line, key), new Uint8Array(64).fill(9), Initiator.Td)).toBe(OK);
      expect(h.mem.anyTdOwnedLine(page, 7 * 64)).toBe(false);
      expect(h.mem.anyTdOwnedLine(page, 7 * 64 + 1)).toBe(true);
      expect(h.mem.anyTdOwnedLine(line + 63, 1)).toBe(true);
      expect(h.mem.anyTdOwnedLine(line + 64, 64 * 10)).toBe(false);
      const b = new Uint8Array(64);
      expect(h.mem.read(withKey(h.mem, line, key), b, Initiator.Td)).toBe(OK);
      expect(b.every((x) => x === 9)).toBe(true);
    });

    it("hides a TD-owned line from shared-KeyID reads and machine-checks the TD after a host write", () => {
      const h = make();
      if (h.privateKeyId === undefined || h.initPage === undefined) return;
      const page = h.ram.base + 8192;
      const pa = withKey(h.mem, page, h.privateKeyId);
      expect(h.initPage(pa, Initiator.Seam)).toBe(OK);
      const secret = new Uint8Array(64).fill(0xa5);
      expect(h.mem.write(pa + 128, secret, Initiator.Td)).toBe(OK);
      const b = new Uint8Array(64);
      expect(h.mem.read(pa + 128, b, Initiator.Td)).toBe(OK);
      expect(b).toEqual(secret);
      expect(h.mem.read(page + 128, b, Initiator.Host)).toBe(OK);
      expect(b.some((x) => x === 0xa5)).toBe(false);
      expect(h.mem.write(page + 128, new Uint8Array(64), Initiator.Host)).toBe(OK);
      expect(h.mem.read(pa + 128, b, Initiator.Td)).toBe(MemStatus.MachineCheck);
      expect(h.mem.lastFault()).toMatchObject({ kind: "machine-check", pa: pa + 128 });
      // other lines of the page are untouched
      expect(h.mem.read(pa + 256, b, Initiator.Td)).toBe(OK);
    });
  });
}
