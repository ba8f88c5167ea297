/** Tests run on sources: the @tdx/source export condition resolves workspace imports to src/. */
import { defineProject } from "vitest/config";

export default defineProject({
  ssr: { resolve: { conditions: ["@tdx/source"] } },
  test: { name: "qemu-gmem", include: ["src/**/*.test.ts"] },
});
