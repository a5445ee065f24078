/**
 * Experiments: a targeting rule's weighted split that names a control
 * variant. Every variant of the split is counted (exposures at the edge,
 * outcome events echoing the token its evaluation carried), per replicate
 * group of users and hour, so the compare report can set each treatment
 * against the shared control (`experiment-report.ts`).
 *
 * An experiment is identified by its *iteration*: a hash of the rule's name,
 * its split and its experiment block. Changing the weights or the variants
 * starts a new iteration (as LaunchDarkly's experiment iterations do),
 * because pooling users assigned under different weights with a trend in
 * time would compare unlike periods (Simpson's paradox); the old iteration's
 * counts stay readable by its id.
 */
import { z } from "zod";
import { murmur3 } from "./murmur3";
import { VariantNameSchema, VARIANT_NAME_PATTERN } from "./variant-name";

export const EXPERIMENT_COMPARISONS = ["relative", "absolute"] as const;

export const ExperimentMetricSchema = z.strictObject({
  metric: z.string().describe("A built-in metric (error_rate, latency_p50/p95/p99) or one the flag defines under `metrics`"),
  compare: z.enum(EXPERIMENT_COMPARISONS).default("relative"),
  bad: z.enum(["increase", "decrease"]).optional().describe("Which direction is worse; without it the report says higher or lower, not worse or better"),
});
export type ExperimentMetric = z.infer<typeof ExperimentMetricSchema>;

export const ExperimentSchema = z.strictObject({
  control: VariantNameSchema.describe("The split's variant every other is compared with"),
  metrics: z.array(ExperimentMetricSchema).min(1).max(16).optional().describe("Default: error_rate (bad: increase), then every metric the flag defines"),
});
export type Experiment = z.infer<typeof ExperimentSchema>;

/** The metrics an experiment compares: its own list, else error_rate and the flag's defined metrics. */
export function experimentMetrics(experiment: Experiment, defined: readonly string[]): ExperimentMetric[] {
  if (experiment.metrics) return experiment.metrics;
  return [{ metric: "error_rate", compare: "relative", bad: "increase" }, ...defined.map((metric) => ({ metric, compare: "relative" as const }))];
}

/** An iteration id: 8 hex digits of murmur3 over the rule's name, split and experiment block. */
export function experimentIteration(rule: string, split: readonly { variant: string; weight: number }[], experiment: Experiment): string {
  const text = JSON.stringify([rule, split.map((p) => [p.variant, p.weight]), experiment.control, experiment.metrics ?? null]);
  return murmur3(text, 0x5e).toString(16).padStart(8, "0");
}

const ITERATION = /^[0-9a-f]{8}$/;
export const IterationSchema = z.string().regex(ITERATION, "an experiment iteration is 8 hex digits");

/** The token an experiment's evaluation metadata carries as `assignment` and its events echo: "x.ITERATION.VARIANT". */
export function experimentToken(iteration: string, variant: string): string {
  return `x.${iteration}.${variant}`;
}

/** Parses an experiment token; null when it is not one. */
export function parseExperimentToken(token: string): { iteration: string; variant: string } | null {
  if (!token.startsWith("x.") || token.length < 12 || token[10] !== ".") return null;
  const iteration = token.slice(2, 10);
  const variant = token.slice(11);
  if (!ITERATION.test(iteration) || !VARIANT_NAME_PATTERN.test(variant)) return null;
  return { iteration, variant };
}

/** What an experiment's served outcome carries: enough for the edge to count it without looking anything up. */
export interface ExperimentRef {
  readonly iteration: string;
  readonly rule: string;
  readonly control: string;
}
