/**
 * A FlagDO's counters in SQLite: one row per generation × stage × arm ×
 * replicate group × bucket (a minute, or an hour once compacted), plus a
 * running total per generation × stage × arm × replicate so the cron reads
 * totals in O(stages × replicates) rows. Event ids and edge flush batch ids
 * are remembered, so a replayed batch changes nothing.
 */
import {
  emptyCounts,
  emptyReplicatedPair,
  mergeCounts,
  mergeReplicatedPair,
  MINUTE_MS,
  parseCounts,
  type ArmCounts,
  type CounterCell,
  type GenerationTotals,
  type ReplicatedPair,
} from "../../core/counters";
import type { Arm } from "../../core/manifest";
import type { Sql } from "../sql";

/** Minute buckets older than this are merged into hour buckets. */
export const COMPACT_AFTER_MS = 6 * 3_600_000;
/** Counter buckets older than this are deleted (totals of the generation stay). */
export const COUNTER_RETENTION_MS = 30 * 86_400_000;
/** Event ids are remembered this long; older events are rejected at the door, so dedup stays sound. */
export const EVENT_ID_RETENTION_MS = 7 * 86_400_000;
/** Edge flush batch ids are remembered this long (an isolate retries a batch for seconds, not days). */
export const BATCH_ID_RETENTION_MS = 86_400_000;
const HOUR_MINUTES = 60;
/** SQLite in Durable Objects binds at most 100 parameters per statement. */
const IDS_PER_STATEMENT = 50;

export interface SpanQuery {
  from: number;
  to: number;
  stage?: number;
}

export interface CounterRead {
  totals: GenerationTotals;
  spans: ReplicatedPair[];
}

/** Adds `source` into `target`, stage by stage and replicate by replicate. */
export function mergeRead(target: CounterRead, source: CounterRead): CounterRead {
  mergeStages(target.totals.stages, source.totals.stages);
  source.spans.forEach((pair, i) => {
    const into = target.spans[i];
    if (into) mergeReplicatedPair(into, pair);
  });
  return target;
}

/** Adds per-stage counts of `source` into `target`. */
export function mergeStages(target: Record<string, ReplicatedPair>, source: Record<string, ReplicatedPair>): Record<string, ReplicatedPair> {
  for (const [stage, pair] of Object.entries(source)) mergeReplicatedPair((target[stage] ??= emptyReplicatedPair()), pair);
  return target;
}

interface CellRow extends Record<string, string | number | null> {
  generation: number;
  stage: number;
  arm: Arm;
  replicate: number;
  minute: number;
  span: number;
  data: string;
}

const cellKey = (c: Pick<CounterCell, "generation" | "stage" | "arm" | "replicate" | "minute">) => `${c.generation}|${c.stage}|${c.arm}|${c.replicate}|${c.minute}`;

/** Adds a row's counts into the right arm and replicate of a per-stage map. */
function addRow(stages: Record<string, ReplicatedPair>, row: Pick<CellRow, "stage" | "arm" | "replicate" | "data">): void {
  const pair = (stages[String(row.stage)] ??= emptyReplicatedPair());
  const into = pair[row.arm][row.replicate];
  if (into) mergeCounts(into, parseCounts(row.data));
}

export class CounterStore {
  constructor(private readonly sql: Sql) {}

  /** Adds cells (call inside a transaction with whatever else belongs to the same write). */
  add(cells: readonly CounterCell[]): void {
    const merged = new Map<string, CounterCell>();
    for (const cell of cells) {
      const key = cellKey(cell);
      const existing = merged.get(key);
      if (existing) mergeCounts(existing.counts, cell.counts);
      else merged.set(key, { ...cell, counts: mergeCounts(emptyCounts(), cell.counts) });
    }
    for (const c of merged.values()) {
      this.upsert("counters", "generation = ? AND stage = ? AND arm = ? AND replicate = ? AND minute = ?", [c.generation, c.stage, c.arm, c.replicate, c.minute], c.counts, () =>
        this.sql.run("INSERT INTO counters (generation, stage, arm, replicate, minute, span, data) VALUES (?, ?, ?, ?, ?, 1, ?)", c.generation, c.stage, c.arm, c.replicate, c.minute, JSON.stringify(c.counts)),
      );
      this.upsert("totals", "generation = ? AND stage = ? AND arm = ? AND replicate = ?", [c.generation, c.stage, c.arm, c.replicate], c.counts, () =>
        this.sql.run("INSERT INTO totals (generation, stage, arm, replicate, data) VALUES (?, ?, ?, ?, ?)", c.generation, c.stage, c.arm, c.replicate, JSON.stringify(c.counts)),
      );
    }
  }

  private upsert(table: "counters" | "totals", where: string, params: (string | number)[], counts: ArmCounts, insert: () => void): void {
    const row = this.sql.first<{ data: string }>(`SELECT data FROM ${table} WHERE ${where}`, ...params);
    if (row === null) return insert();
    const sum = mergeCounts(parseCounts(row.data), counts);
    this.sql.run(`UPDATE ${table} SET data = ? WHERE ${where}`, JSON.stringify(sum), ...params);
  }

  /** Remembers event ids; returns the ones not seen before. */
  claimEventIds(ids: readonly string[], minute: number): Set<string> {
    return this.claim("seen_events", ids, minute);
  }

  /** Remembers an edge flush batch id; false when it was already counted (a retry after a lost reply). */
  claimBatch(id: string, minute: number): boolean {
    return this.claim("seen_batches", [id], minute).size === 1;
  }

  private claim(table: "seen_events" | "seen_batches", ids: readonly string[], minute: number): Set<string> {
    const fresh = new Set<string>();
    for (let i = 0; i < ids.length; i += IDS_PER_STATEMENT) {
      const chunk = ids.slice(i, i + IDS_PER_STATEMENT);
      const placeholders = chunk.map(() => "(?, ?)").join(", ");
      const params = chunk.flatMap((id) => [id, minute]);
      for (const row of this.sql.all<{ id: string }>(`INSERT OR IGNORE INTO ${table} (id, minute) VALUES ${placeholders} RETURNING id`, ...params)) {
        fresh.add(row.id);
      }
    }
    return fresh;
  }

  /** Totals per stage, arm and replicate of one generation. */
  totals(generation: number): GenerationTotals {
    const stages: Record<string, ReplicatedPair> = {};
    for (const row of this.sql.all<CellRow>("SELECT stage, arm, replicate, data FROM totals WHERE generation = ?", generation)) addRow(stages, row);
    return { generation, stages };
  }

  /** Counts of buckets starting in [from, to), per stage, optionally for one stage only. */
  spanByStage(generation: number, from: number, to: number, stage?: number): Record<string, ReplicatedPair> {
    const rows = this.sql.all<CellRow>(
      `SELECT stage, arm, replicate, data FROM counters WHERE generation = ? AND minute >= ? AND minute < ? ${stage === undefined ? "" : "AND stage = ?"}`,
      generation, Math.floor(from / MINUTE_MS), Math.ceil(to / MINUTE_MS), ...(stage === undefined ? [] : [stage]),
    );
    const stages: Record<string, ReplicatedPair> = {};
    for (const row of rows) addRow(stages, row);
    return stages;
  }

  /**
   * Per-stage counts of `n` consecutive steps from `from`, in one query: step
   * i holds the buckets starting in [from + i·step, from + (i+1)·step). Hour
   * buckets (older than `COMPACT_AFTER_MS`) land whole in the step they start in.
   */
  spanSteps(generation: number, from: number, step: number, n: number): Record<string, ReplicatedPair>[] {
    const steps = Array.from({ length: n }, (): Record<string, ReplicatedPair> => ({}));
    const rows = this.sql.all<CellRow>(
      "SELECT stage, arm, replicate, minute, data FROM counters WHERE generation = ? AND minute >= ? AND minute < ?",
      generation, Math.floor(from / MINUTE_MS), Math.ceil((from + n * step) / MINUTE_MS),
    );
    for (const row of rows) {
      const into = steps[Math.floor((row.minute * MINUTE_MS - from) / step)];
      if (into) addRow(into, row);
    }
    return steps;
  }

  /** Totals and spans in one read (what a counter shard answers the primary with). */
  read(generation: number, spans: readonly SpanQuery[]): CounterRead {
    return { totals: this.totals(generation), spans: spans.map((s) => this.span(generation, s.from, s.to, s.stage)) };
  }

  /** All stages of a span pooled into one pair, replicates kept. */
  span(generation: number, from: number, to: number, stage?: number): ReplicatedPair {
    const pooled = emptyReplicatedPair();
    for (const pair of Object.values(this.spanByStage(generation, from, to, stage))) mergeReplicatedPair(pooled, pair);
    return pooled;
  }

  /** Retention: minute buckets older than 6 h become hour buckets; buckets, event and batch ids past retention go. */
  compact(now: number): { merged: number; deleted: number } {
    const cutoff = Math.floor((now - COMPACT_AFTER_MS) / MINUTE_MS);
    const old = this.sql.all<CellRow>("SELECT * FROM counters WHERE span = 1 AND minute < ?", cutoff - (cutoff % HOUR_MINUTES));
    const hours = new Map<string, CounterCell>();
    for (const row of old) {
      const hour = row.minute - (row.minute % HOUR_MINUTES);
      const key = cellKey({ ...row, minute: hour });
      const cell = hours.get(key) ?? { generation: row.generation, stage: row.stage, arm: row.arm, replicate: row.replicate, minute: hour, counts: emptyCounts() };
      mergeCounts(cell.counts, parseCounts(row.data));
      hours.set(key, cell);
    }
    for (const row of old) {
      this.sql.run("DELETE FROM counters WHERE generation = ? AND stage = ? AND arm = ? AND replicate = ? AND minute = ?", row.generation, row.stage, row.arm, row.replicate, row.minute);
    }
    for (const cell of hours.values()) {
      const existing = this.sql.first<{ data: string }>(
        "SELECT data FROM counters WHERE generation = ? AND stage = ? AND arm = ? AND replicate = ? AND minute = ?",
        cell.generation, cell.stage, cell.arm, cell.replicate, cell.minute,
      );
      const counts = existing ? mergeCounts(parseCounts(existing.data), cell.counts) : cell.counts;
      this.sql.run(
        "INSERT OR REPLACE INTO counters (generation, stage, arm, replicate, minute, span, data) VALUES (?, ?, ?, ?, ?, ?, ?)",
        cell.generation, cell.stage, cell.arm, cell.replicate, cell.minute, HOUR_MINUTES, JSON.stringify(counts),
      );
    }
    const retention = Math.floor((now - COUNTER_RETENTION_MS) / MINUTE_MS);
    const before = this.rowCount();
    this.sql.run("DELETE FROM counters WHERE minute < ?", retention);
    this.sql.run("DELETE FROM seen_events WHERE minute < ?", Math.floor((now - EVENT_ID_RETENTION_MS) / MINUTE_MS));
    this.sql.run("DELETE FROM seen_batches WHERE minute < ?", Math.floor((now - BATCH_ID_RETENTION_MS) / MINUTE_MS));
    return { merged: old.length, deleted: before - this.rowCount() };
  }

  rowCount(): number {
    return this.sql.first<{ n: number }>("SELECT COUNT(*) AS n FROM counters")?.n ?? 0;
  }

  eventIdCount(): number {
    return this.sql.first<{ n: number }>("SELECT COUNT(*) AS n FROM seen_events")?.n ?? 0;
  }
}
