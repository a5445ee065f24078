/**
 * OpenFeature Remote Evaluation Protocol: single and bulk evaluation.
 * Errors use OFREP's own shape (`{key, errorCode, errorDetails}`), every
 * response is application/json, and no evaluation waits on storage once the
 * isolate is warm.
 */
import { Hono, type Context } from "hono";
import { cors } from "hono/cors";
import { snapshotScope } from "../../core/prerequisites";
import { assign, inWave, type Assignment, type EvaluationContext } from "../../core/assign";
import { lazyEdgeLocation } from "../edge-location";
import { pathStart } from "../request-url";
import { changeStream, eventStreamsFor, lastSeenVersion } from "../change-stream";
import { evaluateFlag } from "../evaluate";
import { canonicalJson, fingerprint } from "../../core/canonical";
import type { CompiledSnapshot } from "../../core/compile";
import { OFREP_BODY_LIMIT, parseJson, readEvaluationText } from "../body";
import { AppError } from "../errors";
import { NOT_READY, OPENFEATURE_ERROR_CODE, type EvaluationFailure, type EvaluationFailureKind, type OpenFeatureErrorCode } from "../../core/evaluation-outcome";
import { scheduler, type AppEnv, type Services } from "../context";
import type { Schedule } from "../snapshot";

type OfrepErrorCode = Exclude<OpenFeatureErrorCode, "TYPE_MISMATCH">;

class OfrepError extends Error {
  constructor(
    readonly status: 400 | 404 | 500 | 503,
    readonly errorCode: OfrepErrorCode,
    message: string,
  ) {
    super(message);
  }

  /** An evaluation failure as OFREP answers it (the one place a kind becomes a status). */
  static of(failure: EvaluationFailure): OfrepError {
    return new OfrepError(OFREP_STATUS[failure.kind], OPENFEATURE_ERROR_CODE[failure.kind] as OfrepErrorCode, failure.message);
  }
}

/** A failed targeting is OFREP's 400 evaluation failure (errorCode GENERAL), as flagd answers it. */
const OFREP_STATUS: Readonly<Record<EvaluationFailureKind, 400 | 404 | 503>> = { not_ready: 503, not_found: 404, targeting_key_missing: 400, invalid_context: 400, targeting_error: 400 };

/**
 * CORS for browsers (Fetch standard): any origin may read OFREP answers and
 * their ETag. Set on every answer as constants; the middleware below only
 * answers preflights — running it on every evaluation made Hono rebuild each
 * response to merge its headers (npm run bench:edge -- --profile ofrep).
 */
const CORS_HEADERS = { "access-control-allow-origin": "*", "access-control-expose-headers": "ETag" } as const;
const JSON_HEADERS = { "content-type": "application/json", ...CORS_HEADERS } as const;
/** A single evaluation's answer carries no ETag, so nothing to expose: one header fewer to build on the hottest route. */
const SINGLE_ANSWER_HEADERS = { "content-type": "application/json", "access-control-allow-origin": "*" } as const;

function json(body: unknown, status = 200, extra: Record<string, string> = {}): Response {
  return new Response(JSON.stringify(body), { status, headers: { ...JSON_HEADERS, ...extra } });
}

function ofrepError(key: string, error: OfrepError): Response {
  const headers: Record<string, string> = error.status === 503 ? { "Retry-After": "1" } : {};
  return json({ key, errorCode: error.errorCode, errorDetails: error.message }, error.status, headers);
}

/** The evaluation context of an OFREP request body; OFREP errors for anything malformed. */
async function readContext(request: Request): Promise<EvaluationContext> {
  let text: string;
  try {
    text = await readEvaluationText(request, OFREP_BODY_LIMIT);
  } catch (error) {
    if (error instanceof AppError) throw new OfrepError(400, "PARSE_ERROR", error.message);
    throw error;
  }
  return contextOf(text);
}

/** The evaluation context in a body's text, synchronously. */
function contextOf(text: string): EvaluationContext {
  if (text.trim() === "") return {};
  let body: unknown;
  try {
    body = parseJson(text);
  } catch (error) {
    throw new OfrepError(400, "PARSE_ERROR", error instanceof AppError ? error.message : "the body is not valid JSON");
  }
  if (body === null || typeof body !== "object" || Array.isArray(body)) {
    throw new OfrepError(400, "PARSE_ERROR", 'the body must be a JSON object like {"context": {...}}');
  }
  const context = (body as { context?: unknown }).context;
  if (context === undefined) return {};
  if (context === null || typeof context !== "object" || Array.isArray(context)) {
    throw new OfrepError(400, "INVALID_CONTEXT", "context must be an object");
  }
  const targetingKey = (context as { targetingKey?: unknown }).targetingKey;
  if (targetingKey !== undefined && typeof targetingKey !== "string") {
    throw new OfrepError(400, "INVALID_CONTEXT", "context.targetingKey must be a string");
  }
  return context as EvaluationContext;
}

async function currentSnapshot(c: Context<AppEnv>, services: Services): Promise<CompiledSnapshot> {
  const served = services.snapshots(c.env).serve(scheduler(c));
  const snapshot = served instanceof Promise ? await served : served;
  if (snapshot === null) throw OfrepError.of(NOT_READY);
  return snapshot;
}

/** A served value; a code default (a disabled flagd definition, or one without a default variant) has no value or variant: the caller keeps its own (OFREP's value-less success, as flagd answers). */
function successBody(a: Extract<Assignment, { ok: true }>) {
  if (a.codeDefault) return { key: a.key, reason: a.reason, metadata: a.metadata };
  return { key: a.key, value: a.value, reason: a.reason, variant: a.variant, metadata: a.metadata };
}

/**
 * A served outcome's JSON, made once per compiled outcome: every answer a
 * compiled flag gives shares its metadata object, and key, value, reason and
 * variant come with it (the bucket and replicate group are not answered).
 */
const answerText = new WeakMap<object, string>();
function successText(a: Extract<Assignment, { ok: true }>): string {
  let text = answerText.get(a.metadata);
  if (text === undefined) {
    text = JSON.stringify(successBody(a));
    answerText.set(a.metadata, text);
  }
  return text;
}

/** OFREP single evaluation (`POST /ofrep/v1/evaluate/flags/{key}`): the Hono route and the Worker's fast path both answer with this. */
export async function evaluateSingle(services: Services, request: Request, env: Env, schedule: Schedule, key: string): Promise<Response> {
  try {
    // Warm, the body is the only wait: parsing and evaluating are synchronous.
    const context = await readContext(request);
    const pending = evaluateFlag(services, env, schedule, key, context, request);
    const evaluation = pending instanceof Promise ? await pending : pending;
    if (!evaluation.ok) return ofrepError(key, OfrepError.of(evaluation));
    return new Response(successText(evaluation.served), { headers: SINGLE_ANSWER_HEADERS });
  } catch (error) {
    if (error instanceof OfrepError) return ofrepError(key, error);
    console.error("evaluation failed", error);
    return ofrepError(key, new OfrepError(500, "GENERAL", "internal error"));
  }
}

const SINGLE_PREFIX = "/ofrep/v1/evaluate/flags/";

/**
 * The flag key of a plain single-evaluation request — POST, path exactly
 * `/ofrep/v1/evaluate/flags/{key}` with a key needing no decoding, any
 * query ignored — else null, and the request goes through the Hono app,
 * which answers it the same way. The hottest route skips the router: Hono's
 * dispatch was ~7% of a warm evaluation's CPU (npm run bench:edge -- --profile ofrep).
 */
export function singleEvaluationKey(request: Request): string | null {
  if (request.method !== "POST") return null;
  const url = request.url;
  const path = pathStart(url);
  if (!url.startsWith(SINGLE_PREFIX, path)) return null;
  const from = path + SINGLE_PREFIX.length;
  let to = url.indexOf("?", from);
  if (to < 0) to = url.length;
  if (to === from) return null;
  for (let i = from; i < to; i++) {
    const ch = url.charCodeAt(i);
    // "/" is another route; "%" needs decoding and "#" cannot arrive: Hono handles those.
    if (ch === 0x2f || ch === 0x25 || ch === 0x23) return null;
  }
  return url.slice(from, to);
}

export function ofrepRoutes(services: Services) {
  const app = new Hono<AppEnv>();
  const preflight = cors({
    origin: "*",
    allowMethods: ["GET", "POST", "OPTIONS"],
    allowHeaders: ["Content-Type", "If-None-Match", "Authorization", "Last-Event-ID"],
    exposeHeaders: ["ETag"],
    maxAge: 600,
  });
  app.options("*", preflight);

  app.post("/v1/evaluate/flags/:key", (c) => evaluateSingle(services, c.req.raw, c.env, scheduler(c), c.req.param("key")));

  app.get("/v1/flag-changes", (c) => {
    const lastSeen = lastSeenVersion(c.req.header("last-event-id"), c.req.query("lastEventId"));
    return new Response(changeStream(services.snapshots(c.env), scheduler(c), lastSeen), {
      headers: { "content-type": "text/event-stream; charset=utf-8", "cache-control": "no-store", "x-accel-buffering": "no", "access-control-allow-origin": "*" },
    });
  });

  app.post("/v1/evaluate/flags", async (c) => {
    try {
      const context = await readContext(c.req.raw);
      const snapshot = await currentSnapshot(c, services);
      // The ETag changes when the configuration or the context changes, and only then.
      const etag = `"${snapshot.version}-${fingerprint(canonicalJson(context))}"`;
      if (c.req.header("if-none-match") === etag) return new Response(null, { status: 304, headers: { ...CORS_HEADERS, ETag: etag } });
      const flags = [];
      const edge = lazyEdgeLocation(c.req.raw);
      const now = Date.now();
      const scope = snapshotScope(snapshot.flags, (f, ctx) => inWave(f, ctx, edge), 0, now);
      for (const flag of snapshot.flags.values()) {
        const result = assign(inWave(flag, context, edge), context, flag.needsScope ? scope : undefined, now);
        flags.push(result.ok ? successBody(result) : { key: result.key, errorCode: result.errorCode, errorDetails: result.message });
      }
      // The change stream, as OFREP providers look for it; `flagConfigEtag` (a re-fetch hint) needs no more than the ETag does.
      return json({ flags, eventStreams: eventStreamsFor(c.req.url) }, 200, { ETag: etag });
    } catch (error) {
      const failure = error instanceof OfrepError ? error : new OfrepError(500, "GENERAL", "internal error");
      if (!(error instanceof OfrepError)) console.error("bulk evaluation failed", error);
      return ofrepError("", failure);
    }
  });
  return app;
}
