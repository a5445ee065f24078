/**
 * The providers' event queue: tracked events batched to `POST /v1/events`,
 * each with its own id, so a batch sent again after a lost reply is counted
 * once (the flag's object claims every id once). Memory is bounded: past
 * `maxBuffered` events the oldest are dropped and counted. A batch that
 * fails with 429, a 5xx or a network error is sent again, the same body,
 * after an exponential backoff with jitter, or after `Retry-After` when the
 * answer gives one (RFC 9110 §10.2.3); other 4xx answers are not retried,
 * since the same body would be refused again. Events the answer rejects one
 * by one are reported, never retried.
 */

export interface TrackedEvent {
  eventId: string;
  flag: string;
  name: string;
  targetingKey: string;
  assignment: string;
  value?: number;
  timestamp: number;
}

export interface EventQueueOptions {
  /** Rampart's base URL. */
  url: string;
  /** `EVENTS_TOKEN`, sent as a bearer token. */
  eventsToken?: string;
  /** Sends a batch at most this long after its first event (default 1,000 ms). */
  flushIntervalMs?: number;
  /** Events per call (default 100, at most 1,000: the route's limit). */
  maxBatch?: number;
  /** Events held at most; the oldest go first (default 10,000). */
  maxBuffered?: number;
  /** Attempts per batch before it is dropped (default 6). */
  maxAttempts?: number;
  /** First backoff (default 250 ms), doubled per attempt, capped at 30 s. */
  backoffMs?: number;
  fetch?: typeof fetch;
  /** Told of dropped, rejected or undeliverable events (default: console.warn). */
  onError?: (message: string) => void;
}

interface Batch {
  body: string;
  size: number;
  attempts: number;
}

export class EventQueue {
  private buffer: TrackedEvent[] = [];
  private timer: ReturnType<typeof setTimeout> | null = null;
  private sending: Promise<void> = Promise.resolve();
  private closed = false;
  /** Counted for callers and tests: events sent and acknowledged, dropped for memory, given up on, rejected. */
  readonly stats = { accepted: 0, duplicates: 0, dropped: 0, failed: 0, rejected: 0, retries: 0 };

  constructor(private readonly options: EventQueueOptions) {}

  /** Holds an event; sends a full batch at once, else within `flushIntervalMs`. */
  push(event: TrackedEvent): void {
    if (this.closed) return this.report(`event "${event.name}" for ${event.flag} tracked after close(): dropped`);
    this.buffer.push(event);
    const max = this.options.maxBuffered ?? 10_000;
    if (this.buffer.length > max) {
      const dropped = this.buffer.splice(0, this.buffer.length - max);
      this.stats.dropped += dropped.length;
      this.report(`event queue full (${max}): dropped the ${dropped.length} oldest`);
    }
    if (this.buffer.length >= this.batchSize()) void this.flush();
    else if (this.timer === null) {
      this.timer = setTimeout(() => void this.flush(), this.options.flushIntervalMs ?? 1_000);
      // A Node process may exit with events waiting: close() is what flushes them.
      (this.timer as { unref?: () => void }).unref?.();
    }
  }

  /** Sends everything held; resolves when every batch is delivered or given up. */
  flush(): Promise<void> {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const batches: Batch[] = [];
    while (this.buffer.length > 0) {
      const events = this.buffer.splice(0, this.batchSize());
      batches.push({ body: JSON.stringify({ events }), size: events.length, attempts: 0 });
    }
    // One batch at a time, in order: a retrying batch holds back the ones after it.
    this.sending = this.sending.then(async () => {
      for (const batch of batches) await this.deliver(batch);
    });
    return this.sending;
  }

  /** Flushes and refuses further events. */
  async close(): Promise<void> {
    this.closed = true;
    await this.flush();
  }

  /** The pending events as one body, for a page being hidden (`navigator.sendBeacon` cannot set the token: `fetch` with `keepalive`). */
  drainForUnload(): string | null {
    if (this.buffer.length === 0) return null;
    const events = this.buffer.splice(0, this.batchSize());
    return JSON.stringify({ events });
  }

  private batchSize(): number {
    return Math.min(1_000, Math.max(1, this.options.maxBatch ?? 100));
  }

  private headers(): Record<string, string> {
    return { "content-type": "application/json", ...(this.options.eventsToken ? { authorization: `Bearer ${this.options.eventsToken}` } : {}) };
  }

  private async deliver(batch: Batch): Promise<void> {
    const fetcher = this.options.fetch ?? globalThis.fetch.bind(globalThis);
    const maxAttempts = this.options.maxAttempts ?? 6;
    while (batch.attempts < maxAttempts) {
      batch.attempts++;
      let wait: number | null;
      try {
        const response = await fetcher(`${this.options.url.replace(/\/$/, "")}/v1/events`, { method: "POST", headers: this.headers(), body: batch.body, keepalive: batch.body.length < 60_000 });
        if (response.ok) return this.acknowledged(response);
        if (response.status !== 429 && response.status < 500) {
          this.stats.failed += batch.size;
          return this.report(`POST /v1/events answered ${response.status}: ${await response.text()} — ${batch.size} events dropped`);
        }
        wait = retryAfterMs(response.headers.get("retry-after"));
      } catch {
        wait = null;
      }
      if (batch.attempts >= maxAttempts) break;
      this.stats.retries++;
      await sleep(wait ?? backoff(this.options.backoffMs ?? 250, batch.attempts));
    }
    this.stats.failed += batch.size;
    this.report(`POST /v1/events failed ${batch.attempts} times: ${batch.size} events dropped`);
  }

  private async acknowledged(response: Response): Promise<void> {
    const answer = (await response.json().catch(() => ({}))) as { accepted?: number; duplicates?: number; rejected?: { index: number; error: string; message: string }[] };
    this.stats.accepted += answer.accepted ?? 0;
    this.stats.duplicates += answer.duplicates ?? 0;
    const rejected = answer.rejected ?? [];
    this.stats.rejected += rejected.length;
    for (const r of rejected.slice(0, 5)) this.report(`event ${r.index} of a batch rejected: ${r.error}: ${r.message}`);
  }

  private report(message: string): void {
    (this.options.onError ?? ((m: string) => console.warn(`rampart: ${m}`)))(message);
  }
}

/** Retry-After as delay-seconds or an HTTP date, in ms (capped at 5 minutes); null when absent or unreadable. */
export function retryAfterMs(header: string | null, now = Date.now()): number | null {
  if (header === null) return null;
  const seconds = Number(header);
  const ms = Number.isFinite(seconds) ? seconds * 1_000 : Date.parse(header) - now;
  return Number.isFinite(ms) ? Math.min(Math.max(ms, 0), 300_000) : null;
}

/** Exponential backoff with full jitter (Brooker, "Exponential Backoff And Jitter", AWS 2015), capped at 30 s. */
function backoff(baseMs: number, attempt: number): number {
  return Math.random() * Math.min(30_000, baseMs * 2 ** (attempt - 1)) + baseMs / 2;
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
