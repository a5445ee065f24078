/**
 * Targeting rules: an ordered list, first match wins (as in LaunchDarkly,
 * Flagship and flagd's `if` chains). A rule serves one variant, a weighted
 * split over several on the flag's stickiness attribute, or hands the
 * context to the flag's rollout (`serve: rollout`), so a progressive,
 * gated rollout runs on the cohort its rules send it.
 */
import { z } from "zod";
import { ConditionSchema, conditionProblems, segmentReferences } from "./condition";
import { experimentIteration, ExperimentSchema, type ExperimentRef } from "./experiment";
import { VariantNameSchema } from "./variant-name";

export { VARIANT_NAME_PATTERN, VariantNameSchema } from "./variant-name";

export const MAX_VARIANTS = 64;
export const MAX_RULES = 100;

const SplitWeightSchema = z
  .number()
  .min(0, "must be 0..100")
  .max(100, "must be 0..100")
  .refine((w) => Math.abs(w * 100 - Math.round(w * 100)) < 1e-9, "at most two decimals (basis points)");

export const ServeSchema = z.union([
  z.literal("rollout").describe("The flag's rollout (its scope, stages and gates) decides"),
  z.strictObject({ variant: VariantNameSchema }),
  z.strictObject({
    split: z
      .array(z.strictObject({ variant: VariantNameSchema, weight: SplitWeightSchema }))
      .min(2)
      .max(MAX_VARIANTS)
      .describe("Percentages summing to 100, in this order: a user keeps their variant while the weights before it stay put"),
    experiment: ExperimentSchema.optional().describe("Counts every variant and compares each with `control` (`GET /admin/flags/{key}/experiments/{rule}`)"),
  }),
]);
export type Serve = z.infer<typeof ServeSchema>;

export const RuleNameSchema = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, "rule names use only A-Z a-z 0-9 . _ - (1–64 characters)");

export const TargetingRuleSchema = z.strictObject({
  name: RuleNameSchema.optional().describe("Shown in evaluation metadata as `rule`; default rule-N"),
  when: ConditionSchema.optional().describe("Absent: the rule matches every context"),
  serve: ServeSchema,
});
export type TargetingRule = z.infer<typeof TargetingRuleSchema>;

/** The name a rule goes by: its own, or rule-N counted from 1. */
export function ruleName(rule: Pick<TargetingRule, "name">, index: number): string {
  return rule.name ?? `rule-${index + 1}`;
}

export interface RuleProblem {
  readonly path: (string | number)[];
  readonly message: string;
}

/** What is wrong with a flag's rules given its variants, and whether it has a rollout to hand over to. */
export function rulesProblems(rules: readonly TargetingRule[], hasVariant: (name: string) => boolean, hasRollout: boolean): RuleProblem[] {
  const problems: RuleProblem[] = [];
  const names = new Map<string, number>();
  const unknown = (name: string) => `unknown variant "${name}": it must be one of the flag's \`variants\``;
  rules.forEach((rule, i) => {
    const at = (...path: (string | number)[]) => [i, ...path];
    const name = ruleName(rule, i);
    const first = names.get(name);
    if (first !== undefined) problems.push({ path: at("name"), message: `duplicate rule name "${name}" (also rules[${first}])` });
    else names.set(name, i);
    if (rule.when) for (const p of conditionProblems(rule.when)) problems.push({ path: at("when", ...p.path), message: p.message });
    const { serve } = rule;
    if (serve === "rollout") {
      if (!hasRollout) problems.push({ path: at("serve"), message: "this flag has no rollout to serve: serve a variant or a split" });
    } else if ("variant" in serve) {
      if (!hasVariant(serve.variant)) problems.push({ path: at("serve", "variant"), message: unknown(serve.variant) });
    } else {
      const seen = new Set<string>();
      let total = 0;
      serve.split.forEach((part, j) => {
        if (!hasVariant(part.variant)) problems.push({ path: at("serve", "split", j, "variant"), message: unknown(part.variant) });
        if (seen.has(part.variant)) problems.push({ path: at("serve", "split", j, "variant"), message: `"${part.variant}" is already in this split` });
        seen.add(part.variant);
        total += Math.round(part.weight * 100);
      });
      if (total !== 10_000) problems.push({ path: at("serve", "split"), message: `weights sum to ${total / 100}, not 100` });
      if (serve.experiment && !seen.has(serve.experiment.control)) {
        problems.push({ path: at("serve", "experiment", "control"), message: `the control "${serve.experiment.control}" must be one of this split's variants (${[...seen].join(", ")})` });
      }
    }
  });
  return problems;
}

/** The segments a flag's rules refer to, each with its path in the spec. */
export function ruleSegmentReferences(rules: readonly TargetingRule[]): { name: string; path: (string | number)[] }[] {
  return rules.flatMap((rule, i) => (rule.when ? segmentReferences(rule.when, ["rules", i, "when"]) : []));
}

/** The iteration of a split rule's experiment (`experiment.ts`); null for a rule that is no experiment. */
export function ruleIteration(rule: TargetingRule, index: number): string | null {
  const { serve } = rule;
  if (serve === "rollout" || !("split" in serve) || !serve.experiment) return null;
  return experimentIteration(ruleName(rule, index), serve.split, serve.experiment);
}

/** A flag's experiments as it serves them now, by iteration. */
export function ruleExperiments(rules: readonly TargetingRule[]): Map<string, ExperimentRef> {
  const out = new Map<string, ExperimentRef>();
  rules.forEach((rule, i) => {
    const iteration = ruleIteration(rule, i);
    const { serve } = rule;
    if (iteration !== null && serve !== "rollout" && "split" in serve && serve.experiment) out.set(iteration, { iteration, rule: ruleName(rule, i), control: serve.experiment.control });
  });
  return out;
}
