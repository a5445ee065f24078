/**
 * Rampart's OpenFeature web provider (browsers): every flag fetched by one
 * OFREP bulk evaluation per context, kept up to date by Rampart's change
 * stream (`/ofrep/v1/flag-changes`, server-sent events) and re-fetched with
 * `If-None-Match`, so evaluation is synchronous and a change costs one small
 * request. `track()` sends Rampart events with the assignment of every flag
 * evaluated for the context (`../tracking/tracker.ts`). A bulk evaluation
 * counts no exposure, so for a flag with `exposures: events` (its metadata
 * says so) the provider sends one `exposure` event the first time a value
 * is evaluated under each assignment. Queued events are sent when the page
 * is hidden (`fetch` with `keepalive`, which unlike `sendBeacon` carries the
 * events token) and on `OpenFeature.close()`.
 *
 *   import { OpenFeature } from "@openfeature/web-sdk";
 *   import { RampartWebProvider } from "@rampart/openfeature-web";
 *   await OpenFeature.setContext({ targetingKey: userId });
 *   await OpenFeature.setProviderAndWait(new RampartWebProvider({ url: "https://flags.example.com", eventsToken }));
 *   const layout = OpenFeature.getClient().getStringValue("feed-layout", "grid");
 *   OpenFeature.getClient().track("click");
 */
import {
  ErrorCode,
  OpenFeatureEventEmitter,
  ProviderEvents,
  type EvaluationContext,
  type FlagValueType,
  type JsonValue,
  type Provider,
  type ResolutionDetails,
  type TrackingEventDetails,
} from "@openfeature/web-sdk";
import { resolutionOf, type OfrepAnswer } from "../ofrep/resolution";
import { Tracker, type TrackerOptions } from "../tracking/tracker";

export interface RampartWebProviderOptions extends TrackerOptions {
  /** Listen to Rampart's change stream and re-fetch on a change (default true). */
  changes?: boolean;
}

export class RampartWebProvider implements Provider {
  readonly metadata = { name: "rampart-web" } as const;
  readonly runsOn = "client" as const;
  readonly events = new OpenFeatureEventEmitter();
  readonly tracker: Tracker;
  private flags = new Map<string, OfrepAnswer>();
  private etag: string | null = null;
  private context: EvaluationContext = {};
  private stream: EventSource | null = null;
  private readonly onHide = () => {
    if (typeof document === "undefined" || document.visibilityState === "hidden") this.sendForUnload();
  };

  constructor(private readonly options: RampartWebProviderOptions) {
    if (!/^https?:\/\//.test(options.url)) throw new TypeError(`RampartWebProvider: url must be http(s)://… (got "${options.url}")`);
    this.tracker = new Tracker(options);
  }

  async initialize(context?: EvaluationContext): Promise<void> {
    this.context = context ?? {};
    await this.refetch(false);
    if (this.options.changes !== false && typeof EventSource !== "undefined") {
      this.stream = new EventSource(`${this.base()}/ofrep/v1/flag-changes`);
      this.stream.onmessage = () => void this.refetch(true).catch((error: unknown) => this.events.emit(ProviderEvents.Stale, { message: String(error) }));
    }
    if (typeof document !== "undefined") document.addEventListener("visibilitychange", this.onHide);
    if (typeof window !== "undefined") window.addEventListener("pagehide", this.onHide);
  }

  async onContextChange(_oldContext: EvaluationContext, newContext: EvaluationContext): Promise<void> {
    this.context = newContext;
    this.etag = null;
    await this.refetch(false);
  }

  resolveBooleanEvaluation(flagKey: string, defaultValue: boolean, context: EvaluationContext): ResolutionDetails<boolean> {
    return this.resolve(flagKey, defaultValue, context, "boolean");
  }
  resolveStringEvaluation(flagKey: string, defaultValue: string, context: EvaluationContext): ResolutionDetails<string> {
    return this.resolve(flagKey, defaultValue, context, "string");
  }
  resolveNumberEvaluation(flagKey: string, defaultValue: number, context: EvaluationContext): ResolutionDetails<number> {
    return this.resolve(flagKey, defaultValue, context, "number");
  }
  resolveObjectEvaluation<T extends JsonValue>(flagKey: string, defaultValue: T, context: EvaluationContext): ResolutionDetails<T> {
    return this.resolve(flagKey, defaultValue, context, "object");
  }

  track(trackingEventName: string, context: EvaluationContext, trackingEventDetails: TrackingEventDetails): void {
    this.tracker.track(trackingEventName, context, trackingEventDetails);
  }

  async onClose(): Promise<void> {
    this.stream?.close();
    if (typeof document !== "undefined") document.removeEventListener("visibilitychange", this.onHide);
    if (typeof window !== "undefined") window.removeEventListener("pagehide", this.onHide);
    await this.tracker.queue.close();
  }

  private base(): string {
    return this.options.url.replace(/\/$/, "");
  }

  /** One bulk evaluation for the current context; 304 keeps what is held. */
  private async refetch(changed: boolean): Promise<void> {
    const fetcher = this.options.fetch ?? globalThis.fetch.bind(globalThis);
    const response = await fetcher(`${this.base()}/ofrep/v1/evaluate/flags`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(this.etag ? { "if-none-match": this.etag } : {}) },
      body: JSON.stringify({ context: this.context }),
    });
    if (response.status === 304) return;
    if (!response.ok) throw new Error(`Rampart bulk evaluation answered ${response.status}`);
    const body = (await response.json()) as { flags?: OfrepAnswer[] };
    this.flags = new Map((body.flags ?? []).map((f) => [f.key ?? "", f]));
    this.etag = response.headers.get("etag");
    if (changed) this.events.emit(ProviderEvents.ConfigurationChanged, { flagsChanged: [...this.flags.keys()] });
  }

  private resolve<T>(flagKey: string, defaultValue: T, context: EvaluationContext, type: FlagValueType): ResolutionDetails<T> {
    const answer = this.flags.get(flagKey);
    if (answer === undefined) return { value: defaultValue, reason: "ERROR", errorCode: ErrorCode.FLAG_NOT_FOUND, errorMessage: `flag "${flagKey}" does not exist` };
    const targetingKey = typeof context.targetingKey === "string" ? context.targetingKey : undefined;
    return resolutionOf(flagKey, answer, defaultValue, type, (metadata) => this.tracker.served(targetingKey, flagKey, metadata)) as ResolutionDetails<T>;
  }

  /** The page is going away: what is queued leaves now, in requests the browser finishes after the page is gone. */
  private sendForUnload(): void {
    const fetcher = this.options.fetch ?? globalThis.fetch.bind(globalThis);
    const headers = { "content-type": "application/json", ...(this.options.eventsToken ? { authorization: `Bearer ${this.options.eventsToken}` } : {}) };
    for (let body = this.tracker.queue.drainForUnload(); body !== null; body = this.tracker.queue.drainForUnload()) {
      void fetcher(`${this.base()}/v1/events`, { method: "POST", headers, body, keepalive: true }).catch(() => undefined);
    }
  }
}

export { Tracker } from "../tracking/tracker";
export { EventQueue, retryAfterMs } from "../tracking/event-queue";
