import { existsSync } from "node:fs";
import { cloudflareTest } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

/**
 * The dashboard's and the change stream's headless-Chromium tests run in
 * `npm test` wherever a Chromium is installed (CI installs Debian's); a
 * clone without one runs everything else and says what it left out.
 */
const CHROMIUM = process.env["CHROMIUM"] ?? "/usr/bin/chromium";
const withBrowser = existsSync(CHROMIUM);
if (!withBrowser) console.warn(`npm test: no Chromium at ${CHROMIUM}: the browser tests (test/browser) are left out; apt-get install chromium, or set CHROMIUM=path`);

// Small propagation timings so that tests can wait out the documented bound quickly.
export const TEST_BINDINGS = {
  ADMIN_TOKEN: "test-admin-token",
  READ_TOKEN: "test-read-token",
  HEAD_TTL_MS: "150",
  REFRESH_MS: "50",
  MAX_STALE_MS: "200",
  LOAD_TIMEOUT_MS: "1000",
  // No keep-warm chains in waitUntil (tests that await an execution context would wait them out); test/worker/propagation.test.ts covers it.
  KEEP_WARM_MS: "0",
  FLUSH_MS: "200",
  FLUSH_MAX: "50",
  // The size limit as it was before the floor (test/worker/flush.test.ts covers the floor).
  FLUSH_MIN_MS: "0",
  EVENTS_RATE_PER_MINUTE: "20",
  WEBHOOK_SECRET: "test-webhook-secret",
  // Events open in the workerd tests (.dev.vars sets a token for the local stack); one test sets it explicitly.
  EVENTS_TOKEN: "",
  // Exposure-log ids as given (a test of its own covers hashing).
  EXPOSURE_ID_KEY: "",
};

export default defineConfig({
  test: {
    // Tests that exercise failures on purpose log them; show a test's logs only when it fails.
    silent: "passed-only",
    projects: [
      {
        test: { name: "core", environment: "node", include: ["test/core/**/*.test.ts"] },
      },
      {
        plugins: [
          cloudflareTest({
            wrangler: { configPath: "./wrangler.toml" },
            miniflare: { bindings: TEST_BINDINGS },
          }),
        ],
        test: { name: "workers", include: ["test/worker/**/*.test.ts"] },
      },
      {
        test: {
          name: "e2e",
          environment: "node",
          include: ["test/e2e/**/*.test.ts"],
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
      ...(withBrowser ? ["./vitest.dashboard.config.ts"] : []),
    ],
  },
});
