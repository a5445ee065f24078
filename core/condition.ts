/**
 * Targeting conditions: clauses on context attributes nested with all / any /
 * not, compiled once per snapshot into a predicate.
 *
 * A clause on a missing or mistyped attribute is *unknown*, never true and
 * never an exception, and `not` keeps it unknown (Kleene's three-valued
 * logic): `not: { attribute: plan, op: equals, value: free }` does not match
 * a context without `plan`, as LaunchDarkly's negated operators do not. A
 * rule matches only when its condition is true.
 */
import { z } from "zod";
import semver from "semver";
import { own } from "./dict";

export const MAX_CONDITION_DEPTH = 6;
export const MAX_LIST_VALUES = 10_000;
export const SEGMENT_NAME_PATTERN = /^[A-Za-z][A-Za-z0-9._-]{0,127}$/;

/** A segment's membership test by name (`segment.ts`); undefined for a segment the entry does not carry. */
export type SegmentResolver = (name: string) => Predicate | undefined;
const NO_SEGMENTS: SegmentResolver = () => undefined;

export const CLAUSE_OPS = [
  "equals", "not_equals", "in", "not_in",
  "gt", "gte", "lt", "lte",
  "before", "after",
  "contains", "starts_with", "ends_with",
  "semver_eq", "semver_gt", "semver_gte", "semver_lt", "semver_lte",
  "exists",
  "in_segment", "not_in_segment",
] as const;
export type ClauseOp = (typeof CLAUSE_OPS)[number];

const ScalarSchema = z.union([z.string().max(1024), z.number(), z.boolean()]);
type Scalar = z.infer<typeof ScalarSchema>;

const AttributeSchema = z.string().min(1).max(128).describe("A context attribute (targetingKey, tenant, plan, …)");

export const ClauseSchema = z.strictObject({
  attribute: AttributeSchema,
  op: z.enum(CLAUSE_OPS),
  value: ScalarSchema.optional().describe("The operand of every op but in / not_in (a list) and exists (none); for in_segment / not_in_segment, the segment's name"),
  values: z.array(ScalarSchema).min(1).max(MAX_LIST_VALUES).optional().describe("The list of in / not_in"),
});
export type Clause = z.infer<typeof ClauseSchema>;

/**
 * A prerequisite (LaunchDarkly's prerequisites): true when another flag
 * evaluates, for the same context, to one of `variants`. Cycles and missing
 * flags are refused when a spec is written (`core/prerequisites.ts`).
 */
export const PrerequisiteSchema = z.strictObject({
  flag: z.string().regex(/^[A-Za-z0-9._-]{1,128}$/, "flag keys use only A-Z a-z 0-9 . _ - (1–128 characters)"),
  variants: z.array(z.string().min(1).max(64)).min(1).max(64).describe("The other flag's variants that satisfy it"),
});
export type Prerequisite = z.infer<typeof PrerequisiteSchema>;

export type Condition = Clause | { all: Condition[] } | { any: Condition[] } | { not: Condition } | { prerequisite: Prerequisite };

export const ConditionSchema: z.ZodType<Condition> = z.lazy(() =>
  z.union([
    z.strictObject({ all: z.array(ConditionSchema).min(1).max(100) }),
    z.strictObject({ any: z.array(ConditionSchema).min(1).max(100) }),
    z.strictObject({ not: ConditionSchema }),
    z.strictObject({ prerequisite: PrerequisiteSchema }),
    ClauseSchema,
  ]),
);

/** The problems of a parsed condition (depth, each op's operand), each with its path below the condition. */
export function conditionProblems(condition: Condition, depth = 1): { path: (string | number)[]; message: string }[] {
  if (depth > MAX_CONDITION_DEPTH) return [{ path: [], message: `conditions nest at most ${MAX_CONDITION_DEPTH} levels deep` }];
  if ("all" in condition || "any" in condition) {
    const [name, list] = "all" in condition ? ["all", condition.all] as const : ["any", condition.any] as const;
    return list.flatMap((c, i) => conditionProblems(c, depth + 1).map((p) => ({ ...p, path: [name, i, ...p.path] })));
  }
  if ("not" in condition) return conditionProblems(condition.not, depth + 1).map((p) => ({ ...p, path: ["not", ...p.path] }));
  if ("prerequisite" in condition) return [];
  const problem = clauseProblem(condition);
  return problem ? [problem] : [];
}

function clauseProblem(clause: Clause): { path: string[]; message: string } | null {
  const { op, value, values } = clause;
  if (op === "in" || op === "not_in") {
    if (values === undefined) return { path: ["values"], message: `${op} needs \`values\`: a list` };
    if (value !== undefined) return { path: ["value"], message: `${op} takes \`values\` (a list), not \`value\`` };
    return null;
  }
  if (values !== undefined) return { path: ["values"], message: `${op} takes one \`value\`; \`values\` is for in / not_in` };
  if (op === "exists") return value === undefined ? null : { path: ["value"], message: "exists takes no value" };
  if (op === "in_segment" || op === "not_in_segment") return typeof value === "string" && SEGMENT_NAME_PATTERN.test(value) ? null : { path: ["value"], message: `${op} needs the segment's name as \`value\`` };
  if (value === undefined) return { path: ["value"], message: `${op} needs \`value\`` };
  if ((op === "gt" || op === "gte" || op === "lt" || op === "lte") && typeof value !== "number") return { path: ["value"], message: `${op} compares numbers: \`value\` must be a number` };
  if ((op === "before" || op === "after") && dateOf(value) === null) return { path: ["value"], message: `${op} compares dates: \`value\` must be an ISO 8601 date or ms since the epoch` };
  if ((op === "contains" || op === "starts_with" || op === "ends_with") && typeof value !== "string") return { path: ["value"], message: `${op} compares text: \`value\` must be a string` };
  if (op.startsWith("semver_") && (typeof value !== "string" || semver.valid(value) === null)) return { path: ["value"], message: `${op} needs a semantic version such as 1.4.0 (semver.org)` };
  return null;
}

/** true, false, or null for unknown (a missing or mistyped attribute). */
export type Truth = boolean | null;

/**
 * What a predicate may ask of the snapshot it is evaluated in: the variant
 * another flag serves this context (null when it serves none). Passed at
 * evaluation, never captured at compile time, so a delta that changes the
 * other flag is seen at once by every flag depending on it.
 */
export interface EvaluationScope {
  variantOf(flag: string, context: Readonly<Record<string, unknown>>): string | null;
}
export type Predicate = (context: Readonly<Record<string, unknown>>, scope?: EvaluationScope) => Truth;

/** ISO 8601 text or ms since the epoch as ms; null otherwise. */
function dateOf(value: unknown): number | null {
  if (typeof value === "number") return Number.isFinite(value) ? value : null;
  if (typeof value !== "string" || !/^\d{4}-\d{2}-\d{2}/.test(value)) return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

/**
 * A list compiled to one set per type: a number never equals its text ("1"
 * is not 1), as in Flagship and flagd, and an attribute of a type the list
 * does not hold at all is mistyped (unknown), so `not_in` does not match it.
 */
function typedSet(values: readonly Scalar[]): (attribute: unknown) => Truth {
  const strings = new Set<string>();
  const numbers = new Set<number>();
  const booleans = new Set<boolean>();
  for (const v of values) {
    if (typeof v === "string") strings.add(v);
    else if (typeof v === "number") numbers.add(v);
    else booleans.add(v);
  }
  return (a) => {
    if (typeof a === "string") return strings.size > 0 ? strings.has(a) : null;
    if (typeof a === "number") return numbers.size > 0 ? numbers.has(a) : null;
    if (typeof a === "boolean") return booleans.size > 0 ? booleans.has(a) : null;
    return null;
  };
}

function compileClause(clause: Clause, segments: SegmentResolver): Predicate {
  const { attribute, op } = clause;
  const operand = clause.value;
  const read = (context: Readonly<Record<string, unknown>>): unknown => own(context, attribute);
  const strictEquals = (a: unknown): Truth => (a === null || a === undefined || typeof a === "object" ? null : typeof a === typeof operand ? a === operand : null);
  switch (op) {
    case "in_segment":
    case "not_in_segment": {
      // A segment tests the whole context (its own attribute and rules); `attribute` names what it is keyed by, for people.
      const member = segments(operand as string) ?? (() => null);
      const include = op === "in_segment";
      return (c) => {
        const t = member(c);
        return t === null ? null : t === include;
      };
    }
    case "exists":
      return (c) => {
        const a = read(c);
        return a !== undefined && a !== null;
      };
    case "equals":
      return (c) => strictEquals(read(c));
    case "not_equals":
      return (c) => {
        const t = strictEquals(read(c));
        return t === null ? null : !t;
      };
    case "in":
    case "not_in": {
      const member = typedSet(clause.values ?? []);
      const include = op === "in";
      return (c) => {
        const t = member(read(c));
        return t === null ? null : t === include;
      };
    }
    case "gt":
    case "gte":
    case "lt":
    case "lte": {
      const n = operand as number;
      const cmp = comparator(op);
      return (c) => {
        const a = read(c);
        return typeof a === "number" && Number.isFinite(a) ? cmp(a, n) : null;
      };
    }
    case "before":
    case "after": {
      const at = dateOf(operand) as number;
      return (c) => {
        const a = dateOf(read(c));
        return a === null ? null : op === "before" ? a < at : a > at;
      };
    }
    case "contains": {
      const s = operand as string;
      // A list attribute (groups, roles) contains a member; a text attribute a substring.
      return (c) => {
        const a = read(c);
        if (typeof a === "string") return a.includes(s);
        if (Array.isArray(a)) return a.includes(s);
        return null;
      };
    }
    case "starts_with":
    case "ends_with": {
      const s = operand as string;
      return (c) => {
        const a = read(c);
        if (typeof a !== "string") return null;
        return op === "starts_with" ? a.startsWith(s) : a.endsWith(s);
      };
    }
    default: {
      // semver_*: both sides parsed by `semver` (semver.org 2.0.0 precedence); an attribute that is no version is unknown.
      const v = new semver.SemVer(operand as string);
      const cmp = comparator(op.slice("semver_".length) as "eq" | "gt" | "gte" | "lt" | "lte");
      return (c) => {
        const a = versionOf(read(c));
        return a === null ? null : cmp(a.compare(v), 0);
      };
    }
  }
}

/**
 * A context's version text parsed, through a small cache: app versions are
 * few and repeat on every evaluation, and parsing is the clause's whole cost.
 * Bounded, so hostile contexts cannot grow it.
 */
const VERSION_CACHE_SIZE = 512;
const versions = new Map<string, semver.SemVer | null>();
function versionOf(value: unknown): semver.SemVer | null {
  if (typeof value !== "string" || value.length > 256) return null;
  const known = versions.get(value);
  if (known !== undefined) return known;
  const parsed = semver.parse(value);
  if (versions.size >= VERSION_CACHE_SIZE) versions.clear();
  versions.set(value, parsed);
  return parsed;
}

function comparator(op: "eq" | "gt" | "gte" | "lt" | "lte"): (a: number, b: number) => boolean {
  switch (op) {
    case "eq": return (a, b) => a === b;
    case "gt": return (a, b) => a > b;
    case "gte": return (a, b) => a >= b;
    case "lt": return (a, b) => a < b;
    case "lte": return (a, b) => a <= b;
  }
}

/** The segment names a condition refers to, each with its path below the condition. */
export function segmentReferences(condition: Condition, path: (string | number)[] = []): { name: string; path: (string | number)[] }[] {
  if ("all" in condition) return condition.all.flatMap((c, i) => segmentReferences(c, [...path, "all", i]));
  if ("any" in condition) return condition.any.flatMap((c, i) => segmentReferences(c, [...path, "any", i]));
  if ("not" in condition) return segmentReferences(condition.not, [...path, "not"]);
  if ("prerequisite" in condition) return [];
  return (condition.op === "in_segment" || condition.op === "not_in_segment") && typeof condition.value === "string" ? [{ name: condition.value, path: [...path, "value"] }] : [];
}

/** The prerequisites a condition names, each with its path below the condition. */
export function prerequisiteReferences(condition: Condition, path: (string | number)[] = []): { prerequisite: Prerequisite; path: (string | number)[] }[] {
  if ("all" in condition) return condition.all.flatMap((c, i) => prerequisiteReferences(c, [...path, "all", i]));
  if ("any" in condition) return condition.any.flatMap((c, i) => prerequisiteReferences(c, [...path, "any", i]));
  if ("not" in condition) return prerequisiteReferences(condition.not, [...path, "not"]);
  if ("prerequisite" in condition) return [{ prerequisite: condition.prerequisite, path: [...path, "prerequisite"] }];
  return [];
}

/** A prerequisite's test: unknown without a scope, or when the other flag serves nothing. */
export function compilePrerequisite(prerequisite: Prerequisite): Predicate {
  const variants = new Set(prerequisite.variants);
  return (c, scope) => {
    const served = scope ? scope.variantOf(prerequisite.flag, c) : null;
    return served === null ? null : variants.has(served);
  };
}

/** Compiles a parsed condition (its problems already refused) into a predicate; it never throws. */
export function compileCondition(condition: Condition, segments: SegmentResolver = NO_SEGMENTS): Predicate {
  if ("all" in condition) {
    const parts = condition.all.map((c) => compileCondition(c, segments));
    return (c, scope) => {
      let unknown = false;
      for (const p of parts) {
        const t = p(c, scope);
        if (t === false) return false;
        if (t === null) unknown = true;
      }
      return unknown ? null : true;
    };
  }
  if ("any" in condition) {
    const parts = condition.any.map((c) => compileCondition(c, segments));
    return (c, scope) => {
      let unknown = false;
      for (const p of parts) {
        const t = p(c, scope);
        if (t === true) return true;
        if (t === null) unknown = true;
      }
      return unknown ? null : false;
    };
  }
  if ("not" in condition) {
    const inner = compileCondition(condition.not, segments);
    return (c, scope) => {
      const t = inner(c, scope);
      return t === null ? null : !t;
    };
  }
  if ("prerequisite" in condition) return compilePrerequisite(condition.prerequisite);
  return compileClause(condition, segments);
}
