/**
 * Judging one gate: the candidate against the baseline (relative or
 * absolute delta, compared within each stage and pooled by inverse variance,
 * so a changing weight cannot bias it) or the candidate's level (floor,
 * ceiling), with an always-valid interval whose variance comes from groups
 * of whole users (`estimate.ts`), so users who return many times do not make
 * it overconfident. A breach needs the point estimate past the threshold
 * *and* the interval excluding "no regression"; promotion needs the interval
 * to rule out the threshold itself (non-inferiority).
 */
import type { ReplicatedPair } from "./counters";
import type { Gate, MetricDefinition } from "./gate-spec";
import { linearize, MIN_GROUPS, quantileOf, robustVariance, widenForGroups, type Linearized } from "./estimate";
import { alwaysValidHalfWidth } from "./stats";

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
  /**
   * Evidence of no harm: the interval lies wholly on the safe side of the
   * rollback threshold (or warn, when the gate has no rollback). Promotion on
   * evidence needs it for every judged gate.
   */
  noHarm: boolean;
  /** Roughly how many times the current data ruling out harm needs (null when shown, or no estimate). */
  dataNeeded: number | null;
  /** Stages pooled into the comparison (those with `minSamples` in both arms). */
  stagesJudged: number;
  /** Why there is no verdict on the data, in words (an outside source that failed or is short: `series-gate.ts`). */
  note?: string;
}

/**
 * Fewest samples per arm a gate judges on when it sets no `minSamples`; also
 * the fewest a stage needs to enter the pooled comparison (with data in at
 * least `MIN_GROUPS` replicate groups of users, in both cases).
 */
export const DEFAULT_MIN_SAMPLES = 100;

export interface JudgeOptions {
  alpha: number;
  /** Judge `severe` too (at a window's close, on the window's own data). */
  includeSevere: boolean;
  /** In a shadow stage, gates without candidate data do not apply (nothing is served to it). */
  shadow: boolean;
}

/**
 * A quantile's estimate rests on the values in its tail: a normal
 * approximation (Woodruff's interval) needs about 20 of them (Hyndman & Fan
 * 1996; Francisco & Fuller 1991), so a p95 needs 400 values and a p99 2,000
 * before it is judged, whatever `minSamples` says.
 */
export const QUANTILE_TAIL_VALUES = 20;

/** Fewest samples per arm (and per stage, to enter the pooled comparison) a gate judges on. */
export function minimumSamples(gate: Pick<Gate, "metric" | "minSamples">): number {
  const stated = gate.minSamples ?? DEFAULT_MIN_SAMPLES;
  const q = quantileOf(gate.metric);
  return q === undefined ? stated : Math.max(stated, Math.ceil(QUANTILE_TAIL_VALUES / Math.min(q, 1 - q)));
}

/** The mixture scale τ: the effect the gate cares about (its rollback or warn threshold). */
export function mixtureScale(gate: Gate, level: number | null): number {
  const threshold = gate.rollback ?? gate.warn ?? gate.severe;
  if (gate.compare === "relative") return Math.max(threshold ?? 0.05, 0.01);
  if (gate.compare === "absolute") return Math.max(threshold ?? 0.01, 1e-6);
  return Math.max(Math.abs((threshold ?? level ?? 1) * 0.1), 1e-6);
}

/** A comparison or level on the judged scale (log ratio for relative gates). */
interface Judged {
  value: number;
  influence: number[];
  iidVariance: number;
}

/** The stage's delta on the judged scale, or null when an arm lacks data or a positive level (relative). */
function stageDelta(gate: Gate, b: Linearized, c: Linearized): Judged | null {
  if (b.value === null || c.value === null) return null;
  if (gate.compare === "relative") {
    if (!(b.value > 0) || !(c.value > 0)) return null;
    const bv = b.value;
    const cv = c.value;
    return {
      value: Math.log(cv / bv),
      influence: c.influence.map((x, r) => x / cv - (b.influence[r] ?? 0) / bv),
      iidVariance: c.iidVariance / (cv * cv) + b.iidVariance / (bv * bv),
    };
  }
  return { value: c.value - b.value, influence: c.influence.map((x, r) => x - (b.influence[r] ?? 0)), iidVariance: c.iidVariance + b.iidVariance };
}

/** Inverse-variance pooling of per-stage deltas, linearised so that users present in several stages are accounted for. */
function poolStages(deltas: readonly Judged[]): Judged | null {
  const weights = deltas.map((d) => 1 / robustVariance(d));
  const total = weights.reduce((a, b) => a + b, 0);
  if (!(total > 0) || !Number.isFinite(total)) return null;
  const w = weights.map((x) => x / total);
  const length = deltas[0]?.influence.length ?? 0;
  const influence = new Array<number>(length).fill(0);
  let value = 0;
  let iidVariance = 0;
  deltas.forEach((d, i) => {
    const wi = w[i] ?? 0;
    value += wi * d.value;
    iidVariance += wi * wi * d.iidVariance;
    d.influence.forEach((x, r) => (influence[r] = (influence[r] ?? 0) + wi * x));
  });
  return { value, influence, iidVariance };
}

/** Judges one gate on per-stage counts (one entry per stage with data). */
export function judgeGate(
  gate: Gate,
  definitions: Readonly<Record<string, MetricDefinition>>,
  stages: readonly ReplicatedPair[],
  options: JudgeOptions,
): GateVerdict {
  const b = linearize(gate.metric, definitions, stages.map((s) => s.baseline));
  const c = linearize(gate.metric, definitions, stages.map((s) => s.candidate));
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
    noHarm: false,
    dataNeeded: null,
    stagesJudged: 0,
  };
  const level = gate.compare === "floor" || gate.compare === "ceiling";
  if (c.value === null || (!level && b.value === null)) {
    return { ...base, verdict: options.shadow && c.value === null ? "not_applicable" : "no_data" };
  }
  const minSamples = minimumSamples(gate);
  const enough = (e: Linearized) => e.samples >= minSamples && e.groups >= MIN_GROUPS;
  if (!enough(c) || (!level && !enough(b))) return { ...base, verdict: "insufficient_sample" };

  let judged: Judged | null;
  let stagesJudged = 1;
  if (level) {
    judged = { value: c.value, influence: c.influence, iidVariance: c.iidVariance };
  } else {
    // Only stages with enough data in both arms: a new stage's first handful of samples has a variance too noisy to weigh.
    const deltas: Judged[] = [];
    for (const pair of stages) {
      const sb = linearize(gate.metric, definitions, pair.baseline);
      const sc = linearize(gate.metric, definitions, pair.candidate);
      if (!enough(sb) || !enough(sc)) continue;
      const d = stageDelta(gate, sb, sc);
      if (d) deltas.push(d);
    }
    stagesJudged = deltas.length;
    judged = deltas.length > 0 ? poolStages(deltas) : null;
  }
  if (judged === null) return { ...base, verdict: "insufficient_sample" };
  const variance = robustVariance(judged);
  const tau = mixtureScale(gate, c.value);
  const half = widenForGroups(alwaysValidHalfWidth(variance, tau * tau, options.alpha), judged);
  const onScale: [number, number] = [judged.value - half, judged.value + half];
  const relative = gate.compare === "relative";
  const delta = relative ? Math.expm1(judged.value) : judged.value;
  const interval: [number, number] = relative ? [Math.expm1(onScale[0]), Math.expm1(onScale[1])] : onScale;
  const evidence = harmEvidence(gate, judged.value, half);
  return { ...base, delta, interval, verdict: classify(gate, delta, interval, thresholds), ...evidence, stagesJudged };
}

/** Whether the interval rules out the gate's rollback (else warn) threshold, and if not, how much more data that would take. */
export function harmEvidence(gate: Gate, estimate: number, half: number): { noHarm: boolean; dataNeeded: number | null } {
  const t = gate.rollback ?? gate.warn;
  if (t === undefined) return { noHarm: true, dataNeeded: null };
  // The threshold on the judged scale, and which side of it is safe.
  let boundary: number;
  let safeAbove: boolean;
  switch (gate.compare) {
    case "floor":
      boundary = t;
      safeAbove = true;
      break;
    case "ceiling":
      boundary = t;
      safeAbove = false;
      break;
    case "relative":
      boundary = gate.bad === "decrease" ? Math.log(Math.max(1 - t, 1e-9)) : Math.log(1 + t);
      safeAbove = gate.bad === "decrease";
      break;
    case "absolute":
      boundary = gate.bad === "decrease" ? -t : t;
      safeAbove = gate.bad === "decrease";
      break;
  }
  const distance = safeAbove ? estimate - boundary : boundary - estimate;
  if (distance > half) return { noHarm: true, dataNeeded: null };
  // The half-width shrinks roughly as 1/√n: (half/distance)² times the data, at today's estimate.
  return { noHarm: false, dataNeeded: distance > 0 ? (half / distance) ** 2 : null };
}
/** The worst threshold the estimate is past, with the interval clear of "no regression" on that side. */
export function classify(gate: Gate, delta: number, interval: [number, number], thresholds: GateVerdict["thresholds"]): Verdict {
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
