/**
 * OpenFeature tracking (spec §6, `track(eventName, context, details)`) for
 * Rampart: each tracked event is sent once for every flag evaluated for the
 * same targeting key, carrying the assignment token that evaluation's
 * metadata held, so it is credited to the exposure that caused it — the
 * team writes no attribution code. Tokens are remembered per targeting key,
 * for at most `maxContexts` keys (least recently evaluated go first).
 */
import { EventQueue, type EventQueueOptions } from "./event-queue";

/** What the providers read of OpenFeature's context and details (no SDK import: both SDKs share it). */
export interface TrackContext {
  targetingKey?: string;
  [attribute: string]: unknown;
}
export interface TrackDetails {
  value?: number;
  [attribute: string]: unknown;
}

const EVENT_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;

export interface TrackerOptions extends EventQueueOptions {
  /** Targeting keys whose assignments are remembered (default 10,000). */
  maxContexts?: number;
}

export class Tracker {
  readonly queue: EventQueue;
  private readonly assignments = new Map<string, Map<string, string>>();
  /** Exposure events already sent, by targeting key, flag and assignment (`exposeOnce`). */
  private readonly exposed = new Set<string>();

  constructor(private readonly options: TrackerOptions) {
    this.queue = new EventQueue(options);
  }

  /** Remembers the token an evaluation's metadata carried (a rollout's or an experiment's); outcomes without one are no exposure. */
  remember(targetingKey: string | undefined, flag: string, metadata: Readonly<Record<string, unknown>> | undefined): void {
    const token = metadata?.["assignment"];
    if (typeof targetingKey !== "string" || targetingKey === "" || typeof token !== "string") return;
    let flags = this.assignments.get(targetingKey);
    if (flags) this.assignments.delete(targetingKey);
    else flags = new Map();
    flags.set(flag, token);
    this.assignments.set(targetingKey, flags);
    const max = this.options.maxContexts ?? 10_000;
    for (const oldest of this.assignments.keys()) {
      if (this.assignments.size <= max) break;
      this.assignments.delete(oldest);
    }
  }

  /** A served value: its token remembered for `track()`, and its exposure sent when the flag counts them from events. */
  served(targetingKey: string | undefined, flag: string, metadata: Readonly<Record<string, unknown>>): void {
    this.remember(targetingKey, flag, metadata);
    this.exposeOnce(targetingKey, flag, metadata);
  }

  /**
   * A flag counting exposures from events (its metadata says `exposures:
   * "events"`): one `exposure` event per targeting key and assignment, the
   * first time its value is read — evaluation itself counts none there.
   */
  exposeOnce(targetingKey: string | undefined, flag: string, metadata: Readonly<Record<string, unknown>>): void {
    const assignment = metadata["assignment"];
    if (metadata["exposures"] !== "events" || targetingKey === undefined || typeof assignment !== "string") return;
    const id = `${targetingKey}\u0000${flag}\u0000${assignment}`;
    if (this.exposed.has(id)) return;
    this.exposed.add(id);
    // Bounded like the assignments: the oldest are forgotten (at worst an exposure is sent again, and deduplicated by nothing: rare).
    if (this.exposed.size > (this.options.maxContexts ?? 10_000) * 4) this.exposed.delete(this.exposed.values().next().value as string);
    this.queue.push({ eventId: crypto.randomUUID(), flag, name: "exposure", targetingKey, assignment, timestamp: Date.now() });
  }

  /** The flags evaluated for a targeting key, with their tokens. */
  assignmentsOf(targetingKey: string): ReadonlyMap<string, string> {
    return this.assignments.get(targetingKey) ?? new Map();
  }

  /** One event per flag evaluated for the context's targeting key, each with a unique id. */
  track(eventName: string, context: TrackContext, details: TrackDetails | undefined): number {
    const report = this.options.onError ?? ((m: string) => console.warn(`rampart: ${m}`));
    if (!EVENT_NAME.test(eventName)) {
      report(`track("${eventName}"): event names use A-Z a-z 0-9 _ . : - (1–64 characters); not sent`);
      return 0;
    }
    const targetingKey = context.targetingKey;
    if (typeof targetingKey !== "string" || targetingKey === "") {
      report(`track("${eventName}") needs the context's targetingKey, to find the flags evaluated for it; not sent`);
      return 0;
    }
    const value = details?.value;
    if (value !== undefined && !(typeof value === "number" && Number.isFinite(value))) {
      report(`track("${eventName}"): details.value must be a finite number; not sent`);
      return 0;
    }
    const id = crypto.randomUUID();
    const timestamp = Date.now();
    let i = 0;
    for (const [flag, assignment] of this.assignmentsOf(targetingKey)) {
      this.queue.push({ eventId: `${id}.${i++}`, flag, name: eventName, targetingKey, assignment, ...(value !== undefined ? { value } : {}), timestamp });
    }
    return i;
  }
}
