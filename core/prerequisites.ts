/**
 * Prerequisites between flags: the scope that answers them from the
 * snapshot being served, and the write-time checks that keep the graph
 * sound — every flag named exists and has the variants asked for, and no
 * flag requires itself through any path (LaunchDarkly refuses the same).
 */
import { assign, type CompiledFlag, type EvaluationContext } from "./assign";
import { prerequisiteReferences, type EvaluationScope, type Prerequisite } from "./condition";
import { own } from "./dict";
import type { FlagSpec } from "./manifest";

/** Chains deeper than this are not followed (write-time checks make them impossible; this bounds a damaged snapshot). */
export const MAX_PREREQUISITE_DEPTH = 8;

/**
 * The scope of one evaluation: prerequisites are evaluated in the same
 * snapshot, for the same context, placed in their region wave like any
 * evaluation, and count no exposure.
 */
export function snapshotScope(flags: ReadonlyMap<string, CompiledFlag>, place: (flag: CompiledFlag, context: EvaluationContext) => CompiledFlag, depth = 0, nowMs = 0): EvaluationScope {
  return {
    variantOf(key, context) {
      if (depth >= MAX_PREREQUISITE_DEPTH) return null;
      const flag = flags.get(key);
      if (flag === undefined) return null;
      const result = assign(place(flag, context), context, snapshotScope(flags, place, depth + 1, nowMs), nowMs);
      // A code default (flagd's) serves no variant of the flag: no requirement on it is met.
      return result.ok && !result.codeDefault ? result.variant : null;
    },
  };
}

/** Every prerequisite a spec names, with its path in the spec. */
export function prerequisitesOf(spec: Pick<FlagSpec, "prerequisites" | "rules">): { prerequisite: Prerequisite; path: (string | number)[] }[] {
  return [
    ...spec.prerequisites.map((prerequisite, i) => ({ prerequisite, path: ["prerequisites", i] as (string | number)[] })),
    ...spec.rules.flatMap((rule, i) => (rule.when ? prerequisiteReferences(rule.when, ["rules", i, "when"]) : [])),
  ];
}

export interface PrerequisiteProblem {
  readonly key: string;
  readonly path: (string | number)[];
  readonly message: string;
}

/**
 * What is wrong with the prerequisites of `checked` given every flag as it
 * would stand (`all`, including `checked`): a missing flag, a variant it
 * does not have, a cycle — each with the spec's path and the cycle written out.
 */
export function prerequisiteProblems(all: ReadonlyMap<string, FlagSpec>, checked: readonly FlagSpec[]): PrerequisiteProblem[] {
  const problems: PrerequisiteProblem[] = [];
  const edges = (key: string): string[] => {
    const spec = all.get(key);
    return spec ? [...new Set(prerequisitesOf(spec).map((p) => p.prerequisite.flag))] : [];
  };
  for (const spec of checked) {
    for (const { prerequisite, path } of prerequisitesOf(spec)) {
      const other = all.get(prerequisite.flag);
      if (prerequisite.flag === spec.key) {
        problems.push({ key: spec.key, path: [...path, "flag"], message: `a flag cannot require itself` });
        continue;
      }
      if (other === undefined) {
        problems.push({ key: spec.key, path: [...path, "flag"], message: `unknown flag "${prerequisite.flag}": a prerequisite must exist` });
        continue;
      }
      prerequisite.variants.forEach((variant, j) => {
        if (own(other.variants, variant) === undefined) problems.push({ key: spec.key, path: [...path, "variants", j], message: `flag "${prerequisite.flag}" has no variant "${variant}" (it has ${Object.keys(other.variants).join(", ")})` });
      });
      const cycle = pathBack(prerequisite.flag, spec.key, edges);
      if (cycle !== null) problems.push({ key: spec.key, path: [...path, "flag"], message: `a cycle: ${[spec.key, ...cycle].join(" → ")}` });
    }
  }
  return problems;
}

/** A path of prerequisite edges from `from` to `to` (both included), or null. Depth-first, each flag visited once. */
function pathBack(from: string, to: string, edges: (key: string) => string[]): string[] | null {
  const seen = new Set<string>();
  const walk = (key: string): string[] | null => {
    if (key === to) return [key];
    if (seen.has(key)) return null;
    seen.add(key);
    for (const next of edges(key)) {
      const rest = walk(next);
      if (rest !== null) return [key, ...rest];
    }
    return null;
  };
  return walk(from);
}

/** The flags whose prerequisites name `key`. */
export function dependentsOf(all: ReadonlyMap<string, FlagSpec>, key: string): string[] {
  return [...all].filter(([k, spec]) => k !== key && prerequisitesOf(spec).some((p) => p.prerequisite.flag === key)).map(([k]) => k);
}
