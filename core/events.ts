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

/** Limits of an event's fields: the schema's, and what OTLP's outcomes (`core/otlp/outcomes.ts`) keep to by construction. */
export const EVENT_LIMITS = { eventId: 128, targetingKey: 512, variant: 64, assignment: 80 } as const;
export const EVENT_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
export const EVENT_NAME_RULE = "event names use A-Z a-z 0-9 _ . : - (1–64 characters)";

/** What the named kinds ask of an event's value: `latency_ms` a duration, `comparison` a verdict. */
export function eventValueProblem(name: string, value: number | undefined): string | null {
  if (name === "latency_ms" && (value === undefined || value < 0)) return "latency_ms needs a value ≥ 0 (milliseconds)";
  if (name === "comparison" && value !== 0 && value !== 1) return "comparison needs value 1 (agree) or 0 (disagree)";
  return null;
}

export const EventSchema = z
  .strictObject({
    eventId: z.string().min(1).max(EVENT_LIMITS.eventId),
    flag: FlagKeySchema,
    targetingKey: z.string().min(1).max(EVENT_LIMITS.targetingKey),
    name: z.string().regex(EVENT_NAME, EVENT_NAME_RULE),
    value: z.number().refine(Number.isFinite, "must be a finite number").optional(),
    variant: z.string().max(EVENT_LIMITS.variant).optional(),
    /** The `assignment` token from the evaluation's metadata ("generation.stage.arm"): credits the event to that exposure exactly. */
    assignment: z.string().max(EVENT_LIMITS.assignment).optional(),
    /** The evaluation context's attributes (scope attributes, the stickiness attribute), for events without `assignment` or `variant`. */
    context: ContextSchema.optional(),
    /** ISO 8601 or milliseconds since the epoch; defaults to the time of receipt. */
    timestamp: z.union([z.iso.datetime({ offset: true }), z.int().min(0)]).optional(),
  })
  .superRefine((event, ctx) => {
    const problem = eventValueProblem(event.name, event.value);
    if (problem !== null) ctx.addIssue({ code: "custom", path: ["value"], message: problem });
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
  id: z.string().min(1).max(EVENT_LIMITS.eventId),
  name: z.string().min(1).max(64),
  value: z.number().optional(),
  variant: ArmSchema.optional(),
  assignment: z.string().max(EVENT_LIMITS.assignment).optional(),
  targetingKey: z.string().min(1).max(EVENT_LIMITS.targetingKey),
  context: ContextSchema.optional(),
  /** The event's time in ms (its timestamp, else the time of receipt). */
  at: z.number(),
});
export type ForwardedEvent = z.infer<typeof ForwardedEventSchema>;

/**
 * Forwarded events as one RPC carries them to their object: a column per
 * field. Structured clone writes every property name of every object, so
 * 600 events as objects cost several times what seven arrays do, on both
 * sides of the call (docs/benchmarks.md, "OTLP ingestion").
 */
export interface ForwardedColumns {
  id: string[];
  name: string[];
  value: (number | null)[];
  variant: (ForwardedEvent["variant"] | null)[];
  assignment: (string | null)[];
  targetingKey: string[];
  context: (ForwardedEvent["context"] | null)[];
  at: number[];
}

export function toColumns(events: readonly ForwardedEvent[]): ForwardedColumns {
  const columns: ForwardedColumns = { id: [], name: [], value: [], variant: [], assignment: [], targetingKey: [], context: [], at: [] };
  for (const e of events) {
    columns.id.push(e.id);
    columns.name.push(e.name);
    columns.value.push(e.value ?? null);
    columns.variant.push(e.variant ?? null);
    columns.assignment.push(e.assignment ?? null);
    columns.targetingKey.push(e.targetingKey);
    columns.context.push(e.context ?? null);
    columns.at.push(e.at);
  }
  return columns;
}

export function fromColumns(columns: ForwardedColumns): ForwardedEvent[] {
  const events: ForwardedEvent[] = [];
  for (let i = 0; i < columns.id.length; i++) {
    const event: ForwardedEvent = { id: columns.id[i] as string, name: columns.name[i] as string, targetingKey: columns.targetingKey[i] as string, at: columns.at[i] as number };
    const value = columns.value[i];
    const variant = columns.variant[i];
    const assignment = columns.assignment[i];
    const context = columns.context[i];
    if (value !== null && value !== undefined) event.value = value;
    if (variant !== null && variant !== undefined) event.variant = variant;
    if (assignment !== null && assignment !== undefined) event.assignment = assignment;
    if (context !== null && context !== undefined) event.context = context;
    events.push(event);
  }
  return events;
}
