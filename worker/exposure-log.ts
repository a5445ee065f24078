/**
 * The exposure log: sampled exposures written to R2 as newline-delimited
 * JSON, one object per flush, flag and hour
 * (`exposures/{flag}/{YYYY}/{MM}/{DD}/{HH}/{time}-{id}.ndjson`), so a
 * warehouse loads a partition per hour. Records wait in the isolate and are
 * written inside `waitUntil`, never on the request's path. A failed write is
 * retried inside the same flush (0.25 s, 1 s, 4 s), then kept for the next
 * one; past `maxPending` held records new ones are dropped and counted — a
 * bounded buffer, not an unbounded one, when R2 is down for long.
 */
import type { CompiledFlag, Served } from "../core/assign";
import { toHex } from "../core/canonical";
import { z } from "zod";
import type { Schedule } from "./snapshot";

/** What the reader needs of a logged line: its time. */
const RecordTimeSchema = z.looseObject({ at: z.number() });

export interface ExposureRecord {
  flag: string;
  /** The sticky id, or its HMAC-SHA256 under EXPOSURE_ID_KEY (hex) when that secret is set. */
  id: string;
  arm: "baseline" | "candidate";
  /** The served value. */
  value: unknown;
  generation: number;
  stage: number;
  /** The region wave (1-based) the exposure belongs to; null for a flag without waves. */
  wave: number | null;
  pins: Record<string, string>;
  /** Milliseconds since the epoch. */
  at: number;
}

/** Writes one object; rejects when R2 did not take it. */
export type ExposureSink = (key: string, body: string) => Promise<void>;

export interface ExposureLogOptions {
  flushMs: number;
  /** Records held in the isolate at most (written or not); beyond it new records are dropped and counted. */
  maxPending: number;
  /** Retries of a failed write within one flush. */
  retryDelaysMs?: readonly number[];
  /** HMAC key for sticky ids (per deployment), or null to log them as given. */
  idKey: string | null;
}

const pad = (n: number) => String(n).padStart(2, "0");

/** The hour partition of a flag's records: `exposures/{flag}/{YYYY}/{MM}/{DD}/{HH}/`. */
export function exposurePrefix(flag: string, at: number): string {
  const d = new Date(at);
  return `exposures/${flag}/${d.getUTCFullYear()}/${pad(d.getUTCMonth() + 1)}/${pad(d.getUTCDate())}/${pad(d.getUTCHours())}/`;
}

export class ExposureLog {
  private pending: ExposureRecord[] = [];
  private scheduled = false;
  /** Written and dropped records since the isolate started (`/metrics`). */
  written = 0;
  dropped = 0;
  /** The key itself, never a promise: a promise made in one request and awaited in another hangs workerd. */
  private hmacKey: CryptoKey | null = null;

  constructor(
    private readonly sink: ExposureSink,
    private readonly options: ExposureLogOptions,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  ) {}

  /** Holds a sampled exposure; the first one held schedules a flush after `flushMs`. */
  add(record: ExposureRecord, schedule: Schedule): void {
    if (this.pending.length >= this.options.maxPending) {
      this.dropped++;
      return;
    }
    this.pending.push(record);
    if (!this.scheduled) {
      this.scheduled = true;
      schedule(this.sleep(this.options.flushMs).then(() => this.flush()));
    }
  }

  /** Records held now (for tests and the outage bound). */
  get held(): number {
    return this.pending.length;
  }

  /**
   * Writes what is held, one object per flag and hour. Records are taken out
   * of the buffer before the first await, so concurrent flushes never write
   * the same record; what could not be written goes back (bounded).
   */
  async flush(): Promise<void> {
    this.scheduled = false;
    const taken = this.pending;
    this.pending = [];
    if (taken.length === 0) return;
    const groups = new Map<string, ExposureRecord[]>();
    for (const record of taken) {
      const prefix = exposurePrefix(record.flag, record.at);
      const group = groups.get(prefix);
      if (group) group.push(record);
      else groups.set(prefix, [record]);
    }
    const failed: ExposureRecord[] = [];
    await Promise.all(
      [...groups].map(async ([prefix, records]) => {
        const lines = await Promise.all(records.map(async (r) => JSON.stringify({ ...r, id: await this.pseudonym(r.id) })));
        const key = `${prefix}${records[0]?.at ?? 0}-${crypto.randomUUID()}.ndjson`;
        if (await this.write(key, `${lines.join("\n")}\n`)) this.written += records.length;
        else failed.push(...records);
      }),
    );
    if (failed.length > 0) this.putBack(failed);
  }

  private async write(key: string, body: string): Promise<boolean> {
    const delays = this.options.retryDelaysMs ?? [250, 1000, 4000];
    for (let attempt = 0; ; attempt++) {
      try {
        await this.sink(key, body);
        return true;
      } catch (error) {
        const delay = delays[attempt];
        if (delay === undefined) {
          console.warn(`exposure log: writing ${key} failed ${attempt + 1} times; keeping its records for the next flush`, error);
          return false;
        }
        await this.sleep(delay);
      }
    }
  }

  /** Failed records go back in front of newer ones, within the bound; the rest are dropped and counted. */
  private putBack(records: ExposureRecord[]): void {
    const room = Math.max(0, this.options.maxPending - this.pending.length);
    const kept = records.slice(0, room);
    this.dropped += records.length - kept.length;
    this.pending = [...kept, ...this.pending];
  }

  private async pseudonym(id: string): Promise<string> {
    if (this.options.idKey === null) return id;
    this.hmacKey ??= await crypto.subtle.importKey("raw", new TextEncoder().encode(this.options.idKey), { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return toHex(await crypto.subtle.sign("HMAC", this.hmacKey, new TextEncoder().encode(id)));
  }
}

/**
 * Samples a served exposure into the log at the flag's `exposureLog.rate`.
 * Callers check `flag.source.exposureLog` first (absent unless the rate is
 * above 0), so a flag that logs nothing pays one property read per evaluation.
 */
export function sampleExposure(log: ExposureLog, flag: CompiledFlag, served: Served, stickyId: string, at: number, schedule: Schedule): void {
  const rate = flag.source.exposureLog?.rate ?? 0;
  if (rate <= 0 || (rate < 1 && Math.random() >= rate)) return;
  const { state } = flag.source;
  log.add({ flag: flag.key, id: stickyId, arm: served.arm, value: served.value, generation: state.generation, stage: state.stageIndex, wave: typeof served.metadata.wave === "number" ? served.metadata.wave : null, pins: { ...(flag.source.pins[served.arm] ?? {}) }, at }, schedule);
}

/** Hours one read may span: a week of partitions. */
export const MAX_READ_HOURS = 24 * 7;
const HOUR_MS = 3_600_000;

/**
 * A flag's logged exposures with `from <= at < to`, as newline-delimited
 * JSON, streamed hour partition by hour partition (R2 lists, then each
 * object is read and its lines filtered by time).
 */
export function readExposures(bucket: R2Bucket, flag: string, from: number, to: number): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const hours: number[] = [];
  for (let hour = Math.floor(from / HOUR_MS) * HOUR_MS; hour < to; hour += HOUR_MS) hours.push(hour);
  const keys: string[] = [];
  let listing: { hour: number; cursor: string | undefined } | null = null;
  const inSpan = (line: string) => {
    if (line === "") return false;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      // A damaged line (an object edited by hand, a partial upload) is skipped, not allowed to end the stream.
      return false;
    }
    const parsed = RecordTimeSchema.safeParse(value);
    return parsed.success && parsed.data.at >= from && parsed.data.at < to;
  };
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      // Each pull emits one object's matching lines, or finishes: memory holds one object at a time.
      for (;;) {
        const key = keys.shift();
        if (key !== undefined) {
          const object = await bucket.get(key);
          const lines = object === null ? [] : (await object.text()).split("\n").filter(inSpan);
          if (lines.length === 0) continue;
          controller.enqueue(encoder.encode(`${lines.join("\n")}\n`));
          return;
        }
        if (listing === null) {
          const hour = hours.shift();
          if (hour === undefined) {
            controller.close();
            return;
          }
          listing = { hour, cursor: undefined };
        }
        const page = await bucket.list({ prefix: exposurePrefix(flag, listing.hour), ...(listing.cursor ? { cursor: listing.cursor } : {}) });
        keys.push(...page.objects.map((o) => o.key).sort());
        listing = page.truncated ? { hour: listing.hour, cursor: page.cursor } : null;
      }
    },
  });
}
