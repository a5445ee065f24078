/**
 * Seeded simulation of the cron's judgement (pure core, virtual clock): the
 * feed-ranker rollout evaluated every simulated minute, over many runs per
 * scenario, printing how often it rolls back, completes, holds for SRM or is
 * killed, against the targets.
 *
 *   npm run simulate -- [--runs 1000] [--seed 1] [--only a,b]
 */
import { parseArgs } from "node:util";
import { runOnce, runSeed, SCENARIOS, type RunResult } from "./lib/gate-simulation";

const { values: args } = parseArgs({
  options: {
    runs: { type: "string", default: "1000" },
    seed: { type: "string", default: "1" },
    only: { type: "string", default: "" },
    help: { type: "boolean", short: "h", default: false },
  },
});
if (args.help) {
  console.log("usage: npm run simulate -- [--runs N (default 1000)] [--seed S (default 1)] [--only a,b,c,d,e]");
  process.exit(0);
}
const RUNS = Number(args.runs);
const SEED = Number(args.seed);
if (!Number.isInteger(RUNS) || RUNS < 1 || !Number.isInteger(SEED)) {
  console.error("--runs must be a positive integer and --seed an integer");
  process.exit(2);
}

const pct = (n: number, d: number) => `${((100 * n) / d).toFixed(1)}%`;
const hours = (xs: number[]) => {
  if (xs.length === 0) return "—";
  const s = [...xs].sort((a, b) => a - b);
  return `${((s[s.length >> 1] ?? 0) / 60).toFixed(2)} h`;
};

function main() {
  const selected = args.only ? SCENARIOS.filter((s) => args.only?.split(",").includes(s.id)) : SCENARIOS;
  console.log(`feed-ranker rollout: 10% (hold 2h) → 50% (hold 4h) → 100%; 15-min windows, 2 healthy to promote; 50,000 exposures/h; ${RUNS} seeded runs per scenario (seed ${SEED})`);
  console.log("");
  console.log("| scenario | completed | rolled back | killed | held for SRM | median time to end | target |");
  console.log("|---|---:|---:|---:|---:|---:|---|");
  const verdicts: string[] = [];
  for (const scenario of selected) {
    const results: RunResult[] = [];
    for (let r = 0; r < RUNS; r++) {
      results.push(runOnce(scenario, runSeed(SEED, scenario, r)));
      if ((r + 1) % 250 === 0) process.stderr.write(`(${scenario.id}) ${r + 1}/${RUNS}\n`);
    }
    const count = (f: (r: RunResult) => boolean) => results.filter(f).length;
    const completed = count((r) => r.outcome === "completed");
    const rolledBack = count((r) => r.outcome === "rolled_back");
    const killed = count((r) => r.outcome === "killed");
    const srm = count((r) => r.srmHeld);
    const ended = results.filter((r) => r.outcome !== "running").map((r) => r.minutes);
    let target = "";
    if (scenario.id === "a") {
      const ok = rolledBack / RUNS <= 0.05 && completed / RUNS >= 0.9 && killed / RUNS <= 0.01 && srm / RUNS <= 0.05;
      target = `rolled back ≤ 5%, completed in 12 h ≥ 90%, killed ≤ 1%, false SRM ≤ 5%: ${ok ? "met" : "NOT met"}`;
      verdicts.push(ok ? "a met" : "a NOT met");
    } else if (scenario.id === "b") {
      const early = count((r) => r.outcome === "rolled_back" && r.maxWeight <= 50);
      const ok = early / RUNS >= 0.95;
      target = `rolled back before passing 50% ≥ 95%: ${pct(early, RUNS)} ${ok ? "met" : "NOT met"}; median time to rollback ${hours(results.filter((r) => r.outcome === "rolled_back").map((r) => r.minutes))}`;
      verdicts.push(ok ? "b met" : "b NOT met");
    } else if (scenario.id === "c") {
      const early = count((r) => r.outcome === "rolled_back" && r.maxWeight <= 50);
      target = `reported: rolled back before passing 50%: ${pct(early, RUNS)}; median time to rollback ${hours(results.filter((r) => r.outcome === "rolled_back").map((r) => r.minutes))}`;
    } else if (scenario.id === "d") {
      const ok = srm / RUNS >= 0.95;
      target = `held for SRM ≥ 95%: ${ok ? "met" : "NOT met"}`;
      verdicts.push(ok ? "d met" : "d NOT met");
    } else if (scenario.id === "e") {
      const stopped = results.filter((r) => r.outcome === "killed" || r.outcome === "rolled_back");
      target = `reported: stopped (killed or rolled back) ${pct(stopped.length, RUNS)}, median time ${hours(stopped.map((r) => r.minutes))}; killed median ${hours(results.filter((r) => r.outcome === "killed").map((r) => r.minutes))}`;
    }
    console.log(`| (${scenario.id}) ${scenario.title} | ${pct(completed, RUNS)} | ${pct(rolledBack, RUNS)} | ${pct(killed, RUNS)} | ${pct(srm, RUNS)} | ${hours(ended)} | ${target} |`);
  }
  console.log("");
  console.log(verdicts.join("; "));
}

main();
