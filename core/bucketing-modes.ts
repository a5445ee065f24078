/**
 * Bucketing modes: how a flag decides who is in the candidate. `flagd` is
 * Rampart's own contract (`bucket.ts`). The others reproduce the rule of the
 * system a rollout is moved from, so that moving it onto Rampart moves no
 * user to the other arm (`docs/bucketing.md` states each rule with vectors;
 * `test/e2e/bucketing-vendors.test.ts` checks each against the vendor's own
 * SDK over 100,000 keys).
 *
 * Every mode is monotonic in the weight: raising it only adds users.
 * Replicate groups (user-level variances) always come from the flagd hash of
 * the unit, whatever the mode: they only need to group whole users.
 */
import { z } from "zod";
import { prepareHash, hashFrom } from "./murmur3";
import { sha1Hex } from "./sha1";

export const BUCKETING_MODES = ["flagd", "sha1", "launchdarkly", "growthbook", "unleash"] as const;
export type BucketingMode = (typeof BUCKETING_MODES)[number];

/** Modes whose rule only knows whole percents: their stages must have integer weights. */
export const WHOLE_PERCENT_MODES: ReadonlySet<BucketingMode> = new Set(["sha1", "unleash"]);

export const BucketingSchema = z.strictObject({
  mode: z.enum(BUCKETING_MODES).default("flagd"),
  /**
   * launchdarkly: the LaunchDarkly flag's `salt` (required); growthbook: the
   * rollout rule's `seed` (default: the flag key); unleash: the strategy's
   * `groupId` (default: the flag key). Not used by flagd (see `salt`) or sha1.
   */
  seed: z.string().max(256).optional(),
  /** launchdarkly: the LaunchDarkly flag key, when it differs from this flag's. */
  flagKey: z.string().min(1).max(256).optional(),
  /** launchdarkly: the rollout lists the candidate's variation first (default) or the baseline's. */
  candidateFirst: z.boolean().default(true),
});
export type Bucketing = z.infer<typeof BucketingSchema>;

/** Whether a stickiness value is in the candidate at a weight in basis points (0..10000). */
export type CandidateTest = (stickinessValue: string, weightBp: number) => boolean;

/**
 * LaunchDarkly divides the first 15 hex digits of the SHA-1 by 0xFFFFFFFFFFFFFFF,
 * a literal that is 2^60 once it is a double — so this is the divisor its SDKs use.
 */
const LD_SCALE = 2 ** 60;
/** LaunchDarkly weights are in units of 0.001%. */
const LD_WEIGHT_UNITS = 100_000;

/** GrowthBook's 32-bit FNV-1a over UTF-16 code units, as its SDKs compute it. */
function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/** A 160-bit hex number modulo 100, digit by digit (no BigInt on the hot path). */
function hexMod100(hex: string): number {
  let r = 0;
  for (let i = 0; i < hex.length; i++) r = (r * 16 + parseInt(hex[i] ?? "0", 16)) % 100;
  return r;
}

/** The candidate test of a non-default mode; null for flagd, which `assign` runs inline. */
export function candidateTest(flagKey: string, bucketing: Bucketing): CandidateTest | null {
  switch (bucketing.mode) {
    case "flagd":
      return null;
    case "sha1":
      // percent = int(sha1(utf8(id)), 16) mod 100; candidate when percent < weight (whole percents).
      return (value, weightBp) => hexMod100(sha1Hex(value)) * 100 < weightBp;
    case "launchdarkly": {
      const prefix = `${bucketing.flagKey ?? flagKey}.${bucketing.seed ?? ""}.`;
      return (value, weightBp) => {
        const bucket = parseInt(sha1Hex(prefix + value).slice(0, 15), 16) / LD_SCALE;
        const candidateWeight = weightBp * 10;
        // The first variation whose cumulative weight exceeds the bucket wins.
        return bucketing.candidateFirst ? bucket < candidateWeight / LD_WEIGHT_UNITS : !(bucket < (LD_WEIGHT_UNITS - candidateWeight) / LD_WEIGHT_UNITS);
      };
    }
    case "growthbook": {
      const seed = bucketing.seed ?? flagKey;
      // hash v2: n = (fnv(fnv(seed + id) + "") mod 10000) / 10000; a rollout rule includes n <= coverage (0 includes no one).
      return (value, weightBp) => weightBp > 0 && (fnv1a32(String(fnv1a32(seed + value))) % 10_000) / 10_000 <= weightBp / 10_000;
    }
    case "unleash": {
      const prefix = prepareHash(`${bucketing.seed ?? flagKey}:`, 0);
      // flexibleRollout: normalized = murmur3(groupId + ":" + id) mod 100 + 1; enabled when rollout > 0 and normalized <= rollout.
      return (value, weightBp) => weightBp > 0 && (hashFrom(prefix, value) % 100) + 1 <= weightBp / 100;
    }
  }
}
