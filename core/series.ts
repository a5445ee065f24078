/**
 * A flag's metrics over time, for the dashboard's charts: per step, each
 * arm's exposures and metric levels in that step, and each gate's verdict on
 * everything up to the step's end (the cumulative comparison the cron judges,
 * so a chart's interval line narrows as evidence accumulates).
 */
import { emptyReplicatedPair, mergeReplicatedPair, type ReplicatedPair } from "./counters";
import type { FlagSpec } from "./manifest";
import { buildReport } from "./report";

/** More points than a chart can show at phone width buys nothing and costs reads. */
export const MAX_SERIES_POINTS = 120;

export interface SeriesPoint {
  /** End of the step (ms). */
  t: number;
  exposures: { baseline: number; candidate: number };
  /** Each metric's level per arm in this step alone (null: no data in the step). */
  levels: Record<string, { baseline: number | null; candidate: number | null }>;
  /** Each gate on the data from `from` to `t`: delta, its interval, verdict. */
  gates: { metric: string; delta: number | null; interval: [number, number] | null; verdict: string }[];
}

export interface Series {
  flag: string;
  generation: number;
  from: number;
  to: number;
  step: number;
  /** Each gate's definition, for threshold lines. */
  gates: { metric: string; compare: string; bad: string; informational: boolean; thresholds: { warn?: number; rollback?: number; severe?: number } }[];
  points: SeriesPoint[];
}

/** `steps[i]`: per-stage counts of step i (from + i·step to from + (i+1)·step). */
export function buildSeries(spec: Pick<FlagSpec, "key" | "metrics" | "gates">, generation: number, from: number, step: number, steps: readonly Record<string, ReplicatedPair>[], shadow: boolean): Series {
  const cumulative: Record<string, ReplicatedPair> = {};
  const points = steps.map((stages, i): SeriesPoint => {
    for (const [stage, pair] of Object.entries(stages)) mergeReplicatedPair((cumulative[stage] ??= emptyReplicatedPair()), pair);
    const t = from + (i + 1) * step;
    const inStep = buildReport(spec, generation, stages, from + i * step, t, shadow);
    const upToNow = buildReport(spec, generation, cumulative, from, t, shadow);
    const levels: SeriesPoint["levels"] = {};
    for (const name of Object.keys(inStep.arms.baseline.metrics)) {
      levels[name] = { baseline: inStep.arms.baseline.metrics[name]?.value ?? null, candidate: inStep.arms.candidate.metrics[name]?.value ?? null };
    }
    return {
      t,
      exposures: { baseline: inStep.arms.baseline.exposures, candidate: inStep.arms.candidate.exposures },
      levels,
      gates: upToNow.gates.map((g) => ({ metric: g.metric, delta: g.delta, interval: g.interval, verdict: g.verdict })),
    };
  });
  // Thresholds as the judge reads them (parsed units), from a report over the whole span.
  const whole = buildReport(spec, generation, cumulative, from, from + steps.length * step, shadow);
  const gates = whole.gates.map((g) => ({ metric: g.metric, compare: g.compare, bad: g.bad ?? "", informational: g.informational, thresholds: g.thresholds }));
  return { flag: spec.key, generation, from, to: from + steps.length * step, step, gates, points };
}
