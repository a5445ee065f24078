/**
 * Live demo against a running local stack (`npm start` in another terminal):
 * creates a fast demo flag (1-minute windows, 2-minute holds), sends steady
 * traffic through the OpenFeature server SDK and Rampart's provider —
 * evaluations (counted exposures) and `track()`ed clicks and latencies — fires the cron every 20 s, and prints each decision as the cron
 * makes it. With --regress the candidate's CTR is 30% lower and the cron
 * rolls it back; otherwise it walks 50% → 100% once the evidence rules out
 * a 10% CTR drop.
 *
 *   npm run demo -- [--regress] [--rate 40] [--minutes 12] [--url URL]
 *
 * The URL: --url, RAMPART_URL, the URL `npm start` recorded, :8787.
 */
import { readFileSync } from "node:fs";
import { OpenFeature } from "@openfeature/server-sdk";
import { RampartProvider } from "../sdk/server/index";
import { resolveBaseUrl } from "./lib/local-url";
import { scriptArgs } from "./lib/script-args";

const opts = scriptArgs({ command: "npm run demo", about: "demo traffic against the local stack (start it first: npm start)" }, {
  regress: { type: "boolean", help: "make the candidate worse, to watch a rollback" },
  rate: { type: "number", default: 40, min: 0, exclusiveMin: true, max: 500, help: "evaluations per second" },
  minutes: { type: "number", default: 12, min: 0, exclusiveMin: true, max: 120, help: "how long to run" },
  url: { type: "string", placeholder: "URL", help: "Rampart's base URL (default: the one npm start recorded)" },
});
const rate = opts.rate;
const minutes = opts.minutes;
const base = resolveBaseUrl(opts.url, process.env, (p) => readFileSync(p, "utf8")).url;
const devVars = readFileSync(".dev.vars", "utf8");
const token = process.env["RAMPART_TOKEN"] ?? devVars.match(/^ADMIN_TOKEN=(.*)$/m)?.[1]?.trim() ?? "";
const eventsToken = process.env["RAMPART_EVENTS_TOKEN"] ?? devVars.match(/^EVENTS_TOKEN=(.*)$/m)?.[1]?.trim() ?? "";
const KEY = "demo-checkout";
// A CTR of 30% at 40 evaluations/s gives the evidence-based judge enough clicks to rule out a 10% drop in a
// few minutes at a 50% stage (simulated: npm run simulate -- --only demo-healthy,demo-regress).
const CTR = { baseline: 0.3, candidate: opts.regress ? 0.21 : 0.3 };

async function admin(method: string, path: string, body?: unknown) {
  const r = await fetch(`${base}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json", "x-rampart-actor": "demo" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  if (!r.ok) throw new Error(`${method} ${path}: ${r.status} ${await r.text()}`);
  return (await r.json()) as Record<string, unknown>;
}

async function main() {
  try {
    await fetch(`${base}/health`);
  } catch {
    console.error(`nothing answers at ${base}: start the local stack first (npm start)`);
    process.exit(1);
  }
  await admin("PUT", `/admin/flags/${KEY}`, {
    key: KEY,
    description: "Demo: checkout button copy, judged on CTR every minute",
    type: "string",
    variants: { baseline: "Buy now", candidate: "Complete purchase" },
    rollout: { window: "1m", healthyWindowsToPromote: 1, stages: [{ weight: 50, hold: "2m" }, { weight: 100 }] },
    metrics: { ctr: { kind: "ratio", numerator: "click", denominator: "exposure" } },
    gates: [
      { metric: "ctr", bad: "decrease", warn: "3%", rollback: "10%", minSamples: 200 },
      { metric: "latency_p95", bad: "increase", warn: "20%", informational: true },
    ],
  });
  // A fresh start each run: roll back and resume makes a new generation at the first stage.
  const state = ((await admin("GET", `/admin/flags/${KEY}`))["state"] as { status: string }).status;
  if (state !== "ramping") {
    if (state !== "rolled_back") await admin("POST", `/admin/flags/${KEY}/actions`, { action: "rollback", reason: "demo restart" });
    await admin("POST", `/admin/flags/${KEY}/actions`, { action: "resume", reason: "demo restart" });
  }
  console.log(`demo: ${KEY}, ${rate} evaluations/s, candidate CTR ${CTR.candidate} vs ${CTR.baseline}${opts.regress ? " (regression)" : ""}; cron every 20 s`);

  const end = Date.now() + minutes * 60_000;
  let sent = 0;
  // Print only what the cron decides from now on.
  const before = (await admin("GET", `/admin/flags/${KEY}/decisions?limit=1`)) as { decisions: { id: number }[] };
  let lastDecision = before.decisions[0]?.id ?? 0;
  let done = false;
  // The app's side, as a team writes it: the OpenFeature server SDK with Rampart's provider (sdk/server), and track() —
  // each click and latency is credited to the arm its user was served, with no attribution code here.
  await OpenFeature.setProviderAndWait(new RampartProvider({ url: base, eventsToken, flushIntervalMs: 1_000, onError: (m) => process.stderr.write(`  (provider: ${m})\n`) }));
  const client = OpenFeature.getClient();
  const traffic = setInterval(() => {
    for (let i = 0; i < rate / 10; i++) {
      const context = { targetingKey: `demo-user-${Math.floor(Math.random() * 1e9)}` };
      void client
        .getStringDetails(KEY, "Buy now", context)
        .then((details) => {
          sent++;
          const arm = details.variant === "candidate" ? "candidate" : details.variant === "baseline" ? "baseline" : null;
          if (arm === null) return;
          if (Math.random() < CTR[arm]) client.track("click", context);
          client.track("latency_ms", context, { value: 20 + Math.random() * (arm === "candidate" ? 30 : 25) });
        })
        .catch(() => undefined);
    }
  }, 100);

  while (Date.now() < end && !done) {
    await new Promise((r) => setTimeout(r, 20_000));
    await fetch(`${base}/cdn-cgi/handler/scheduled?time=${Date.now()}`).then((r) => r.text());
    const { decisions } = (await admin("GET", `/admin/flags/${KEY}/decisions?limit=10`)) as { decisions: { id: number; at: number; action: string; rule: string | null; reason: string | null; to: { status: string; stage: number } }[] };
    for (const d of decisions.reverse()) {
      if (d.id <= lastDecision) continue;
      lastDecision = d.id;
      console.log(`${new Date(d.at).toLocaleTimeString()}  ${d.action.padEnd(10)} → ${d.to.status} stage ${d.to.stage}  ${d.rule ?? ""}  ${d.reason ?? ""}`);
      if (d.to.status === "completed" || d.to.status === "rolled_back" || d.to.status === "killed") done = true;
    }
    process.stderr.write(`  (${sent} evaluations so far)\n`);
  }
  clearInterval(traffic);
  await OpenFeature.close();
  console.log(done ? "demo: the cron reached a final state" : "demo: time is up (raise --minutes)");
}

await main();
