/**
 * The isolate's counter buffer. Served exposures are added in memory and
 * flushed to each flag's FlagDO in one RPC per flag, when the buffer is
 * FLUSH_MS old or holds FLUSH_MAX exposures — never once per request.
 *
 * A Worker has no timers between requests, so the request that starts a
 * buffer also keeps a delayed flush alive through `waitUntil` (FLUSH_MS must
 * stay under the ~30 s a Worker may run after its response). What eviction
 * can lose is what was buffered since the last flush: at most FLUSH_MS of
 * exposures, and never more than FLUSH_MAX. A failed flush is put back and
 * retried with the next one, at most MAX_FLUSH_ATTEMPTS times, then dropped
 * and logged.
 */
import { emptyCounts, mergeCounts, minuteOf, type ArmCounts, type CounterCell } from "../core/counters";
import type { Arm } from "../core/manifest";
import type { Schedule } from "./snapshot";

export const MAX_FLUSH_ATTEMPTS = 3;

/** Sends a flag's cells to one of its counter shards. */
export type CounterSink = (flag: string, shard: number, cells: CounterCell[]) => Promise<void>;

interface Pending {
  cells: Map<string, CounterCell>;
  attempts: number;
  shard: number;
  /** Records (exposures, errors, comparisons…) held, for the size limit. */
  records: number;
  /** The cell each arm last wrote to. */
  lastCell: Partial<Record<Arm, CounterCell>>;
}

const countExposure = (counts: ArmCounts): void => {
  counts.exposures += 1;
};

/** This isolate's pick among a flag's counter shards: stable per isolate, spread across isolates. */
const ISOLATE_SHARD_SEED = Math.floor(Math.random() * 1_000_000);

export class CounterBuffer {
  private pending = new Map<string, Pending>();
  private size = 0;
  private startedAt: number | null = null;
  private flushing: Promise<void> | null = null;
  /** Flushes attempted and cells dropped after too many failures (observability). */
  readonly stats = { flushes: 0, calls: 0, dropped: 0 };

  constructor(
    private readonly sink: CounterSink,
    private readonly options: { flushMs: number; maxSize: number },
    private readonly clock: () => number = Date.now,
  ) {}

  /** Counts one served exposure; schedules a flush when one is due. */
  addExposure(flag: string, generation: number, stage: number, arm: Arm, schedule: Schedule, counterShards = 1): void {
    this.record(flag, generation, stage, arm, schedule, counterShards, countExposure);
  }

  /** Records anything countable (exposure, error, latency, comparison) for an arm; one unit of buffer size. */
  record(flag: string, generation: number, stage: number, arm: Arm, schedule: Schedule, counterShards: number, update: (counts: ArmCounts) => void): void {
    const now = this.clock();
    const minute = minuteOf(now);
    const entry = this.entry(flag);
    entry.shard = ISOLATE_SHARD_SEED % counterShards;
    // The hot path: the same arm in the same minute reuses its cell without building a key.
    let cell = entry.lastCell[arm];
    if (!cell || cell.minute !== minute || cell.generation !== generation || cell.stage !== stage) {
      const key = `${generation}|${stage}|${arm}|${minute}`;
      cell = entry.cells.get(key);
      if (!cell) {
        cell = { generation, stage, arm, minute, counts: emptyCounts() };
        entry.cells.set(key, cell);
      }
      entry.lastCell[arm] = cell;
    }
    update(cell.counts);
    entry.records += 1;
    this.size += 1;
    if (this.startedAt === null) {
      this.startedAt = now;
      // Keep a flush alive for an isolate that may get no further request.
      schedule(new Promise<void>((resolve) => setTimeout(resolve, this.options.flushMs)).then(() => this.flush()));
    }
    if (this.size >= this.options.maxSize) schedule(this.flush());
  }

  bufferedExposures(): number {
    return this.size;
  }

  /** Sends everything buffered, one RPC per flag; concurrent callers share one flush. */
  flush(): Promise<void> {
    if (this.size === 0) return this.flushing ?? Promise.resolve();
    this.flushing ??= this.send().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private entry(flag: string): Pending {
    let entry = this.pending.get(flag);
    if (!entry) {
      entry = { cells: new Map(), attempts: 0, shard: 0, records: 0, lastCell: {} };
      this.pending.set(flag, entry);
    }
    return entry;
  }

  private async send(): Promise<void> {
    const batch = this.pending;
    this.pending = new Map();
    this.size = 0;
    this.startedAt = null;
    this.stats.flushes++;
    await Promise.all(
      [...batch].map(async ([flag, entry]) => {
        const cells = [...entry.cells.values()];
        try {
          this.stats.calls++;
          await this.sink(flag, entry.shard, cells);
        } catch (error) {
          this.putBack(flag, entry, error);
        }
      }),
    );
  }

  private putBack(flag: string, failed: Pending, error: unknown): void {
    const attempts = failed.attempts + 1;
    const exposures = failed.records;
    if (attempts >= MAX_FLUSH_ATTEMPTS) {
      this.stats.dropped += exposures;
      console.error(`counter flush for ${flag} failed ${attempts} times: dropping ${exposures} records`, error);
      return;
    }
    console.warn(`counter flush for ${flag} failed (attempt ${attempts}); retrying with the next flush`, error);
    const entry = this.entry(flag);
    entry.attempts = Math.max(entry.attempts, attempts);
    entry.shard = failed.shard;
    entry.records += failed.records;
    for (const [key, cell] of failed.cells) {
      const existing = entry.cells.get(key);
      if (existing) mergeCounts(existing.counts, cell.counts);
      else entry.cells.set(key, cell);
    }
    this.size += exposures;
  }
}
