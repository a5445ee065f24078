/** The replicate group of users an exposure is counted in (see `core/counters.ts`). */
import { unitReplicate, type CompiledFlag, type EvaluationContext, type Served } from "../core/assign";
import { REPLICATES } from "../core/counters";

/**
 * A split carries its group from the hash it already computed; a whole-stage
 * outcome (shadow, 100%) hashes the unit's stickiness value; a request with
 * none is its own unit, so any group will do.
 */
export function replicateOf(flag: CompiledFlag, served: Served, context: EvaluationContext): number {
  return served.replicate ?? unitReplicate(flag, context) ?? Math.floor(Math.random() * REPLICATES);
}
