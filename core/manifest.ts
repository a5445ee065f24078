/**
 * The flag spec: the zod schema is the source of truth, and every type of a
 * flag is inferred from it. `FlagSpecSchema` parses what an operator writes
 * (JSON or YAML, already decoded) into a `FlagSpec` whose durations are
 * milliseconds and whose amounts are numbers in the unit their gate compares in.
 */
import { z } from "zod";
import { BucketingSchema, WHOLE_PERCENT_MODES } from "./bucketing-modes";
import { guardRollout, GuardSpecSchema } from "./guard-spec";
import {
  AbortRuleSchema,
  BUILT_IN_METRICS,
  DurationSchema,
  GateSchema,
  MetricDefinitionSchema,
  MetricNameSchema,
} from "./gate-spec";
import { RouteSchema } from "./route-spec";
import { WavesSchema, wavesProblems } from "./waves";
import { keyedDictSchema, own } from "./dict";
import { PrerequisiteSchema } from "./condition";
import { MAX_RULES, MAX_VARIANTS, rulesProblems, TargetingRuleSchema, VariantNameSchema } from "./targeting-rules";
import { FlagdBlockSchema } from "./flagd/definition";
import { SegmentSchema } from "./segment";

/** Segments one manifest may write. */
export const MAX_MANIFEST_SEGMENTS = 100;

/** OFREP clients do not URL-encode keys, so keys stay within this alphabet. */
export const FLAG_KEY_PATTERN = /^[A-Za-z0-9._-]{1,128}$/;
export const FlagKeySchema = z
  .string()
  .regex(FLAG_KEY_PATTERN, "flag keys use only A-Z a-z 0-9 . _ - (1–128 characters)");

export const FLAG_TYPES = ["boolean", "string", "number", "object"] as const;
export type FlagType = (typeof FLAG_TYPES)[number];

export const ARMS = ["baseline", "candidate"] as const;
export const ArmSchema = z.enum(ARMS);
export type Arm = z.infer<typeof ArmSchema>;

export const JsonValueSchema: z.ZodType<JsonValue> = z.lazy(() =>
  z.union([z.string(), z.number(), z.boolean(), z.null(), z.array(JsonValueSchema), z.record(z.string(), JsonValueSchema)]),
);
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };
export type FlagValue = string | number | boolean | { [key: string]: JsonValue };

const PinNameSchema = z.string().regex(/^[A-Z][A-Z0-9_]{0,63}$/, "pin names are UPPER_SNAKE_CASE");
const PinsSchema = z.record(
  PinNameSchema,
  z.union([z.string(), z.number(), z.boolean()]).transform((v) => String(v)),
);

const ScopeRuleSchema = z.strictObject({
  attribute: z.string().min(1).max(128),
  op: z.enum(["in", "not_in"]),
  values: z.array(z.union([z.string(), z.number(), z.boolean()])).min(1).max(1000),
});

const ScopeListSchema = z.array(z.string().min(1).max(256)).min(1).max(1000);

export const ScopeSchema = z.strictObject({
  /** Matched against the context attribute `tenant`; `all` or `*` means any tenant. */
  tenants: ScopeListSchema.optional(),
  /** Matched against the context attribute `region`; `all` or `*` means any region. */
  regions: ScopeListSchema.optional(),
  rules: z.array(ScopeRuleSchema).max(32).optional(),
});
export type Scope = z.infer<typeof ScopeSchema>;

export const StageSchema = z.strictObject({
  weight: z
    .number()
    .min(0, "must be 0..100")
    .max(100, "must be 0..100")
    .refine((w) => Number.isInteger(Math.round(w * 100)) && Math.abs(w * 100 - Math.round(w * 100)) < 1e-9, "at most two decimals (basis points)"),
  shadow: z.boolean().default(false),
  hold: DurationSchema.optional(),
  minSamples: z.int().min(1).optional(),
  /**
   * The stage is left only once approved: `required` (an operator approves
   * with POST /admin/flags/{key}/approve or `rampart approve`), or an
   * external check the FlagDO asks (`{ check: url }`). A rejection rolls
   * back, or holds with `onReject: hold`. Gates still act while it waits.
   */
  approval: z.union([
    z.literal("required"),
    z.strictObject({
      check: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).optional(),
      onReject: z.enum(["rollback", "hold"]).default("rollback"),
      /** Four eyes: the approver must be someone other than the spec's author and/or whoever started the stage. */
      distinctFrom: z.array(z.enum(["author", "starter"])).min(1).max(2).optional(),
    }),
  ]).optional(),
});
export type Stage = z.infer<typeof StageSchema>;

export const RolloutSchema = z.strictObject({
  window: DurationSchema.default(3_600_000),
  healthyWindowsToPromote: z.int().min(1).max(1000).default(2),
  /**
   * `evidence` (the default): a stage advances only when every judged gate's
   * always-valid interval rules out its rollback threshold. `on_no_harm`:
   * when no gate shows a breach — faster, and weaker: a candidate too little
   * observed to show harm is promoted.
   */
  promote: z.enum(["evidence", "on_no_harm"]).default("evidence"),
  stages: z.array(StageSchema).min(1).max(20),
});
export type Rollout = z.infer<typeof RolloutSchema>;

/** Sampled exposures written to the deployment's exposure log (R2); off unless `rate` > 0. */
export const ExposureLogSpecSchema = z.strictObject({
  /** Share of served exposures logged, 0..1. */
  rate: z.number().min(0, "must be 0..1").max(1, "must be 0..1"),
});

/**
 * What a flag is. `rollout`: a staged, gated move from baseline to candidate.
 * `kill_switch`: on (the candidate's value) until an operator kills it (the
 * baseline's value), no stages, no gates. `guard`: the candidate's value is
 * the primary, the baseline's the fallback the cron switches to when the
 * guard metric leaves its bound (`guard.ts`). `targeting`: any number of
 * variants served by `rules` and `defaultVariant` alone, no rollout; a kill
 * serves the default variant.
 */
export const FLAG_KINDS = ["rollout", "kill_switch", "guard", "targeting"] as const;
export type FlagKind = (typeof FLAG_KINDS)[number];

/** A kill switch's rollout: one stage at 100%, so it starts completed (on) and only kill / unkill move it. */
const KILL_SWITCH_ROLLOUT: Rollout = { window: 3_600_000, healthyWindowsToPromote: 2, promote: "evidence", stages: [{ weight: 100, shadow: false }] };

const FlagSpecObjectSchema = z.strictObject({
  key: FlagKeySchema,
  kind: z.enum(FLAG_KINDS).default("rollout"),
  description: z.string().max(2000).optional(),
  type: z.enum(FLAG_TYPES),
  /**
   * The values served, by name. A rollout, kill switch or guard moves
   * between `baseline` and `candidate`, so it names both; other variants are
   * served by `rules`.
   */
  variants: keyedDictSchema(VariantNameSchema, JsonValueSchema).refine((v) => Object.keys(v).length >= 1 && Object.keys(v).length <= MAX_VARIANTS, `1 to ${MAX_VARIANTS} variants`),
  /** Served when no rule matches a targeting flag, and out of a rollout's scope (default: baseline). */
  defaultVariant: VariantNameSchema.optional(),
  /** Ordered targeting rules, first match wins; contexts no rule matches go to the rollout (a targeting flag: to `defaultVariant`). */
  rules: z.array(TargetingRuleSchema).max(MAX_RULES).default([]),
  /** Other flags this one requires, for the same context; unmet, the flag serves `defaultVariant` (reason DEFAULT, metadata.prerequisite). */
  prerequisites: z.array(PrerequisiteSchema).max(16).default([]),
  pins: z.strictObject({ baseline: PinsSchema.optional(), candidate: PinsSchema.optional() }).default({}),
  stickiness: z.string().min(1).max(128).default("targetingKey"),
  salt: z.string().max(256).optional(),
  /** How users are split: Rampart's rule (flagd), or the rule of the system a rollout is moved from (`docs/bucketing.md`). */
  bucketing: BucketingSchema.default({ mode: "flagd", candidateFirst: true }),
  scope: ScopeSchema.optional(),
  exposures: z.enum(["served", "events"]).default("served"),
  exposureLog: ExposureLogSpecSchema.optional(),
  /** Counter objects served exposures are spread over (a hot flag); the cron merges them. */
  counterShards: z.int().min(1).max(16).default(1),
  /** Required for a rollout; a kill switch has none. */
  rollout: RolloutSchema.optional(),
  metrics: z.record(MetricNameSchema, MetricDefinitionSchema).default({}),
  gates: z.array(GateSchema).max(32).default([]),
  abort: z.array(AbortRuleSchema).max(16).default([]),
  /** Receivers of warn / promote / demote / rollback / kill notifications (besides WEBHOOK_URLS). */
  webhooks: z.array(z.url({ protocol: /^https?$/, error: "must be an http(s) URL" })).max(5).default([]),
  /** Edge routing: proxy matching requests to the assigned arm's origin. */
  route: RouteSchema.optional(),
  /** A guard's bound and return rule (kind: guard only). */
  guard: GuardSpecSchema.optional(),
  /** Region waves: the rollout advances region by region, each wave judged on its own traffic (`core/waves.ts`). */
  waves: WavesSchema.optional(),
  /** A flagd definition's state, JsonLogic targeting and metadata, evaluated as flagd does (kind: targeting, instead of `rules`; `core/flagd/`). */
  flagd: FlagdBlockSchema.optional(),
});

/** A parsed, validated flag spec. */
export const FlagSpecSchema = FlagSpecObjectSchema.superRefine((spec, ctx) => {
  if (spec.kind !== "rollout") {
    const what = spec.kind === "kill_switch" ? "a kill switch" : spec.kind === "guard" ? "a guard" : "a targeting flag";
    const why = spec.kind === "kill_switch" ? "it is on until killed" : spec.kind === "guard" ? "the cron switches it by its `guard` bound" : "its rules and default variant serve it";
    for (const field of ["rollout", "gates", "abort", "route", "waves"] as const) {
      const given = spec[field];
      if (given !== undefined && (!Array.isArray(given) || given.length > 0)) {
        ctx.addIssue({ code: "custom", path: [field], message: `${what} has no ${field === "rollout" ? "stages" : field}: ${why}; use kind: rollout for a staged rollout` });
      }
    }
    if (spec.kind === "guard" && spec.guard === undefined) {
      ctx.addIssue({ code: "custom", path: ["guard"], message: "a guard needs `guard: { when: { metric, above | below }, … }`; it falls back to the baseline's value" });
    }
  }
  if (spec.waves) for (const problem of wavesProblems(spec.waves)) ctx.addIssue({ code: "custom", path: ["waves", ...problem.path], message: problem.message });
  if (spec.kind !== "guard" && spec.guard !== undefined) {
    ctx.addIssue({ code: "custom", path: ["guard"], message: "`guard` belongs to kind: guard" });
  }
  if (spec.kind === "rollout" && spec.rollout === undefined) {
    ctx.addIssue({ code: "custom", path: ["rollout"], message: "a rollout needs `rollout: { stages: [...] }`" });
    return;
  }
  checkVariants(spec, ctx);
}).transform((spec) => ({ ...spec, rollout: spec.rollout ?? (spec.guard ? guardRollout(spec.guard) : KILL_SWITCH_ROLLOUT) })).superRefine((spec, ctx) => {
  // A guard's stages are made here (primary, then fallback with its probe), not written.
  if (spec.kind !== "guard") checkStages(spec.rollout.stages, ctx);
  checkBucketing(spec, ctx);
  const known = new Set<string>([...BUILT_IN_METRICS, ...Object.keys(spec.metrics)]);
  for (const name of Object.keys(spec.metrics)) {
    if ((BUILT_IN_METRICS as readonly string[]).includes(name)) {
      ctx.addIssue({ code: "custom", path: ["metrics", name], message: `${name} is built in; pick another name` });
    }
  }
  const unknownMetric = (metric: string) =>
    `unknown metric "${metric}": define it under \`metrics\` or use a built-in (${BUILT_IN_METRICS.join(", ")})`;
  spec.gates.forEach((gate, i) => {
    // A gate on an outside series names its metric for people (the PromQL says what it is).
    if (gate.source) {
      if (!/^[A-Za-z][A-Za-z0-9_.:-]{0,63}$/.test(gate.metric)) ctx.addIssue({ code: "custom", path: ["gates", i, "metric"], message: "name the series: letters, digits, _ . : - (1–64 characters, a letter first)" });
      return;
    }
    if (!known.has(gate.metric)) ctx.addIssue({ code: "custom", path: ["gates", i, "metric"], message: unknownMetric(gate.metric) });
    if (gate.metric === "shadow_agreement" && gate.compare !== "floor" && gate.compare !== "ceiling") {
      ctx.addIssue({ code: "custom", path: ["gates", i, "compare"], message: "shadow_agreement is a level of the candidate alone: use `compare: floor`" });
    }
  });
  spec.rules.forEach((rule, i) => {
    const serve = rule.serve;
    if (serve === "rollout" || !("split" in serve)) return;
    serve.experiment?.metrics?.forEach((m, j) => {
      const path = ["rules", i, "serve", "experiment", "metrics", j, "metric"];
      if (!known.has(m.metric)) ctx.addIssue({ code: "custom", path, message: unknownMetric(m.metric) });
      else if (m.metric === "shadow_agreement") ctx.addIssue({ code: "custom", path, message: "shadow_agreement is a rollout's shadow comparison; an experiment compares metrics of served variants" });
    });
  });
  spec.abort.forEach((rule, i) => {
    if (!known.has(rule.metric)) ctx.addIssue({ code: "custom", path: ["abort", i, "metric"], message: unknownMetric(rule.metric) });
  });
  if (spec.guard?.when.soft) ctx.addIssue({ code: "custom", path: ["guard", "when", "soft"], message: "a guard's bound switches it; a soft rule only notifies: put soft rules under `abort`" });
  if (spec.guard && !known.has(spec.guard.when.metric)) ctx.addIssue({ code: "custom", path: ["guard", "when", "metric"], message: unknownMetric(spec.guard.when.metric) });
});
export type FlagSpec = z.infer<typeof FlagSpecSchema>;
/** What an operator writes, before units are parsed. */
export type FlagSpecInput = z.input<typeof FlagSpecSchema>;

/** Every variant of the flag's type; a rollout's two arms named; the default and every rule's variants known. */
function checkVariants(spec: z.output<typeof FlagSpecObjectSchema>, ctx: z.RefinementCtx): void {
  for (const [name, value] of Object.entries(spec.variants)) {
    const problem = valueTypeProblem(spec.type, value);
    if (problem) ctx.addIssue({ code: "custom", path: ["variants", name], message: problem });
  }
  const hasVariant = (name: string) => own(spec.variants, name) !== undefined;
  if (spec.kind !== "targeting") {
    for (const arm of ARMS) {
      if (!hasVariant(arm)) ctx.addIssue({ code: "custom", path: ["variants", arm], message: `a ${spec.kind === "rollout" ? "rollout" : spec.kind === "guard" ? "guard" : "kill switch"} moves between baseline and candidate: name both under \`variants\`` });
    }
  }
  if (spec.kind === "targeting" && spec.scope !== undefined) {
    ctx.addIssue({ code: "custom", path: ["scope"], message: "a targeting flag has no rollout to scope: write the condition as a rule" });
  }
  if (spec.flagd !== undefined) {
    if (spec.kind !== "targeting") ctx.addIssue({ code: "custom", path: ["flagd"], message: "a flagd definition is kind: targeting (it has no rollout)" });
    for (const field of ["rules", "prerequisites"] as const) {
      if (spec[field].length > 0) ctx.addIssue({ code: "custom", path: [field], message: `a flagd definition's targeting decides alone: write ${field} in its JsonLogic, or drop \`flagd\`` });
    }
  } else if (spec.kind === "targeting" && spec.defaultVariant === undefined) {
    ctx.addIssue({ code: "custom", path: ["defaultVariant"], message: "a targeting flag needs `defaultVariant`: the variant served when no rule matches" });
  }
  if (spec.defaultVariant !== undefined && !hasVariant(spec.defaultVariant)) {
    ctx.addIssue({ code: "custom", path: ["defaultVariant"], message: `unknown variant "${spec.defaultVariant}": it must be one of the flag's \`variants\`` });
  }
  for (const problem of rulesProblems(spec.rules, hasVariant, spec.kind !== "targeting")) ctx.addIssue({ code: "custom", path: ["rules", ...problem.path], message: problem.message });
  if (spec.route && spec.rules.some((r) => r.serve !== "rollout" && ("variant" in r.serve ? !isArm(r.serve.variant) : r.serve.split.some((p) => !isArm(p.variant))))) {
    ctx.addIssue({ code: "custom", path: ["rules"], message: "a routed flag has one origin per arm: its rules serve only baseline or candidate" });
  }
}

function isArm(name: string): name is Arm {
  return name === "baseline" || name === "candidate";
}

function valueTypeProblem(type: FlagType, value: JsonValue): string | null {
  if (type === "object") {
    return value !== null && typeof value === "object" && !Array.isArray(value) ? null : "must be an object (type: object)";
  }
  if (type === "number" && typeof value === "number") return Number.isFinite(value) ? null : "must be a finite number";
  return typeof value === type ? null : `must be a ${type} (type: ${type})`;
}

/** A vendor rule must be reproducible: whole percents where it knows only those, LaunchDarkly's salt given. */
function checkBucketing(spec: Pick<FlagSpec, "bucketing" | "rollout">, ctx: z.RefinementCtx): void {
  const { mode } = spec.bucketing;
  if (WHOLE_PERCENT_MODES.has(mode)) {
    spec.rollout.stages.forEach((stage, i) => {
      if (!Number.isInteger(stage.weight)) ctx.addIssue({ code: "custom", path: ["rollout", "stages", i, "weight"], message: `bucketing mode ${mode} splits by whole percents: use an integer weight` });
    });
  }
  if (mode === "launchdarkly" && spec.bucketing.seed === undefined) {
    ctx.addIssue({ code: "custom", path: ["bucketing", "seed"], message: "launchdarkly mode needs the LaunchDarkly flag's salt as `seed` (it is in the flag's JSON)" });
  }
  if (mode !== "launchdarkly" && (spec.bucketing.flagKey !== undefined || !spec.bucketing.candidateFirst)) {
    ctx.addIssue({ code: "custom", path: ["bucketing"], message: "`flagKey` and `candidateFirst` apply to launchdarkly mode only" });
  }
}

/** A rollout may open with one shadow stage, then climbs strictly and ends at 100%. */
function checkStages(stages: readonly Stage[], ctx: z.RefinementCtx): void {
  stages.forEach((stage, i) => {
    const path = ["rollout", "stages", i];
    if (stage.shadow && i !== 0) {
      ctx.addIssue({ code: "custom", path: [...path, "shadow"], message: "only the first stage can be a shadow stage" });
    }
    if (stage.shadow && stage.weight !== 0) {
      ctx.addIssue({ code: "custom", path: [...path, "weight"], message: "a shadow stage serves the baseline to everyone: its weight must be 0" });
    }
    if (!stage.shadow && stage.weight === 0) {
      ctx.addIssue({ code: "custom", path: [...path, "weight"], message: "a weight-0 stage must be a shadow stage (shadow: true)" });
    }
    const previous = stages[i - 1];
    if (previous && stage.weight <= previous.weight) {
      ctx.addIssue({ code: "custom", path: [...path, "weight"], message: `must be above the previous stage's ${previous.weight}` });
    }
  });
  const last = stages[stages.length - 1];
  if (last && last.weight !== 100) {
    ctx.addIssue({ code: "custom", path: ["rollout", "stages", stages.length - 1, "weight"], message: "the last stage must be 100: a rollout ends with everyone in scope on the candidate" });
  }
}

/** A multi-flag manifest: `flags: [...]`, and the segments their rules use (`segments: [...]`, written first). */
export const ManifestSchema = z
  .strictObject({ flags: z.array(FlagSpecSchema).max(1000), segments: z.array(SegmentSchema).max(MAX_MANIFEST_SEGMENTS).default([]) })
  .superRefine((manifest, ctx) => {
    const names = new Map<string, number>();
    manifest.segments.forEach((segment, i) => {
      const first = names.get(segment.name);
      if (first !== undefined) ctx.addIssue({ code: "custom", path: ["segments", i, "name"], message: `duplicate segment "${segment.name}" (also segments[${first}])` });
      else names.set(segment.name, i);
    });
    const seen = new Map<string, number>();
    manifest.flags.forEach((flag, i) => {
      const first = seen.get(flag.key);
      if (first !== undefined) {
        ctx.addIssue({ code: "custom", path: ["flags", i, "key"], message: `duplicate key "${flag.key}" (also flags[${first}])` });
      } else seen.set(flag.key, i);
    });
  });
export type Manifest = z.infer<typeof ManifestSchema>;

/** The salt that bucketing hashes with: the flag key unless the spec shares one on purpose. */
export function saltOf(spec: Pick<FlagSpec, "key" | "salt">): string {
  return spec.salt ?? spec.key;
}
