/**
 * Building VT-d translation structures in memory in their real formats, byte by byte: every entry
 * is encoded little-endian into bytes and written with the CPU's (host's) untranslated access, so
 * the unit reads exactly what a driver would have written. Legacy root/context tables, scalable
 * root/context tables, PASID directories and tables, second-stage and first-stage page tables.
 *
 * @spec reference/vtd.md §2.1-§2.3 (legacy layouts), §3.1-§3.3 (scalable layouts), §3.5 (IA-32e
 *   first-stage entries: P, R/W, U/S, A, D, PS, XD); Linux iommu.h/pasid.h setters for the bit
 *   positions
 */
import { Initiator, type PhysicalMemoryAccess, TdxSimError } from "@tdx/hw-cpu-seam";

/** Hands out zeroed, naturally aligned physical ranges. */
export class BumpAllocator {
  private next: number;
  constructor(
    private readonly mem: PhysicalMemoryAccess,
    base: number,
    private readonly limit: number,
  ) {
    this.next = base;
  }
  /** A zeroed range of `size` bytes aligned to `align` (default: the size rounded up to 4 KiB). */
  alloc(size: number, align = Math.max(4096, 2 ** Math.ceil(Math.log2(size)))): number {
    const a = Math.ceil(this.next / align) * align;
    if (a + size > this.limit) {
      throw new TdxSimError(
        "E_ALLOC",
        `cannot allocate 0x${size.toString(16)} bytes below 0x${this.limit.toString(16)}`,
      );
    }
    this.next = a + size;
    this.mem.fill(a, size, 0, Initiator.Host);
    return a;
  }
}

/** Encode a qword (as a bigint, the ABI edge) into 8 little-endian bytes and write them. */
export function writeQword(mem: PhysicalMemoryAccess, pa: number, value: bigint): void {
  const b = new Uint8Array(8);
  for (let i = 0; i < 8; i++) b[i] = Number((value >> BigInt(8 * i)) & 0xffn);
  const st = mem.write(pa, b, Initiator.Host);
  if (st !== 0)
    throw new TdxSimError("E_TABLE_WRITE", `writing a table entry at 0x${pa.toString(16)} failed (${st})`);
}

/** Read a qword as a bigint. */
export function readQword(mem: PhysicalMemoryAccess, pa: number): bigint {
  const b = new Uint8Array(8);
  mem.read(pa, b, Initiator.Host);
  let v = 0n;
  for (let i = 7; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
  return v;
}

const SIZES: Record<number, number> = { 4096: 1, [2 ** 21]: 2, [2 ** 30]: 3 };

/** Legacy-mode root table (256 buses) and context tables (256 devfns). */
export class LegacyContextTables {
  readonly root: number;
  private readonly ctx = new Map<number, number>();
  constructor(
    private readonly mem: PhysicalMemoryAccess,
    private readonly alloc: BumpAllocator,
  ) {
    this.root = alloc.alloc(4096);
  }

  private table(bus: number): number {
    let t = this.ctx.get(bus);
    if (t === undefined) {
      t = this.alloc.alloc(4096);
      this.ctx.set(bus, t);
      writeQword(this.mem, this.root + bus * 16, BigInt(t) | 1n);
    }
    return t;
  }

  /** Write the context entry of `sid`: P, FPD, TT, SLPTPTR, AW, DID. */
  setContext(
    sid: number,
    e: { slptptr: number; aw: 1 | 2 | 3; did: number; tt?: 0 | 1 | 2; fpd?: boolean; present?: boolean },
  ): number {
    const at = this.table(sid >> 8) + (sid & 0xff) * 16;
    const lo =
      BigInt(e.slptptr) | ((e.present ?? true) ? 1n : 0n) | (e.fpd ? 2n : 0n) | (BigInt(e.tt ?? 0) << 2n);
    const hi = BigInt(e.aw) | (BigInt(e.did) << 8n);
    writeQword(this.mem, at + 8, hi);
    writeQword(this.mem, at, lo);
    return at;
  }

  clearContext(sid: number): void {
    const at = this.table(sid >> 8) + (sid & 0xff) * 16;
    writeQword(this.mem, at, 0n);
    writeQword(this.mem, at + 8, 0n);
  }
}

/** Scalable-mode root table and 256-bit context entries. */
export class ScalableContextTables {
  readonly root: number;
  private readonly ctx = new Map<number, number>();
  constructor(
    private readonly mem: PhysicalMemoryAccess,
    private readonly alloc: BumpAllocator,
  ) {
    this.root = alloc.alloc(4096);
  }

  private table(bus: number, upper: boolean): number {
    const key = bus * 2 + (upper ? 1 : 0);
    let t = this.ctx.get(key);
    if (t === undefined) {
      t = this.alloc.alloc(4096);
      this.ctx.set(key, t);
      writeQword(this.mem, this.root + bus * 16 + (upper ? 8 : 0), BigInt(t) | 1n);
    }
    return t;
  }

  /** Write the scalable context entry of `sid`. */
  setContext(
    sid: number,
    e: {
      pasidDir: number;
      pdts?: number;
      ridPasid?: number;
      pasidEnable?: boolean;
      dte?: boolean;
      fpd?: boolean;
      ridPriv?: boolean;
      present?: boolean;
    },
  ): number {
    const devfn = sid & 0xff;
    const at = this.table(sid >> 8, devfn >= 0x80) + (devfn & 0x7f) * 32;
    const lo =
      BigInt(e.pasidDir) |
      ((e.present ?? true) ? 1n : 0n) |
      (e.fpd ? 2n : 0n) |
      (e.dte ? 4n : 0n) |
      (e.pasidEnable ? 8n : 0n) |
      (BigInt(e.pdts ?? 0) << 9n);
    const q1 = BigInt(e.ridPasid ?? 0) | (e.ridPriv ? 1n << 20n : 0n);
    writeQword(this.mem, at + 8, q1);
    writeQword(this.mem, at + 16, 0n);
    writeQword(this.mem, at + 24, 0n);
    writeQword(this.mem, at, lo);
    return at;
  }
}

/** PASID directory + PASID tables (64 x 512-bit entries per table). */
export class PasidTables {
  readonly dir: number;
  private readonly tables = new Map<number, number>();
  constructor(
    private readonly mem: PhysicalMemoryAccess,
    private readonly alloc: BumpAllocator,
    /** Directory entries: 2^(pdts+7). */
    readonly pdts = 0,
  ) {
    this.dir = alloc.alloc(8 * 2 ** (pdts + 7));
  }

  private table(dirIndex: number): number {
    let t = this.tables.get(dirIndex);
    if (t === undefined) {
      t = this.alloc.alloc(4096);
      this.tables.set(dirIndex, t);
      writeQword(this.mem, this.dir + dirIndex * 8, BigInt(t) | 1n);
    }
    return t;
  }

  /** Address of the PASID-table entry of `pasid` (creating its table). */
  entryAddress(pasid: number): number {
    return this.table(pasid >> 6) + (pasid & 0x3f) * 64;
  }

  /** Write a PASID-table entry. */
  setEntry(
    pasid: number,
    e: {
      pgtt: 1 | 2 | 3 | 4;
      did: number;
      ssptr?: number;
      aw?: 1 | 2 | 3;
      fsptr?: number;
      fs5level?: boolean;
      sre?: boolean;
      ere?: boolean;
      wpe?: boolean;
      nxe?: boolean;
      smep?: boolean;
      slade?: boolean;
      fpd?: boolean;
      present?: boolean;
    },
  ): number {
    const at = this.entryAddress(pasid);
    const q0 =
      BigInt(e.ssptr ?? 0) |
      ((e.present ?? true) ? 1n : 0n) |
      (e.fpd ? 2n : 0n) |
      (BigInt(e.aw ?? 2) << 2n) |
      (BigInt(e.pgtt) << 6n) |
      (e.slade ? 1n << 9n : 0n);
    const q1 = BigInt(e.did);
    const q2 =
      BigInt(e.fsptr ?? 0) |
      (e.sre ? 1n : 0n) |
      (e.ere ? 2n : 0n) |
      (e.fs5level ? 1n << 2n : 0n) |
      (e.wpe ? 1n << 4n : 0n) |
      (e.nxe ? 1n << 5n : 0n) |
      (e.smep ? 1n << 6n : 0n);
    for (let q = 1; q < 8; q++) writeQword(this.mem, at + q * 8, q === 1 ? q1 : q === 2 ? q2 : 0n);
    writeQword(this.mem, at, q0);
    return at;
  }
}

/** Permission of a mapping. */
export interface MapPerm {
  readonly read: boolean;
  readonly write: boolean;
}

/** A second-stage page table (3/4/5 levels) with map / unmap in the real entry format. */
export class SecondStagePageTable {
  readonly root: number;
  constructor(
    private readonly mem: PhysicalMemoryAccess,
    private readonly alloc: BumpAllocator,
    readonly levels: 3 | 4 | 5,
  ) {
    this.root = alloc.alloc(4096);
  }

  /** The address of the entry for `iova` at `level`, creating tables above it (with R+W). */
  entryAddress(iova: number, level: number): number {
    let table = this.root;
    for (let l = this.levels; l > level; l--) {
      const at = table + (Math.floor(iova / 2 ** (12 + 9 * (l - 1))) % 512) * 8;
      let v = readQword(this.mem, at);
      if ((v & 3n) === 0n) {
        const t = this.alloc.alloc(4096);
        v = BigInt(t) | 3n;
        writeQword(this.mem, at, v);
      }
      table = Number(v & 0x000f_ffff_ffff_f000n);
    }
    return table + (Math.floor(iova / 2 ** (12 + 9 * (level - 1))) % 512) * 8;
  }

  /** Map one page of `size` (4 KiB, 2 MiB or 1 GiB). `extra` ORs raw bits into the leaf. */
  map(iova: number, hpa: number, size: number, perm: MapPerm, extra = 0n): number {
    const level = SIZES[size];
    if (level === undefined) throw new TdxSimError("E_MAP", `page size ${size} is not 4 KiB, 2 MiB or 1 GiB`);
    const at = this.entryAddress(iova, level);
    const v = BigInt(hpa) | (perm.read ? 1n : 0n) | (perm.write ? 2n : 0n) | (level > 1 ? 0x80n : 0n) | extra;
    writeQword(this.mem, at, v);
    return at;
  }

  unmap(iova: number, size: number): void {
    writeQword(this.mem, this.entryAddress(iova, SIZES[size]!), 0n);
  }
}

/** A first-stage (IA-32e) page table: P, R/W, U/S, PS; A/D are set by the unit. */
export class FirstStagePageTable {
  readonly root: number;
  constructor(
    private readonly mem: PhysicalMemoryAccess,
    private readonly alloc: BumpAllocator,
    readonly levels: 4 | 5 = 4,
    /** Translate a table address the unit will see (nested: tables live at GPAs) to where to write it. */
    private readonly tableHpa: (a: number) => number = (a) => a,
    private readonly allocTable: () => number = () => alloc.alloc(4096),
  ) {
    this.root = this.allocTable();
  }

  entryAddress(va: number, level: number): number {
    let table = this.root;
    for (let l = this.levels; l > level; l--) {
      const at = table + (Math.floor(va / 2 ** (12 + 9 * (l - 1))) % 512) * 8;
      let v = readQword(this.mem, this.tableHpa(at));
      if ((v & 1n) === 0n) {
        const t = this.allocTable();
        v = BigInt(t) | 0x7n; // P, R/W, U/S: leaves decide
        writeQword(this.mem, this.tableHpa(at), v);
      }
      table = Number(v & 0x000f_ffff_ffff_f000n);
    }
    return table + (Math.floor(va / 2 ** (12 + 9 * (level - 1))) % 512) * 8;
  }

  map(va: number, out: number, size: number, e: { write: boolean; user: boolean; xd?: boolean }): number {
    const level = SIZES[size];
    if (level === undefined) throw new TdxSimError("E_MAP", `page size ${size} is not 4 KiB, 2 MiB or 1 GiB`);
    const at = this.entryAddress(va, level);
    const v =
      BigInt(out) |
      1n |
      (e.write ? 2n : 0n) |
      (e.user ? 4n : 0n) |
      (level > 1 ? 0x80n : 0n) |
      (e.xd ? 1n << 63n : 0n);
    writeQword(this.mem, this.tableHpa(at), v);
    return this.tableHpa(at);
  }

  /** Make the leaf for `va` not present. */
  unmap(va: number, size: number): void {
    writeQword(this.mem, this.tableHpa(this.entryAddress(va, SIZES[size]!)), 0n);
  }
}
