/**
 * Rampart's OpenFeature server provider (Node 18+, any runtime with
 * `fetch`): flags evaluated over OFREP, one call per evaluation (each an
 * exposure, as Rampart counts them) or from a bulk evaluation per context
 * (`mode: "bulk"`, re-fetched with `If-None-Match` after `bulkTtlMs`), and
 * OpenFeature's `track()` sent to Rampart's events with the assignment of
 * every flag evaluated for that context (`../tracking/tracker.ts`).
 *
 *   import { OpenFeature } from "@openfeature/server-sdk";
 *   import { RampartProvider } from "@rampart/openfeature-server";
 *   await OpenFeature.setProviderAndWait(new RampartProvider({ url: "https://flags.example.com", eventsToken }));
 *   const client = OpenFeature.getClient();
 *   const ranker = await client.getStringValue("feed-ranker", "v1", { targetingKey: userId });
 *   client.track("click", { targetingKey: userId });
 *   await OpenFeature.close(); // flushes tracked events
 */
import {
  ErrorCode,
  type EvaluationContext,
  type FlagValueType,
  type JsonValue,
  type Provider,
  type ResolutionDetails,
  type TrackingEventDetails,
} from "@openfeature/server-sdk";
import { resolutionOf, type OfrepAnswer } from "../ofrep/resolution";
import { Tracker, type TrackerOptions } from "../tracking/tracker";

export interface RampartProviderOptions extends TrackerOptions {
  /** `single` (default): one OFREP call per evaluation, each counted as an exposure. `bulk`: one bulk call per context, cached. */
  mode?: "single" | "bulk";
  /** How long a context's bulk answer is used before it is checked again (default 1,000 ms). */
  bulkTtlMs?: number;
  /** Extra headers on OFREP calls (an API gateway's key). */
  headers?: Record<string, string>;
}

const BULK_CONTEXTS = 1_000;

export class RampartProvider implements Provider {
  readonly metadata = { name: "rampart" } as const;
  readonly runsOn = "server" as const;
  readonly tracker: Tracker;
  private readonly bulk = new Map<string, { etag: string | null; at: number; flags: Map<string, OfrepAnswer> }>();

  constructor(private readonly options: RampartProviderOptions) {
    if (!/^https?:\/\//.test(options.url)) throw new TypeError(`RampartProvider: url must be http(s)://… (got "${options.url}")`);
    this.tracker = new Tracker(options);
  }

  resolveBooleanEvaluation(flagKey: string, defaultValue: boolean, context: EvaluationContext): Promise<ResolutionDetails<boolean>> {
    return this.resolve(flagKey, defaultValue, context, "boolean");
  }
  resolveStringEvaluation(flagKey: string, defaultValue: string, context: EvaluationContext): Promise<ResolutionDetails<string>> {
    return this.resolve(flagKey, defaultValue, context, "string");
  }
  resolveNumberEvaluation(flagKey: string, defaultValue: number, context: EvaluationContext): Promise<ResolutionDetails<number>> {
    return this.resolve(flagKey, defaultValue, context, "number");
  }
  resolveObjectEvaluation<T extends JsonValue>(flagKey: string, defaultValue: T, context: EvaluationContext): Promise<ResolutionDetails<T>> {
    return this.resolve(flagKey, defaultValue, context, "object");
  }

  /** OpenFeature's tracking: one event per flag evaluated for `context.targetingKey`, batched. */
  track(trackingEventName: string, context: EvaluationContext, trackingEventDetails: TrackingEventDetails): void {
    this.tracker.track(trackingEventName, context, trackingEventDetails);
  }

  /** Sends what is still queued (OpenFeature.close() calls it). */
  async onClose(): Promise<void> {
    await this.tracker.queue.close();
  }

  private async resolve<T>(flagKey: string, defaultValue: T, context: EvaluationContext, type: FlagValueType): Promise<ResolutionDetails<T>> {
    let answer: OfrepAnswer;
    try {
      answer = this.options.mode === "bulk" ? await this.fromBulk(flagKey, context) : await this.single(flagKey, context);
    } catch (error) {
      return { value: defaultValue, reason: "ERROR", errorCode: ErrorCode.GENERAL, errorMessage: `Rampart unreachable: ${String(error)}` };
    }
    return this.details(flagKey, answer, defaultValue, context, type);
  }

  private details<T>(flagKey: string, answer: OfrepAnswer, defaultValue: T, context: EvaluationContext, type: FlagValueType): ResolutionDetails<T> {
    const targetingKey = typeof context.targetingKey === "string" ? context.targetingKey : undefined;
    return resolutionOf(flagKey, answer, defaultValue, type, (metadata) => this.tracker.served(targetingKey, flagKey, metadata)) as ResolutionDetails<T>;
  }

  private base(): string {
    return this.options.url.replace(/\/$/, "");
  }

  private async post(path: string, context: EvaluationContext, headers: Record<string, string> = {}): Promise<Response> {
    const fetcher = this.options.fetch ?? globalThis.fetch.bind(globalThis);
    return fetcher(`${this.base()}${path}`, { method: "POST", headers: { "content-type": "application/json", ...this.options.headers, ...headers }, body: JSON.stringify({ context }) });
  }

  private async single(flagKey: string, context: EvaluationContext): Promise<OfrepAnswer> {
    const response = await this.post(`/ofrep/v1/evaluate/flags/${encodeURIComponent(flagKey)}`, context);
    return answerOf(response, flagKey);
  }

  private async fromBulk(flagKey: string, context: EvaluationContext): Promise<OfrepAnswer> {
    const id = JSON.stringify(context, Object.keys(context).sort());
    const cached = this.bulk.get(id);
    const now = Date.now();
    if (!cached || now - cached.at > (this.options.bulkTtlMs ?? 1_000)) {
      const response = await this.post("/ofrep/v1/evaluate/flags", context, cached?.etag ? { "if-none-match": cached.etag } : {});
      if (response.status === 304 && cached) cached.at = now;
      else if (response.ok) {
        const body = (await response.json()) as { flags?: OfrepAnswer[] };
        const flags = new Map((body.flags ?? []).map((f) => [f.key ?? "", f]));
        this.bulk.delete(id);
        this.bulk.set(id, { etag: response.headers.get("etag"), at: now, flags });
        for (const old of this.bulk.keys()) {
          if (this.bulk.size <= BULK_CONTEXTS) break;
          this.bulk.delete(old);
        }
      } else return answerOf(response, flagKey);
    }
    return this.bulk.get(id)?.flags.get(flagKey) ?? { errorCode: ErrorCode.FLAG_NOT_FOUND, errorDetails: `flag "${flagKey}" does not exist` };
  }
}

async function answerOf(response: Response, flagKey: string): Promise<OfrepAnswer> {
  const body = (await response.json().catch(() => null)) as OfrepAnswer | null;
  if (body && typeof body === "object") return body;
  return { errorCode: ErrorCode.GENERAL, errorDetails: `flag "${flagKey}": Rampart answered ${response.status}` };
}

export { Tracker } from "../tracking/tracker";
export { EventQueue, retryAfterMs } from "../tracking/event-queue";
