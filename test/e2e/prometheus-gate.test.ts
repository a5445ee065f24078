/**
 * Prometheus analysis gates against a real Prometheus server (Debian's
 * `prometheus`, started here as CI installs it) scraping a small exporter
 * of per-arm request and error counters: a flag whose candidate's error
 * ratio regresses rolls back naming the gate and its numbers; one whose
 * candidate is healthy completes; an unreachable server, a query Prometheus
 * refuses and one that matches nothing hold, each saying why. The cron is
 * driven directly (`/cdn-cgi/handler/scheduled`).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { E2E_PROPAGATION_MS, startLocalWorker, type LocalWorker } from "../../scripts/lib/local-worker";

const PROMETHEUS = process.env["PROMETHEUS"] ?? "/usr/bin/prometheus";
const available = existsSync(PROMETHEUS);
if (!available) console.warn(`no Prometheus at ${PROMETHEUS}: test/e2e/prometheus-gate.test.ts is skipped (apt-get install prometheus; CI installs it)`);

let worker: LocalWorker;
let exporter: Server;
let prometheus: ChildProcess | null = null;
let promUrl = "";
const started = Date.now();

/** Counters as a service exports them: 100 requests/s per arm (with a shared swing), errors at each flag's candidate and baseline ratio. */
const RATIOS: Record<string, { baseline: number; candidate: number }> = { regress: { baseline: 0.01, candidate: 0.03 }, healthy: { baseline: 0.01, candidate: 0.01 } };
function metricsText(): string {
  const s = (Date.now() - started) / 1000;
  // ∫ 100 (1 + 0.3 sin(t/5)) dt: the load swings, both arms alike; whole hundreds, so errors are an exact share of them.
  const requests = 100 * Math.floor(10 * (s + 1.5 * (1 - Math.cos(s / 5))));
  const lines = ["# TYPE app_requests_total counter", "# TYPE app_errors_total counter"];
  for (const [flag, ratio] of Object.entries(RATIOS)) {
    for (const arm of ["baseline", "candidate"] as const) {
      lines.push(`app_requests_total{flag="${flag}",arm="${arm}"} ${requests}`);
      lines.push(`app_errors_total{flag="${flag}",arm="${arm}"} ${Math.round(requests * ratio[arm])}`);
    }
  }
  return `${lines.join("\n")}\n`;
}

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, "127.0.0.1", resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

beforeAll(async () => {
  if (!available) return;
  exporter = createServer((_req, res) => {
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
    res.end(metricsText());
  });
  await new Promise<void>((resolve) => exporter.listen(0, "127.0.0.1", resolve));
  const dir = mkdtempSync(join(tmpdir(), "rampart-prometheus-"));
  const config = join(dir, "prometheus.yml");
  writeFileSync(config, `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: app\n    static_configs:\n      - targets: ["127.0.0.1:${(exporter.address() as AddressInfo).port}"]\n`);
  const port = await freePort();
  promUrl = `http://127.0.0.1:${port}`;
  prometheus = spawn(PROMETHEUS, [`--config.file=${config}`, `--storage.tsdb.path=${join(dir, "data")}`, `--web.listen-address=127.0.0.1:${port}`, "--log.level=warn"], { stdio: "ignore" });
  worker = await startLocalWorker({ FLUSH_MS: "100" });
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ready = await fetch(`${promUrl}/-/ready`).then((r) => r.ok, () => false);
    if (ready) break;
    if (Date.now() > deadline) throw new Error("Prometheus did not become ready within 30 s");
    await new Promise((r) => setTimeout(r, 200));
  }
}, 120_000);

afterAll(async () => {
  prometheus?.kill("SIGTERM");
  exporter?.close();
  await worker?.dispose();
});

const ratioQuery = (flag: string) => `sum(rate(app_errors_total{flag="${flag}",arm="{{arm}}"}[3s])) / sum(rate(app_requests_total{flag="${flag}",arm="{{arm}}"}[3s]))`;
const gatedFlag = (key: string, url: string, query: string) => ({
  key,
  type: "string",
  variants: { baseline: "suggest-v1", candidate: "suggest-v2" },
  rollout: { window: "1m", healthyWindowsToPromote: 1, stages: [{ weight: 50 }, { weight: 100 }] },
  gates: [{ metric: "error_ratio", source: { prometheus: { url, query, step: "1s" } }, bad: "increase", warn: "10%", rollback: "20%", minSamples: 15 }],
});

interface Summary { key: string; status: string; stage: number; judgement: { action: string; rule: string; reason: string } | null }

describe.skipIf(!available)("Prometheus analysis gates", () => {
  it("rolls back a regressing candidate naming the gate, completes a healthy one, and holds — saying why — on a source that fails", async () => {
    const flags = {
      "prom-regress": gatedFlag("prom-regress", promUrl, ratioQuery("regress")),
      "prom-healthy": gatedFlag("prom-healthy", promUrl, ratioQuery("healthy")),
      "prom-down": gatedFlag("prom-down", `http://127.0.0.1:${await freePort()}`, ratioQuery("healthy")),
      "prom-refused": gatedFlag("prom-refused", promUrl, 'sum(rate(app_errors_total{arm="{{arm}}"}[3s]) /'),
      "prom-empty": gatedFlag("prom-empty", promUrl, 'sum(rate(no_such_metric{arm="{{arm}}"}[3s]))'),
    };
    let stageStart = 0;
    for (const spec of Object.values(flags)) {
      const put = await worker.admin("PUT", `/admin/flags/${spec.key}`, spec);
      expect(put.status, await put.clone().text()).toBe(201);
      stageStart = Math.max(stageStart, ((await put.json()) as { state: { stageEnteredAt: number } }).state.stageEnteredAt);
    }
    await new Promise((r) => setTimeout(r, E2E_PROPAGATION_MS + 100));
    // Traffic on the healthy flag, so the closed window has candidate exposures (promotion needs them).
    for (let i = 0; i < 40; i++) {
      await fetch(`${worker.baseUrl}/ofrep/v1/evaluate/flags/prom-healthy`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ context: { targetingKey: `user-${i}` } }) });
    }
    // Scrapes at one-second steps until Prometheus holds 25 points of the stage (bounded), then the cron's look once the stage's first window has closed.
    const deadline = Date.now() + 50_000;
    for (;;) {
      await new Promise((r) => setTimeout(r, 2_000));
      const range = new URL("/api/v1/query_range", promUrl);
      range.searchParams.set("query", ratioQuery("regress").replaceAll("{{arm}}", "candidate"));
      range.searchParams.set("start", String(Math.ceil(stageStart / 1000)));
      range.searchParams.set("end", String(Math.floor(Date.now() / 1000)));
      range.searchParams.set("step", "1");
      const answer = (await (await fetch(range)).json()) as { data?: { result?: { values: unknown[] }[] } };
      if ((answer.data?.result?.[0]?.values.length ?? 0) >= 25 || Date.now() > deadline) break;
    }
    const tick = await fetch(`${worker.baseUrl}/cdn-cgi/handler/scheduled?time=${stageStart + 61_000}`);
    expect(tick.ok).toBe(true);
    const list = (await (await worker.admin("GET", "/admin/flags")).json()) as { flags: Summary[] };
    const of = (key: string) => list.flags.find((f) => f.key === key);

    expect(of("prom-regress")).toMatchObject({ status: "rolled_back", judgement: { action: "rollback", rule: "gate:error_ratio:rollback" } });
    expect(of("prom-regress")?.judgement?.reason).toMatch(/error_ratio relative \d+\.\d+% \[\d+\.\d+%, \d+\.\d+%\] past rollback 20\.00%/);
    expect(of("prom-healthy")).toMatchObject({ status: "completed", judgement: { action: "complete" } });
    expect(of("prom-down")).toMatchObject({ status: "ramping", judgement: { action: "hold" } });
    expect(of("prom-down")?.judgement?.reason).toMatch(/error_ratio no_data \(Prometheus at http:\/\/127\.0\.0\.1:\d+ is unreachable/);
    expect(of("prom-refused")?.judgement?.reason).toMatch(/error_ratio no_data \(Prometheus at .* refused the query for baseline: bad_data: /);
    expect(of("prom-empty")?.judgement?.reason).toContain("error_ratio no_data (the query for baseline returned no series");

    // The decision keeps the points it was judged on: its replay matches.
    const decisions = (await (await worker.admin("GET", "/admin/flags/prom-regress/decisions?limit=1")).json()) as { decisions: { id: number }[] };
    const replay = (await (await worker.admin("GET", `/admin/flags/prom-regress/decisions/${decisions.decisions[0]?.id}/replay`)).json()) as { matches: boolean };
    expect(replay.matches).toBe(true);
  }, 120_000);
});
