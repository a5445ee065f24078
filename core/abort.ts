/**
 * Hard abort rules: the candidate's level of a metric above (or below) a
 * limit, judged at every evaluation on a trailing span with a
 * count-appropriate bound — Wilson for rates, order-statistic ranks for
 * latency quantiles, a normal bound for means — and acting only once the
 * condition has held at every evaluation for `sustained`.
 */
import type { ArmCounts } from "./counters";
import type { AbortRule, MetricDefinition } from "./gate-spec";
import type { GateMemory } from "./gates";
import { histogramCount, valueAtRank } from "./histogram";
import { eventCount, estimateMetric } from "./metrics";
import { normalQuantile, wilsonInterval } from "./stats";

/** One-sided level of each bound: a single reading must be this convincing. */
export const ABORT_ALPHA = 0.001;

export interface AbortVerdict {
  metric: string;
  direction: AbortRule["direction"];
  level: number;
  value: number | null;
  /** The bound that must clear the level: a lower bound for `above`, an upper bound for `below`. */
  bound: number | null;
  samples: number;
  conditionHolds: boolean;
  since: number | null;
  fired: boolean;
  reason: string;
}

const RATE_METRICS: Record<string, (c: Readonly<ArmCounts>) => [number, number]> = {
  error_rate: (c) => [c.errors, c.exposures],
  shadow_agreement: (c) => [c.agree, c.agree + c.disagree],
};
const QUANTILES: Record<string, number> = { latency_p50: 0.5, latency_p95: 0.95, latency_p99: 0.99 };

function bounds(rule: AbortRule, definitions: Readonly<Record<string, MetricDefinition>>, counts: Readonly<ArmCounts>) {
  const z = normalQuantile(1 - ABORT_ALPHA);
  const rate = RATE_METRICS[rule.metric];
  const definition = definitions[rule.metric];
  let pair: [number, number] | null = rate ? rate(counts) : null;
  if (!pair && definition?.kind === "ratio") {
    const sum = (names: readonly string[]) => names.reduce((s, n) => s + eventCount(counts, n), 0);
    pair = [sum(definition.numerator), sum(definition.denominator)];
  }
  if (pair) {
    const [x, n] = pair;
    if (n === 0) return { value: null, lower: null, upper: null, samples: 0 };
    const w = wilsonInterval(Math.min(x, n), n, 2 * ABORT_ALPHA);
    return { value: x / n, lower: w.lower, upper: w.upper, samples: n };
  }
  const q = QUANTILES[rule.metric];
  if (q !== undefined) {
    const n = histogramCount(counts.latency);
    if (n === 0) return { value: null, lower: null, upper: null, samples: 0 };
    const spread = z * Math.sqrt(n * q * (1 - q));
    const center = q * (n - 1);
    return {
      value: valueAtRank(counts.latency, center),
      lower: valueAtRank(counts.latency, Math.max(0, center - spread)),
      upper: valueAtRank(counts.latency, Math.min(n - 1, center + spread)),
      samples: n,
    };
  }
  const m = estimateMetric(rule.metric, definitions, counts);
  if (m.value === null) return { value: null, lower: null, upper: null, samples: 0 };
  const se = Math.sqrt(m.variance);
  return { value: m.value, lower: m.value - z * se, upper: m.value + z * se, samples: m.samples };
}

/** Judges one abort rule and updates its `since` in `memory`. */
export function judgeAbort(
  rule: AbortRule,
  definitions: Readonly<Record<string, MetricDefinition>>,
  counts: Readonly<ArmCounts> | undefined,
  now: number,
  memory: GateMemory,
  index: number,
): AbortVerdict {
  const b = counts ? bounds(rule, definitions, counts) : { value: null, lower: null, upper: null, samples: 0 };
  const bound = rule.direction === "above" ? b.lower : b.upper;
  const conditionHolds = bound !== null && (rule.direction === "above" ? bound > rule.level : bound < rule.level);
  const key = String(index);
  if (!conditionHolds) delete memory.abortSince[key];
  const since = conditionHolds ? (memory.abortSince[key] ??= now) : null;
  const fired = since !== null && now - since >= (rule.sustained ?? 0);
  const reason = `${rule.metric} ${b.value?.toPrecision(4) ?? "n/a"} (bound ${bound?.toPrecision(4) ?? "n/a"}, n=${b.samples}) ${rule.direction} ${rule.level}${rule.sustained ? ` sustained ${Math.round(rule.sustained / 60_000)}m` : ""}`;
  return { metric: rule.metric, direction: rule.direction, level: rule.level, value: b.value, bound, samples: b.samples, conditionHolds, since, fired, reason };
}
