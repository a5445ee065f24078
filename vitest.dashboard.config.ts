// The dashboard's browser tests (headless Chromium): `npm run test:dashboard`, run by .ci/run after it
// installs Debian's chromium. Kept out of `npm test` so a plain clone without a browser still passes it.
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
