/**
 * The hot-flag load model (core/load-model.ts) as a table, checked against a
 * seeded simulation of many isolates applying the edge buffer's flush rule:
 *
 *   npm run model:hot-flag -- [--budget 500] [--seconds 120] [--seed 1]
 */
import { callsPerObject, shardsFor, simulateCalls } from "../core/load-model";
import { seededRandom } from "../core/random";
import { scriptArgs } from "./lib/script-args";

const opts = scriptArgs({ command: "npm run model:hot-flag", about: "the counter-shard load model for a hot flag, simulated" }, {
  budget: { type: "number", default: 500, min: 0, exclusiveMin: true, help: "calls per second one object takes" },
  seconds: { type: "number", default: 120, min: 0, exclusiveMin: true, help: "simulated seconds" },
  seed: { type: "int", default: 1, help: "random seed" },
});
const budget = opts.budget;
const seconds = opts.seconds;
const FLUSH_MS = 5000;
const FLUSH_MAX = 1000;
const FLUSH_MIN_MS = 1000;

console.log(`model (FLUSH_MS ${FLUSH_MS}, FLUSH_MAX ${FLUSH_MAX}, FLUSH_MIN_MS ${FLUSH_MIN_MS}; budget ${budget} calls/s per object)\n`);
console.log("| evaluations/s | isolates | calls/s in all | shards needed | busiest object calls/s |");
console.log("|---:|---:|---:|---:|---:|");
for (const [evals, isolates] of [[1_000, 100], [10_000, 1_000], [100_000, 1_000], [100_000, 10_000], [1_000_000, 10_000], [1_000_000, 100_000]] as const) {
  const load = { isolates, evaluationsPerSecond: evals, flushMs: FLUSH_MS, flushMax: FLUSH_MAX, flushMinMs: FLUSH_MIN_MS };
  const shards = shardsFor(load, budget);
  const at = callsPerObject({ ...load, shards: shards ?? 16 });
  console.log(`| ${evals.toLocaleString()} | ${isolates.toLocaleString()} | ${at.total.toFixed(0)} | ${shards ?? "> 16"} | ${at.busiest.toFixed(0)} |`);
}

console.log(`\nsimulation (${seconds} s simulated, seed ${opts.seed}) against the model\n`);
console.log("| evaluations/s | isolates | shards | model total | simulated total | model busiest | simulated busiest |");
console.log("|---:|---:|---:|---:|---:|---:|---:|");
// The last row: a few very busy isolates (10,000 evaluations/s each), where the FLUSH_MIN_MS floor sets the rate.
for (const [evals, isolates, shards] of [[10_000, 1_000, 1], [100_000, 2_000, 4], [200_000, 5_000, 8], [1_000_000, 100, 1]] as const) {
  const load = { isolates, evaluationsPerSecond: evals, flushMs: FLUSH_MS, flushMax: FLUSH_MAX, flushMinMs: FLUSH_MIN_MS, shards };
  const model = callsPerObject(load);
  const sim = simulateCalls(load, seconds, seededRandom(opts.seed));
  const total = sim.reduce((a, b) => a + b, 0);
  console.log(`| ${evals.toLocaleString()} | ${isolates.toLocaleString()} | ${shards} | ${model.total.toFixed(0)} | ${total.toFixed(0)} | ${model.busiest.toFixed(0)} | ${Math.max(...sim).toFixed(0)} |`);
}
