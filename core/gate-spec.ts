/**
 * Schemas of metric definitions, gates and abort rules in a flag spec.
 * Amounts are converted here, once, into the unit the gate compares in.
 */
import { z } from "zod";
import { parseAmount, parseDurationMs, type Amount } from "./units";

/** Metrics every flag has without defining them. */
export const BUILT_IN_METRICS = [
  "error_rate",
  "latency_p50",
  "latency_p95",
  "latency_p99",
  "shadow_agreement",
] as const;

const EVENT_NAME = z
  .string()
  .regex(/^[A-Za-z0-9_.:-]{1,64}$/, "event names use A-Z a-z 0-9 _ . : - (1–64 characters)");

const EVENT_NAMES = z.union([EVENT_NAME, z.array(EVENT_NAME).min(1).max(16)]).transform((v) => (typeof v === "string" ? [v] : v));

export const MetricNameSchema = z
  .string()
  .regex(/^[a-z][a-z0-9_]{0,63}$/, "metric names are lower_snake_case (a-z, 0-9, _), starting with a letter");

export const MetricDefinitionSchema = z.discriminatedUnion("kind", [
  z.strictObject({
    kind: z.literal("ratio"),
    numerator: EVENT_NAMES,
    denominator: EVENT_NAMES,
  }),
  z.strictObject({
    kind: z.literal("mean"),
    event: EVENT_NAME,
  }),
]);
export type MetricDefinition = z.infer<typeof MetricDefinitionSchema>;

/** A duration written with its unit ("30s", "15m", "2h", "2d"), parsed to milliseconds. */
export const DurationSchema = z.string().transform((text, ctx) => {
  const ms = parseDurationMs(text);
  if (ms === null || ms <= 0) {
    ctx.addIssue({ code: "custom", message: `must be a duration like 30s, 15m, 2h or 2d (got "${text}")` });
    return z.NEVER;
  }
  return ms;
});

const AmountSchema = z.union([z.string(), z.number()]).transform((input, ctx): Amount => {
  const amount = parseAmount(input);
  if (amount === null) {
    ctx.addIssue({ code: "custom", message: `must be an amount like 5%, 0.2pp or 0.05 (got "${String(input)}")` });
    return z.NEVER;
  }
  return amount;
});

const COMPARISONS = ["relative", "absolute", "floor", "ceiling"] as const;
export type Comparison = (typeof COMPARISONS)[number];

/** Where a gate's series come from when they are not Rampart's own counters: a Prometheus server (`series-gate.ts`). */
export const PrometheusSourceSchema = z.strictObject({
  url: z
    .string()
    .url("must be a URL like http://prometheus:9090")
    .refine((u) => /^https?:\/\//i.test(u), "must be an http:// or https:// URL (the Prometheus HTTP API)"),
  query: z
    .string()
    .min(1)
    .max(4_000)
    .refine((q) => q.includes("{{arm}}"), "the PromQL template must name the arm as {{arm}}, e.g. sum(rate(errors_total{arm=\"{{arm}}\"}[5m]))"),
  /** Resolution of the series (Prometheus `step`): one point per step; default 1m. */
  step: DurationSchema.optional(),
  /** The Worker secret holding a bearer token for the server (never the token itself: specs are shown and logged). */
  // Only secrets named PROMETHEUS_…: a spec must not be able to send another secret (ADMIN_TOKEN) to a URL it picks.
  bearerTokenSecret: z.string().regex(/^PROMETHEUS_[A-Z0-9_]{1,52}$/, "the name of a Worker secret starting with PROMETHEUS_, like PROMETHEUS_TOKEN").optional(),
});
export const GateSourceSchema = z.strictObject({ prometheus: PrometheusSourceSchema });

const GateInputSchema = z.strictObject({
  metric: z.string(),
  /** A service metric from outside (per-minute aggregates, not per-user counts): judged by `series-gate.ts`. */
  source: GateSourceSchema.optional(),
  bad: z.enum(["increase", "decrease"]).optional(),
  compare: z.enum(COMPARISONS).default("relative"),
  warn: AmountSchema.optional(),
  rollback: AmountSchema.optional(),
  severe: AmountSchema.optional(),
  sustained: DurationSchema.optional(),
  minSamples: z.int().min(1).optional(),
  informational: z.boolean().default(false),
  action: z.enum(["rollback", "hold", "demote"]).default("rollback"),
});

type ThresholdField = "warn" | "rollback" | "severe";
const THRESHOLD_FIELDS: readonly ThresholdField[] = ["warn", "rollback", "severe"];

/** Which ways of writing an amount each comparison accepts, and why the others are refused. */
function thresholdProblem(compare: Comparison, amount: Amount): string | null {
  if (compare === "relative" && amount.unit === "pp") {
    return "a pp amount is an absolute difference: add `compare: absolute` or write a relative change like 5%";
  }
  if (compare === "absolute" && amount.unit === "percent") {
    return "an absolute gate takes percentage points (0.2pp) or a number in the metric's unit, not a relative %";
  }
  if ((compare === "floor" || compare === "ceiling") && amount.unit === "pp") {
    return `a ${compare} is a level of the metric (75% or 0.75), not a pp difference`;
  }
  if ((compare === "relative" || compare === "absolute") && amount.value < 0) {
    return "write the size of the change as a positive amount; `bad` says its direction";
  }
  return null;
}

export const GateSchema = GateInputSchema.transform((gate, ctx) => {
  const bad = gate.compare === "floor" ? "decrease" : gate.compare === "ceiling" ? "increase" : gate.bad;
  if (gate.compare === "floor" || gate.compare === "ceiling") {
    if (gate.bad !== undefined && gate.bad !== bad) {
      ctx.addIssue({ code: "custom", path: ["bad"], message: `a ${gate.compare} gate is bad on ${bad}; remove \`bad\` or make it ${bad}` });
    }
  } else if (bad === undefined) {
    ctx.addIssue({ code: "custom", path: ["bad"], message: "say which direction is a regression: `bad: increase` or `bad: decrease`" });
  }
  const values: Partial<Record<ThresholdField, number>> = {};
  for (const field of THRESHOLD_FIELDS) {
    const amount = gate[field];
    if (amount === undefined) continue;
    const problem = thresholdProblem(gate.compare, amount);
    if (problem) ctx.addIssue({ code: "custom", path: [field], message: problem });
    values[field] = amount.value;
  }
  if (!gate.informational && values.warn === undefined && values.rollback === undefined) {
    ctx.addIssue({ code: "custom", path: ["rollback"], message: "a gate needs `warn` or `rollback` (or `informational: true`)" });
  }
  checkThresholdOrder(gate.compare, values, ctx);
  return {
    metric: gate.metric,
    ...(gate.source ? { source: { prometheus: { ...gate.source.prometheus, step: gate.source.prometheus.step ?? 60_000 } } } : {}),
    compare: gate.compare,
    bad: bad ?? "increase",
    ...values,
    sustained: gate.sustained,
    minSamples: gate.minSamples,
    informational: gate.informational,
    action: gate.action,
  };
});
export type Gate = z.infer<typeof GateSchema>;

/** warn comes before rollback, and rollback before severe, in the direction that is bad. */
function checkThresholdOrder(
  compare: Comparison,
  values: Partial<Record<ThresholdField, number>>,
  ctx: z.RefinementCtx,
): void {
  // For a floor, worse means lower; everywhere else worse means larger.
  const worse = (a: number, b: number) => (compare === "floor" ? a < b : a > b);
  const ordered: ThresholdField[] = THRESHOLD_FIELDS.filter((f) => values[f] !== undefined);
  for (let i = 1; i < ordered.length; i++) {
    const earlier = ordered[i - 1];
    const later = ordered[i];
    if (earlier === undefined || later === undefined) continue;
    const a = values[earlier];
    const b = values[later];
    if (a !== undefined && b !== undefined && worse(a, b)) {
      ctx.addIssue({ code: "custom", path: [later], message: `\`${later}\` must be at least as bad as \`${earlier}\`` });
    }
  }
}

export const AbortRuleSchema = z
  .strictObject({
    metric: z.string(),
    above: AmountSchema.optional(),
    below: AmountSchema.optional(),
    sustained: DurationSchema.optional(),
    /** A soft rule only notifies (webhook, a `soft_abort` decision, /metrics); it never changes what is served. */
    soft: z.boolean().default(false),
  })
  .transform((rule, ctx) => {
    const bound = rule.above ?? rule.below;
    if ((rule.above === undefined) === (rule.below === undefined) || bound === undefined) {
      ctx.addIssue({ code: "custom", path: ["above"], message: "an abort rule needs exactly one of `above` or `below`" });
      return z.NEVER;
    }
    if (bound.unit === "pp") {
      ctx.addIssue({ code: "custom", path: [rule.above ? "above" : "below"], message: "an abort rule is a level of the metric (1% or 0.01), not a pp difference" });
    }
    return {
      metric: rule.metric,
      direction: rule.above !== undefined ? ("above" as const) : ("below" as const),
      level: bound.value,
      sustained: rule.sustained,
      soft: rule.soft,
    };
  });
export type AbortRule = z.infer<typeof AbortRuleSchema>;
