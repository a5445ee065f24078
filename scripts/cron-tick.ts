/**
 * Wall time of one cron tick over N flags on the local stack: creates N
 * flags with a manifest, fires the scheduled handler once, and waits until
 * the RegistryDO reports the tick finished (it judges flags in batches,
 * continuing from its alarm).
 *
 *   npm run measure:cron -- [--flags 1000]
 */
import { startLocalWorker } from "./lib/local-worker";
import { scriptArgs } from "./lib/script-args";

const args = scriptArgs({ command: "npm run measure:cron", about: "one cron tick over many flags on a local worker: batches and time" }, {
  flags: { type: "int", default: 1000, min: 1, max: 1000, help: "flags to create (one manifest holds at most 1000)" },
});
const count = args.flags;

interface CronStatus {
  pending: { cursor: number; flags: number } | null;
  last: { now: number; evaluated: number; changed: number; failed: number; batches: number; finishedAt: number } | null;
}

const worker = await startLocalWorker();
try {
  const flags = Array.from({ length: count }, (_, i) => ({
    key: `tick-${String(i).padStart(4, "0")}`,
    type: "boolean",
    variants: { baseline: false, candidate: true },
    rollout: { window: "15m", stages: [{ weight: 10, hold: "1h" }, { weight: 100 }] },
    metrics: { ctr: { kind: "ratio", numerator: "click", denominator: "exposure" } },
    gates: [
      { metric: "ctr", bad: "decrease", rollback: "5%" },
      { metric: "error_rate", bad: "increase", compare: "absolute", rollback: "0.2pp" },
    ],
    abort: [{ metric: "error_rate", above: "1%", sustained: "10m" }],
  }));
  let t = performance.now();
  const applied = await worker.admin("POST", "/admin/manifest", { flags });
  if (!applied.ok) throw new Error(`manifest failed: ${applied.status} ${await applied.text()}`);
  console.log(`created ${count} flags in ${((performance.now() - t) / 1000).toFixed(1)} s`);

  const tickTime = Date.now() + 120_000; // a minute none of the flags has been judged in
  t = performance.now();
  const fired = await fetch(`${worker.baseUrl}/cdn-cgi/handler/scheduled?time=${tickTime}`);
  await fired.body?.cancel();
  let status: CronStatus;
  for (;;) {
    status = (await (await worker.admin("GET", "/admin/cron")).json()) as CronStatus;
    if (status.pending === null && status.last?.now === tickTime) break;
    if (performance.now() - t > 300_000) throw new Error("the tick did not finish within 5 minutes");
    await new Promise((r) => setTimeout(r, 100));
  }
  const wall = (performance.now() - t) / 1000;
  const last = status.last;
  console.log(`one tick over ${count} flags: ${wall.toFixed(2)} s wall time, ${last?.evaluated} judged, ${last?.failed} failed, in ${last?.batches} batches`);
} finally {
  await worker.dispose();
}
