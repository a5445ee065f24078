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
import { snapshotScope } from "../../core/prerequisites";
import { assign, isRolloutExposure, type CompiledFlag, type Served } from "../../core/assign";
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
import { forwardedHeaders, forwardResponse, incomingFields, shadowRequestHeaders, type IncomingFields } from "../intermediary";
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

type RecordArm = (target: Arm, update: (counts: ArmCounts) => void) => void;

/** Who the caller is for this route, the arm they are assigned, and where that arm's counts go. */
interface RoutedCall {
  flag: CompiledFlag;
  route: NonNullable<CompiledFlag["source"]["route"]>;
  incoming: IncomingFields;
  /** The sticky id the request carried (null: a new visitor, who gets a cookie). */
  existing: string | null;
  stickyId: string;
  /** The served arm; null when none was (no key, or a code default — a routed flag is never a flagd definition). */
  assigned: Served | null;
  arm: Arm;
  /** Whether this request is an exposure of the rollout (counted, maybe logged). */
  counted: boolean;
  record: RecordArm;
}

/** What the arm's origin (or the cache) answered. */
interface OriginAnswer {
  response: Response;
  hit: boolean;
  started: number;
  latency: number;
}

/**
 * Proxies a routed request; null when no route matches. Steps: (1) assign
 * the caller an arm; (2) forward to that arm's origin, or answer from the
 * cache; (3) count the exposure; (4) make the client's answer; (5) mirror
 * it to the shadow when the stage asks.
 */
export async function proxy(request: Request, target: RequestTarget, env: Env, schedule: Schedule, services: Services, snapshot: CompiledSnapshot): Promise<Response | null> {
  const call = assignRoutedCall(request, target, env, schedule, services, snapshot);
  if (call === null) return null;
  const forwarded = forwardedHeaders(request, call.incoming, target);
  forwarded.set("x-rampart-variant", call.arm);
  // Stream the body through, unless a shadow replay of this method may need it a second time.
  const method = request.method;
  const hasBody = method !== "GET" && method !== "HEAD";
  const replayable = hasBody && (call.route.shadow?.methods.includes(method as ShadowMethod) ?? false);
  const body = !hasBody ? undefined : replayable ? await request.arrayBuffer() : request.body;
  const answer = await fromOrigin(call, request, target, forwarded, body, schedule);
  if (call.counted) countExposure(call, answer, env, services, schedule);
  const mirror = mirrors(call, method);
  // The primary body is hashed as it streams to the client (no second copy held back).
  const streamed = mirror ? hashWhileStreaming(answer.response.body, MAX_COMPARED_BYTES) : null;
  const outgoing = clientAnswer(call, answer, target, streamed ? streamed.body : answer.response.body);
  if (mirror && streamed && call.route.shadow) {
    const shadow = call.route.shadow;
    const mirrored = new URL((shadow.origin ?? call.route.origins.candidate) + target.pathname + target.search);
    const shadowHeaders = shadowRequestHeaders(forwarded, shadow.forwardCredentials);
    schedule(compareShadow(call.flag.key, mirrored, { method, headers: shadowHeaders, body: body instanceof ArrayBuffer ? body : undefined }, answer.response.status, streamed.digest, shadow.timeout, call.record));
  }
  return outgoing;
}

type ShadowMethod = NonNullable<NonNullable<CompiledFlag["source"]["route"]>["shadow"]>["methods"][number];

/** Step 1: the route, the caller's sticky id and context, their wave and arm. */
function assignRoutedCall(request: Request, target: RequestTarget, env: Env, schedule: Schedule, services: Services, snapshot: CompiledSnapshot): RoutedCall | null {
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
  const now = Date.now();
  const assignment = assign(flag, context, flag.needsScope ? snapshotScope(snapshot.flags, (f, ctx) => inRequestWave(f, ctx, request), 0, now) : undefined, now);
  const assigned = assignment.ok && !assignment.codeDefault ? assignment : null;
  const { state } = flag.source;
  const replicate = assigned ? replicateOf(flag, assigned, context) : 0;
  const record: RecordArm = (arm, update) => services.counters(env).record(flag.counterKey, state.generation, state.stageIndex, arm, replicate, schedule, flag.source.counterShards, update);
  return { flag, route, incoming, existing, stickyId, assigned, arm: assigned ? assigned.arm : "baseline", counted: assigned !== null && isRolloutExposure(flag, assigned), record };
}

/**
 * Step 2: the answer from the Cache API when the request allows it and one
 * is stored for this flag, arm and generation; else from the arm's origin
 * (an unreachable origin counts an error and answers 502), stored when its
 * answer may be shared.
 */
async function fromOrigin(call: RoutedCall, request: Request, target: RequestTarget, headers: Headers, body: BodyInit | null | undefined, schedule: Schedule): Promise<OriginAnswer> {
  const { flag, arm } = call;
  const upstream = call.route.origins[arm] + target.pathname + target.search;
  const hintKey = `${flag.key}|${arm}`;
  const requestAllowsCache = mayServeFromCache(request.method, call.incoming.get);
  const hintedAt = Date.now();
  const cacheable = requestAllowsCache && !(hintedAt < (uncacheableUntil.get(hintKey) ?? 0));
  // The cache key names the flag, arm and generation (a new candidate never gets an old answer); built only when the cache is used.
  const cacheKey = () => new Request(`${upstream}${target.search ? "&" : "?"}__rampart=${encodeURIComponent(`${flag.key}.${arm}.${flag.source.state.generation}`)}`);
  const cached: Response | undefined = cacheable ? await caches.default.match(cacheKey()).catch(() => undefined) : undefined;
  const started = Date.now(); // Date.now() advances across I/O in Workers, so this spans the upstream call.
  if (cached) return { response: fromCache(cached), hit: true, started, latency: Date.now() - started };
  let response: Response;
  try {
    // `Upgrade` is withheld (intermediary.ts), so this is always a plain request: never a WebSocket to the origin.
    response = await fetch(upstream, { method: request.method, headers, body, redirect: "manual" });
  } catch (error) {
    console.error(`route ${flag.key}: ${arm} origin unreachable`, error);
    if (call.counted) {
      call.record(arm, (counts) => {
        counts.exposures += 1;
        counts.errors += 1;
      });
    }
    throw new AppError(502, "bad_gateway", `the ${arm} origin did not answer`);
  }
  const latency = Date.now() - started;
  const ttl = sharedCacheTtl(request, response);
  if (ttl > 0) uncacheableUntil.delete(hintKey);
  else if (requestAllowsCache) uncacheableUntil.set(hintKey, hintedAt + UNCACHEABLE_HINT_MS);
  if (ttl > 0) schedule(caches.default.put(cacheKey(), cacheCopy(response.clone(), ttl)).catch(() => undefined));
  return { response, hit: false, started, latency };
}

/** Step 3: one exposure of the arm, an error for a 5xx, the origin's latency (not a cache hit's), and a sampled log line. */
function countExposure(call: RoutedCall, answer: OriginAnswer, env: Env, services: Services, schedule: Schedule): void {
  const { flag, assigned } = call;
  if (flag.source.exposureLog && assigned) sampleExposure(services.exposureLog(env), flag, assigned, call.stickyId, answer.started, schedule);
  call.record(call.arm, (counts) => {
    counts.exposures += 1;
    if (answer.response.status >= 500) counts.errors += 1;
    if (!answer.hit) {
      addToHistogram(counts.latency, answer.latency);
      const stats = (counts.events["latency_ms"] ??= { count: 0, sum: 0, sumSq: 0 });
      stats.count += 1;
      stats.sum += answer.latency;
      stats.sumSq += answer.latency * answer.latency;
    }
  });
}

/** Whether this request is mirrored to the shadow origin: a baseline request, in the shadow stage (or `shadow.always`), of a mirrored method, sampled. */
function mirrors(call: RoutedCall, method: string): boolean {
  const shadow = call.route.shadow;
  const { state, stages } = call.flag.source;
  const shadowStage = state.status === "shadow" || (state.status === "paused" && stages[state.stageIndex]?.shadow === true);
  return shadow !== undefined && (shadowStage || shadow.always) && call.arm === "baseline" && shadow.methods.includes(method as ShadowMethod) && Math.random() < shadow.sampleRate;
}

/** Step 4: the origin's answer made once for the client, with Rampart's fields and, for a new visitor, the sticky cookie. */
function clientAnswer(call: RoutedCall, answer: OriginAnswer, target: RequestTarget, body: ReadableStream | null): Response {
  const { flag, arm } = call;
  const outgoing = forwardResponse(answer.response, body);
  const headers = outgoing.headers;
  headers.set("x-rampart-flag", flag.key);
  headers.set("x-rampart-variant", arm);
  headers.set("x-rampart-generation", String(flag.source.state.generation));
  for (const [name, value] of Object.entries(flag.source.pins[arm] ?? {})) headers.set(`x-rampart-pin-${name.toLowerCase().replace(/_/g, "-")}`, value);
  if (answer.hit) headers.set("x-rampart-cache", "hit");
  if (!call.existing) {
    const secure = target.proto === "https" ? "; Secure" : "";
    headers.append("set-cookie", `${call.route.cookie}=${encodeURIComponent(call.stickyId)}; Path=/; Max-Age=${ONE_YEAR_S}; SameSite=Lax; HttpOnly${secure}`);
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
  record: RecordArm,
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
