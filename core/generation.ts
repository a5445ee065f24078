/**
 * Rollout generations: a rollout belongs to one candidate. Changing what the
 * candidate is — its value, its pins, the stickiness attribute or salt —
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
  });
}
