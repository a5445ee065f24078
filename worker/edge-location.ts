/**
 * Where the Worker runs, from `request.cf` (Cloudflare's location of the
 * data centre that took the request): what a region wave may be placed by
 * when the evaluation context names no region (`core/waves.ts`).
 */
import { inWave, type CompiledFlag, type EvaluationContext } from "../core/assign";
import type { EdgeLocation } from "../core/waves";

/** The request's edge location, read from `request.cf` only if a region wave asks for it, then kept. */
export function lazyEdgeLocation(request: Request): () => EdgeLocation | null {
  let read: EdgeLocation | null | undefined;
  return () => (read === undefined ? (read = edgeLocationOf(request)) : read);
}

/**
 * The compiled flag of the region wave a request belongs to (the flag
 * itself without waves). Only a flag with waves gets a reader of
 * `request.cf` made for it: on the hot path most flags have none.
 * `request` is null for a binding call, which has no edge location.
 */
export function inRequestWave(flag: CompiledFlag, context: EvaluationContext, request: Request | null): CompiledFlag {
  return flag.waves === null ? flag : inWave(flag, context, request === null ? null : lazyEdgeLocation(request));
}

function edgeLocationOf(request: Request): EdgeLocation | null {
  const cf = (request as Request & { cf?: IncomingRequestCfProperties }).cf;
  if (!cf) return null;
  const location: EdgeLocation = {};
  if (typeof cf.colo === "string") location.colo = cf.colo;
  if (typeof cf.country === "string") location.country = cf.country;
  if (typeof cf.continent === "string") location.continent = cf.continent;
  if (typeof cf.region === "string") location.region = cf.region;
  return location;
}
