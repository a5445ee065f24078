/**
 * Targeting rules compiled for the hot path: each rule's condition a
 * predicate, each outcome that does not depend on the key precomputed, and a
 * split's cumulative thresholds in basis points. A split buckets by the same
 * hash as the rollout (`bucket.ts`, flagd `fractional` v2): a user keeps
 * their variant while the weights before it in the list stay put.
 */
import { bucketOfHash, hashOf } from "./bucket";
import { compileCondition, type EvaluationScope, type Predicate, type SegmentResolver } from "./condition";
import { replicateOfHash } from "./counters";
import { ruleIteration, ruleName, type TargetingRule } from "./targeting-rules";
import { experimentToken } from "./experiment";
import { assignRollout, bucketingValue, type Assignment, type CompiledFlag, type EvaluationContext, type Reason, type Served } from "./assign";

export type CompiledServe =
  | { readonly kind: "variant"; readonly served: Served }
  | { readonly kind: "split"; readonly thresholds: readonly number[]; readonly outcomes: readonly Served[] }
  | { readonly kind: "rollout" };

export interface CompiledRule {
  readonly name: string;
  /** null: the rule matches every context. */
  readonly when: Predicate | null;
  readonly serve: CompiledServe;
}

type VariantOutcome = (variant: string, reason: Reason, rule: string | null) => Served;

export function compileRules(rules: readonly TargetingRule[], outcome: VariantOutcome, segments: SegmentResolver): CompiledRule[] {
  return rules.map((rule, i) => {
    const name = ruleName(rule, i);
    const when = rule.when ? compileCondition(rule.when, segments) : null;
    const { serve } = rule;
    if (serve === "rollout") return { name, when, serve: { kind: "rollout" } };
    if ("variant" in serve) return { name, when, serve: { kind: "variant", served: outcome(serve.variant, "TARGETING_MATCH", name) } };
    const thresholds: number[] = [];
    let upTo = 0;
    for (const part of serve.split) {
      upTo += Math.round(part.weight * 100);
      thresholds.push(upTo);
    }
    // An experiment's outcomes carry its iteration and the token its events echo ("x.ITERATION.VARIANT").
    const iteration = ruleIteration(rule, i);
    const experiment = iteration !== null && serve.experiment ? Object.freeze({ iteration, rule: name, control: serve.experiment.control }) : null;
    const outcomes = serve.split.map((part) => {
      const served = outcome(part.variant, "SPLIT", name);
      if (experiment === null) return served;
      const metadata = Object.freeze({ ...served.metadata, experiment: experiment.iteration, assignment: experimentToken(experiment.iteration, part.variant) });
      return Object.freeze({ ...served, experiment, metadata });
    });
    return { name, when, serve: { kind: "split", thresholds, outcomes } };
  });
}

/** The outcome of the first rule whose condition is true, or null when none is. */
export function matchRule(flag: CompiledFlag, context: EvaluationContext, scope?: EvaluationScope): Assignment | null {
  for (const rule of flag.rules) {
    if (rule.when !== null && rule.when(context, scope) !== true) continue;
    const { serve } = rule;
    if (serve.kind === "variant") return serve.served;
    if (serve.kind === "rollout") return assignRollout(flag, context);
    const value = bucketingValue(flag, context);
    if (typeof value !== "string") return value;
    const hash = hashOf(flag.salt, value);
    const bucket = bucketOfHash(hash);
    let index = 0;
    while (index < serve.thresholds.length - 1 && bucket >= (serve.thresholds[index] as number)) index++;
    const template = serve.outcomes[index] as Served;
    return { ...template, bucket, replicate: replicateOfHash(hash) };
  }
  return null;
}
