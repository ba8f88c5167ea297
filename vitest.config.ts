/** Root vitest config: every package and app is a project, tests run on sources (no build). */
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: ["packages/*", "apps/*", "tooling"],
  },
});
