/**
 * Judging a gate on service metrics from outside (a Prometheus query per
 * arm: error ratios, latency quantiles, GPU memory) — per-step aggregates,
 * not per-user counts, so the user-level machinery of `gate-verdict.ts`
 * does not apply.
 *
 * The comparison is paired in time: at every step both arms were measured
 * under the same load, so d_t = ln(c_t / b_t) (relative) or c_t − b_t
 * (absolute) cancels the daily cycle and any shared shock. The d_t are
 * autocorrelated (a rate over a 5-minute window, a slowly drifting cache),
 * so the variance of their mean is the long-run variance, estimated with
 * the Bartlett kernel (Newey & West 1987) at Andrews' AR(1) plug-in
 * bandwidth (Andrews 1991, "Heteroskedasticity and autocorrelation
 * consistent covariance matrix estimation", Econometrica 59), and never
 * below the AR(1)-implied γ₀(1 + ρ)/(1 − ρ), which Newey–West
 * underestimates in short, strongly correlated series. That variance feeds
 * the same always-valid mixture interval as every other gate (Johari et al.
 * 2017), widened to a t quantile on the effective number of points
 * n(1 − ρ)/(1 + ρ), so the verdict may be read at every cron tick.
 * `npm run simulate` measures it on A/A pairs with autocorrelation and
 * daily cycles (false rollbacks) and on a 20% regression (caught).
 *
 * A level gate (floor, ceiling) judges the candidate's series alone, the
 * same way. A source that failed, answered nothing, or is still short of
 * points gives no verdict (`no_data`, `insufficient_sample`), with a note:
 * the stage holds and says why, and is never promoted on it.
 */
import { z } from "zod";
import { studentize } from "./estimate";
import type { Gate } from "./gate-spec";
import { classify, harmEvidence, mixtureScale, type GateVerdict } from "./gate-verdict";
import { alwaysValidHalfWidth } from "./stats";

/** Fewest paired points a series gate judges on when it sets no `minSamples`. */
export const DEFAULT_MIN_POINTS = 60;
/**
 * Fewest effective (independent-equivalent) points, n(1 − ρ)/(1 + ρ), before
 * a series gate judges: below it the long-run variance is too uncertain
 * for the interval to hold (the A/A simulation falsely rolled back 6–18%
 * of runs at the first looks without it).
 */
export const MIN_EFFECTIVE_POINTS = 10;
/**
 * Above this lag-1 autocorrelation (after its small-sample correction) the
 * long-run variance of a short series is unreliable — near a unit root the
 * estimate of ρ itself is biased low — and the simulation's φ = 0.95 A/A
 * pair rolled back 12.5% of runs: such a gate waits and asks for a coarser
 * step instead, which makes its points less alike.
 */
export const MAX_AUTOCORRELATION = 0.9;

const PointsSchema = z.array(z.tuple([z.number(), z.number()]));
/** What the FlagDO read for one gate: both arms' points ([ms, value]), or why it could not. Logged with the decision's inputs. */
export const SeriesReadSchema = z.union([
  z.strictObject({ ok: z.literal(true), baseline: PointsSchema, candidate: PointsSchema }),
  z.strictObject({ ok: z.literal(false), reason: z.string() }),
]);
export type SeriesRead = z.infer<typeof SeriesReadSchema>;

interface Paired {
  d: number[];
  b: number;
  c: number;
}

/** The points at which both arms have a usable value, as differences on the judged scale. */
function pair(gate: Gate, baseline: readonly [number, number][], candidate: readonly [number, number][]): Paired {
  const base = new Map(baseline.filter(([, v]) => Number.isFinite(v)));
  const d: number[] = [];
  let b = 0;
  let c = 0;
  const level = gate.compare === "floor" || gate.compare === "ceiling";
  for (const [t, cv] of candidate) {
    if (!Number.isFinite(cv)) continue;
    if (level) {
      d.push(cv);
      c += cv;
      continue;
    }
    const bv = base.get(t);
    if (bv === undefined) continue;
    if (gate.compare === "relative") {
      if (!(bv > 0) || !(cv > 0)) continue;
      d.push(Math.log(cv / bv));
    } else d.push(cv - bv);
    b += bv;
    c += cv;
  }
  const n = Math.max(1, d.length);
  return { d, b: b / n, c: c / n };
}

/** Lag-k autocovariance of the residuals (divided by n, as the kernel estimator wants). */
function autocovariance(e: readonly number[], k: number): number {
  let s = 0;
  for (let t = k; t < e.length; t++) s += (e[t] as number) * (e[t - k] as number);
  return s / e.length;
}

/** The long-run variance of a series and its lag-1 autocorrelation. */
export function longRunVariance(d: readonly number[]): { lrv: number; rho: number; mean: number } {
  const n = d.length;
  const mean = d.reduce((a, x) => a + x, 0) / n;
  const e = d.map((x) => x - mean);
  const g0 = autocovariance(e, 0);
  // A series that does not vary but for floating-point rounding (two counters in a fixed ratio) has no autocorrelation to speak of.
  if (!(g0 > 1e-20 * Math.max(mean * mean, 1e-12))) return { lrv: 0, rho: 0, mean };
  // The lag-1 estimate is biased towards 0 in short series by about (1 + 3ρ)/n (Kendall 1954): corrected, so the variance is not too small early.
  const raw = autocovariance(e, 1) / g0;
  const rho = Math.max(-0.97, Math.min(0.97, raw + (1 + 3 * raw) / n));
  // Andrews (1991): Bartlett bandwidth 1.1447 (α n)^{1/3}, α = 4ρ² / ((1 − ρ)² (1 + ρ)²).
  const a = (4 * rho * rho) / ((1 - rho) ** 2 * (1 + rho) ** 2);
  const bandwidth = Math.min(n - 1, Math.ceil(1.1447 * Math.cbrt(a * n)));
  let lrv = g0;
  for (let k = 1; k <= bandwidth; k++) lrv += 2 * (1 - k / (bandwidth + 1)) * autocovariance(e, k);
  // The AR(1) floor at an upper bound of ρ (its standard error is about √((1 − ρ²)/n)): near a unit root ρ̂ runs low, and with it the variance.
  const upper = Math.min(0.97, rho + 2 * Math.sqrt(Math.max(0, 1 - rho * rho) / n));
  const ar1 = (g0 * (1 + upper)) / (1 - upper);
  return { lrv: Math.max(lrv, rho > 0 ? ar1 : g0), rho, mean };
}

export function judgeSeriesGate(gate: Gate, read: SeriesRead | undefined, alpha: number): GateVerdict {
  const thresholds = { warn: gate.warn, rollback: gate.rollback };
  const base: GateVerdict = {
    metric: gate.metric, compare: gate.compare, bad: gate.bad, informational: gate.informational,
    baseline: null, candidate: null, delta: null, interval: null, thresholds, samples: { baseline: 0, candidate: 0 },
    alpha, verdict: "no_data", noHarm: false, dataNeeded: null, stagesJudged: 0,
  };
  // 1. The source answered, with points.
  if (read === undefined) return { ...base, note: "the source was not read" };
  if (!read.ok) return { ...base, note: read.reason };
  const level = gate.compare === "floor" || gate.compare === "ceiling";
  const { d, b, c } = pair(gate, read.baseline, read.candidate);
  const n = d.length;
  const minPoints = gate.minSamples ?? DEFAULT_MIN_POINTS;
  const counted = { ...base, baseline: level ? null : n > 0 ? b : null, candidate: n > 0 ? c : null, samples: { baseline: level ? 0 : n, candidate: n } };
  if (n === 0) return { ...counted, note: `no ${level ? "" : "paired "}points yet (baseline ${read.baseline.length}, candidate ${read.candidate.length})` };
  if (n < minPoints) return { ...counted, verdict: "insufficient_sample", note: `${n} of ${minPoints} points` };
  // 2. The mean difference and its long-run variance.
  const { lrv, rho, mean } = longRunVariance(d);
  const variance = Math.max(lrv / n, 1e-18);
  if (rho > MAX_AUTOCORRELATION) return { ...counted, verdict: "insufficient_sample", note: `points too alike from one step to the next (autocorrelation ${rho.toFixed(2)}): give the gate a coarser step (source.prometheus.step, e.g. 5m)` };
  const effective = (n * (1 - Math.max(rho, 0))) / (1 + Math.max(rho, 0));
  // Fewer independent points than this and the variance itself is a guess: no verdict yet, whatever the estimate says.
  if (effective < MIN_EFFECTIVE_POINTS) return { ...counted, verdict: "insufficient_sample", note: `${n} points, worth about ${effective.toFixed(1)} independent ones (autocorrelation ${rho.toFixed(2)}); ${MIN_EFFECTIVE_POINTS} needed` };
  // 3. The always-valid interval, widened for a variance estimated from few effective points.
  const tau = mixtureScale(gate, c);
  const z = alwaysValidHalfWidth(variance, tau * tau, alpha);
  const se = Math.sqrt(variance);
  const half = se > 0 ? se * studentize(z / se, effective - 1) : z;
  const relative = gate.compare === "relative";
  const delta = relative ? Math.expm1(mean) : mean;
  const interval: [number, number] = relative ? [Math.expm1(mean - half), Math.expm1(mean + half)] : [mean - half, mean + half];
  return { ...counted, delta, interval, verdict: classify(gate, delta, interval, thresholds), ...harmEvidence(gate, mean, half), stagesJudged: 1 };
}
