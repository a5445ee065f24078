/**
 * Rollout generations: a rollout belongs to one candidate. Changing what the
 * candidate is — its value, its pins, the stickiness attribute, salt, bucketing mode or region waves —
 * starts a new generation; editing gates, thresholds or holds does not.
 */
import { canonicalJson } from "./canonical";
import { saltOf, type FlagSpec } from "./manifest";

/** A text that changes exactly when the candidate changes. */
export function candidateIdentity(spec: FlagSpec): string {
  return canonicalJson({
    type: spec.type,
    value: spec.variants.candidate,
    pins: spec.pins.candidate ?? {},
    stickiness: spec.stickiness,
    salt: saltOf(spec),
    // Only a non-default mode enters the identity, so flags written before modes existed keep their generation.
    ...(spec.bucketing.mode !== "flagd" ? { bucketing: spec.bucketing } : {}),
    // Who is in which wave is part of what is rolled out: new waves start the rollout over (absent waves leave old identities alone).
    ...(spec.waves ? { waves: spec.waves.order } : {}),
  });
}
