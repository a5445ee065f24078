/**
 * Hard abort rules: the candidate's level of a metric above (or below) a
 * limit, judged every minute for as long as the generation lives — through
 * the rollout and after it completes — with a false-kill chance of at most
 * the rule's α over all those looks.
 *
 * Each rule keeps an e-process (a nonnegative supermartingale under "the
 * level is not crossed"; Ramdas, Grünwald, Vovk & Shafer, "Game-theoretic
 * statistics and safe anytime-valid inference", Stat. Sci. 2023), so by
 * Ville's inequality it reaches 1/α with probability at most α, however
 * often it is read. To react to a regression that starts late, the e-process
 * is a mixture over start times: one restarted at every whole hour j since the
 * rule began, weighted w_j = 1/((j+1)(j+2)) (Σ w_j = 1), so a regression that
 * starts in hour j pays only ln(1/w_j) ≈ 2 ln j extra evidence. A convex
 * mixture of test supermartingales is one, and dropping old restarts only
 * lowers it, so the guarantee stands.
 *
 * - Rates (error_rate, shadow_agreement, ratio metrics with a level in
 *   (0, 1)) and latency quantiles (as the rate of values past the level: p95
 *   above L ⟺ more than 5% of values above L) use a binomial likelihood ratio,
 *   mixed over alternatives at odds ratios 1.25–5, tempered by the design
 *   effect measured between replicate groups of users (a user's repeated
 *   exposures are not independent draws).
 * - Means use the one-sided normal-mixture e-value on the running mean, with
 *   the replicate-group variance.
 *
 * `sustained` keeps its meaning: the e-process must stay past 1/α that long.
 */
import { z } from "zod";
import { sumCounts, type Replicated } from "./counters";
import { own } from "./dict";
import { linearize, perGroup, quantileOf, ratioEstimate, robustVariance } from "./estimate";
import type { AbortRule, MetricDefinition } from "./gate-spec";
import { bucketIndex, histogramCount } from "./histogram";
import { eventCount } from "./metrics";
import { logNormalCdf } from "./stats";

/** The flag's false-kill budget over all its abort rules and all looks (split evenly between rules). */
export const ABORT_ALPHA = 0.01;
/** Hour restarts kept besides the first: older ones only lower the mixture. */
export const MAX_RESTARTS = 48;
const HOUR_MS = 3_600_000;
const ODDS_RATIOS_ABOVE = [1.25, 1.5, 2, 3, 5];

/** Sufficient statistics of a rule's metric at a point in time: x over n, and Σ value² for means. */
export const RuleStatsSchema = z.strictObject({ x: z.number(), n: z.number(), s2: z.number() });
export type RuleStats = z.infer<typeof RuleStatsSchema>;

export const AbortMemorySchema = z.strictObject({
  /** The hour (since the epoch) of the rule's first look in this generation: restart 0. */
  originHour: z.int(),
  /** Restart j began at hour originHour + j with these cumulative statistics. */
  restarts: z.array(z.strictObject({ j: z.int().min(0), at: RuleStatsSchema })),
  /** Since when the evidence has stayed past 1/α (for `sustained`). */
  since: z.number().nullable(),
  /** A soft rule's firing was notified (once per firing; cleared when it stops firing). */
  reported: z.boolean().optional(),
});
export type AbortMemory = z.infer<typeof AbortMemorySchema>;

export interface AbortVerdict {
  metric: string;
  /** Soft rules notify and never act. */
  soft: boolean;
  direction: AbortRule["direction"];
  level: number;
  /** The candidate's level over the generation so far. */
  value: number | null;
  samples: number;
  /** The e-process (mixture over restarts) and the evidence that fires the rule (1/α). */
  evidence: number;
  threshold: number;
  /** The user-level design effect the binomial evidence was tempered by. */
  designEffect: number;
  conditionHolds: boolean;
  since: number | null;
  fired: boolean;
  reason: string;
}

type Kind = { kind: "binomial"; p0: number; above: boolean } | { kind: "gaussian"; mu0: number; above: boolean };

interface Cumulative {
  stats: RuleStats;
  value: number | null;
  designEffect: number;
  /** Variance of one observation's contribution, for means (robust, per observation). */
  unitVariance: number;
}

function kindOf(rule: AbortRule, definitions: Readonly<Record<string, MetricDefinition>>): Kind {
  const above = rule.direction === "above";
  const q = quantileOf(rule.metric);
  if (q !== undefined) {
    // p_q above L ⟺ the share of values above L exceeds 1 − q.
    return { kind: "binomial", p0: 1 - q, above };
  }
  const definition = own(definitions, rule.metric);
  if (definition?.kind === "mean" || !(rule.level > 0 && rule.level < 1)) return { kind: "gaussian", mu0: rule.level, above };
  return { kind: "binomial", p0: rule.level, above };
}

/** The cumulative statistics of the rule's metric in the candidate's replicates. */
function cumulative(rule: AbortRule, definitions: Readonly<Record<string, MetricDefinition>>, stages: readonly Readonly<Replicated>[]): Cumulative {
  const q = quantileOf(rule.metric);
  if (q !== undefined) {
    const cut = bucketIndex(rule.level);
    const x = perGroup(stages, (c) => Object.keys(c.latency).reduce((k, key) => (bucketIndex(key) > cut ? k + (c.latency[key] ?? 0) : k), 0));
    const n = perGroup(stages, (c) => histogramCount(c.latency));
    const est = ratioEstimate(x, n, (p, total) => (Math.max(p, 1e-9) * (1 - Math.min(p, 1 - 1e-9))) / total);
    return finish(est, sum(x), sum(n), 0);
  }
  const est = linearize(rule.metric, definitions, stages);
  const total = sumCounts(stages.flat());
  const definition = own(definitions, rule.metric);
  if (definition?.kind === "mean") {
    const stats = own(total.events, definition.event);
    return finish(est, stats?.sum ?? 0, stats?.count ?? 0, stats?.sumSq ?? 0);
  }
  const x =
    rule.metric === "error_rate" ? total.errors
    : rule.metric === "shadow_agreement" ? total.agree
    : definition?.kind === "ratio" ? definition.numerator.reduce((s, name) => s + eventCount(total, name), 0)
    : 0;
  return finish(est, x, est.samples, 0);
}

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0);

function finish(est: ReturnType<typeof linearize>, x: number, n: number, s2: number): Cumulative {
  const robust = robustVariance(est);
  const designEffect = est.iidVariance > 0 ? Math.max(1, robust / est.iidVariance) : 1;
  return { stats: { x, n, s2 }, value: est.value, designEffect, unitVariance: robust * Math.max(n, 1) };
}

/** ln of the mean of e^{terms}, computed without overflow. */
function logMeanExp(terms: readonly number[]): number {
  const max = Math.max(...terms);
  if (!Number.isFinite(max)) return max;
  return max + Math.log(terms.reduce((s, t) => s + Math.exp(t - max), 0) / terms.length);
}

/** ln e of a span with statistics `span` (since a restart). */
function logEvidence(kind: Kind, span: RuleStats, designEffect: number, unitVariance: number): number {
  if (span.n <= 0) return 0;
  if (kind.kind === "binomial") {
    const { p0 } = kind;
    const odds0 = p0 / (1 - p0);
    const x = span.x / designEffect;
    const n = span.n / designEffect;
    const terms = ODDS_RATIOS_ABOVE.map((k) => {
      const odds1 = kind.above ? odds0 * k : odds0 / k;
      const p1 = odds1 / (1 + odds1);
      return x * Math.log(p1 / p0) + (n - x) * Math.log((1 - p1) / (1 - p0));
    });
    return logMeanExp(terms);
  }
  // One-sided normal mixture (half-normal prior of scale τ on the excess): e = 2/√(1+τ²/V) · e^{b²/2a} · Φ(b/√a).
  const mean = span.x / span.n;
  const variance = Math.max(unitVariance / span.n, 1e-18);
  const tau = Math.max(Math.abs(kind.mu0) * 0.1, 1e-9);
  const d = kind.above ? mean - kind.mu0 : kind.mu0 - mean;
  const a = 1 / variance + 1 / (tau * tau);
  const b = d / variance;
  // ln Φ must stay exact deep in the tail: b²/2a and ln Φ(b/√a) cancel when the mean is far on the safe side,
  // and clamping Φ there turned overwhelming evidence of safety into an enormous e-value.
  return Math.log(2) - 0.5 * Math.log(1 + (tau * tau) / variance) + (b * b) / (2 * a) + logNormalCdf(b / Math.sqrt(a));
}

/** `originHour` counts in units of the restart period (hours for abort rules, the name kept for stored memories). */
export function freshAbortMemory(now: number, restartEveryMs: number = HOUR_MS): AbortMemory {
  return { originHour: Math.floor(now / restartEveryMs), restarts: [], since: null };
}

/**
 * Judges one abort rule on the candidate's cumulative counts for the
 * generation (its replicates in each stage) and returns its verdict with the
 * updated memory.
 */
export function judgeAbort(
  rule: AbortRule,
  definitions: Readonly<Record<string, MetricDefinition>>,
  candidate: readonly Readonly<Replicated>[],
  now: number,
  previous: AbortMemory | undefined,
  alpha: number,
  /** How often a new restart begins (fixed in advance, so the mixture stays valid): hourly for abort rules, every minute for guards. */
  restartEveryMs: number = HOUR_MS,
): { verdict: AbortVerdict; memory: AbortMemory } {
  const kind = kindOf(rule, definitions);
  const current = cumulative(rule, definitions, candidate);
  const memory: AbortMemory = previous ? { ...previous, restarts: [...previous.restarts] } : freshAbortMemory(now, restartEveryMs);
  const j = Math.max(0, Math.floor(now / restartEveryMs) - memory.originHour);
  if (memory.restarts.length === 0 || (memory.restarts[memory.restarts.length - 1]?.j ?? -1) < j) {
    // Restart 0 counts from the generation's start; later ones from the statistics at their first look.
    memory.restarts.push({ j, at: memory.restarts.length === 0 ? { x: 0, n: 0, s2: 0 } : current.stats });
    if (memory.restarts.length > MAX_RESTARTS + 1) memory.restarts.splice(1, 1);
  }
  let evidence = 0;
  for (const restart of memory.restarts) {
    const span = { x: current.stats.x - restart.at.x, n: current.stats.n - restart.at.n, s2: current.stats.s2 - restart.at.s2 };
    const weight = 1 / ((restart.j + 1) * (restart.j + 2));
    evidence += weight * Math.exp(Math.min(700, logEvidence(kind, span, current.designEffect, current.unitVariance)));
  }
  const threshold = 1 / alpha;
  const conditionHolds = evidence >= threshold;
  memory.since = conditionHolds ? (memory.since ?? now) : null;
  const fired = memory.since !== null && now - memory.since >= (rule.sustained ?? 0);
  const shown = current.value === null ? "n/a" : current.value.toPrecision(4);
  const reason = `${rule.metric} ${shown} (n=${current.stats.n}) ${rule.direction} ${rule.level}: evidence ${evidence.toPrecision(3)} of ${threshold.toPrecision(3)} needed (α=${alpha.toPrecision(2)}, design effect ${current.designEffect.toFixed(2)})${rule.sustained ? `, sustained ${Math.round(rule.sustained / 60_000)}m` : ""}`;
  return {
    verdict: {
      metric: rule.metric,
      soft: rule.soft ?? false,
      direction: rule.direction,
      level: rule.level,
      value: current.value,
      samples: current.stats.n,
      evidence,
      threshold,
      designEffect: current.designEffect,
      conditionHolds,
      since: memory.since,
      fired,
      reason,
    },
    memory,
  };
}

/**
 * Memory whose first restart begins at the statistics `candidate` has now:
 * evidence counts only from this look on (a guard back on its primary must
 * not be judged again on the data that made it fall back).
 */
export function restartAt(rule: AbortRule, definitions: Readonly<Record<string, MetricDefinition>>, candidate: readonly Readonly<Replicated>[], now: number, restartEveryMs: number = HOUR_MS): AbortMemory {
  return { originHour: Math.floor(now / restartEveryMs), restarts: [{ j: 0, at: cumulative(rule, definitions, candidate).stats }], since: null };
}
