/**
 * The vitest project of a layer package: tests run on sources (the @tdx/source export condition
 * resolves workspace imports to src/), co-located as src/**\/*.test.ts.
 */
import { defineProject } from "vitest/config";

export function layerProject(name: string) {
  return defineProject({
    ssr: { resolve: { conditions: ["@tdx/source"] } },
    test: { name, include: ["src/**/*.test.ts"] },
  });
}
