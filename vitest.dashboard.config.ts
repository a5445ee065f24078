// The browser tests (headless Chromium): the dashboard, and a page on the OFREP change stream.
// Part of `npm test` when a Chromium is installed (vitest.config.ts); `npm run test:dashboard` runs them alone.
import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    name: "dashboard",
    environment: "node",
    include: ["test/browser/**/*.test.ts"],
    testTimeout: 60_000,
    hookTimeout: 180_000,
    // One browser, one worker: the tests share a flag and act on it in order.
    fileParallelism: false,
  },
});
