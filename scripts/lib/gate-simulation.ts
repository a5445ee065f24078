/**
 * The gate simulation engine (pure core, virtual clock, seeded): the
 * feed-ranker rollout judged every simulated minute under a scenario.
 * Used by `npm run simulate` and by the simulation test.
 */
import { emptyPair, mergeCounts, type ArmCounts, type ArmPair, type GenerationTotals } from "../../core/counters";
import { evaluateRollout, freshMemory, planEvaluation, type GateMemory } from "../../core/gates";
import { FlagSpecSchema, type FlagSpec } from "../../core/manifest";
import { binomialSample, seededRandom, type Random } from "../../core/random";
import { applyAction, initialState, type RolloutState } from "../../core/rollout";

export const SPEC: FlagSpec = FlagSpecSchema.parse({
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

export interface Scenario {
  id: string;
  title: string;
  candidate: { ctr: number; longDwell: number; errorRate: number };
  /** Share of candidate exposures that never reach the counters. */
  exposureLoss: number;
  horizonMinutes: number;
}

export const SCENARIOS: Scenario[] = [
  { id: "a", title: "A/A (candidate = baseline)", candidate: { ...BASE }, exposureLoss: 0, horizonMinutes: 12 * 60 },
  { id: "b", title: "true 10% relative CTR drop", candidate: { ...BASE, ctr: BASE.ctr * 0.9 }, exposureLoss: 0, horizonMinutes: 24 * 60 },
  { id: "c", title: "true 5% relative CTR drop", candidate: { ...BASE, ctr: BASE.ctr * 0.95 }, exposureLoss: 0, horizonMinutes: 24 * 60 },
  { id: "d", title: "10% of candidate exposures lost", candidate: { ...BASE }, exposureLoss: 0.1, horizonMinutes: 12 * 60 },
  { id: "e", title: "error rate doubled to 1%", candidate: { ...BASE, errorRate: 0.01 }, exposureLoss: 0, horizonMinutes: 12 * 60 },
];

export interface RunResult {
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

export function runOnce(scenario: Scenario, seed: number): RunResult {
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


/** The seed of run `r` of a scenario: distinct per scenario and run, reproducible. */
export function runSeed(seed: number, scenario: Scenario, r: number): number {
  return seed * 1_000_003 + r * 7919 + scenario.id.charCodeAt(0);
}
