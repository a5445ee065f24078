/**
 * Metric estimates with variances that hold when users come back many times.
 *
 * Every estimate here is linearised (Taylor / influence-function
 * linearisation, Wolter 2007 ch. 6; Deng, Knoblich & Lu, "Applying the Delta
 * Method in Metric Analytics", KDD 2018): `value + Σ_r influence[r]` is its
 * first-order expansion over the `REPLICATES` groups of users. Because the
 * groups hold whole users, independent of the arm, the spread of the
 * influences between groups is a consistent estimate of the variance with
 * any within-user correlation (random-groups estimator, Wolter ch. 2):
 *
 *   V̂ = R/(R−1) · Σ_r (influence[r] − mean)².
 *
 * With R = 32 groups the estimate has 31 degrees of freedom, so a boundary
 * drawn in standard errors is widened to the Student t₃₁ quantile of the
 * same tail (`studentize`); the variance is never taken below the
 * independent-observation variance (`iidVariance`), which guards the early
 * minutes when few groups have data.
 */
import type { ArmCounts, Replicated } from "./counters";
import { REPLICATES } from "./counters";
import type { MetricDefinition } from "./gate-spec";
import { histogramCount, valueAtRank, bucketIndex } from "./histogram";
import { mergeHistogram, type Histogram } from "./histogram";
import { dict, own } from "./dict";
import { eventCount, proportion } from "./metrics";

/** Degrees of freedom of the random-groups variance. */
export const GROUP_DF = REPLICATES - 1;

export interface Linearized {
  /** Point estimate; null when there is no data. */
  value: number | null;
  /** Per replicate, its first-order contribution to the estimate's error. */
  influence: number[];
  /** The variance if every observation were independent (a floor). */
  iidVariance: number;
  /** What the estimate rests on (denominator events, values, comparisons). */
  samples: number;
  /** Replicate groups with data: below `MIN_GROUPS` the spread between groups is too noisy to trust. */
  groups: number;
}

/**
 * Fewest replicate groups with data before an estimate is judged: with fewer,
 * a handful of users make up each group and the group variance is often far
 * too small by chance (its distribution is strongly skewed), which would
 * fake significance on a stage's first samples.
 */
export const MIN_GROUPS = 24;

/** Random-groups variance of a linearised estimate: R/(R−1) Σ (x − x̄)². */
export function groupVariance(influence: readonly number[]): number {
  const n = influence.length;
  if (n < 2) return 0;
  let mean = 0;
  for (const x of influence) mean += x;
  mean /= n;
  let ss = 0;
  for (const x of influence) ss += (x - mean) * (x - mean);
  return (n / (n - 1)) * ss;
}

/** The variance a verdict uses: the group variance, never below the independent-observation one. */
export function robustVariance(estimate: Pick<Linearized, "influence" | "iidVariance">): number {
  return Math.max(groupVariance(estimate.influence), estimate.iidVariance);
}

/**
 * The Student t quantile with `df` degrees of freedom at the tail of the
 * standard normal quantile z (Cornish–Fisher expansion, Abramowitz & Stegun
 * 26.7.5; within 1e-4 for df ≥ 10 at the tails used here).
 */
export function studentize(z: number, df: number): number {
  const z2 = z * z;
  const g1 = (z * z2 + z) / 4;
  const g2 = (5 * z ** 5 + 16 * z ** 3 + 3 * z) / 96;
  const g3 = (3 * z ** 7 + 19 * z ** 5 + 17 * z ** 3 - 15 * z) / 384;
  const g4 = (79 * z ** 9 + 776 * z ** 7 + 1482 * z ** 5 - 1920 * z ** 3 - 945 * z) / 92160;
  return z + g1 / df + g2 / df ** 2 + g3 / df ** 3 + g4 / df ** 4;
}

/**
 * A half-width drawn in standard errors of an estimate, widened to the t
 * quantile of the same tail when the group variance is the one in use (its
 * 31 degrees of freedom make it uncertain); unchanged when the
 * independent-observation floor is.
 */
export function widenForGroups(half: number, estimate: Pick<Linearized, "influence" | "iidVariance">): number {
  const group = groupVariance(estimate.influence);
  if (!(group > estimate.iidVariance) || !(half > 0)) return half;
  const se = Math.sqrt(group);
  return se * studentize(half / se, GROUP_DF);
}

const QUANTILES: Readonly<Record<string, number>> = { latency_p50: 0.5, latency_p95: 0.95, latency_p99: 0.99 };

export function quantileOf(metric: string): number | undefined {
  return own(QUANTILES, metric);
}

const none = (): Linearized => ({ value: null, influence: new Array<number>(REPLICATES).fill(0), iidVariance: 0, samples: 0, groups: 0 });

/** A ratio of sums Σx / Σy over replicates (rates, proportions, means). */
export function ratioEstimate(x: readonly number[], y: readonly number[], iidVariance: (value: number, total: number) => number): Linearized {
  let sx = 0;
  let sy = 0;
  let groups = 0;
  for (let r = 0; r < x.length; r++) {
    sx += x[r] ?? 0;
    sy += y[r] ?? 0;
    if ((y[r] ?? 0) > 0) groups++;
  }
  if (!(sy > 0)) return none();
  const value = sx / sy;
  const influence = x.map((xr, r) => (xr - value * (y[r] ?? 0)) / sy);
  return { value, influence, iidVariance: iidVariance(value, sy), samples: sy, groups };
}

/** Per replicate group, a quantity summed over the stages given (each stage's replicates of one arm). */
export function perGroup(stages: readonly Readonly<Replicated>[], f: (c: Readonly<ArmCounts>) => number): number[] {
  const out = new Array<number>(REPLICATES).fill(0);
  for (const replicates of stages) {
    for (let r = 0; r < REPLICATES; r++) {
      const c = replicates[r];
      if (c) out[r] = (out[r] ?? 0) + f(c);
    }
  }
  return out;
}

/** Numerator and denominator sums per replicate of a ratio-kind metric (built-in rates included). */
function ratioParts(metric: string, definitions: Readonly<Record<string, MetricDefinition>>, stages: readonly Readonly<Replicated>[]): { x: number[]; y: number[] } | null {
  const parts = (num: (c: Readonly<ArmCounts>) => number, den: (c: Readonly<ArmCounts>) => number) => ({ x: perGroup(stages, num), y: perGroup(stages, den) });
  if (metric === "error_rate") return parts((c) => c.errors, (c) => c.exposures);
  if (metric === "shadow_agreement") return parts((c) => c.agree, (c) => c.agree + c.disagree);
  const definition = own(definitions, metric);
  if (definition?.kind !== "ratio") return null;
  const sum = (c: Readonly<ArmCounts>, names: readonly string[]) => names.reduce((s, n) => s + eventCount(c, n), 0);
  return parts((c) => sum(c, definition.numerator), (c) => sum(c, definition.denominator));
}

/** Sum and count per replicate of a mean-kind metric, with the sum of squares for the independent-observation floor. */
function meanEstimate(event: string, stages: readonly Readonly<Replicated>[]): Linearized {
  const sums = perGroup(stages, (c) => own(c.events, event)?.sum ?? 0);
  const counts = perGroup(stages, (c) => own(c.events, event)?.count ?? 0);
  const sumSq = perGroup(stages, (c) => own(c.events, event)?.sumSq ?? 0).reduce((a, b) => a + b, 0);
  return ratioEstimate(sums, counts, (mean, n) => {
    const sampleVariance = n > 1 ? Math.max(0, (sumSq - n * mean * mean) / (n - 1)) : mean * mean;
    return Math.max(sampleVariance, 1e-12) / n;
  });
}

/** Narrowest half-band (in probability) over which a quantile's slope is read. */
const SLOPE_BAND = 0.015;

/**
 * A quantile of latency, linearised through the empirical distribution
 * function (Woodruff 1952; Francisco & Fuller 1991): F̂(q̂) is a ratio over
 * replicates, and the quantile's influence is F's times the slope of the
 * quantile function, read off the histogram over a band of ±3 standard errors (at least ±1.5%), which spans several buckets.
 */
function quantileEstimate(p: number, stages: readonly Readonly<Replicated>[]): Linearized {
  const pooled: Histogram = dict();
  for (const replicates of stages) for (const c of replicates) mergeHistogram(pooled, c.latency);
  const n = histogramCount(pooled);
  if (n === 0) return none();
  const value = valueAtRank(pooled, p * (n - 1)) ?? 0;
  const cut = bucketIndex(value);
  const below = perGroup(stages, (c) => {
    let k = 0;
    for (const key in c.latency) if (bucketIndex(key) <= cut) k += c.latency[key] ?? 0;
    return k;
  });
  const sizes = perGroup(stages, (c) => histogramCount(c.latency));
  const f = ratioEstimate(below, sizes, () => (p * (1 - p)) / n);
  const seF = Math.sqrt(Math.max(groupVariance(f.influence), (p * (1 - p)) / n, 1 / (n * n)));
  // The slope over a band wide enough to span several 2% histogram buckets: ±3 standard errors of F, at least ±1.5%.
  const h = Math.min(Math.max(3 * seF, SLOPE_BAND), p, 1 - p);
  const low = valueAtRank(pooled, Math.max(0, (p - h) * (n - 1))) ?? value;
  const high = valueAtRank(pooled, Math.min(n - 1, (p + h) * (n - 1))) ?? value;
  // dq/dF; the floor (1% of the value per standard error) keeps a histogram with one occupied bucket from claiming certainty.
  const slope = Math.max((high - low) / (2 * h), (0.01 * value) / seF, 1e-9);
  return { value, influence: f.influence.map((e) => e * slope), iidVariance: (slope * slope * p * (1 - p)) / n, samples: n, groups: f.groups };
}

/**
 * The linearised estimate of a metric (built-in or defined by the flag) for
 * one arm, over one or more stages' replicates (pooled group by group).
 */
export function linearize(metric: string, definitions: Readonly<Record<string, MetricDefinition>>, replicates: Readonly<Replicated> | readonly Readonly<Replicated>[]): Linearized {
  const stages = isStageList(replicates) ? replicates : [replicates];
  const q = quantileOf(metric);
  if (q !== undefined) return quantileEstimate(q, stages);
  const definition = own(definitions, metric);
  if (definition?.kind === "mean") return meanEstimate(definition.event, stages);
  const parts = ratioParts(metric, definitions, stages);
  if (parts === null) return none();
  return ratioEstimate(parts.x, parts.y, (_value, total) => {
    let sx = 0;
    for (const v of parts.x) sx += v;
    return proportion(sx, total).variance;
  });
}

function isStageList(x: Readonly<Replicated> | readonly Readonly<Replicated>[]): x is readonly Readonly<Replicated>[] {
  return Array.isArray(x[0]);
}
