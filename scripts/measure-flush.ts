/**
 * Durable Object calls per 1,000 evaluations at a steady rate on one isolate:
 * drives single OFREP evaluations at --rate per second for --seconds against
 * the worker on workerd (one isolate), waits for the last flush, and reads
 * how many counter batches the FlagDO received. Target: ≤ 5 per 1,000.
 *
 *   npm run measure:flush -- [--rate 200] [--seconds 20]
 */
import { startLocalWorker } from "./lib/local-worker";
import { scriptArgs } from "./lib/script-args";

const args = scriptArgs({ command: "npm run measure:flush", about: "counter flushes per second from one isolate under a steady evaluation rate" }, {
  rate: { type: "number", default: 200, min: 0, exclusiveMin: true, max: 2000, help: "evaluations per second" },
  seconds: { type: "number", default: 20, min: 0, exclusiveMin: true, max: 300, help: "how long to run" },
});
const rate = args.rate;
const seconds = args.seconds;

const FLUSH_MS = 5_000;
const worker = await startLocalWorker({ FLUSH_MS: String(FLUSH_MS), FLUSH_MAX: "1000" });
try {
  const key = "flush-probe";
  const put = await worker.admin("PUT", `/admin/flags/${key}`, {
    key,
    type: "boolean",
    variants: { baseline: false, candidate: true },
    rollout: { stages: [{ weight: 50 }, { weight: 100 }] },
  });
  if (!put.ok) throw new Error(`creating the flag failed: ${put.status} ${await put.text()}`);
  const evaluate = (i: number) =>
    fetch(`${worker.baseUrl}/ofrep/v1/evaluate/flags/${key}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ context: { targetingKey: `user-${i}` } }),
    });
  for (let tries = 0; tries < 100 && (await evaluate(-1)).status !== 200; tries++) await new Promise((r) => setTimeout(r, 50));

  const statsBefore = (await (await worker.admin("GET", `/admin/flags/${key}/stats`)).json()) as { counterBatches: number };
  const total = Math.round(rate * seconds);
  const started = performance.now();
  let ok = 0;
  const inflight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    inflight.push(evaluate(i).then(async (r) => {
      if (r.status === 200) ok++;
      await r.body?.cancel();
    }));
    if ((i + 1) % (rate * 5) === 0) process.stderr.write(`${i + 1}/${total} evaluations sent\n`);
  }
  await Promise.all(inflight);
  const achieved = total / ((performance.now() - started) / 1000);
  await new Promise((r) => setTimeout(r, FLUSH_MS + 1_000)); // the last delayed flush
  const stats = (await (await worker.admin("GET", `/admin/flags/${key}/stats`)).json()) as { counterBatches: number };
  const report = (await (await worker.admin("GET", `/admin/flags/${key}/report?from=0`)).json()) as { arms: { baseline: { exposures: number }; candidate: { exposures: number } } };
  const calls = stats.counterBatches - statsBefore.counterBatches;
  const counted = report.arms.baseline.exposures + report.arms.candidate.exposures;
  const perThousand = (calls / ok) * 1000;
  console.log(`evaluations: ${ok} ok of ${total} at ${achieved.toFixed(0)}/s (target ${rate}/s), FLUSH_MS ${FLUSH_MS}`);
  console.log(`FlagDO counter calls: ${calls} → ${perThousand.toFixed(2)} per 1,000 evaluations (target ≤ 5): ${perThousand <= 5 ? "met" : "NOT met"}`);
  console.log(`exposures counted: ${counted} (including the warm-up evaluations) of ${ok + 1}`);
} finally {
  await worker.dispose();
}
