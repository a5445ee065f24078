/**
 * POST /v1/events: validated at the edge, grouped by flag, and sent in one
 * RPC per flag. Each FlagDO credits every event to the exposure that caused
 * it (`core/attribution.ts`: the echoed assignment, else the variant at the
 * event's time, else the unit re-assigned against the flag's history) and
 * drops event ids it has already seen, so a replayed batch changes no counter.
 */
import { Hono } from "hono";
import { inWave, parseAssignmentToken } from "../../core/assign";
import { waveObjectName } from "../../core/waves";
import { lazyEdgeLocation } from "../edge-location";
import { plainCopy } from "../../core/dict";
import { EventSchema, EventsEnvelopeSchema, eventTime, MAX_EVENT_AGE_MS, MAX_FUTURE_SKEW_MS } from "../../core/events";
import { summarizeIssues, toIssues } from "../../core/issues";
import { flagStub } from "../../durable-objects/flag-stub";
import type { ForwardedEvent } from "../../core/events";
import { bearerToken, secretsEqual } from "../auth";
import { ADMIN_BODY_LIMIT, readJson } from "../body";
import { scheduler, type AppEnv, type Services } from "../context";
import { AppError, invalidInput } from "../errors";

interface Rejection {
  index: number;
  error: string;
  message: string;
}

let warnedOpen = false;
/** Once per isolate: events without EVENTS_TOKEN are open to anyone who can reach the Worker. */
function warnOpenOnce(): void {
  if (warnedOpen) return;
  warnedOpen = true;
  console.warn("EVENTS_TOKEN is not set: POST /v1/events accepts events from anyone, who can then sway the gates; set it in production");
}

export function eventRoutes(services: Services) {
  const app = new Hono<AppEnv>();
  app.post("/events", async (c) => {
    const now = Date.now();
    const token = c.env.EVENTS_TOKEN;
    let client: string;
    if (token) {
      const given = bearerToken(c.req.header("authorization"));
      if (!given || !(await secretsEqual(given, token))) {
        throw new AppError(401, "unauthorized", "send Authorization: Bearer <EVENTS_TOKEN>", undefined, { "WWW-Authenticate": 'Bearer realm="rampart-events"' });
      }
      // The limit is keyed on something the caller cannot choose: the token's identity, else the address Cloudflare saw.
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
    const envelope = EventsEnvelopeSchema.safeParse(await readJson(c.req.raw, ADMIN_BODY_LIMIT));
    if (!envelope.success) throw invalidInput("the events body is not valid", toIssues(envelope.error.issues));
    const served = services.snapshots(c.env).serve(scheduler(c));
    const snapshot = served instanceof Promise ? await served : served;
    if (snapshot === null) {
      throw new AppError(503, "unavailable", "flag configuration is not available yet; retry", undefined, { "Retry-After": "1" });
    }

    const rejected: Rejection[] = [];
    /** Events by the object that credits them: the flag's own, or its region wave's. */
    const byFlag = new Map<string, { indexes: number[]; events: ForwardedEvent[] }>();
    const edge = lazyEdgeLocation(c.req.raw);
    envelope.data.events.forEach((raw, index) => {
      const parsed = EventSchema.safeParse(raw);
      if (!parsed.success) {
        rejected.push({ index, error: "invalid_event", message: summarizeIssues(toIssues(parsed.error.issues)) });
        return;
      }
      const event = parsed.data;
      const flag = snapshot.flags.get(event.flag);
      if (!flag) return rejected.push({ index, error: "unknown_flag", message: `flag "${event.flag}" does not exist` });
      const time = eventTime(event, now);
      if (time === null) {
        return rejected.push({ index, error: "timestamp_out_of_range", message: `timestamp must be within ${MAX_EVENT_AGE_MS / 86_400_000} days before and ${MAX_FUTURE_SKEW_MS / 60_000} minutes after now` });
      }
      if (event.name === "exposure" && flag.source.exposures === "served") {
        return rejected.push({ index, error: "exposure_not_counted", message: `flag "${event.flag}" counts served exposures; exposure events would count twice` });
      }
      if (event.variant !== undefined && event.variant !== "baseline" && event.variant !== "candidate") {
        return rejected.push({ index, error: "unknown_variant", message: `variant must be "baseline" or "candidate" (got "${event.variant}")` });
      }
      const token = event.assignment === undefined ? null : parseAssignmentToken(event.assignment);
      if (event.assignment !== undefined && token === null) {
        return rejected.push({ index, error: "invalid_assignment", message: `assignment must be the token evaluation metadata carries, like "3.1.c" (got "${event.assignment}")` });
      }
      const waves = flag.waves?.flags.length ?? 1;
      if (token !== null && token.wave > waves) {
        return rejected.push({ index, error: "invalid_assignment", message: `assignment names wave ${token.wave}; flag "${event.flag}" has ${waves}` });
      }
      // The wave the echoed assignment names, else the one the event's context (or this location) places it in.
      const target = token !== null ? waveObjectName(event.flag, token.wave) : inWave(flag, event.context ?? {}, edge).counterKey;
      const group = byFlag.get(target) ?? { indexes: [], events: [] };
      group.indexes.push(index);
      group.events.push({
        id: event.eventId,
        name: event.name,
        ...(event.value !== undefined ? { value: event.value } : {}),
        ...(event.variant !== undefined ? { variant: event.variant } : {}),
        ...(event.assignment !== undefined ? { assignment: event.assignment } : {}),
        targetingKey: event.targetingKey,
        ...(event.context !== undefined ? { context: plainCopy(event.context) } : {}),
        at: time,
      });
      byFlag.set(target, group);
    });

    let accepted = 0;
    let duplicates = 0;
    await Promise.all(
      [...byFlag].map(async ([key, group]) => {
        try {
          const result = await flagStub(c.env, key).ingestEvents(group.events, now);
          accepted += result.accepted;
          duplicates += result.duplicates;
        } catch (error) {
          console.error(`events for ${key} not stored`, error);
          for (const index of group.indexes) rejected.push({ index, error: "unavailable", message: "not stored; send it again (event ids make retries safe)" });
        }
      }),
    );
    rejected.sort((a, b) => a.index - b.index);
    return c.json({ accepted, duplicates, rejected }, 202);
  });
  return app;
}
