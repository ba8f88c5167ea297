/**
 * Conformance: the six reference traces (Linux 6.12.y/6.18.y results) replay line for line, and
 * bad traces fail with a typed error naming the line.
 */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { TdxSimError } from "@tdx/hw-cpu-seam";
import { describe, expect, it } from "vitest";
import { formatResult, parseTrace } from "./format";
import { replayTrace } from "./replay";

const FIXTURES = join(import.meta.dirname, "../../fixtures/swiotlb-traces");
const TRACES = [
  "01-seq-small",
  "02-multicpu-areas4",
  "03-align-nvme",
  "04-fragmentation",
  "05-net-block-mix",
  "06-long-random",
] as const;

/** The project's shared reference data, beside the repository (present in CI, absent on a user's clone). */
const SHARED_TRACES = join(import.meta.dirname, "../../../../../shared/data/swiotlb-traces");
const haveShared = existsSync(SHARED_TRACES);

describe.skipIf(!haveShared)(
  haveShared
    ? "fixture copies equal shared/data/swiotlb-traces"
    : "fixture copies equal shared/data/swiotlb-traces (SKIPPED: ../shared is not beside this clone)",
  () => {
    for (const name of TRACES) {
      it(`${name}: in and out files are byte-identical to the reference`, () => {
        for (const suffix of [".in.jsonl", ".out.jsonl"]) {
          const copy = readFileSync(join(FIXTURES, name + suffix));
          const ref = readFileSync(join(SHARED_TRACES, name + suffix));
          expect(copy.equals(ref)).toBe(true);
        }
      });
    }
  },
);

function thrown(f: () => unknown): TdxSimError {
  try {
    f();
  } catch (e) {
    if (e instanceof TdxSimError) return e;
    throw e;
  }
  throw new Error("expected a TdxSimError");
}

describe("reference traces (shared/data/swiotlb-traces, copied to fixtures/)", () => {
  for (const name of TRACES) {
    it(`${name}: every result line matches the kernel's`, () => {
      const trace = parseTrace(readFileSync(join(FIXTURES, `${name}.in.jsonl`), "utf8"), name);
      const expected = readFileSync(join(FIXTURES, `${name}.out.jsonl`), "utf8")
        .trimEnd()
        .split("\n");
      const run = replayTrace(trace);
      const got = run.results.map(formatResult);
      expect(got.length).toBe(expected.length);
      for (let i = 0; i < got.length; i++) {
        if (got[i] !== expected[i]) expect(`line ${i + 1}: ${got[i]}`).toBe(`line ${i + 1}: ${expected[i]}`);
      }
      // The README's "full" counts.
      const fulls = got.filter((l) => l.includes('"error":"full"')).length;
      const readme: Record<string, number> = {
        "01-seq-small": 1,
        "02-multicpu-areas4": 187,
        "03-align-nvme": 111,
        "04-fragmentation": 72,
        "05-net-block-mix": 0,
        "06-long-random": 1285,
      };
      expect(fulls).toBe(readme[name]);
      expect(run.stats.mapFailures).toBe(readme[name]);
      expect(run.stats.liveMappings).toBe(0);
      expect(run.stats.inUseBytes).toBe(0);
    });
  }
});

describe("trace input errors", () => {
  const header = '{"nslabs":1024,"nareas":1}';
  const map = (id: string, size = 100) =>
    `{"op":"map","id":"${id}","cpu":0,"orig":4096,"size":${size},"minAlignMask":0,"allocAlignMask":0}`;

  it("names the line of malformed JSON", () => {
    const e = thrown(() => parseTrace(`${header}\n${map("a")}\n{"op":"map",`, "t"));
    expect(e.code).toBe("E_TRACE_JSON");
    expect(e.message).toMatch(/^t:3: not valid JSON/);
  });

  it("names the line and field of a bad field", () => {
    const e = thrown(() =>
      parseTrace(
        `${header}\n\n{"op":"map","id":"a","cpu":0,"orig":-1,"size":1,"minAlignMask":0,"allocAlignMask":0}`,
        "t",
      ),
    );
    expect(e.code).toBe("E_TRACE_FIELD");
    expect(e.message).toContain("t:3:");
    expect(e.message).toContain('"orig"');
  });

  it("rejects an alloc mask that is not 2^k - 1, an unknown op and a bad header", () => {
    expect(
      thrown(() =>
        parseTrace(
          `${header}\n{"op":"map","id":"a","cpu":0,"orig":0,"size":1,"minAlignMask":0,"allocAlignMask":6}`,
        ),
      ).code,
    ).toBe("E_TRACE_FIELD");
    expect(thrown(() => parseTrace(`${header}\n{"op":"sync","id":"a"}`)).message).toContain(
      'unknown op "sync"',
    );
    expect(thrown(() => parseTrace('{"nslabs":1000,"nareas":1}')).message).toContain("multiple of 128");
    expect(thrown(() => parseTrace('{"nslabs":1024,"nareas":16}')).message).toContain(
      "at least 128 * nareas",
    );
    expect(thrown(() => parseTrace(map("a"))).code).toBe("E_TRACE_HEADER");
    expect(thrown(() => parseTrace("")).code).toBe("E_TRACE_HEADER");
  });

  it("an unmap of an unknown or already unmapped id is an error naming the line", () => {
    const t1 = parseTrace(`${header}\n${map("a")}\n{"op":"unmap","id":"b"}`, "t");
    const e1 = thrown(() => replayTrace(t1));
    expect(e1.code).toBe("E_TRACE_UNKNOWN_ID");
    expect(e1.message).toBe('t:3: unmap of id "b": no earlier map has that id');
    const t2 = parseTrace(`${header}\n${map("a")}\n{"op":"unmap","id":"a"}\n{"op":"unmap","id":"a"}`, "t");
    expect(thrown(() => replayTrace(t2)).message).toBe(
      't:4: unmap of id "a": it was already unmapped on line 3',
    );
  });

  it("a duplicate map id is an error", () => {
    const t = parseTrace(`${header}\n${map("a")}\n{"op":"unmap","id":"a"}\n${map("a")}`, "t");
    expect(thrown(() => replayTrace(t)).code).toBe("E_TRACE_DUPLICATE_ID");
  });

  it("the unmap of a map that failed in this run is answered not-mapped", () => {
    const t = parseTrace(`${header}\n${map("big", 262145)}\n{"op":"unmap","id":"big"}`, "t");
    const got = replayTrace(t).results.map(formatResult);
    expect(got).toEqual(['{"id":"big","error":"full"}', '{"id":"big","error":"not-mapped"}']);
  });
});
