/**
 * Where the Worker runs, from `request.cf` (Cloudflare's location of the
 * data centre that took the request): what a region wave may be placed by
 * when the evaluation context names no region (`core/waves.ts`).
 */
import type { EdgeLocation } from "../core/waves";

/** The request's edge location, read from `request.cf` only if a region wave asks for it, then kept. */
export function lazyEdgeLocation(request: Request): () => EdgeLocation | null {
  let read: EdgeLocation | null | undefined;
  return () => (read === undefined ? (read = edgeLocationOf(request)) : read);
}

export function edgeLocationOf(request: Request): EdgeLocation | null {
  const cf = (request as Request & { cf?: IncomingRequestCfProperties }).cf;
  if (!cf) return null;
  const location: EdgeLocation = {};
  if (typeof cf.colo === "string") location.colo = cf.colo;
  if (typeof cf.country === "string") location.country = cf.country;
  if (typeof cf.continent === "string") location.continent = cf.continent;
  if (typeof cf.region === "string") location.region = cf.region;
  return location;
}
