/**
 * Mergeable per-arm counters. The FlagDO keeps one `ArmCounts` per flag ×
 * generation × stage × arm × minute bucket; any span is the sum of its
 * buckets, and merging is addition, so edges, shards and the cron can all
 * combine counts in any order.
 */
import { z } from "zod";
import { ArmSchema, type Arm } from "./manifest";
import { dict, dictSchema, type Dict } from "./dict";
import { addToHistogram, mergeHistogram, type Histogram } from "./histogram";

export interface EventStats {
  count: number;
  sum: number;
  sumSq: number;
}

export interface ArmCounts {
  exposures: number;
  errors: number;
  agree: number;
  disagree: number;
  /** Custom events (and latency_ms values) by name: a prototype-free `Dict`, since names come from users. */
  events: Dict<EventStats>;
  /** latency_ms values. */
  latency: Histogram;
}

export function emptyCounts(): ArmCounts {
  return { exposures: 0, errors: 0, agree: 0, disagree: 0, events: dict(), latency: dict() };
}

const Count = z.number().min(0);
export const EventStatsSchema = z.strictObject({ count: Count, sum: z.number(), sumSq: z.number() });
/** What storage and RPC hand back, checked and rebuilt with prototype-free dictionaries. */
export const ArmCountsSchema = z.strictObject({
  exposures: Count,
  errors: Count,
  agree: Count,
  disagree: Count,
  events: dictSchema(EventStatsSchema),
  latency: dictSchema(Count),
});

/** Counts read back from a JSON column. */
export function parseCounts(json: string): ArmCounts {
  return ArmCountsSchema.parse(JSON.parse(json));
}

/** Adds `source` into `target`. */
export function mergeCounts(target: ArmCounts, source: Readonly<ArmCounts>): ArmCounts {
  target.exposures += source.exposures;
  target.errors += source.errors;
  target.agree += source.agree;
  target.disagree += source.disagree;
  for (const [name, s] of Object.entries(source.events)) {
    const t = (target.events[name] ??= { count: 0, sum: 0, sumSq: 0 });
    t.count += s.count;
    t.sum += s.sum;
    t.sumSq += s.sumSq;
  }
  mergeHistogram(target.latency, source.latency);
  return target;
}

/** Sum of any number of counts. */
export function sumCounts(all: Iterable<Readonly<ArmCounts>>): ArmCounts {
  const total = emptyCounts();
  for (const c of all) mergeCounts(total, c);
  return total;
}

/** Records one event. `value` is the event's number (latency in ms, 1/0 for comparisons, …). */
export function recordEvent(counts: ArmCounts, name: string, value: number | undefined): void {
  switch (name) {
    case "exposure":
      counts.exposures += 1;
      return;
    case "error":
      counts.errors += 1;
      return;
    case "comparison":
      if (value === 0) counts.disagree += 1;
      else counts.agree += 1;
      return;
    case "latency_ms":
      if (value !== undefined) addToHistogram(counts.latency, value);
      break;
  }
  const v = value ?? 1;
  const stats = (counts.events[name] ??= { count: 0, sum: 0, sumSq: 0 });
  stats.count += 1;
  stats.sum += v;
  stats.sumSq += v * v;
}

/**
 * Users are split into `REPLICATES` groups by their bucketing hash, and every
 * counter is kept per group. A user's exposures all land in one group, so the
 * spread between groups measures the variance of any metric with returning
 * users correctly, without per-user state (random-groups variance estimation:
 * Wolter, "Introduction to Variance Estimation", 2nd ed., ch. 2; the same idea
 * as Deng et al.'s delta method at the user level, KDD 2018). 32 groups give
 * 31 degrees of freedom.
 */
export const REPLICATES = 32;

/** The replicate of a unit: the low 5 bits of its 32-bit bucketing hash (the bucket uses the high bits, so the two are independent). */
export function replicateOfHash(hash: number): number {
  return (hash >>> 0) & (REPLICATES - 1);
}

/** Where a counter cell belongs. `minute` is the minute since the epoch of the first event in it. */
export const CellKeySchema = z.strictObject({
  generation: z.int().min(1),
  stage: z.int().min(0),
  arm: ArmSchema,
  replicate: z.int().min(0).max(REPLICATES - 1),
  minute: z.int(),
});
export type CellKey = z.infer<typeof CellKeySchema>;
export const CounterCellSchema = CellKeySchema.extend({ counts: ArmCountsSchema });

export interface CounterCell extends CellKey {
  counts: ArmCounts;
}

export const MINUTE_MS = 60_000;
export const minuteOf = (ms: number): number => Math.floor(ms / MINUTE_MS);

/** Counts per arm for one stage (or pooled), replicates summed. */
export type ArmPair = Record<Arm, ArmCounts>;

/** One arm's counts by replicate: entry r holds replicate r (always `REPLICATES` entries). */
export type Replicated = ArmCounts[];
/** Per arm, by replicate. */
export type ReplicatedPair = Record<Arm, Replicated>;

export function emptyReplicated(): Replicated {
  return Array.from({ length: REPLICATES }, emptyCounts);
}

export function emptyReplicatedPair(): ReplicatedPair {
  return { baseline: emptyReplicated(), candidate: emptyReplicated() };
}

/** Adds `source` into `target`, replicate by replicate. */
export function mergeReplicated(target: Replicated, source: Readonly<Replicated>): Replicated {
  source.forEach((counts, r) => {
    const into = target[r];
    if (into) mergeCounts(into, counts);
  });
  return target;
}

export function mergeReplicatedPair(target: ReplicatedPair, source: Readonly<ReplicatedPair>): ReplicatedPair {
  mergeReplicated(target.baseline, source.baseline);
  mergeReplicated(target.candidate, source.candidate);
  return target;
}

/** The replicates of an arm summed into one count. */
export function collapse(replicated: Readonly<Replicated>): ArmCounts {
  return sumCounts(replicated);
}

export function collapsePair(pair: Readonly<ReplicatedPair>): ArmPair {
  return { baseline: collapse(pair.baseline), candidate: collapse(pair.candidate) };
}

export const ReplicatedPairSchema = z.strictObject({
  baseline: z.array(ArmCountsSchema).length(REPLICATES),
  candidate: z.array(ArmCountsSchema).length(REPLICATES),
});

/**
 * Totals the cron judges from: per stage, per arm and replicate, for one
 * generation. `stages[i]` is absent for a stage with no data.
 */
export interface GenerationTotals {
  generation: number;
  stages: Record<string, ReplicatedPair>;
}

/** Pools every stage into one pair, replicates kept (the generation's cumulative counts). */
export function pooledReplicated(totals: GenerationTotals): ReplicatedPair {
  const pair = emptyReplicatedPair();
  for (const stagePair of Object.values(totals.stages)) mergeReplicatedPair(pair, stagePair);
  return pair;
}

/** Pools every stage and replicate into one pair (for per-arm metric reports). */
export function pooledPair(totals: GenerationTotals): ArmPair {
  return collapsePair(pooledReplicated(totals));
}
