/**
 * POST /v1/events: validated at the edge (`core/event-check.ts`), grouped
 * by the object that credits them, and sent in one RPC per object. Each
 * FlagDO credits every event to the exposure that caused it
 * (`core/attribution.ts`: the echoed assignment, else the variant at the
 * event's time, else the unit re-assigned against the flag's history) and
 * drops event ids it has already seen, so a replayed batch changes no
 * counter. An object whose flag was deleted refuses its events, so an
 * isolate that has not yet seen the delete answers `unknown_flag` too:
 * an event answered `accepted` is always counted.
 */
import { Hono, type MiddlewareHandler } from "hono";
import { cors } from "hono/cors";
import { checkEvent, deletedFlag, type EventRefusal } from "../../core/event-check";
import { NOT_READY } from "../../core/evaluation-outcome";
import { EventSchema, EventsEnvelopeSchema, toColumns, type ForwardedEvent, type IncomingEvent } from "../../core/events";
import { summarizeIssues, toIssues } from "../../core/issues";
import { flagStub } from "../../durable-objects/flag/stub";
import { bearerToken, secretsEqual } from "../auth";
import { ADMIN_BODY_LIMIT, readJson } from "../body";
import { scheduler, type AppEnv, type Services } from "../context";
import { lazyEdgeLocation } from "../edge-location";
import { AppError, evaluationUnavailable, invalidInput } from "../errors";
import type { CompiledSnapshot } from "../../core/compile";

export interface Rejection {
  index: number;
  error: EventRefusal;
  message: string;
}

/** Events by the object that credits them, with their indexes in the call. */
export type Batches = Map<string, { flag: string; indexes: number[]; events: ForwardedEvent[] }>;

export type EventsEnv = AppEnv & { Variables: { eventClient: string } };

let warnedOpen = false;
/** Once per isolate: events without EVENTS_TOKEN are open to anyone who can reach the Worker. */
function warnOpenOnce(): void {
  if (warnedOpen) return;
  warnedOpen = true;
  console.warn("EVENTS_TOKEN is not set: POST /v1/events accepts events from anyone, who can then sway the gates; set it in production");
}

/**
 * The events token as a bearer check (like hono's `bearerAuth`, with the
 * comparison in constant time), then the rate limits, keyed on something
 * the caller cannot choose: the token's identity, else the address
 * Cloudflare saw.
 */
export function eventsAuth(services: Services): MiddlewareHandler<EventsEnv> {
  return async (c, next) => {
    const now = Date.now();
    const token = c.env.EVENTS_TOKEN;
    let client: string;
    if (token) {
      const given = bearerToken(c.req.header("authorization"));
      if (!given || !(await secretsEqual(given, token))) {
        throw new AppError(401, "unauthorized", "send Authorization: Bearer <EVENTS_TOKEN>", undefined, { "WWW-Authenticate": 'Bearer realm="rampart-events"' });
      }
      client = "token:events";
    } else {
      warnOpenOnce();
      client = `ip:${c.req.header("cf-connecting-ip") ?? "unknown"}`;
    }
    const retryAfter = services.eventLimiter(c.env).take(client, now);
    if (retryAfter > 0) {
      throw new AppError(429, "rate_limited", `too many event calls from this client; retry in ${retryAfter} s`, undefined, { "Retry-After": String(retryAfter) });
    }
    const global = c.env.EVENTS_RATE_LIMITER as RateLimit | undefined;
    if (global && !(await global.limit({ key: client })).success) {
      throw new AppError(429, "rate_limited", "too many event calls from this client across this location; retry in 60 s", undefined, { "Retry-After": "60" });
    }
    c.set("eventClient", client);
    await next();
  };
}

export function eventRoutes(services: Services) {
  const app = new Hono<EventsEnv>();
  // Browsers post events from the app's own origin (the web provider in sdk/web): answers, refusals included, are readable
  // cross-origin, and a preflight is answered before the token is checked (it carries none). The events token is write-only.
  app.use("/events", cors({ origin: "*", allowMethods: ["POST", "OPTIONS"], allowHeaders: ["Content-Type", "Authorization"], exposeHeaders: ["Retry-After"], maxAge: 600 }));
  app.post("/events", eventsAuth(services), async (c) => {
    const now = Date.now();
    // 1. The envelope, then the snapshot the events are checked against.
    const envelope = EventsEnvelopeSchema.safeParse(await readJson(c.req.raw, ADMIN_BODY_LIMIT));
    if (!envelope.success) throw invalidInput("the events body is not valid", toIssues(envelope.error.issues));
    const served = services.snapshots(c.env).serve(scheduler(c));
    const snapshot = served instanceof Promise ? await served : served;
    if (snapshot === null) throw evaluationUnavailable(NOT_READY);
    // 2. Each event checked on its own and grouped by the object that credits it.
    const { batches, rejected } = sortEvents(envelope.data.events, snapshot, now, lazyEdgeLocation(c.req.raw));
    // 3. One RPC per object; what an object could not store (or refused, its flag deleted) is rejected by index.
    const { accepted, duplicates } = await storeEvents(c.env, batches, now, rejected);
    rejected.sort((a, b) => a.index - b.index);
    return c.json({ accepted, duplicates, rejected }, 202);
  });
  return app;
}

export function sortEvents(events: readonly unknown[], snapshot: CompiledSnapshot, now: number, edge: ReturnType<typeof lazyEdgeLocation>): { batches: Batches; rejected: Rejection[] } {
  return sortCheckedEvents(
    events.map((raw) => {
      const parsed = EventSchema.safeParse(raw);
      return parsed.success ? parsed.data : summarizeIssues(toIssues(parsed.error.issues));
    }),
    snapshot,
    now,
    edge,
  );
}

/** Events already of the schema's shape (a string: why one is not, refused as `invalid_event`), checked against their flags and grouped by object. */
export function sortCheckedEvents(events: readonly (IncomingEvent | string)[], snapshot: CompiledSnapshot, now: number, edge: ReturnType<typeof lazyEdgeLocation>): { batches: Batches; rejected: Rejection[] } {
  const rejected: Rejection[] = [];
  const batches: Batches = new Map();
  events.forEach((event, index) => {
    if (typeof event === "string") return rejected.push({ index, error: "invalid_event", message: event });
    const checked = checkEvent(event, snapshot.flags.get(event.flag), now, edge);
    if (!checked.ok) return rejected.push({ index, error: checked.error, message: checked.message });
    let batch = batches.get(checked.target);
    if (batch === undefined) batches.set(checked.target, (batch = { flag: event.flag, indexes: [], events: [] }));
    batch.indexes.push(index);
    batch.events.push(checked.event);
  });
  return { batches, rejected };
}

export async function storeEvents(env: Env, batches: Batches, now: number, rejected: Rejection[]): Promise<{ accepted: number; duplicates: number }> {
  let accepted = 0;
  let duplicates = 0;
  // Each call holds only what its answer needs (the flag and the indexes), not the events: an event batch held while the
  // call is out would outlive the young generation (so `batches` is emptied once the calls are made).
  const calls = [...batches].map(([key, batch]) => ({ key, flag: batch.flag, indexes: batch.indexes, call: flagStub(env, key).ingestEvents(toColumns(batch.events), now) }));
  batches.clear();
  await Promise.all(
    calls.map(async ({ key, flag, indexes, call }) => {
      try {
        const result = await call;
        if (result.deleted) {
          const refusal = deletedFlag(flag);
          for (const index of indexes) rejected.push({ index, error: refusal.error, message: refusal.message });
          return;
        }
        accepted += result.accepted;
        duplicates += result.duplicates;
      } catch (error) {
        console.error(`events for ${key} not stored`, error);
        for (const index of indexes) rejected.push({ index, error: "unavailable", message: "not stored; send it again (event ids make retries safe)" });
      }
    }),
  );
  return { accepted, duplicates };
}
