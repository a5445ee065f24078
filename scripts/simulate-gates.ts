/**
 * Seeded simulation of the cron's judgement (pure core, virtual clock): the
 * feed-ranker rollout evaluated every simulated minute, over many runs per
 * scenario, printing how often it rolls back, completes, holds for SRM or is
 * killed, against the targets.
 *
 *   npm run simulate -- [--runs 1000] [--seed 1] [--only a,b]
 */
import { parseArgs } from "node:util";
import { emptyPair, mergeCounts, type ArmCounts, type ArmPair, type GenerationTotals } from "../core/counters";
import { evaluateRollout, freshMemory, planEvaluation, type GateMemory } from "../core/gates";
import { FlagSpecSchema, type FlagSpec } from "../core/manifest";
import { binomialSample, seededRandom, type Random } from "../core/random";
import { applyAction, initialState, type RolloutState } from "../core/rollout";

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

const SPEC: FlagSpec = FlagSpecSchema.parse({
  key: "feed-ranker",
  type: "string",
  variants: { baseline: "clip-cosine-v1", candidate: "clip-cosine-v2" },
  rollout: { window: "15m", healthyWindowsToPromote: 2, stages: [{ weight: 10, hold: "2h" }, { weight: 50, hold: "4h" }, { weight: 100 }] },
  metrics: {
    ctr: { kind: "ratio", numerator: "click", denominator: "exposure" },
    long_dwell_share: { kind: "ratio", numerator: ["dwell_30_120", "dwell_120_plus"], denominator: "click" },
  },
  gates: [
    { metric: "ctr", bad: "decrease", warn: "3%", rollback: "5%", severe: "10%" },
    { metric: "long_dwell_share", bad: "decrease", warn: "4%", rollback: "8%", severe: "12%" },
    { metric: "error_rate", bad: "increase", compare: "absolute", rollback: "0.2pp" },
  ],
  abort: [{ metric: "error_rate", above: "1%", sustained: "10m" }],
});

const EXPOSURES_PER_MINUTE = 50_000 / 60;
const BASE = { ctr: 0.05, longDwell: 0.3, errorRate: 0.005 };

interface Scenario {
  id: string;
  title: string;
  candidate: { ctr: number; longDwell: number; errorRate: number };
  /** Share of candidate exposures that never reach the counters. */
  exposureLoss: number;
  horizonMinutes: number;
}

const SCENARIOS: Scenario[] = [
  { id: "a", title: "A/A (candidate = baseline)", candidate: { ...BASE }, exposureLoss: 0, horizonMinutes: 12 * 60 },
  { id: "b", title: "true 10% relative CTR drop", candidate: { ...BASE, ctr: BASE.ctr * 0.9 }, exposureLoss: 0, horizonMinutes: 24 * 60 },
  { id: "c", title: "true 5% relative CTR drop", candidate: { ...BASE, ctr: BASE.ctr * 0.95 }, exposureLoss: 0, horizonMinutes: 24 * 60 },
  { id: "d", title: "10% of candidate exposures lost", candidate: { ...BASE }, exposureLoss: 0.1, horizonMinutes: 12 * 60 },
  { id: "e", title: "error rate doubled to 1%", candidate: { ...BASE, errorRate: 0.01 }, exposureLoss: 0, horizonMinutes: 12 * 60 },
];

interface RunResult {
  outcome: "completed" | "rolled_back" | "killed" | "running";
  minutes: number;
  /** Highest weight the candidate reached before the run ended. */
  maxWeight: number;
  srmHeld: boolean;
  rule: string;
}

function simulateMinute(random: Random, scenario: Scenario, weight: number): ArmPair {
  const pair = emptyPair();
  const total = binomialSample(random, 2 * Math.round(EXPOSURES_PER_MINUTE), 0.5);
  const toCandidate = binomialSample(random, total, weight / 100);
  const arms: [keyof ArmPair, number, Scenario["candidate"]][] = [
    ["baseline", total - toCandidate, BASE],
    ["candidate", toCandidate, scenario.candidate],
  ];
  for (const [arm, exposures, rates] of arms) {
    const counts: ArmCounts = pair[arm];
    const lost = arm === "candidate" ? binomialSample(random, exposures, scenario.exposureLoss) : 0;
    counts.exposures = exposures - lost;
    const clicks = binomialSample(random, exposures, rates.ctr);
    const longDwell = binomialSample(random, clicks, rates.longDwell);
    counts.errors = binomialSample(random, exposures, rates.errorRate);
    counts.events["click"] = { count: clicks, sum: clicks, sumSq: clicks };
    counts.events["dwell_30_120"] = { count: longDwell, sum: longDwell, sumSq: longDwell };
  }
  return pair;
}

function runOnce(scenario: Scenario, seed: number): RunResult {
  const random = seededRandom(seed);
  let state: RolloutState = initialState(SPEC.rollout.stages, 1, 1, 0);
  let memory: GateMemory = freshMemory(state);
  const totals: GenerationTotals = { generation: 1, stages: {} };
  const minutes: { stage: number; pair: ArmPair }[] = [];
  let maxWeight = 0;
  let srmHeld = false;
  for (let minute = 0; minute < scenario.horizonMinutes; minute++) {
    const weight = state.status === "completed" ? 100 : (SPEC.rollout.stages[state.stageIndex]?.weight ?? 0);
    maxWeight = Math.max(maxWeight, weight);
    const pair = simulateMinute(random, scenario, weight);
    const key = String(state.stageIndex);
    const stageTotals = (totals.stages[key] ??= emptyPair());
    mergeCounts(stageTotals.baseline, pair.baseline);
    mergeCounts(stageTotals.candidate, pair.candidate);
    minutes.push({ stage: state.stageIndex, pair });

    const now = (minute + 1) * 60_000;
    const plan = planEvaluation(SPEC, state, memory, now);
    const sum = (from: number, to: number, stage?: number) => {
      const out = emptyPair();
      for (let m = Math.max(0, Math.floor(from / 60_000)); m < Math.min(minutes.length, Math.ceil(to / 60_000)); m++) {
        const cell = minutes[m];
        if (!cell || (stage !== undefined && cell.stage !== stage)) continue;
        mergeCounts(out.baseline, cell.pair.baseline);
        mergeCounts(out.candidate, cell.pair.candidate);
      }
      return out;
    };
    const window = plan.window ? { span: plan.window, counts: sum(plan.window.from, plan.window.to, state.stageIndex) } : null;
    const abortCounts = plan.abortSpans.map((span) => sum(span.from, span.to).candidate);
    const decision = evaluateRollout({ now, spec: SPEC, state, memory, totals, window, abortCounts });
    memory = decision.memory;
    if (decision.rule === "srm") srmHeld = true;
    switch (decision.action) {
      case "kill":
        return { outcome: "killed", minutes: minute + 1, maxWeight, srmHeld, rule: decision.rule };
      case "rollback":
        return { outcome: "rolled_back", minutes: minute + 1, maxWeight, srmHeld, rule: decision.rule };
      case "promote":
      case "complete":
      case "demote": {
        const next = applyAction(state, SPEC.rollout.stages, { action: decision.action === "complete" ? "promote" : decision.action }, now);
        if (next.ok) state = next.state;
        if (state.status === "completed") return { outcome: "completed", minutes: minute + 1, maxWeight: 100, srmHeld, rule: decision.rule };
        break;
      }
      case "hold":
        break;
    }
  }
  return { outcome: "running", minutes: scenario.horizonMinutes, maxWeight, srmHeld, rule: "horizon" };
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
      results.push(runOnce(scenario, SEED * 1_000_003 + r * 7919 + scenario.id.charCodeAt(0)));
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
