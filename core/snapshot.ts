/**
 * The published snapshot: what every edge needs to evaluate every flag, and
 * nothing more. The RegistryDO composes it from specs and reported rollout
 * states; edges parse it once per version and compile it for `assign()`.
 */
import { z } from "zod";
import { BucketingSchema } from "./bucketing-modes";
import { ExposureLogSpecSchema, FLAG_TYPES, FlagKeySchema, ScopeSchema, type FlagSpec } from "./manifest";
import { RouteSchema } from "./route-spec";
import { RolloutStateSchema, type RolloutState } from "./rollout";

const JsonSchema = z.json();

export const SnapshotFlagSchema = z.strictObject({
  key: FlagKeySchema,
  type: z.enum(FLAG_TYPES),
  variants: z.strictObject({ baseline: JsonSchema, candidate: JsonSchema }),
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
  state: RolloutStateSchema,
  specVersion: z.int(),
});
export type SnapshotFlag = z.infer<typeof SnapshotFlagSchema>;

export const SnapshotSchema = z.strictObject({
  version: z.int().min(1),
  etag: z.string(),
  publishedAt: z.number(),
  flags: z.array(SnapshotFlagSchema),
});
export type Snapshot = z.infer<typeof SnapshotSchema>;

/** The small record edges poll to learn whether a new snapshot exists. */
export const SnapshotHeadSchema = z.strictObject({
  version: z.int().min(0),
  etag: z.string(),
});
export type SnapshotHead = z.infer<typeof SnapshotHeadSchema>;


/** The snapshot entry of one flag. */
export function snapshotFlagOf(spec: FlagSpec, state: RolloutState, specVersion: number): SnapshotFlag {
  return {
    key: spec.key,
    type: spec.type,
    variants: spec.variants,
    pins: spec.pins,
    stickiness: spec.stickiness,
    salt: spec.salt ?? spec.key,
    ...(spec.bucketing.mode !== "flagd" ? { bucketing: spec.bucketing } : {}),
    ...(spec.exposureLog && spec.exposureLog.rate > 0 ? { exposureLog: spec.exposureLog } : {}),
    ...(spec.scope ? { scope: spec.scope } : {}),
    exposures: spec.exposures,
    counterShards: spec.counterShards,
    ...(spec.route ? { route: spec.route } : {}),
    stages: spec.rollout.stages.map((s) => ({ weight: s.weight, shadow: s.shadow })),
    state,
    specVersion,
  };
}

/** The immutable KV key of a published snapshot: version and content fingerprint, never reused. */
export function snapshotStorageKey(head: SnapshotHead): string {
  return `snapshot/${head.etag.replaceAll('"', "")}`;
}
