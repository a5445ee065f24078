/**
 * The published snapshot: what every edge needs to evaluate every flag, and
 * nothing more. The RegistryDO composes it from specs and reported rollout
 * states; edges parse it once per version and compile it for `assign()`.
 */
import { z } from "zod";
import { dictSchema } from "./dict";
import { PrerequisiteSchema } from "./condition";
import { ruleSegmentReferences, TargetingRuleSchema } from "./targeting-rules";
import { SegmentSchema, type Segment } from "./segment";
import { BucketingSchema } from "./bucketing-modes";
import { ExposureLogSpecSchema, FLAG_TYPES, FlagKeySchema, ScopeSchema, type FlagSpec } from "./manifest";
import { RouteSchema } from "./route-spec";
import { FlagdBlockSchema } from "./flagd/definition";
import { RolloutStateSchema, type RolloutState } from "./rollout";
import { notStartedWave, WavesObjectSchema } from "./waves";

const JsonSchema = z.json();

export const SnapshotFlagSchema = z.strictObject({
  key: FlagKeySchema,
  type: z.enum(FLAG_TYPES),
  /** Every variant by name (a two-arm flag's entry holds exactly baseline and candidate, as before rules existed). */
  variants: dictSchema(JsonSchema),
  /** The targeting rules, first match wins (absent: none, every context goes to the rollout). */
  rules: z.array(TargetingRuleSchema).optional(),
  /** Served out of the rollout's scope, and by a kill when the flag has no baseline (absent: baseline). */
  defaultVariant: z.string().optional(),
  /** A targeting flag: contexts no rule matches get `defaultVariant` (absent: they go to the rollout). */
  fallthrough: z.literal("default").optional(),
  /** Flags this one requires (absent: none). */
  prerequisites: z.array(PrerequisiteSchema).optional(),
  /** A flagd definition's state, targeting and metadata (absent: not one; `flagd/evaluate.ts`). */
  flagd: FlagdBlockSchema.optional(),
  /** The segments the rules refer to, as they are now (absent: none); a segment change republishes this entry. */
  segments: dictSchema(SegmentSchema).optional(),
  pins: z.strictObject({
    baseline: z.record(z.string(), z.string()).optional(),
    candidate: z.record(z.string(), z.string()).optional(),
  }),
  stickiness: z.string(),
  salt: z.string(),
  /** Absent for the default (flagd) rule, and in snapshots written before modes existed. */
  bucketing: BucketingSchema.optional(),
  scope: ScopeSchema.optional(),
  exposures: z.enum(["served", "events"]),
  /** Absent when the flag logs no exposures (the default). */
  exposureLog: ExposureLogSpecSchema.optional(),
  counterShards: z.int().min(1).default(1),
  route: RouteSchema.optional(),
  stages: z.array(z.strictObject({ weight: z.number(), shadow: z.boolean() })),
  /** Wave 1's state (the flag's own object); with waves, each wave's is under `waves.list`. */
  state: RolloutStateSchema,
  /** Region waves (absent for a flag without): how a request finds its wave, and each wave's regions and state in order. */
  waves: WavesObjectSchema.pick({ regionFromEdge: true, regionMap: true, onRegression: true }).extend({
    list: z.array(z.strictObject({ regions: z.array(z.string()), state: RolloutStateSchema })).min(1),
  }).optional(),
  specVersion: z.int(),
  /** The snapshot version this entry last changed in (what evaluation metadata calls configVersion); absent in snapshots written before delta snapshots. */
  configVersion: z.int().min(1).optional(),
});
export type SnapshotFlag = z.infer<typeof SnapshotFlagSchema>;

export const SnapshotSchema = z.strictObject({
  version: z.int().min(1),
  etag: z.string(),
  publishedAt: z.number(),
  flags: z.array(SnapshotFlagSchema),
});
export type Snapshot = z.infer<typeof SnapshotSchema>;

/**
 * A snapshot as an edge reads it: the envelope checked, each flag left as
 * parsed JSON — validated and compiled only when first evaluated
 * (`compile.ts`), so a cold isolate pays for the flags it serves.
 */
export const SnapshotEnvelopeSchema = SnapshotSchema.extend({ flags: z.array(z.unknown()) });
export type SnapshotEnvelope = z.infer<typeof SnapshotEnvelopeSchema>;

/** What one version changed: flags published anew (their entry is `entry/<key>/<version>`) and flags deleted. */
export const SnapshotChangeSchema = z.strictObject({ version: z.int().min(1), set: z.array(FlagKeySchema), deleted: z.array(FlagKeySchema) });
export type SnapshotChange = z.infer<typeof SnapshotChangeSchema>;

/**
 * The small record edges poll to learn whether a new snapshot exists. With
 * `changes`, it also says what the recent versions changed: an isolate at a
 * version ≥ `since` reads only the flags changed after it (a delta); one
 * further behind loads the whole snapshot.
 */
export const SnapshotHeadSchema = z.strictObject({
  version: z.int().min(0),
  etag: z.string(),
  /** `changes` lists every version after this one, up to `version`. */
  since: z.int().min(0).optional(),
  changes: z.array(SnapshotChangeSchema).optional(),
});
export type SnapshotHead = z.infer<typeof SnapshotHeadSchema>;


/** The snapshot entry of one flag; `waveStates` are waves 2… (wave 1's is `state`); `counterShards` what its objects chose, if more than the spec's. */
export function snapshotFlagOf(spec: FlagSpec, state: RolloutState, specVersion: number, waveStates: readonly RolloutState[] = [], counterShards = 1, segments: ReadonlyMap<string, Segment> = new Map()): SnapshotFlag {
  const used = new Map<string, Segment>();
  for (const { name } of ruleSegmentReferences(spec.rules)) {
    const segment = segments.get(name);
    if (segment) used.set(name, segment);
  }
  return {
    key: spec.key,
    type: spec.type,
    variants: spec.variants,
    // Only what a flag uses enters its entry, so a two-arm flag's entry (and its etag) is what it was before rules.
    ...(spec.rules.length > 0 ? { rules: spec.rules } : {}),
    ...(spec.defaultVariant !== undefined ? { defaultVariant: spec.defaultVariant } : {}),
    ...(spec.prerequisites.length > 0 ? { prerequisites: spec.prerequisites } : {}),
    ...(spec.kind === "targeting" ? { fallthrough: "default" as const } : {}),
    ...(spec.flagd !== undefined ? { flagd: spec.flagd } : {}),
    ...(used.size > 0 ? { segments: Object.fromEntries([...used].sort(([a], [b]) => (a < b ? -1 : 1))) } : {}),
    pins: spec.pins,
    stickiness: spec.stickiness,
    salt: spec.salt ?? spec.key,
    ...(spec.bucketing.mode !== "flagd" ? { bucketing: spec.bucketing } : {}),
    ...(spec.exposureLog && spec.exposureLog.rate > 0 ? { exposureLog: spec.exposureLog } : {}),
    ...(spec.scope ? { scope: spec.scope } : {}),
    exposures: spec.exposures,
    counterShards: Math.max(spec.counterShards, counterShards),
    ...(spec.route ? { route: spec.route } : {}),
    stages: spec.rollout.stages.map((s) => ({ weight: s.weight, shadow: s.shadow })),
    state,
    ...(spec.waves
      ? {
          waves: {
            regionFromEdge: spec.waves.regionFromEdge,
            ...(spec.waves.regionMap ? { regionMap: spec.waves.regionMap } : {}),
            onRegression: spec.waves.onRegression,
            // A wave the registry has no state for yet (just added) waits: it serves the baseline.
            list: spec.waves.order.map((regions, i) => ({ regions, state: i === 0 ? state : (waveStates[i - 1] ?? notStartedWave(state)) })),
          },
        }
      : {}),
    specVersion,
  };
}

/** The immutable KV key of one flag's entry as published in `version` (the version it changed in). */
export function entryStorageKey(key: string, version: number): string {
  return `entry/${key}/${version}`;
}

/**
 * The keys an isolate at version `from` must read (`set`, each at the version
 * it last changed in) and drop to reach the head, or null when the head's
 * change log does not reach back to `from` (then it loads everything).
 */
export function deltaSince(head: SnapshotHead, from: number): { set: Map<string, number>; deleted: Set<string> } | null {
  if (head.changes === undefined || head.since === undefined || from < head.since) return null;
  const set = new Map<string, number>();
  const deleted = new Set<string>();
  for (const change of [...head.changes].sort((a, b) => a.version - b.version)) {
    if (change.version <= from) continue;
    for (const key of change.set) {
      set.set(key, change.version);
      deleted.delete(key);
    }
    for (const key of change.deleted) {
      set.delete(key);
      deleted.add(key);
    }
  }
  return { set, deleted };
}

/** The immutable KV key of a published snapshot: version and content fingerprint, never reused. */
export function snapshotStorageKey(head: SnapshotHead): string {
  return `snapshot/${head.etag.replaceAll('"', "")}`;
}
