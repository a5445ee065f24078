/**
 * Event counts and proportions the metric estimates are built from
 * (`estimate.ts` linearises them over replicate groups of users).
 */
import type { ArmCounts } from "./counters";
import { own } from "./dict";

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
  return own(counts.events, name)?.count ?? 0;
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
