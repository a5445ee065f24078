/**
 * The gate simulation suite: seeded scenarios of realistic traffic (returning
 * users with their own rates, late events, daily cycles, low volume, latency
 * gates, abort rules, regressions, lost exposures), each run many times and
 * judged every simulated minute by the real core, printed as a Markdown
 * table with Monte Carlo standard errors against each target.
 *
 *   npm run simulate -- [--runs 1000] [--seed 1] [--only aa-5-5k,lag-50k] [--jobs 2] [--list]
 */
import { cpus } from "node:os";
import { fork } from "node:child_process";
import { fileURLToPath } from "node:url";
import { runOnce, runSeed, SCENARIOS, type RunResult } from "./lib/gate-simulation";
import { runSeries, SERIES_SCENARIOS } from "./lib/series-simulation";
import { scriptArgs } from "./lib/script-args";

interface Job {
  id: string;
  seed: number;
  from: number;
  to: number;
}

const WORKER_FLAG = "--simulation-worker";

if (process.argv[2] === WORKER_FLAG && process.send) {
  // A child process: runs one slice of a scenario and sends the results back.
  const job = JSON.parse(process.argv[3] ?? "{}") as Job;
  const scenario = SCENARIOS.find((s) => s.id === job.id);
  if (!scenario) throw new Error(`no scenario ${job.id}`);
  const results: RunResult[] = [];
  for (let r = job.from; r < job.to; r++) results.push(runOnce(scenario, runSeed(job.seed, scenario, r)));
  process.send(results, () => process.exit(0));
} else {
  await main();
}

async function main() {
  const args = scriptArgs({ command: "npm run simulate", about: "the judge's error rates by seeded simulation, with Monte Carlo standard errors" }, {
    runs: { type: "int", default: 1000, min: 1, help: "seeded runs per scenario" },
    seed: { type: "int", default: 1, help: "base seed" },
    only: { type: "list", default: [], choices: [...SCENARIOS.map((s) => s.id), ...SERIES_SCENARIOS.map((s) => s.id)], help: "scenario ids (--list shows them)" },
    jobs: { type: "int", default: Math.max(1, Math.min(4, cpus().length)), min: 1, help: "worker processes" },
    list: { type: "boolean", help: "list the scenarios and stop" },
  });
  if (args.list) {
    for (const s of [...SCENARIOS, ...SERIES_SCENARIOS]) console.log(`${s.id.padEnd(16)} ${s.title} — target: ${s.target}`);
    return;
  }
  const { runs, seed, jobs } = args;
  const wanted = args.only;
  const selected = wanted.length > 0 ? SCENARIOS.filter((s) => wanted.includes(s.id)) : SCENARIOS;
  const series = wanted.length > 0 ? SERIES_SCENARIOS.filter((s) => wanted.includes(s.id)) : SERIES_SCENARIOS;
  console.log(`${runs} seeded runs per scenario (seed ${seed}), judged every simulated minute; ± is the Monte Carlo standard error`);
  console.log("");
  console.log("| scenario | completed | rolled back | killed | SRM hold | median time to end | result against target | target |");
  console.log("|---|---:|---:|---:|---:|---:|---|---|");
  let failed = 0;
  for (const scenario of selected) {
    const started = performance.now();
    const results = await runScenario(scenario.id, seed, runs, jobs);
    const count = (f: (r: RunResult) => boolean) => `${((100 * results.filter(f).length) / runs).toFixed(1)}%`;
    const ended = results.filter((r) => r.outcome !== "running").map((r) => r.minutes).sort((a, b) => a - b);
    const med = ended.length > 0 ? `${((ended[ended.length >> 1] ?? 0) / 60).toFixed(1)} h` : "—";
    const verdict = scenario.check(results);
    if (!verdict.met) failed++;
    console.log(
      `| ${scenario.title} | ${count((r) => r.outcome === "completed")} | ${count((r) => r.outcome === "rolled_back")} | ${count((r) => r.outcome === "killed")} | ${count((r) => r.srmHeld)} | ${med} | ${verdict.label}: **${verdict.met ? "met" : "NOT met"}** | ${scenario.target} |`,
    );
    process.stderr.write(`(${scenario.id}: ${((performance.now() - started) / 1000).toFixed(1)} s)\n`);
  }
  // Gates on outside series (Prometheus): per-minute aggregates judged every minute (core/series-gate.ts).
  if (series.length > 0) {
    console.log("");
    console.log(`Gates on Prometheus series, ${runs} seeded runs each, judged every simulated minute:`);
    console.log("");
    console.log("| scenario | result against target | target |");
    console.log("|---|---|---|");
    for (const scenario of series) {
      const verdict = scenario.check(Array.from({ length: runs }, (_, r) => runSeries(scenario, runSeed(seed, scenario, r))));
      if (!verdict.met) failed++;
      console.log(`| ${scenario.title} | ${verdict.label}: **${verdict.met ? "met" : "NOT met"}** | ${scenario.target} |`);
    }
  }
  const total = selected.length + series.length;
  console.log("");
  console.log(failed === 0 ? `all ${total} targets met` : `${failed} of ${total} targets NOT met`);
  process.exitCode = failed === 0 ? 0 : 1;
}

/** Runs a scenario's seeded runs split over child processes (one per job); results in run order. */
async function runScenario(id: string, seed: number, runs: number, jobs: number): Promise<RunResult[]> {
  const size = Math.ceil(runs / jobs);
  const parts = Array.from({ length: jobs }, (_, j) => ({ id, seed, from: j * size, to: Math.min(runs, (j + 1) * size) })).filter((p) => p.from < p.to);
  const chunks = await Promise.all(
    parts.map(
      (job) =>
        new Promise<RunResult[]>((resolve, reject) => {
          // Children load TypeScript through tsx, as this process does.
          const child = fork(fileURLToPath(import.meta.url), [WORKER_FLAG, JSON.stringify(job)], { execArgv: ["--import", "tsx"] });
          child.once("message", (results) => resolve(results as RunResult[]));
          child.once("error", reject);
          child.once("exit", (code) => (code === 0 ? undefined : reject(new Error(`simulation worker for ${id} exited with ${code}`))));
        }),
    ),
  );
  return chunks.flat();
}
