/** The diff between stored flags and a set of specs: what a PUT or a manifest would change. */
import { canonicalJson } from "../../core/canonical";
import { plainCopy } from "../../core/dict";
import { candidateIdentity } from "../../core/generation";
import { JsonValueSchema, type FlagSpec, type JsonValue } from "../../core/manifest";
import { diffSpecs, type FieldChange } from "../../core/spec-diff";

export interface PlanEntry {
  key: string;
  change: "create" | "update" | "unchanged" | "delete";
  /** Top-level spec fields that differ (for updates). */
  fields?: string[];
  /** What changed, field by field, from → to (for updates). */
  diff?: FieldChange[];
  /** True when the update changes the candidate and so starts a new generation. */
  newGeneration?: boolean;
}

/** `stored`: each stored flag's spec, parsed (the registry reads them through the schema). */
export function planChanges(stored: ReadonlyMap<string, FlagSpec>, specs: readonly FlagSpec[], prune: boolean): PlanEntry[] {
  const plan: PlanEntry[] = specs.map((spec) => {
    const before = stored.get(spec.key);
    if (!before) return { key: spec.key, change: "create" };
    const fields = changedFields(before, spec);
    if (fields.length === 0) return { key: spec.key, change: "unchanged" };
    return { key: spec.key, change: "update", fields, diff: diffSpecs(asJson(before), asJson(spec)), newGeneration: candidateIdentity(before) !== candidateIdentity(spec) };
  });
  if (prune) {
    const wanted = new Set(specs.map((s) => s.key));
    for (const key of stored.keys()) if (!wanted.has(key)) plan.push({ key, change: "delete" });
  }
  return plan;
}

/** A parsed spec as the plain JSON value it is (specs hold prototype-free maps, which RPC cannot carry). */
function asJson(spec: FlagSpec): JsonValue {
  return JsonValueSchema.parse(plainCopy(spec));
}

function changedFields(before: FlagSpec, after: FlagSpec): string[] {
  const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
  return [...keys].filter((k) => canonicalJson((before as Record<string, unknown>)[k]) !== canonicalJson((after as Record<string, unknown>)[k])).sort();
}
