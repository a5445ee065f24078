/**
 * The compare report of an experiment (`experiment.ts`): each variant's
 * levels, and each treatment against the designated control on each of the
 * experiment's metrics, with intervals corrected for the number of arms.
 *
 * Correction: Bonferroni over the family of (k − 1) treatments × m metrics,
 * so every interval is drawn at α / ((k − 1)·m) with α = 0.05. The
 * intervals are the gates' always-valid ones (mixture sequential
 * probability ratio, Johari, Koomen, Pekelis & Walsh, "Peeking at A/B
 * Tests", KDD 2017; `gate-verdict.ts`), so a report may be read at any time,
 * as often as wanted. Bonferroni is chosen because it holds under any
 * dependence between the comparisons — they share the control, so they are
 * positively correlated — and because a union bound over time-uniform
 * intervals is itself time-uniform: the family-wise error stays ≤ α over
 * every look at every pair. Dunnett's many-to-one procedure (Dunnett 1955)
 * would be narrower (about 10% at k = 4) but its critical values assume a
 * fixed sample size and normal statistics, which no longer hold once the
 * report is looked at repeatedly; Holm's step-down (Holm 1979) rejects as
 * much or more but gives no simultaneous intervals, and the report is read
 * for its intervals. `test/core/experiment-report.test.ts` measures the
 * family-wise error on A/A/A/A traffic with returning users.
 */
import { emptyReplicated, type ReplicatedPair, type Replicated } from "./counters";
import { experimentMetrics, type Experiment, type ExperimentMetric } from "./experiment";
import type { Gate } from "./gate-spec";
import { judgeGate } from "./gate-verdict";
import { FLAG_ALPHA } from "./gates";
import type { FlagSpec } from "./manifest";
import { armMetrics, type ArmMetrics } from "./report";

/** A treatment against the control on one metric: which way the interval lies, if it excludes no difference. */
export const EXPERIMENT_VERDICTS = ["better", "worse", "higher", "lower", "no_difference_detected", "insufficient_sample", "no_data"] as const;
export type ExperimentVerdict = (typeof EXPERIMENT_VERDICTS)[number];

export interface ExperimentComparison {
  variant: string;
  metric: string;
  compare: ExperimentMetric["compare"];
  bad: ExperimentMetric["bad"] | null;
  /** Levels of the metric in the control and in this variant. */
  control: number | null;
  treatment: number | null;
  /** Relative change (relative) or difference (absolute), with its corrected interval. */
  delta: number | null;
  interval: [number, number] | null;
  samples: { control: number; treatment: number };
  verdict: ExperimentVerdict;
}

export interface ExperimentReport {
  flag: string;
  rule: string;
  iteration: string;
  /** Whether this iteration is the rule's split as the flag serves it now. */
  current: boolean;
  control: string;
  from: number;
  to: number;
  variants: Record<string, ArmMetrics>;
  comparisons: ExperimentComparison[];
  correction: { method: "bonferroni"; familyAlpha: number; comparisons: number; alphaEach: number };
}

export interface ExperimentInput {
  flag: string;
  rule: string;
  iteration: string;
  current: boolean;
  experiment: Experiment;
  /** The variants in the split's order (control included); variants with counts but not listed are appended. */
  variants: readonly string[];
}

export function buildExperimentReport(
  spec: Pick<FlagSpec, "metrics">,
  input: ExperimentInput,
  counts: Readonly<Record<string, Replicated>>,
  from: number,
  to: number,
): ExperimentReport {
  // 1. The arms: the split's variants, then any counted under this iteration that the split no longer lists.
  const names = [...input.variants, ...Object.keys(counts).filter((v) => !input.variants.includes(v))];
  const replicates = (variant: string): Replicated => counts[variant] ?? emptyReplicated();
  const { control } = input.experiment;
  const treatments = names.filter((v) => v !== control);
  // 2. The family and each interval's share of α.
  const metrics = experimentMetrics(input.experiment, Object.keys(spec.metrics));
  const family = Math.max(1, treatments.length * metrics.length);
  const alphaEach = FLAG_ALPHA / family;
  // 3. Each treatment against the control, on each metric, on the gates' always-valid intervals.
  const comparisons: ExperimentComparison[] = [];
  for (const variant of treatments) {
    const pair: ReplicatedPair = { baseline: replicates(control), candidate: replicates(variant) };
    for (const m of metrics) comparisons.push(compareOne(spec, m, variant, pair, alphaEach));
  }
  const variants: Record<string, ArmMetrics> = {};
  for (const name of names) variants[name] = armMetrics(spec, replicates(name));
  return {
    flag: input.flag,
    rule: input.rule,
    iteration: input.iteration,
    current: input.current,
    control,
    from,
    to,
    variants,
    comparisons,
    correction: { method: "bonferroni", familyAlpha: FLAG_ALPHA, comparisons: family, alphaEach },
  };
}

function compareOne(spec: Pick<FlagSpec, "metrics">, m: ExperimentMetric, variant: string, pair: ReplicatedPair, alpha: number): ExperimentComparison {
  // An informational gate judges nothing itself: it gives the delta and its interval, which this report reads.
  const gate: Gate = { metric: m.metric, compare: m.compare, bad: m.bad ?? "increase", informational: true, action: "rollback", sustained: undefined, minSamples: undefined };
  const judged = judgeGate(gate, spec.metrics, [pair], { alpha, includeSevere: false, shadow: false });
  const base = {
    variant,
    metric: m.metric,
    compare: m.compare,
    bad: m.bad ?? null,
    control: judged.baseline,
    treatment: judged.candidate,
    delta: judged.delta,
    interval: judged.interval,
    samples: { control: judged.samples.baseline, treatment: judged.samples.candidate },
  };
  if (judged.verdict === "no_data" || judged.verdict === "insufficient_sample" || judged.interval === null) {
    return { ...base, verdict: judged.verdict === "no_data" ? "no_data" : "insufficient_sample" };
  }
  const [low, high] = judged.interval;
  const direction = low > 0 ? "higher" : high < 0 ? "lower" : null;
  if (direction === null) return { ...base, verdict: "no_difference_detected" };
  if (m.bad === undefined) return { ...base, verdict: direction };
  const worse = (direction === "higher") === (m.bad === "increase");
  return { ...base, verdict: worse ? "worse" : "better" };
}
