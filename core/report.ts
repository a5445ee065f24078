/**
 * The A/B compare report over a time span: per-arm metrics, each gate's
 * delta with its interval and verdict, and the sample ratio. It replaces a
 * daily compare job; the cron's decisions use the same functions.
 */
import type { ArmPair } from "./counters";
import { emptyPair, mergeCounts } from "./counters";
import { BUILT_IN_METRICS } from "./gate-spec";
import { judgeGate, type GateVerdict } from "./gate-verdict";
import { FLAG_ALPHA } from "./gates";
import type { FlagSpec } from "./manifest";
import { estimateMetric, type MetricEstimate } from "./metrics";

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
}

function armMetrics(spec: Pick<FlagSpec, "metrics">, counts: ArmPair["baseline"]): ArmMetrics {
  const metrics: ArmMetrics["metrics"] = {};
  for (const name of [...BUILT_IN_METRICS, ...Object.keys(spec.metrics)]) {
    const m = estimateMetric(name, spec.metrics, counts);
    metrics[name] = { ...m, stderr: Math.sqrt(m.variance) };
  }
  return { exposures: counts.exposures, metrics };
}

export function buildReport(
  spec: Pick<FlagSpec, "key" | "metrics" | "gates">,
  generation: number,
  stages: Record<string, ArmPair>,
  from: number,
  to: number,
  shadow: boolean,
): CompareReport {
  const pooled = emptyPair();
  for (const pair of Object.values(stages)) {
    mergeCounts(pooled.baseline, pair.baseline);
    mergeCounts(pooled.candidate, pair.candidate);
  }
  const judged = spec.gates.filter((g) => !g.informational).length;
  const alphaPerGate = FLAG_ALPHA / Math.max(1, judged);
  return {
    flag: spec.key,
    generation,
    from,
    to,
    arms: { baseline: armMetrics(spec, pooled.baseline), candidate: armMetrics(spec, pooled.candidate) },
    gates: spec.gates.map((gate) => judgeGate(gate, spec.metrics, Object.values(stages), { alpha: alphaPerGate, includeSevere: false, shadow })),
    alphaPerGate,
  };
}
