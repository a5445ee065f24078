/**
 * The hot-flag load model (core/load-model.ts) as a table, checked against a
 * seeded simulation of many isolates applying the edge buffer's flush rule:
 *
 *   npm run model:hot-flag -- [--budget 500] [--seconds 120] [--seed 1]
 */
import { parseArgs } from "node:util";
import { callsPerObject, shardsFor } from "../core/load-model";
import { seededRandom } from "../core/random";

const { values: opts } = parseArgs({
  options: {
    budget: { type: "string", default: "500" },
    seconds: { type: "string", default: "120" },
    seed: { type: "string", default: "1" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (opts.help) {
  console.log("usage: npm run model:hot-flag -- [--budget calls/s per object (500)] [--seconds simulated (120)] [--seed 1]");
  process.exit(0);
}
const budget = Number(opts.budget);
const seconds = Number(opts.seconds);
const FLUSH_MS = 5000;
const FLUSH_MAX = 1000;

console.log(`model (FLUSH_MS ${FLUSH_MS}, FLUSH_MAX ${FLUSH_MAX}; budget ${budget} calls/s per object)\n`);
console.log("| evaluations/s | isolates | calls/s in all | shards needed | busiest object calls/s |");
console.log("|---:|---:|---:|---:|---:|");
for (const [evals, isolates] of [[1_000, 100], [10_000, 1_000], [100_000, 1_000], [100_000, 10_000], [1_000_000, 10_000], [1_000_000, 100_000]] as const) {
  const load = { isolates, evaluationsPerSecond: evals, flushMs: FLUSH_MS, flushMax: FLUSH_MAX };
  const shards = shardsFor(load, budget);
  const at = callsPerObject({ ...load, shards: shards ?? 16 });
  console.log(`| ${evals.toLocaleString()} | ${isolates.toLocaleString()} | ${at.total.toFixed(0)} | ${shards ?? "> 16"} | ${at.busiest.toFixed(0)} |`);
}

/** Seeded simulation: each isolate gets Poisson arrivals and flushes by the buffer's rule; calls counted per shard. */
function simulate(isolates: number, evals: number, shards: number, seed: number) {
  const random = seededRandom(seed);
  const lambda = evals / isolates;
  const calls = new Array<number>(shards).fill(0);
  for (let i = 0; i < isolates; i++) {
    const shard = Math.floor(random() * shards);
    let t = 0;
    for (;;) {
      // Wait for the first record after a flush, then the timer or the size limit, whichever first.
      t += -Math.log(1 - random()) / lambda;
      const fillTime = FLUSH_MAX / lambda;
      t += Math.min(FLUSH_MS / 1000, fillTime);
      if (t > seconds) break;
      calls[shard] = (calls[shard] ?? 0) + 1;
    }
  }
  return calls.map((c) => c / seconds);
}

console.log(`\nsimulation (${seconds} s simulated, seed ${opts.seed}) against the model\n`);
console.log("| evaluations/s | isolates | shards | model total | simulated total | model busiest | simulated busiest |");
console.log("|---:|---:|---:|---:|---:|---:|---:|");
for (const [evals, isolates, shards] of [[10_000, 1_000, 1], [100_000, 2_000, 4], [200_000, 5_000, 8]] as const) {
  const model = callsPerObject({ isolates, evaluationsPerSecond: evals, flushMs: FLUSH_MS, flushMax: FLUSH_MAX, shards });
  const sim = simulate(isolates, evals, shards, Number(opts.seed));
  const total = sim.reduce((a, b) => a + b, 0);
  console.log(`| ${evals.toLocaleString()} | ${isolates.toLocaleString()} | ${shards} | ${model.total.toFixed(0)} | ${total.toFixed(0)} | ${model.busiest.toFixed(0)} | ${Math.max(...sim).toFixed(0)} |`);
}
