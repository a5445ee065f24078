/**
 * The web provider as a team installs it (`npm run build:sdk`'s bundle)
 * under the real `@openfeature/web-sdk`, in headless Chromium, on a page of
 * another origin than Rampart's (so CORS is the browser's own): bulk
 * evaluation per user, one exposure event per user for a flag that counts
 * exposures from events, tracked clicks credited to the arm each user saw —
 * sent when the page goes away — and a kill heard on the change stream.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { build } from "esbuild";
import type { Browser } from "playwright-core";
import { launchChromium } from "./chromium";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildSdk } from "../../scripts/build-sdk";
import { E2E_PROPAGATION_MS, startLocalWorker, type LocalWorker } from "../../scripts/lib/local-worker";

const EVENTS_TOKEN = "web-events-token";
const KEY = "web-checkout";
/** The app's page, served from another origin than Rampart's on the same machine (a real server: Chromium lets a local page reach a local address). */
let app: Server;
let APP = "";
let worker: LocalWorker;
let browser: Browser;
let pageScript = "";

beforeAll(async () => {
  const [bundles, started] = await Promise.all([buildSdk(), startLocalWorker({ EVENTS_TOKEN, FLUSH_MS: "100" })]);
  worker = started;
  // The app's own bundle: the OpenFeature web SDK and the provider's built package, as an app would import them.
  const bundled = await build({
    stdin: { contents: `import { OpenFeature, ProviderEvents } from "@openfeature/web-sdk"; import { RampartWebProvider } from ${JSON.stringify(bundles[1])}; Object.assign(window, { OpenFeature, ProviderEvents, RampartWebProvider });`, resolveDir: process.cwd() },
    bundle: true, format: "iife", platform: "browser", write: false, logLevel: "warning",
  });
  pageScript = bundled.outputFiles[0]?.text ?? "";
  app = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/html; charset=utf-8" });
    res.end(`<!doctype html><title>shop</title><script>${pageScript}</script>`);
  });
  await new Promise<void>((resolve) => app.listen(0, "127.0.0.1", resolve));
  APP = `http://localhost:${(app.address() as AddressInfo).port}`;
  const put = await worker.admin("PUT", `/admin/flags/${KEY}`, {
    key: KEY, type: "string", variants: { baseline: "Buy now", candidate: "Complete purchase" }, exposures: "events",
    rollout: { stages: [{ weight: 50 }, { weight: 100 }] },
    metrics: { ctr: { kind: "ratio", numerator: "click", denominator: "exposure" } },
    gates: [{ metric: "ctr", bad: "decrease", warn: "5%", rollback: "10%", minSamples: 1000 }],
  });
  expect(put.status, await put.clone().text()).toBe(201);
  await new Promise((r) => setTimeout(r, E2E_PROPAGATION_MS + 100));
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  app?.close();
  await worker?.dispose();
});

interface Arms {
  baseline: { exposures: number; metrics: Record<string, { value: number | null }> };
  candidate: { exposures: number; metrics: Record<string, { value: number | null }> };
}

describe("the OpenFeature web provider in Chromium", () => {
  it("evaluates from one bulk answer per user, sends each user's exposure and clicks when the page goes away, and hears a kill", async () => {
    const page = await browser.newPage();
    const problems: string[] = [];
    page.on("pageerror", (e) => problems.push(e.message));
    await page.goto(`${APP}/`);
    // 1. Twelve visitors in turn (a context change each), three of them clicking twice.
    const seen = await page.evaluate(async ({ url, token, key }) => {
      const w = window as unknown as Record<string, any>;
      const { OpenFeature } = w;
      await OpenFeature.setContext({ targetingKey: "visitor-0" });
      await OpenFeature.setProviderAndWait(new w.RampartWebProvider({ url, eventsToken: token, flushIntervalMs: 600_000 }));
      const client = OpenFeature.getClient();
      const out: { variant: string; clicks: number }[] = [];
      for (let i = 0; i < 12; i++) {
        await OpenFeature.setContext({ targetingKey: `visitor-${i}` });
        const details = client.getStringDetails(key, "Buy now");
        client.getStringDetails(key, "Buy now"); // read again: still one exposure
        const clicks = i % 4 === 0 ? 2 : 0;
        for (let c = 0; c < clicks; c++) client.track("click");
        out.push({ variant: details.variant, clicks });
      }
      return out;
    }, { url: worker.baseUrl, token: EVENTS_TOKEN, key: KEY });
    expect(seen.map((s) => s.variant).every((v) => v === "baseline" || v === "candidate")).toBe(true);

    // 2. A kill reaches the page on the change stream; the provider re-fetches and says the configuration changed.
    const heard = page.evaluate(() => new Promise<string>((resolve) => {
      const w = window as unknown as Record<string, any>;
      w.OpenFeature.getClient().addHandler(w.ProviderEvents.ConfigurationChanged, () => resolve(w.OpenFeature.getClient().getStringDetails("web-checkout", "?").reason));
    }));
    expect((await worker.admin("POST", `/admin/flags/${KEY}/actions`, { action: "kill", reason: "web test" })).status).toBe(200);
    expect(await heard).toBe("DISABLED");

    // 3. The page goes away: its queued events leave with keepalive, and land in the arm each visitor saw.
    await page.goto("about:blank");
    await page.close();
    const expected = { baseline: { exposures: 0, clicks: 0 }, candidate: { exposures: 0, clicks: 0 } };
    for (const s of seen) {
      const arm = expected[s.variant as "baseline" | "candidate"];
      arm.exposures++;
      arm.clicks += s.clicks;
    }
    const deadline = Date.now() + 10_000;
    let arms: Arms;
    for (;;) {
      arms = ((await (await worker.admin("GET", `/admin/flags/${KEY}/report?from=0`)).json()) as { arms: Arms }).arms;
      if (arms.baseline.exposures + arms.candidate.exposures >= 12 || Date.now() > deadline) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const name of ["baseline", "candidate"] as const) {
      expect(arms[name].exposures).toBe(expected[name].exposures);
      const ctr = arms[name].metrics["ctr"]?.value ?? 0;
      expect(Math.round(ctr * expected[name].exposures)).toBe(expected[name].clicks);
    }
    expect(problems).toEqual([]);
  }, 60_000);
});
