/**
 * The server provider as a team installs it (`npm run build:sdk`'s bundle)
 * under the real `@openfeature/server-sdk`, against the worker on workerd:
 * tracked clicks reach the arm each user was served and the gate's level,
 * with no attribution code; a reply lost on the way back is retried and
 * counted once.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { pathToFileURL } from "node:url";
import { OpenFeature } from "@openfeature/server-sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildSdk } from "../../scripts/build-sdk";
import type * as ServerSdk from "../../sdk/server/index";
import { E2E_PROPAGATION_MS, startLocalWorker, type LocalWorker } from "../../scripts/lib/local-worker";

const EVENTS_TOKEN = "e2e-events-token";
let worker: LocalWorker;
let proxy: Server;
let proxyUrl = "";
/** Replies of POST /v1/events the proxy loses after the worker has handled the request. */
let repliesToLose = 0;
type ProviderModule = typeof ServerSdk;
let sdk: ProviderModule;

beforeAll(async () => {
  const [bundles, started] = await Promise.all([buildSdk(), startLocalWorker({ EVENTS_TOKEN, FLUSH_MS: "100" })]);
  worker = started;
  sdk = (await import(pathToFileURL(bundles[0] ?? "").href)) as ProviderModule;
  // A forwarding proxy that can drop a reply: the worker counts the batch, the client never hears.
  proxy = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => void forward());
    const forward = async () => {
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => k !== "host" && k !== "content-length" && k !== "connection")) as Record<string, string>;
      const answer = await fetch(`${worker.baseUrl}${req.url ?? "/"}`, { method: req.method ?? "GET", headers, ...(req.method === "POST" ? { body: Buffer.concat(chunks) } : {}) });
      const body = Buffer.from(await answer.arrayBuffer());
      if (req.url === "/v1/events" && repliesToLose > 0) {
        repliesToLose--;
        res.socket?.destroy();
        return;
      }
      // fetch has already decoded the body: its encoding and length headers no longer apply.
      const forwarded: Record<string, string> = {};
      answer.headers.forEach((value, name) => {
        if (name !== "content-encoding" && name !== "content-length") forwarded[name] = value;
      });
      res.writeHead(answer.status, forwarded);
      res.end(body);
    };
  });
  await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
  proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
}, 120_000);

afterAll(async () => {
  await OpenFeature.close();
  proxy?.close();
  await worker?.dispose();
});

interface Report {
  arms: Record<"baseline" | "candidate", { exposures: number; metrics: Record<string, { value: number | null; samples: number }> }>;
  gates: { metric: string; baseline: number | null; candidate: number | null }[];
}

async function reportWhen(key: string, done: (r: Report) => boolean): Promise<Report> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const report = (await (await worker.admin("GET", `/admin/flags/${key}/report?from=0`)).json()) as Report;
    if (done(report) || Date.now() > deadline) return report;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const rolloutFlag = (key: string) => ({
  key,
  type: "string",
  variants: { baseline: "ranker-v1", candidate: "ranker-v2" },
  rollout: { stages: [{ weight: 50 }, { weight: 100 }] },
  metrics: { ctr: { kind: "ratio", numerator: "click", denominator: "exposure" } },
  gates: [{ metric: "ctr", bad: "decrease", warn: "5%", rollback: "10%", minSamples: 1000 }],
});

describe("the OpenFeature server provider", () => {
  it("evaluates over OFREP and track()s clicks that land in the arm each user was served, and in the gate's level", async () => {
    const key = "sdk-ranker";
    expect((await worker.admin("PUT", `/admin/flags/${key}`, rolloutFlag(key))).status).toBe(201);
    await new Promise((r) => setTimeout(r, E2E_PROPAGATION_MS + 100));
    const provider = new sdk.RampartProvider({ url: worker.baseUrl, eventsToken: EVENTS_TOKEN, flushIntervalMs: 50 });
    await OpenFeature.setProviderAndWait("ranker", provider);
    const client = OpenFeature.getClient("ranker");
    const served = { baseline: 0, candidate: 0 };
    const clicked = { baseline: 0, candidate: 0 };
    for (let i = 0; i < 120; i++) {
      const context = { targetingKey: `user-${i}` };
      const details = await client.getStringDetails(key, "ranker-v1", context);
      expect(details.errorCode).toBeUndefined();
      const arm = details.variant as "baseline" | "candidate";
      served[arm]++;
      // Candidate users click twice as often: the report must show it per arm.
      if (i % (arm === "candidate" ? 2 : 4) === 0) {
        client.track("click", context);
        clicked[arm]++;
      }
    }
    // An event name Rampart would refuse is refused here, before it is queued.
    client.track("bad name!", { targetingKey: "user-1" });
    await provider.tracker.queue.flush();
    const clicks = (r: Report, arm: "baseline" | "candidate") => Math.round((r.arms[arm].metrics["ctr"]?.value ?? 0) * r.arms[arm].exposures);
    const report = await reportWhen(key, (r) => r.arms.baseline.exposures + r.arms.candidate.exposures === 120 && clicks(r, "baseline") + clicks(r, "candidate") === clicked.baseline + clicked.candidate);
    expect({ baseline: report.arms.baseline.exposures, candidate: report.arms.candidate.exposures }).toEqual(served);
    expect(report.arms.baseline.metrics["ctr"]?.value).toBeCloseTo(clicked.baseline / served.baseline, 9);
    expect(report.arms.candidate.metrics["ctr"]?.value).toBeCloseTo(clicked.candidate / served.candidate, 9);
    expect(report.gates[0]).toMatchObject({ metric: "ctr", baseline: expect.closeTo(clicked.baseline / served.baseline, 9), candidate: expect.closeTo(clicked.candidate / served.candidate, 9) });
    expect(provider.tracker.queue.stats).toMatchObject({ accepted: clicked.baseline + clicked.candidate, rejected: 0, failed: 0 });
  });

  it("sends a batch whose reply was lost again, with the same event ids, and it counts once", async () => {
    const key = "sdk-retry";
    expect((await worker.admin("PUT", `/admin/flags/${key}`, rolloutFlag(key))).status).toBe(201);
    await new Promise((r) => setTimeout(r, E2E_PROPAGATION_MS + 100));
    const provider = new sdk.RampartProvider({ url: proxyUrl, eventsToken: EVENTS_TOKEN, flushIntervalMs: 60_000, backoffMs: 50 });
    await OpenFeature.setProviderAndWait("retry", provider);
    const client = OpenFeature.getClient("retry");
    repliesToLose = 1;
    for (let i = 0; i < 40; i++) {
      const details = await client.getStringDetails(key, "ranker-v1", { targetingKey: `u-${i}` });
      expect(details.flagMetadata["assignment"], JSON.stringify(details)).toBeDefined();
      client.track("click", { targetingKey: `u-${i}` });
    }
    await provider.tracker.queue.flush();
    expect(repliesToLose).toBe(0);
    expect(provider.tracker.queue.stats).toMatchObject({ retries: 1, duplicates: 40, accepted: 0, failed: 0 });
    const report = await reportWhen(key, (r) => r.arms.baseline.exposures + r.arms.candidate.exposures >= 40);
    const clicks = (arm: "baseline" | "candidate") => Math.round((report.arms[arm].metrics["ctr"]?.value ?? 0) * report.arms[arm].exposures);
    expect(clicks("baseline") + clicks("candidate")).toBe(40);
  });
});
