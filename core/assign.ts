/**
 * Assignment: flag + evaluation context → arm, variant, value, reason and
 * metadata. Everything that does not depend on the key is computed once per
 * snapshot by `compileFlag`; `assign` itself only checks scope, hashes the
 * stickiness value and picks a precomputed outcome. It never throws.
 */
import type { OpenFeatureErrorCode } from "./evaluation-outcome";
import { own } from "./dict";
import { bucketOfHash, hashOf, prepareSalt, type Salt } from "./bucket";
import { candidateTest, type CandidateTest } from "./bucketing-modes";
import { replicateOfHash } from "./counters";
import type { ExperimentRef } from "./experiment";
import type { Arm, FlagValue } from "./manifest";
import { servedWeight } from "./rollout";
import type { SnapshotFlag } from "./snapshot";
import { compileScope, inScope, type CompiledScope } from "./scope";
import { compileRules, matchRule, type CompiledRule } from "./targeting";
import { compileSegment, type Segment } from "./segment";
import { compilePrerequisite, prerequisiteReferences, type EvaluationScope, type Predicate, type SegmentResolver } from "./condition";
import type { Dict } from "./dict";
import { compileFlagd, type FlagdEvaluator } from "./flagd/evaluate";
import { compileWaves, regionOf, waveIndexOf, waveObjectName, type CompiledWaves, type EdgeSource } from "./waves";

/** OFREP evaluation reasons Rampart uses. */
export type Reason = "SPLIT" | "STATIC" | "DEFAULT" | "DISABLED" | "TARGETING_MATCH";
export type Metadata = Readonly<Record<string, string | number | boolean>>;
export type EvaluationContext = Readonly<Record<string, unknown>>;

export interface Served {
  readonly ok: true;
  readonly codeDefault?: undefined;
  readonly key: string;
  /** The rollout arm; for a rule's variant that is no arm, baseline (a rule's outcome is never counted: `isRolloutExposure`). */
  readonly arm: Arm;
  readonly variant: string;
  /** The targeting rule that chose the variant; null when the rollout (or the default, or a kill) did. */
  readonly rule: string | null;
  readonly value: FlagValue;
  readonly reason: Reason;
  /** The experiment iteration (`experiment.ts`) when an experiment's split chose the variant: then the edge counts it for the experiment. */
  readonly experiment?: ExperimentRef;
  /** The key's bucket in [0, 10000) when the stage split traffic; null otherwise. */
  readonly bucket: number | null;
  /** The key's replicate group of users (see `counters.ts`) when the stage split traffic; null otherwise (`unitReplicate` finds it). */
  readonly replicate: number | null;
  /** arm, status, stage, weight, generation, configVersion, shadow/forced when true, pin.NAME. */
  readonly metadata: Metadata;
}

export interface NotServed {
  readonly ok: false;
  readonly key: string;
  /** GENERAL: a flagd definition's targeting failed, or named a variant the flag does not have (flagd answers the same). */
  readonly errorCode: Extract<OpenFeatureErrorCode, "TARGETING_KEY_MISSING" | "INVALID_CONTEXT" | "GENERAL">;
  readonly message: string;
}

/**
 * flagd's "use the code default" (OFREP's value-less success): no value or
 * variant, so the caller keeps its own default, with the reason. A disabled
 * flagd definition answers DISABLED; one without a default variant whose
 * targeting picks none answers DEFAULT.
 */
export interface CodeDefault {
  readonly ok: true;
  readonly codeDefault: true;
  readonly key: string;
  readonly reason: "DEFAULT" | "DISABLED";
  readonly metadata: Metadata;
}

export type Assignment = Served | CodeDefault | NotServed;

export interface CompiledFlag {
  readonly key: string;
  /** The object its counters go to: the flag's own, or its region wave's (`waves.ts`). */
  readonly counterKey: string;
  /** Region waves: each wave compiled on its own (this flag is wave 1); null without waves. */
  readonly waves: { readonly rule: CompiledWaves; readonly flags: readonly CompiledFlag[] } | null;
  readonly source: SnapshotFlag;
  readonly stickiness: string;
  readonly salt: Salt;
  /** A vendor bucketing rule (`bucketing-modes.ts`); null for Rampart's own, run inline. */
  readonly candidateTest: CandidateTest | null;
  readonly scope: CompiledScope | null;
  /** Targeting rules in order, first match wins (`targeting.ts`). */
  readonly rules: readonly CompiledRule[];
  /** Whether evaluating it asks other flags (prerequisites): only then does a caller build a scope. */
  readonly needsScope: boolean;
  /** Flags this one requires, each with the outcome served when it is not met. */
  readonly prerequisites: readonly { readonly met: Predicate; readonly unmet: Served }[];
  /** A flag stored from a flagd definition: its own evaluator (`flagd/evaluate.ts`) decides everything but a kill; null otherwise. */
  readonly flagd: FlagdEvaluator | null;
  /** What contexts no rule matches get instead of the rollout (a targeting flag's default); null: the rollout. */
  readonly fallthrough: Served | null;
  readonly weightBp: number;
  /** Outcomes that do not depend on the key, picked by `assign`. */
  /** A kill's outcome: the baseline, a targeting flag's default variant, a flagd definition's code default (DISABLED). */
  readonly disabled: Served | CodeDefault;
  readonly outOfScope: Served;
  readonly fixed: Served | null;
  readonly split: { readonly baseline: Served; readonly candidate: Served };
  readonly missingKey: NotServed;
  readonly invalidKey: NotServed;
}

/** The entry's segments, each compiled once (a 10,000-key list becomes one set) and shared by every rule using it. */
function segmentResolver(segments: Readonly<Dict<Segment>> | undefined): SegmentResolver {
  const compiled = new Map<string, Predicate>();
  return (name) => {
    const known = compiled.get(name);
    if (known) return known;
    const segment = segments ? own(segments, name) : undefined;
    if (segment === undefined) return undefined;
    const predicate = compileSegment(segment);
    compiled.set(name, predicate);
    return predicate;
  };
}

/** Precomputes everything about a flag that is the same for every key; a flag with region waves, each wave. */
export function compileFlag(flag: SnapshotFlag, configVersion: number): CompiledFlag {
  if (!flag.waves) return compileWave(flag, configVersion, 1);
  const { list } = flag.waves;
  const flags = list.map((wave, i) => compileWave({ ...flag, state: wave.state }, configVersion, i + 1));
  const first = flags[0] as CompiledFlag;
  return { ...first, waves: { rule: compileWaves({ ...flag.waves, order: list.map((w) => w.regions) }), flags } };
}

/** The compiled flag of the region wave a request belongs to (the flag itself without waves). */
export function inWave(flag: CompiledFlag, context: EvaluationContext, edge: EdgeSource): CompiledFlag {
  if (flag.waves === null) return flag;
  return flag.waves.flags[waveIndexOf(flag.waves.rule, regionOf(flag.waves.rule, context, edge))] ?? flag;
}

function compileWave(flag: SnapshotFlag, configVersion: number, wave: number): CompiledFlag {
  const { state } = flag;
  const waved = flag.waves !== undefined;
  const { weightBp, shadow } = servedWeight(state, flag.stages);
  const baseMeta = (arm: Arm, extra: Record<string, boolean>): Metadata => {
    const meta: Record<string, string | number | boolean> = {
      arm,
      status: state.status,
      stage: state.stageIndex,
      weight: weightBp / 100,
      generation: state.generation,
      configVersion,
      // What an outcome event echoes (`assignment`) so it is credited to the exposure that caused it.
      assignment: assignmentToken(state.generation, state.stageIndex, arm, waved ? wave : 1),
      // A client that evaluates early and shows later sends the exposure itself (the providers in sdk/ do).
      ...(flag.exposures === "events" ? { exposures: "events" } : {}),
      ...(waved ? { wave } : {}),
      ...extra,
    };
    for (const [name, value] of Object.entries(flag.pins[arm] ?? {})) meta[`pin.${name}`] = value;
    return Object.freeze(meta);
  };
  const outcome = (arm: Arm, reason: Reason, extra: Record<string, boolean> = {}): Served =>
    Object.freeze({
      ok: true as const,
      key: flag.key,
      arm,
      variant: arm,
      rule: null,
      value: own(flag.variants, arm) as FlagValue,
      reason,
      bucket: null,
      replicate: null,
      metadata: baseMeta(arm, extra),
    });
  // A variant served by a rule or the default: no arm, no assignment token (it is no exposure of the rollout).
  const variantOutcome = (variant: string, reason: Reason, rule: string | null): Served =>
    Object.freeze({
      ok: true as const,
      key: flag.key,
      arm: variant === "candidate" ? "candidate" : "baseline",
      variant,
      rule,
      value: own(flag.variants, variant) as FlagValue,
      reason,
      bucket: null,
      replicate: null,
      metadata: Object.freeze({ ...(rule !== null ? { rule } : {}), variant, configVersion, ...(flag.exposures === "events" ? { exposures: "events" } : {}), ...(waved ? { wave } : {}) }),
    });
  const hasBaseline = own(flag.variants, "baseline") !== undefined;
  const defaultVariant = flag.defaultVariant ?? "baseline";
  const flagd = flag.flagd ? compileFlagd(flag.key, flag.flagd, flag.variants as Dict<FlagValue>, flag.defaultVariant, configVersion) : null;

  let fixed: Served | null = null;
  if (state.forced) fixed = outcome(state.forced, "STATIC", { forced: true });
  else if (weightBp <= 0) fixed = outcome("baseline", "STATIC", shadow ? { shadow: true } : {});
  else if (weightBp >= 10_000) fixed = outcome("candidate", "STATIC");

  const notServed = (errorCode: NotServed["errorCode"], message: string): NotServed =>
    Object.freeze({ ok: false as const, key: flag.key, errorCode, message });

  return {
    key: flag.key,
    counterKey: waveObjectName(flag.key, wave),
    waves: null,
    source: flag,
    stickiness: flag.stickiness,
    salt: prepareSalt(flag.salt),
    candidateTest: flag.bucketing ? candidateTest(flag.key, flag.bucketing) : null,
    scope: flag.scope ? compileScope(flag.scope) : null,
    weightBp,
    rules: compileRules(flag.rules ?? [], variantOutcome, segmentResolver(flag.segments)),
    needsScope: (flag.prerequisites ?? []).length > 0 || (flag.rules ?? []).some((r) => r.when !== undefined && prerequisiteReferences(r.when).length > 0),
    prerequisites: (flag.prerequisites ?? []).map((p) => {
      const base = variantOutcome(defaultVariant, "DEFAULT", null);
      return { met: compilePrerequisite(p), unmet: Object.freeze({ ...base, metadata: Object.freeze({ ...base.metadata, prerequisite: p.flag }) }) };
    }),
    flagd: flagd?.evaluate ?? null,
    fallthrough: flag.fallthrough === "default" ? variantOutcome(defaultVariant, "DEFAULT", null) : null,
    // A kill goes back to the baseline; a flag without one (targeting) to its default; a flagd definition to the caller's default, as flagd's DISABLED.
    disabled: flagd?.disabled ?? (hasBaseline ? outcome("baseline", "DISABLED") : variantOutcome(defaultVariant, "DISABLED", null)),
    outOfScope: defaultVariant === "baseline" ? outcome("baseline", "DEFAULT") : variantOutcome(defaultVariant, "DEFAULT", null),
    fixed,
    split: { baseline: outcome("baseline", "SPLIT"), candidate: outcome("candidate", "SPLIT") },
    missingKey: notServed(
      "TARGETING_KEY_MISSING",
      `flag "${flag.key}" splits traffic and needs the context attribute "${flag.stickiness}"`,
    ),
    invalidKey: notServed("INVALID_CONTEXT", `context attribute "${flag.stickiness}" must be a string or a number`),
  };
}

const JUDGED_STATUSES = new Set(["shadow", "ramping", "paused", "completed"]);

/**
 * Whether a served value is an exposure of the rollout: assigned by the
 * stage (split, or the whole stage), not forced, killed or out of scope.
 * Only these are counted, so the arms compare like with like.
 */
export function isRolloutExposure(flag: CompiledFlag, served: Served): boolean {
  if (served.rule !== null) return false;
  if (served.reason === "SPLIT") return true;
  return served.reason === "STATIC" && flag.source.state.forced === null && JUDGED_STATUSES.has(flag.source.state.status);
}

/**
 * Assigns a context to an arm (or a rule's variant) of a compiled flag.
 * `scope` answers prerequisites from the snapshot being served; without it
 * a prerequisite is unknown, so not met. `nowMs` is what a flagd
 * definition sees as `$flagd.timestamp` (callers pass the request's time).
 */
export function assign(flag: CompiledFlag, context: EvaluationContext, scope?: EvaluationScope, nowMs = 0): Assignment {
  if (flag.source.state.status === "killed") return flag.disabled;
  if (flag.flagd !== null) return flag.flagd(context, nowMs);
  if (flag.prerequisites.length > 0) {
    for (const prerequisite of flag.prerequisites) if (prerequisite.met(context, scope) !== true) return prerequisite.unmet;
  }
  if (flag.rules.length > 0) {
    const ruled = matchRule(flag, context, scope);
    if (ruled !== null) return ruled;
  }
  if (flag.fallthrough !== null) return flag.fallthrough;
  return assignRollout(flag, context);
}

/** The stickiness value of a context for bucketing, or the outcome that refuses it (missing, empty, or not text or a number). */
export function bucketingValue(flag: Pick<CompiledFlag, "stickiness" | "missingKey" | "invalidKey">, context: EvaluationContext): string | NotServed {
  const raw = own(context, flag.stickiness);
  if (typeof raw === "string") return raw === "" ? flag.missingKey : raw;
  if (typeof raw === "number" && Number.isFinite(raw)) return String(raw);
  if (raw === undefined || raw === null) return flag.missingKey;
  return flag.invalidKey;
}

/** The rollout's part: scope, then a fixed outcome of the stage, else the split by the stage's weight. */
export function assignRollout(flag: CompiledFlag, context: EvaluationContext): Assignment {
  if (flag.scope !== null && !inScope(flag.scope, context)) return flag.outOfScope;
  if (flag.fixed !== null) return flag.fixed;
  const stickinessValue = bucketingValue(flag, context);
  if (typeof stickinessValue !== "string") return stickinessValue;
  const hash = hashOf(flag.salt, stickinessValue);
  const bucket = bucketOfHash(hash);
  const candidate = flag.candidateTest === null ? bucket < flag.weightBp : flag.candidateTest(stickinessValue, flag.weightBp);
  const template = candidate ? flag.split.candidate : flag.split.baseline;
  return {
    ok: true,
    key: template.key,
    arm: template.arm,
    variant: template.variant,
    rule: null,
    value: template.value,
    reason: "SPLIT",
    bucket,
    replicate: replicateOfHash(hash),
    metadata: template.metadata,
  };
}

/** The stickiness value of a context: the flag's stickiness attribute, else `targetingKey`; null when neither is usable. */
export function stickinessValueOf(flag: Pick<CompiledFlag, "stickiness">, context: EvaluationContext): string | null {
  for (const name of [flag.stickiness, "targetingKey"]) {
    const raw = own(context, name);
    if (typeof raw === "string" && raw !== "") return raw;
    if (typeof raw === "number" && Number.isFinite(raw)) return String(raw);
  }
  return null;
}

/** The replicate group of the unit behind a context (null without a stickiness value: then any group will do). */
export function unitReplicate(flag: Pick<CompiledFlag, "stickiness" | "salt">, context: EvaluationContext): number | null {
  const value = stickinessValueOf(flag, context);
  return value === null ? null : replicateOfHash(hashOf(flag.salt, value));
}

/** The token evaluation metadata carries as `assignment` and events echo: "generation.stage.arm" (arm b or c), with ".wN" for region wave N > 1. */
export function assignmentToken(generation: number, stage: number, arm: Arm, wave = 1): string {
  return `${generation}.${stage}.${arm === "candidate" ? "c" : "b"}${wave > 1 ? `.w${wave}` : ""}`;
}

/** Parses an assignment token; null when malformed. A token without a wave is wave 1's. */
export function parseAssignmentToken(token: string): { generation: number; stage: number; arm: Arm; wave: number } | null {
  const match = /^([1-9][0-9]{0,8})\.([0-9]{1,3})\.([bc])(?:\.w([2-9]|1[0-6]))?$/.exec(token);
  if (!match) return null;
  return { generation: Number(match[1]), stage: Number(match[2]), arm: match[3] === "c" ? "candidate" : "baseline", wave: match[4] === undefined ? 1 : Number(match[4]) };
}
