/**
 * Judging one gate: the candidate against the baseline (relative or
 * absolute delta, compared within each stage and pooled by inverse variance,
 * so a changing weight cannot bias it) or the candidate's level (floor,
 * ceiling), with an always-valid interval. A breach needs the point
 * estimate past the threshold *and* the interval excluding "no regression".
 */
import type { ArmPair } from "./counters";
import type { Gate, MetricDefinition } from "./gate-spec";
import { estimateMetric } from "./metrics";
import { alwaysValidHalfWidth, poolEstimates, type Estimate } from "./stats";
import { mergeCounts, emptyCounts } from "./counters";

export type Verdict = "healthy" | "warn" | "rollback" | "severe" | "insufficient_sample" | "no_data" | "not_applicable";

export interface GateVerdict {
  metric: string;
  compare: Gate["compare"];
  bad: Gate["bad"];
  informational: boolean;
  /** Pooled per-arm values (levels) of the metric. */
  baseline: number | null;
  candidate: number | null;
  /** Relative change (relative), difference (absolute) or the candidate's level (floor, ceiling). */
  delta: number | null;
  interval: [number, number] | null;
  thresholds: { warn?: number; rollback?: number; severe?: number };
  samples: { baseline: number; candidate: number };
  alpha: number;
  verdict: Verdict;
}

/** Fewest samples per arm a gate judges on when it sets no `minSamples`. */
export const DEFAULT_MIN_SAMPLES = 100;

export interface JudgeOptions {
  alpha: number;
  /** Judge `severe` too (at a window's close, on the window's own data). */
  includeSevere: boolean;
  /** In a shadow stage, gates without candidate data do not apply (nothing is served to it). */
  shadow: boolean;
}

/** The mixture scale τ: the effect the gate cares about (its rollback or warn threshold). */
function mixtureScale(gate: Gate, level: number | null): number {
  const threshold = gate.rollback ?? gate.warn ?? gate.severe;
  if (gate.compare === "relative") return Math.max(threshold ?? 0.05, 0.01);
  if (gate.compare === "absolute") return Math.max(threshold ?? 0.01, 1e-6);
  return Math.max(Math.abs((threshold ?? level ?? 1) * 0.1), 1e-6);
}

function pooledLevels(stages: readonly ArmPair[]) {
  const baseline = emptyCounts();
  const candidate = emptyCounts();
  for (const s of stages) {
    mergeCounts(baseline, s.baseline);
    mergeCounts(candidate, s.candidate);
  }
  return { baseline, candidate };
}

/** Judges one gate on per-stage counts (one entry per stage with data). */
export function judgeGate(
  gate: Gate,
  definitions: Readonly<Record<string, MetricDefinition>>,
  stages: readonly ArmPair[],
  options: JudgeOptions,
): GateVerdict {
  const pooled = pooledLevels(stages);
  const b = estimateMetric(gate.metric, definitions, pooled.baseline);
  const c = estimateMetric(gate.metric, definitions, pooled.candidate);
  const thresholds = { warn: gate.warn, rollback: gate.rollback, ...(options.includeSevere ? { severe: gate.severe } : {}) };
  const base: GateVerdict = {
    metric: gate.metric,
    compare: gate.compare,
    bad: gate.bad,
    informational: gate.informational,
    baseline: b.value,
    candidate: c.value,
    delta: null,
    interval: null,
    thresholds,
    samples: { baseline: b.samples, candidate: c.samples },
    alpha: options.alpha,
    verdict: "no_data",
  };
  const level = gate.compare === "floor" || gate.compare === "ceiling";
  if (c.value === null || (!level && b.value === null)) {
    return { ...base, verdict: options.shadow && c.value === null ? "not_applicable" : "no_data" };
  }
  const minSamples = gate.minSamples ?? DEFAULT_MIN_SAMPLES;
  if (c.samples < minSamples || (!level && b.samples < minSamples)) return { ...base, verdict: "insufficient_sample" };

  const estimate = level ? { value: c.value, variance: c.variance } : pooledDelta(gate, definitions, stages);
  if (estimate === null) return { ...base, verdict: "insufficient_sample" };
  const tau = mixtureScale(gate, c.value);
  const half = alwaysValidHalfWidth(estimate.variance, tau * tau, options.alpha);
  let delta = estimate.value;
  let interval: [number, number] = [estimate.value - half, estimate.value + half];
  if (gate.compare === "relative") {
    // Judged on the log ratio; reported as a relative change.
    delta = Math.expm1(estimate.value);
    interval = [Math.expm1(interval[0]), Math.expm1(interval[1])];
  }
  return { ...base, delta, interval, verdict: classify(gate, delta, interval, thresholds) };
}

/** Per-stage deltas (log ratio for relative, difference for absolute), pooled by inverse variance. */
function pooledDelta(gate: Gate, definitions: Readonly<Record<string, MetricDefinition>>, stages: readonly ArmPair[]): Estimate | null {
  const perStage: Estimate[] = [];
  for (const pair of stages) {
    const b = estimateMetric(gate.metric, definitions, pair.baseline);
    const c = estimateMetric(gate.metric, definitions, pair.candidate);
    if (b.value === null || c.value === null || b.samples === 0 || c.samples === 0) continue;
    if (gate.compare === "relative") {
      if (!(b.value > 0) || !(c.value > 0)) continue;
      perStage.push({
        value: Math.log(c.value / b.value),
        variance: c.variance / (c.value * c.value) + b.variance / (b.value * b.value),
      });
    } else {
      perStage.push({ value: c.value - b.value, variance: c.variance + b.variance });
    }
  }
  return poolEstimates(perStage);
}

/** The worst threshold the estimate is past, with the interval clear of "no regression" on that side. */
function classify(gate: Gate, delta: number, interval: [number, number], thresholds: GateVerdict["thresholds"]): Verdict {
  const order: ("severe" | "rollback" | "warn")[] = ["severe", "rollback", "warn"];
  for (const name of order) {
    const t = thresholds[name];
    if (t === undefined) continue;
    let breached: boolean;
    if (gate.compare === "floor") breached = delta < t && interval[1] < t;
    else if (gate.compare === "ceiling") breached = delta > t && interval[0] > t;
    else if (gate.bad === "increase") breached = delta >= t && interval[0] > 0;
    else breached = -delta >= t && interval[1] < 0;
    if (breached) return name;
  }
  return "healthy";
}
