/**
 * The isolate's counter buffer. Served exposures are added in memory, per
 * flag × generation × stage × arm × replicate group × minute, and flushed to
 * each flag's FlagDO in one RPC per flag, when the buffer is FLUSH_MS old or
 * holds FLUSH_MAX records — never once per request, and never more often
 * than once per FLUSH_MIN_MS: a busy isolate's records fold into the same
 * cells (memory does not grow with traffic), so flushing every FLUSH_MAX
 * records only multiplied calls into the counter objects (at 10,000
 * evaluations/s, ten a second from one isolate).
 *
 * Exactly once: every flush of a flag is a batch with its own id, which the
 * FlagDO claims once; a failed batch is retried with the same id, so a retry
 * after a lost reply cannot count twice. The retries run inside the same
 * `waitUntil` as the flush (backoff 0.25 s, 1 s, 4 s), so an isolate that
 * gets no further request still retries; a batch that fails those is parked
 * and sent again, same id, with the next flush, at most MAX_BATCH_ATTEMPTS
 * times in all, then dropped and counted.
 *
 * No promise is shared between requests (workerd cancels a request that
 * awaits another request's I/O: "code had hung"): every flush is its own
 * promise, scheduled by the request that triggers it, over a buffer it takes
 * whole.
 *
 * A Worker has no timers between requests, so the request that starts a
 * buffer also keeps a delayed flush alive through `waitUntil` (FLUSH_MS must
 * stay under the ~30 s a Worker may run after its response). What eviction
 * can lose is what was buffered since the last flush.
 */
import { emptyCounts, minuteOf, REPLICATES, type ArmCounts, type CounterCell } from "../core/counters";
import { hourOf, type ExperimentCell } from "../core/experiment-cell";
import type { ExperimentRef } from "../core/experiment";
import type { Arm } from "../core/manifest";
import type { Schedule } from "./snapshot";

/** Attempts of one batch before it is dropped (in-flush retries and later flushes together). */
export const MAX_BATCH_ATTEMPTS = 6;
/** Backoff between the in-flush retries of a failed batch. */
export const RETRY_DELAYS_MS = [250, 1_000, 4_000] as const;

/** One flag's batch as sent: its id is claimed once by the receiving FlagDO. */
export interface Batch {
  id: string;
  cells: CounterCell[];
  /** Experiments' counts (`core/experiment.ts`), claimed with the same id. */
  experiments?: ExperimentCell[];
}

/** Sends a flag's batch to one of its counter shards. */
export type CounterSink = (flag: string, shard: number, batch: Batch) => Promise<unknown>;

interface Pending {
  cells: Map<string, CounterCell>;
  experiments: Map<string, ExperimentCell>;
  /** The current hour's experiment cells by experiment and variant, by replicate: the hot path builds no key. */
  experimentHot: { hour: number; cells: Map<ExperimentRef, Map<string, (ExperimentCell | undefined)[]>> } | null;
  shard: number;
  /** Records (exposures, errors, comparisons…) held, for the size limit. */
  records: number;
  /** Cells of the current generation × stage × minute, by arm and replicate: the hot path skips the key. */
  hot: { generation: number; stage: number; minute: number; cells: Record<Arm, (CounterCell | undefined)[]> } | null;
}

interface Parked {
  flag: string;
  shard: number;
  batch: Batch;
  records: number;
  attempts: number;
}

const countExposure = (counts: ArmCounts): void => {
  counts.exposures += 1;
};

/** This isolate's pick among a flag's counter shards: stable per isolate, spread across isolates. */
const ISOLATE_SHARD_SEED = Math.floor(Math.random() * 1_000_000);

export class CounterBuffer {
  private pending = new Map<string, Pending>();
  private parked: Parked[] = [];
  private size = 0;
  private startedAt: number | null = null;
  /** When the last flush began (the FLUSH_MIN_MS floor). */
  private flushedAt = Number.NEGATIVE_INFINITY;
  /** Flushes attempted, RPCs made, records dropped after too many failures, batches retried (observability). */
  readonly stats = { flushes: 0, calls: 0, dropped: 0, retries: 0 };

  constructor(
    private readonly sink: CounterSink,
    private readonly options: { flushMs: number; maxSize: number; minIntervalMs?: number; retryDelaysMs?: readonly number[] },
    private readonly clock: () => number = Date.now,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  ) {}

  /** Counts one served exposure; schedules a flush when one is due. */
  addExposure(flag: string, generation: number, stage: number, arm: Arm, replicate: number, schedule: Schedule, counterShards = 1): void {
    this.record(flag, generation, stage, arm, replicate, schedule, counterShards, countExposure);
  }

  /** Records anything countable (exposure, error, latency, comparison) for an arm; one unit of buffer size. */
  record(flag: string, generation: number, stage: number, arm: Arm, replicate: number, schedule: Schedule, counterShards: number, update: (counts: ArmCounts) => void): void {
    const now = this.clock();
    const minute = minuteOf(now);
    const entry = this.entry(flag);
    entry.shard = ISOLATE_SHARD_SEED % counterShards;
    let hot = entry.hot;
    if (!hot || hot.minute !== minute || hot.generation !== generation || hot.stage !== stage) {
      hot = { generation, stage, minute, cells: { baseline: new Array<CounterCell | undefined>(REPLICATES), candidate: new Array<CounterCell | undefined>(REPLICATES) } };
      entry.hot = hot;
    }
    const group = replicate & (REPLICATES - 1);
    let cell = hot.cells[arm][group];
    if (!cell) {
      const key = `${generation}|${stage}|${arm}|${group}|${minute}`;
      cell = entry.cells.get(key);
      if (!cell) {
        cell = { generation, stage, arm, replicate: group, minute, counts: emptyCounts() };
        entry.cells.set(key, cell);
      }
      hot.cells[arm][group] = cell;
    }
    update(cell.counts);
    this.counted(entry, now, schedule);
  }

  /** Counts one exposure of an experiment's variant (to the flag's own object, as its rollout's cells); one unit of buffer size. */
  addExperimentExposure(flag: string, experiment: ExperimentRef, variant: string, replicate: number, schedule: Schedule, counterShards = 1): void {
    const now = this.clock();
    const hour = hourOf(now);
    const entry = this.entry(flag);
    entry.shard = ISOLATE_SHARD_SEED % counterShards;
    const group = replicate & (REPLICATES - 1);
    // The served outcome's experiment object is shared by every evaluation of that split: it keys the hot cells.
    if (entry.experimentHot?.hour !== hour) entry.experimentHot = { hour, cells: new Map() };
    let byVariant = entry.experimentHot.cells.get(experiment);
    if (!byVariant) entry.experimentHot.cells.set(experiment, (byVariant = new Map<string, (ExperimentCell | undefined)[]>()));
    let groups = byVariant.get(variant);
    if (!groups) byVariant.set(variant, (groups = new Array<ExperimentCell | undefined>(REPLICATES)));
    let cell = groups[group];
    if (!cell) {
      const key = `${experiment.iteration}|${variant}|${group}|${hour}`;
      cell = entry.experiments.get(key);
      if (!cell) {
        cell = { iteration: experiment.iteration, rule: experiment.rule, control: experiment.control, variant, replicate: group, hour, counts: emptyCounts() };
        entry.experiments.set(key, cell);
      }
      groups[group] = cell;
    }
    countExposure(cell.counts);
    this.counted(entry, now, schedule);
  }

  private counted(entry: Pending, now: number, schedule: Schedule): void {
    entry.records += 1;
    this.size += 1;
    if (this.startedAt === null) {
      this.startedAt = now;
      // Keep a flush alive for an isolate that may get no further request.
      schedule(this.sleep(this.options.flushMs).then(() => this.flush()));
    }
    if (this.size >= this.options.maxSize && now - this.flushedAt >= (this.options.minIntervalMs ?? 0)) schedule(this.flush());
  }

  bufferedExposures(): number {
    return this.size;
  }

  /** Batches waiting to be sent again after failing (observability, tests). */
  parkedBatches(): number {
    return this.parked.length;
  }

  /** Sends everything buffered (and any parked batch), one RPC per flag; the promise is this flush's alone. */
  flush(): Promise<void> {
    const batch = this.pending;
    const parked = this.parked;
    if (this.size === 0 && parked.length === 0) return Promise.resolve();
    this.pending = new Map();
    this.parked = [];
    this.size = 0;
    this.startedAt = null;
    this.flushedAt = this.clock();
    this.stats.flushes++;
    const sends: Parked[] = [...parked];
    for (const [flag, entry] of batch) {
      if (entry.cells.size === 0 && entry.experiments.size === 0) continue;
      const experiments = entry.experiments.size > 0 ? { experiments: [...entry.experiments.values()] } : {};
      sends.push({ flag, shard: entry.shard, batch: { id: crypto.randomUUID(), cells: [...entry.cells.values()], ...experiments }, records: entry.records, attempts: 0 });
    }
    return Promise.all(sends.map((s) => this.deliver(s))).then(() => undefined);
  }

  private entry(flag: string): Pending {
    let entry = this.pending.get(flag);
    if (!entry) {
      entry = { cells: new Map(), experiments: new Map(), experimentHot: null, shard: 0, records: 0, hot: null };
      this.pending.set(flag, entry);
    }
    return entry;
  }

  /** Sends one batch, retrying it (same id) with backoff; parks or drops it when that fails. */
  private async deliver(item: Parked): Promise<void> {
    const delays = this.options.retryDelaysMs ?? RETRY_DELAYS_MS;
    let lastError: unknown = null;
    for (let i = 0; i <= delays.length && item.attempts < MAX_BATCH_ATTEMPTS; i++) {
      if (i > 0) {
        this.stats.retries++;
        await this.sleep(delays[i - 1] ?? 0);
      }
      item.attempts++;
      try {
        this.stats.calls++;
        await this.sink(item.flag, item.shard, item.batch);
        return;
      } catch (error) {
        lastError = error;
      }
    }
    if (item.attempts >= MAX_BATCH_ATTEMPTS) {
      this.stats.dropped += item.records;
      console.error(`counter batch ${item.batch.id} for ${item.flag} failed ${item.attempts} times: dropping ${item.records} records`, lastError);
      return;
    }
    console.warn(`counter batch ${item.batch.id} for ${item.flag} failed ${item.attempts} times; sending it again with the next flush`, lastError);
    this.parked.push(item);
  }
}
