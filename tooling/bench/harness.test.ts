/** The bench harness relates each case to its same-run baseline and target. */
import { describe, expect, it } from "vitest";
import { formatTable, runSuite } from "./harness";

describe("bench harness", () => {
  it("measures cases, computes ratios against the baseline and checks targets", async () => {
    const a = new Uint8Array(4096);
    const b = new Uint8Array(4096);
    const results = await runSuite(
      {
        name: "t",
        cases: [
          { name: "base", fn: () => b.set(a), bytesPerOp: 4096 },
          {
            name: "x",
            fn: () => b.set(a),
            bytesPerOp: 4096,
            baseline: "base",
            target: { minRatio: 1e-6, minOpsPerSec: 1e15 },
          },
        ],
      },
      { timeMs: 20, warmupMs: 5 },
    );
    const x = results.find((r) => r.name === "x")!;
    expect(x.opsPerSec).toBeGreaterThan(0);
    expect(x.bytesPerSec).toBeCloseTo(x.opsPerSec * 4096);
    expect(x.baseline?.name).toBe("base");
    expect(x.ratio).toBeCloseTo(x.opsPerSec / x.baseline!.opsPerSec);
    expect(x.meetsTarget).toBe(false); // 1e15 ops/s is out of reach
    expect(formatTable(results)).toContain("MISSED");
  });

  it("rejects a baseline that is not in the suite", async () => {
    await expect(
      runSuite(
        { name: "t", cases: [{ name: "x", fn: () => {}, baseline: "nope" }] },
        { timeMs: 5, warmupMs: 1 },
      ),
    ).rejects.toThrow(/baseline "nope"/);
  });
});
