/** Tests of the repository tooling itself (layering guard, bench harness). */
import { defineProject } from "vitest/config";

export default defineProject({
  ssr: { resolve: { conditions: ["@tdx/source"] } },
  test: {
    name: "tooling",
    include: ["**/*.test.ts"],
    exclude: ["**/node_modules/**", "**/fixtures/**"],
    testTimeout: 60_000,
  },
});
