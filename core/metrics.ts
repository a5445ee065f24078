/**
 * Metric estimates per arm, with the variance the gates need. Ratio metrics
 * count events (CTR = click events / exposures); mean metrics average event
 * values; built-ins are error_rate (errors / exposures), latency quantiles
 * from the histogram, and shadow_agreement (agreeing / all comparisons).
 */
import type { ArmCounts } from "./counters";
import type { MetricDefinition } from "./gate-spec";
import { histogramCount, valueAtRank } from "./histogram";

export interface MetricEstimate {
  /** Null when the arm has no data for the metric. */
  value: number | null;
  variance: number;
  /** The sample the estimate rests on (denominator events, values, comparisons). */
  samples: number;
}

/** Number of events of a name, with the built-ins mapped to their counters. */
export function eventCount(counts: Readonly<ArmCounts>, name: string): number {
  if (name === "exposure") return counts.exposures;
  if (name === "error") return counts.errors;
  if (name === "comparison") return counts.agree + counts.disagree;
  return counts.events[name]?.count ?? 0;
}

/**
 * A proportion (or a rate per denominator event) with a count-appropriate
 * variance: binomial when each numerator event belongs to one denominator
 * event, Poisson when the rate can exceed 1. The +0.5/+1 smoothing keeps the
 * variance positive at zero counts, so rare events are never "certain".
 */
export function proportion(numerator: number, denominator: number): MetricEstimate {
  if (denominator <= 0) return { value: null, variance: 0, samples: 0 };
  const value = numerator / denominator;
  const smoothed = (numerator + 0.5) / (denominator + 1);
  const variance = value <= 1 ? (smoothed * (1 - Math.min(smoothed, 1))) / denominator : smoothed / denominator;
  return { value, variance, samples: denominator };
}

const QUANTILES: Record<string, number> = { latency_p50: 0.5, latency_p95: 0.95, latency_p99: 0.99 };

/** A quantile with its standard error from the order-statistic (rank) interval n·q ± √(n·q·(1−q)). */
function quantileEstimate(counts: Readonly<ArmCounts>, q: number): MetricEstimate {
  const n = histogramCount(counts.latency);
  if (n === 0) return { value: null, variance: 0, samples: 0 };
  const center = q * (n - 1);
  const spread = Math.sqrt(n * q * (1 - q));
  const value = valueAtRank(counts.latency, center) ?? 0;
  const low = valueAtRank(counts.latency, Math.max(0, center - spread)) ?? value;
  const high = valueAtRank(counts.latency, Math.min(n - 1, center + spread)) ?? value;
  // Half the rank interval is one standard error; a floor of 1% of the value keeps it positive.
  const se = Math.max((high - low) / 2, value * 0.01, 1e-9);
  return { value, variance: se * se, samples: n };
}

function meanEstimate(counts: Readonly<ArmCounts>, event: string): MetricEstimate {
  const stats = counts.events[event];
  if (!stats || stats.count === 0) return { value: null, variance: 0, samples: 0 };
  const mean = stats.sum / stats.count;
  const sampleVariance = stats.count > 1 ? Math.max(0, (stats.sumSq - stats.count * mean * mean) / (stats.count - 1)) : mean * mean;
  return { value: mean, variance: Math.max(sampleVariance, 1e-12) / stats.count, samples: stats.count };
}

/** The estimate of a metric (built-in or defined by the flag) for one arm's counts. */
export function estimateMetric(name: string, definitions: Readonly<Record<string, MetricDefinition>>, counts: Readonly<ArmCounts>): MetricEstimate {
  if (name === "error_rate") return proportion(counts.errors, counts.exposures);
  if (name === "shadow_agreement") return proportion(counts.agree, counts.agree + counts.disagree);
  const q = QUANTILES[name];
  if (q !== undefined) return quantileEstimate(counts, q);
  const definition = definitions[name];
  if (!definition) return { value: null, variance: 0, samples: 0 };
  if (definition.kind === "mean") return meanEstimate(counts, definition.event);
  const sum = (names: readonly string[]) => names.reduce((s, n) => s + eventCount(counts, n), 0);
  return proportion(sum(definition.numerator), sum(definition.denominator));
}
