/**
 * The A/B compare report over a time span: per-arm metrics, each gate's
 * delta with its interval and verdict, and the sample ratio. It replaces a
 * daily compare job; the cron's decisions use the same functions.
 */
import { collapse, emptyReplicatedPair, mergeReplicatedPair, type Replicated, type ReplicatedPair } from "./counters";
import { linearize, robustVariance } from "./estimate";
import { BUILT_IN_METRICS } from "./gate-spec";
import { judgeGate, type GateVerdict } from "./gate-verdict";
import { judgeSeriesGate, type SeriesRead } from "./series-gate";
import { FLAG_ALPHA } from "./gates";
import type { FlagSpec } from "./manifest";
import type { MetricEstimate } from "./metrics";

export interface ArmMetrics {
  exposures: number;
  metrics: Record<string, MetricEstimate & { stderr: number }>;
}

export interface CompareReport {
  flag: string;
  generation: number;
  from: number;
  to: number;
  arms: { baseline: ArmMetrics; candidate: ArmMetrics };
  gates: GateVerdict[];
  alphaPerGate: number;
  /** Events of the generation that could not be credited to an arm, by reason (filled by the FlagDO). */
  unattributed?: Record<string, number>;
}

/** Per-arm levels with user-level standard errors (from replicate groups, `estimate.ts`). */
export function armMetrics(spec: Pick<FlagSpec, "metrics">, replicates: Readonly<Replicated>): ArmMetrics {
  const metrics: ArmMetrics["metrics"] = {};
  for (const name of [...BUILT_IN_METRICS, ...Object.keys(spec.metrics)]) {
    const m = linearize(name, spec.metrics, replicates);
    const variance = m.value === null ? 0 : robustVariance(m);
    metrics[name] = { value: m.value, variance, samples: m.samples, stderr: Math.sqrt(variance) };
  }
  return { exposures: collapse(replicates).exposures, metrics };
}

export function buildReport(
  spec: Pick<FlagSpec, "key" | "metrics" | "gates">,
  generation: number,
  stages: Record<string, ReplicatedPair>,
  from: number,
  to: number,
  shadow: boolean,
  /** The outside-sourced gates' points (by gate index), read for this report. */
  series?: Readonly<Record<string, SeriesRead>>,
): CompareReport {
  const pooled = emptyReplicatedPair();
  for (const pair of Object.values(stages)) mergeReplicatedPair(pooled, pair);
  const judged = spec.gates.filter((g) => !g.informational).length;
  const alphaPerGate = FLAG_ALPHA / Math.max(1, judged);
  return {
    flag: spec.key,
    generation,
    from,
    to,
    arms: { baseline: armMetrics(spec, pooled.baseline), candidate: armMetrics(spec, pooled.candidate) },
    gates: spec.gates.map((gate, i) => (gate.source ? judgeSeriesGate(gate, series?.[String(i)], alphaPerGate) : judgeGate(gate, spec.metrics, Object.values(stages), { alpha: alphaPerGate, includeSevere: false, shadow }))),
    alphaPerGate,
  };
}
