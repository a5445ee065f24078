/**
 * Events sent to POST /v1/events: the envelope is checked as a whole, each
 * event on its own so that one bad event is rejected with its index while
 * the rest are accepted.
 */
import { z } from "zod";
import { dictSchema } from "./dict";
import { ArmSchema, FlagKeySchema } from "./manifest";

export const MAX_EVENTS_PER_CALL = 1000;
/** How far in the future an event's timestamp may be (clock skew). */
export const MAX_FUTURE_SKEW_MS = 5 * 60_000;
/** How old an event may be: as long as event ids are remembered for deduplication. */
export const MAX_EVENT_AGE_MS = 7 * 86_400_000;

export const EventsEnvelopeSchema = z.strictObject({
  events: z.array(z.unknown()).min(1, "send at least one event").max(MAX_EVENTS_PER_CALL, `at most ${MAX_EVENTS_PER_CALL} events per call`),
});

const ContextValueSchema = z.union([z.string().max(512), z.number(), z.boolean(), z.null()]);
/** Context attributes of an event: keys chosen by clients, so a prototype-free dictionary; at most 64 attributes. */
const ContextSchema = dictSchema(ContextValueSchema).refine((d) => Object.keys(d).length <= 64, "at most 64 context attributes");

export const EventSchema = z
  .strictObject({
    eventId: z.string().min(1).max(128),
    flag: FlagKeySchema,
    targetingKey: z.string().min(1).max(512),
    name: z.string().regex(/^[A-Za-z0-9_.:-]{1,64}$/, "event names use A-Z a-z 0-9 _ . : - (1–64 characters)"),
    value: z.number().refine(Number.isFinite, "must be a finite number").optional(),
    variant: z.string().max(64).optional(),
    /** The `assignment` token from the evaluation's metadata ("generation.stage.arm"): credits the event to that exposure exactly. */
    assignment: z.string().max(80).optional(),
    /** The evaluation context's attributes (scope attributes, the stickiness attribute), for events without `assignment` or `variant`. */
    context: ContextSchema.optional(),
    /** ISO 8601 or milliseconds since the epoch; defaults to the time of receipt. */
    timestamp: z.union([z.iso.datetime({ offset: true }), z.int().min(0)]).optional(),
  })
  .superRefine((event, ctx) => {
    if (event.name === "latency_ms" && (event.value === undefined || event.value < 0)) {
      ctx.addIssue({ code: "custom", path: ["value"], message: "latency_ms needs a value ≥ 0 (milliseconds)" });
    }
    if (event.name === "comparison" && event.value !== 0 && event.value !== 1) {
      ctx.addIssue({ code: "custom", path: ["value"], message: "comparison needs value 1 (agree) or 0 (disagree)" });
    }
  });
export type IncomingEvent = z.infer<typeof EventSchema>;

/** The event's time in ms, or null when it lies outside [now − 7 d, now + 5 min]. */
export function eventTime(event: IncomingEvent, now: number): number | null {
  const t = event.timestamp === undefined ? now : typeof event.timestamp === "number" ? event.timestamp : Date.parse(event.timestamp);
  if (!Number.isFinite(t) || t > now + MAX_FUTURE_SKEW_MS || t < now - MAX_EVENT_AGE_MS) return null;
  return t;
}

/** An event as the edge hands it to the flag's FlagDO, which credits it (`core/attribution.ts`). */
export const ForwardedEventSchema = z.strictObject({
  id: z.string().min(1).max(128),
  name: z.string().min(1).max(64),
  value: z.number().optional(),
  variant: ArmSchema.optional(),
  assignment: z.string().max(80).optional(),
  targetingKey: z.string().min(1).max(512),
  context: ContextSchema.optional(),
  /** The event's time in ms (its timestamp, else the time of receipt). */
  at: z.number(),
});
export type ForwardedEvent = z.infer<typeof ForwardedEventSchema>;
