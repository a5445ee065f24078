/**
 * Edge routing: a request under a flag's `route` is proxied to the origin
 * of the arm its caller is assigned (sticky by the `rampart_id` cookie, set
 * when missing), with the variant, generation and pins as response headers.
 * GET responses are cached per variant *and generation*, so a new candidate
 * never serves answers cached for the old one. In the shadow stage (or with
 * `shadow.always`) eligible requests are mirrored to the candidate after the
 * response, and the two answers compared; a failing shadow never touches the
 * user's response. Each routed request counts one exposure, its latency, and
 * an error when the origin fails.
 */
import { assign, isRolloutExposure, type CompiledFlag } from "../../core/assign";
import { inRequestWave } from "../edge-location";
import { sampleExposure } from "../exposure-log";
import type { CompiledSnapshot } from "../../core/compile";
import type { ArmCounts } from "../../core/counters";
import { replicateOf } from "../replicate";
import type { Arm } from "../../core/manifest";
import { addToHistogram } from "../../core/histogram";
import type { Services } from "../context";
import type { Schedule } from "../snapshot";
import { AppError } from "../errors";
import { hashWhileStreaming, streamDigest } from "../body-digest";
import { forwardedHeaders, forwardResponse, incomingFields, shadowRequestHeaders } from "../intermediary";
import type { RequestTarget } from "../request-url";
import { cacheCopy, fromCache, mayServeFromCache, sharedCacheTtl } from "../http-cache";

const ONE_YEAR_S = 31_536_000;
/** Responses larger than this are not compared with their shadow (both are hashed as they stream; past this the pair is skipped). */
const MAX_COMPARED_BYTES = 1_048_576;

/** The flag whose route matches the request: the longest matching path prefix wins. */
export function matchRoute(snapshot: CompiledSnapshot, host: string, path: string): CompiledFlag | null {
  let best: CompiledFlag | null = null;
  let bestLength = -1;
  for (const key of snapshot.routeKeys) {
    const flag = snapshot.flags.get(key);
    const route = flag?.source.route;
    if (!flag || !route || !path.startsWith(route.pathPrefix)) continue;
    if (route.host !== undefined && route.host !== host) continue;
    if (route.pathPrefix.length > bestLength) {
      best = flag;
      bestLength = route.pathPrefix.length;
    }
  }
  return best;
}

/** A cookie's value; null when absent or not decodable (a malformed sticky id is treated as none: a new one is set). */
function cookie(header: string | null, name: string): string | null {
  for (const part of (header ?? "").split(";")) {
    const [k, ...v] = part.trim().split("=");
    if (k !== name || v.length === 0) continue;
    try {
      const value = decodeURIComponent(v.join("="));
      return value === "" ? null : value;
    } catch {
      return null;
    }
  }
  return null;
}

/**
 * Arms whose origin's last answer could not be stored (`no-store`, private,
 * no freshness — RFC 9111 §3): their GETs skip the Cache API lookup for a
 * while. Skipping a lookup is always allowed (a cache may always go to the
 * origin); it saves a lookup per request that could not hit — the largest
 * cost of a routed request to a `no-store` origin
 * (npm run bench:edge -- --profile routed). One storable answer ends it.
 */
const uncacheableUntil = new Map<string, number>();
const UNCACHEABLE_HINT_MS = 30_000;

/** Proxies a routed request; null when no route matches. */
export async function proxy(request: Request, target: RequestTarget, env: Env, schedule: Schedule, services: Services, snapshot: CompiledSnapshot): Promise<Response | null> {
  const routed = matchRoute(snapshot, target.hostname, target.pathname);
  const route = routed?.source.route;
  if (!routed || !route) return null;
  const incoming = incomingFields(request);
  const existing = incoming.get("x-rampart-id") ?? cookie(incoming.get("cookie"), route.cookie);
  const stickyId = existing ?? crypto.randomUUID();
  const context: Record<string, unknown> = { targetingKey: stickyId, path: target.pathname, tenant: incoming.get("x-rampart-tenant") ?? undefined, region: incoming.get("x-rampart-region") ?? undefined };
  // Set apart, not as a computed key in the literal: that made every context a slow dictionary object.
  if (routed.stickiness !== "targetingKey") context[routed.stickiness] = stickyId;
  // A region wave is placed by X-Rampart-Region, else by where the request came in (the spec's regionFromEdge): no client change.
  const flag = inRequestWave(routed, context, request);
  const assigned = assign(flag, context);
  const arm: Arm = assigned.ok ? assigned.arm : "baseline";
  const { state } = flag.source;
  const replicate = assigned.ok ? replicateOf(flag, assigned, context) : 0;
  const record = (target: Arm, update: (counts: ArmCounts) => void) =>
    services.counters(env).record(flag.counterKey, state.generation, state.stageIndex, target, replicate, schedule, flag.source.counterShards, update);

  const upstream = route.origins[arm] + target.pathname + target.search;
  const method = request.method;
  const forwarded = forwardedHeaders(request, incoming, target);
  forwarded.set("x-rampart-variant", arm);
  const hintKey = `${flag.key}|${arm}`;
  const requestAllowsCache = mayServeFromCache(method, incoming.get);
  const hintedAt = Date.now();
  const cacheable = requestAllowsCache && !(hintedAt < (uncacheableUntil.get(hintKey) ?? 0));
  // The cache key names the flag, arm and generation (a new candidate never gets an old answer); built only when the cache is used.
  const cacheKey = () => new Request(`${upstream}${target.search ? "&" : "?"}__rampart=${encodeURIComponent(`${flag.key}.${arm}.${state.generation}`)}`);
  // Stream the body through, unless a shadow replay of this method may need it a second time.
  const hasBody = method !== "GET" && method !== "HEAD";
  const replayable = hasBody && (route.shadow?.methods.includes(method as (typeof route.shadow.methods)[number]) ?? false);
  const body = !hasBody ? undefined : replayable ? await request.arrayBuffer() : request.body;

  const cached: Response | undefined = cacheable ? await caches.default.match(cacheKey()).catch(() => undefined) : undefined;
  let response: Response | undefined = cached ? fromCache(cached) : undefined;
  const hit = response !== undefined;
  const started = Date.now(); // Date.now() advances across I/O in Workers, so this spans the upstream call.
  if (!response) {
    try {
      response = await fetch(upstream, { method, headers: forwarded, body, redirect: "manual" });
    } catch (error) {
      console.error(`route ${flag.key}: ${arm} origin unreachable`, error);
      if (assigned.ok && isRolloutExposure(flag, assigned)) {
        record(arm, (counts) => {
          counts.exposures += 1;
          counts.errors += 1;
        });
      }
      throw new AppError(502, "bad_gateway", `the ${arm} origin did not answer`);
    }
    const ttl = sharedCacheTtl(request, response);
    if (ttl > 0) uncacheableUntil.delete(hintKey);
    else if (requestAllowsCache) uncacheableUntil.set(hintKey, hintedAt + UNCACHEABLE_HINT_MS);
    if (ttl > 0) schedule(caches.default.put(cacheKey(), cacheCopy(response.clone(), ttl)).catch(() => undefined));
  }
  const latency = Date.now() - started;
  if (assigned.ok && isRolloutExposure(flag, assigned)) {
    if (flag.source.exposureLog) sampleExposure(services.exposureLog(env), flag, assigned, stickyId, started, schedule);
    record(arm, (counts) => {
      counts.exposures += 1;
      if (response && response.status >= 500) counts.errors += 1;
      if (!hit) {
        addToHistogram(counts.latency, latency);
        const stats = (counts.events["latency_ms"] ??= { count: 0, sum: 0, sumSq: 0 });
        stats.count += 1;
        stats.sum += latency;
        stats.sumSq += latency * latency;
      }
    });
  }

  const shadow = route.shadow;
  const shadowStage = state.status === "shadow" || (state.status === "paused" && flag.source.stages[state.stageIndex]?.shadow === true);
  const mirror = shadow !== undefined && (shadowStage || shadow.always) && arm === "baseline" && shadow.methods.includes(method as (typeof shadow.methods)[number]) && Math.random() < shadow.sampleRate;
  // The primary body is hashed as it streams to the client (no second copy held back).
  const streamed = mirror ? hashWhileStreaming(response.body, MAX_COMPARED_BYTES) : null;
  // The answer is made once, from the origin's; Rampart's own fields go on its headers.
  const outgoing = forwardResponse(response, streamed ? streamed.body : response.body);
  const headers = outgoing.headers;
  headers.set("x-rampart-flag", flag.key);
  headers.set("x-rampart-variant", arm);
  headers.set("x-rampart-generation", String(state.generation));
  for (const [name, value] of Object.entries(flag.source.pins[arm] ?? {})) headers.set(`x-rampart-pin-${name.toLowerCase().replace(/_/g, "-")}`, value);
  if (hit) headers.set("x-rampart-cache", "hit");
  if (!existing) {
    const secure = target.proto === "https" ? "; Secure" : "";
    headers.append("set-cookie", `${route.cookie}=${encodeURIComponent(stickyId)}; Path=/; Max-Age=${ONE_YEAR_S}; SameSite=Lax; HttpOnly${secure}`);
  }
  if (mirror && shadow && streamed) {
    const mirrored = new URL((shadow.origin ?? route.origins.candidate) + target.pathname + target.search);
    const status = response.status;
    const shadowHeaders = shadowRequestHeaders(forwarded, shadow.forwardCredentials);
    schedule(compareShadow(flag.key, mirrored, { method, headers: shadowHeaders, body: body instanceof ArrayBuffer ? body : undefined }, status, streamed.digest, shadow.timeout, record));
  }
  return outgoing;
}

/**
 * Sends the mirrored request and compares status and body hash with the
 * primary's. A shadow that does not answer within `timeoutMs` counts as a
 * disagreement and an error of the candidate, so a hanging candidate shows
 * up in `shadow_agreement` and `error_rate`; a body past the comparison cap
 * on either side is not compared.
 */
async function compareShadow(
  flag: string,
  target: URL,
  init: { method: string; headers: Headers; body: ArrayBuffer | undefined },
  primaryStatus: number,
  primaryDigest: Promise<string | null>,
  timeoutMs: number,
  record: (arm: Arm, update: (counts: ArmCounts) => void) => void,
): Promise<void> {
  let outcome: "agree" | "disagree" | "failed" | "uncompared";
  try {
    const signal = AbortSignal.timeout(timeoutMs);
    const shadowResponse = await fetch(target, { ...init, redirect: "manual", signal });
    const expired = new Promise<null>((resolve) => signal.addEventListener("abort", () => resolve(null)));
    const [a, b] = await Promise.all([Promise.race([primaryDigest, expired]), streamDigest(shadowResponse.body, MAX_COMPARED_BYTES)]);
    if (signal.aborted) outcome = "failed";
    else if (a === null || b === null) outcome = "uncompared";
    else outcome = a === b && shadowResponse.status === primaryStatus ? "agree" : "disagree";
  } catch (error) {
    console.warn(`route ${flag}: shadow origin failed`, error);
    outcome = "failed";
  }
  if (outcome === "uncompared") return;
  record("candidate", (counts) => {
    if (outcome === "agree") counts.agree += 1;
    else counts.disagree += 1;
    if (outcome === "failed") counts.errors += 1;
  });
}
