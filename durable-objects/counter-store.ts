/**
 * A FlagDO's counters in SQLite: one row per generation × stage × arm ×
 * bucket (a minute, or an hour once compacted), plus a running total per
 * generation × stage × arm so the cron reads totals in O(stages) rows.
 * Event ids are remembered per flag, so a replayed batch changes nothing.
 */
import { emptyCounts, emptyPair, mergeCounts, MINUTE_MS, parseCounts, type ArmCounts, type ArmPair, type CounterCell, type GenerationTotals } from "../core/counters";
import type { Arm } from "../core/manifest";
import type { Sql } from "./sql";

/** Minute buckets older than this are merged into hour buckets. */
export const COMPACT_AFTER_MS = 6 * 3_600_000;
/** Counter buckets older than this are deleted (totals of the generation stay). */
export const COUNTER_RETENTION_MS = 30 * 86_400_000;
/** Event ids are remembered this long; older events are rejected at the door, so dedup stays sound. */
export const EVENT_ID_RETENTION_MS = 7 * 86_400_000;
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
  spans: ArmPair[];
}

/** Adds `source` into `target`, stage by stage. */
export function mergeRead(target: CounterRead, source: CounterRead): CounterRead {
  for (const [stage, pair] of Object.entries(source.totals.stages)) {
    const into = (target.totals.stages[stage] ??= emptyPair());
    mergeCounts(into.baseline, pair.baseline);
    mergeCounts(into.candidate, pair.candidate);
  }
  source.spans.forEach((pair, i) => {
    const into = target.spans[i];
    if (!into) return;
    mergeCounts(into.baseline, pair.baseline);
    mergeCounts(into.candidate, pair.candidate);
  });
  return target;
}

/** Adds per-stage span counts of `source` into `target`. */
export function mergeStages(target: Record<string, ArmPair>, source: Record<string, ArmPair>): Record<string, ArmPair> {
  for (const [stage, pair] of Object.entries(source)) {
    const into = (target[stage] ??= emptyPair());
    mergeCounts(into.baseline, pair.baseline);
    mergeCounts(into.candidate, pair.candidate);
  }
  return target;
}

interface CellRow extends Record<string, string | number | null> {
  generation: number;
  stage: number;
  arm: Arm;
  minute: number;
  span: number;
  data: string;
}

export class CounterStore {
  constructor(private readonly sql: Sql) {
    sql.run(`CREATE TABLE IF NOT EXISTS counters (
      generation INTEGER NOT NULL, stage INTEGER NOT NULL, arm TEXT NOT NULL, minute INTEGER NOT NULL,
      span INTEGER NOT NULL DEFAULT 1, data TEXT NOT NULL, PRIMARY KEY (generation, stage, arm, minute))`);
    sql.run(`CREATE TABLE IF NOT EXISTS totals (
      generation INTEGER NOT NULL, stage INTEGER NOT NULL, arm TEXT NOT NULL, data TEXT NOT NULL,
      PRIMARY KEY (generation, stage, arm))`);
    sql.run("CREATE TABLE IF NOT EXISTS seen_events (id TEXT PRIMARY KEY, minute INTEGER NOT NULL)");
    sql.run("CREATE INDEX IF NOT EXISTS seen_events_minute ON seen_events (minute)");
  }

  /** Adds cells (call inside a transaction with whatever else belongs to the same write). */
  add(cells: readonly CounterCell[]): void {
    const merged = new Map<string, CounterCell>();
    for (const cell of cells) {
      const key = `${cell.generation}|${cell.stage}|${cell.arm}|${cell.minute}`;
      const existing = merged.get(key);
      if (existing) mergeCounts(existing.counts, cell.counts);
      else merged.set(key, { ...cell, counts: mergeCounts(emptyCounts(), cell.counts) });
    }
    for (const cell of merged.values()) {
      this.upsert("counters", "generation = ? AND stage = ? AND arm = ? AND minute = ?", [cell.generation, cell.stage, cell.arm, cell.minute], cell.counts, () =>
        this.sql.run("INSERT INTO counters (generation, stage, arm, minute, span, data) VALUES (?, ?, ?, ?, 1, ?)", cell.generation, cell.stage, cell.arm, cell.minute, JSON.stringify(cell.counts)),
      );
      this.upsert("totals", "generation = ? AND stage = ? AND arm = ?", [cell.generation, cell.stage, cell.arm], cell.counts, () =>
        this.sql.run("INSERT INTO totals (generation, stage, arm, data) VALUES (?, ?, ?, ?)", cell.generation, cell.stage, cell.arm, JSON.stringify(cell.counts)),
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
    const fresh = new Set<string>();
    for (let i = 0; i < ids.length; i += IDS_PER_STATEMENT) {
      const chunk = ids.slice(i, i + IDS_PER_STATEMENT);
      const placeholders = chunk.map(() => "(?, ?)").join(", ");
      const params = chunk.flatMap((id) => [id, minute]);
      for (const row of this.sql.all<{ id: string }>(`INSERT OR IGNORE INTO seen_events (id, minute) VALUES ${placeholders} RETURNING id`, ...params)) {
        fresh.add(row.id);
      }
    }
    return fresh;
  }

  /** Totals per stage and arm of one generation. */
  totals(generation: number): GenerationTotals {
    const stages: Record<string, ArmPair> = {};
    for (const row of this.sql.all<{ stage: number; arm: Arm; data: string }>("SELECT stage, arm, data FROM totals WHERE generation = ?", generation)) {
      const pair = (stages[String(row.stage)] ??= emptyPair());
      pair[row.arm] = parseCounts(row.data);
    }
    return { generation, stages };
  }

  /** Counts of buckets starting in [from, to), per stage, optionally for one stage only. */
  spanByStage(generation: number, from: number, to: number, stage?: number): Record<string, ArmPair> {
    const rows = this.sql.all<CellRow>(
      `SELECT * FROM counters WHERE generation = ? AND minute >= ? AND minute < ? ${stage === undefined ? "" : "AND stage = ?"}`,
      generation, Math.floor(from / MINUTE_MS), Math.ceil(to / MINUTE_MS), ...(stage === undefined ? [] : [stage]),
    );
    const stages: Record<string, ArmPair> = {};
    for (const row of rows) {
      const pair = (stages[String(row.stage)] ??= emptyPair());
      mergeCounts(pair[row.arm], parseCounts(row.data));
    }
    return stages;
  }

  /** Totals and spans in one read (what a counter shard answers the primary with). */
  read(generation: number, spans: readonly SpanQuery[]): CounterRead {
    return { totals: this.totals(generation), spans: spans.map((s) => this.span(generation, s.from, s.to, s.stage)) };
  }

  /** All stages of a span pooled into one pair. */
  span(generation: number, from: number, to: number, stage?: number): ArmPair {
    const pooled = emptyPair();
    for (const pair of Object.values(this.spanByStage(generation, from, to, stage))) {
      mergeCounts(pooled.baseline, pair.baseline);
      mergeCounts(pooled.candidate, pair.candidate);
    }
    return pooled;
  }

  /** Retention: minute buckets older than 6 h become hour buckets; buckets and event ids past retention go. */
  compact(now: number): { merged: number; deleted: number } {
    const cutoff = Math.floor((now - COMPACT_AFTER_MS) / MINUTE_MS);
    const old = this.sql.all<CellRow>("SELECT * FROM counters WHERE span = 1 AND minute < ?", cutoff - (cutoff % HOUR_MINUTES));
    const hours = new Map<string, CounterCell>();
    for (const row of old) {
      const hour = row.minute - (row.minute % HOUR_MINUTES);
      const key = `${row.generation}|${row.stage}|${row.arm}|${hour}`;
      const cell = hours.get(key) ?? { generation: row.generation, stage: row.stage, arm: row.arm, minute: hour, counts: emptyCounts() };
      mergeCounts(cell.counts, parseCounts(row.data));
      hours.set(key, cell);
    }
    for (const row of old) {
      this.sql.run("DELETE FROM counters WHERE generation = ? AND stage = ? AND arm = ? AND minute = ?", row.generation, row.stage, row.arm, row.minute);
    }
    for (const cell of hours.values()) {
      const existing = this.sql.first<{ data: string }>("SELECT data FROM counters WHERE generation = ? AND stage = ? AND arm = ? AND minute = ?", cell.generation, cell.stage, cell.arm, cell.minute);
      const counts = existing ? mergeCounts(parseCounts(existing.data), cell.counts) : cell.counts;
      this.sql.run(
        "INSERT OR REPLACE INTO counters (generation, stage, arm, minute, span, data) VALUES (?, ?, ?, ?, ?, ?)",
        cell.generation, cell.stage, cell.arm, cell.minute, HOUR_MINUTES, JSON.stringify(counts),
      );
    }
    const retention = Math.floor((now - COUNTER_RETENTION_MS) / MINUTE_MS);
    const before = this.rowCount();
    this.sql.run("DELETE FROM counters WHERE minute < ?", retention);
    this.sql.run("DELETE FROM seen_events WHERE minute < ?", Math.floor((now - EVENT_ID_RETENTION_MS) / MINUTE_MS));
    return { merged: old.length, deleted: before - this.rowCount() };
  }

  rowCount(): number {
    return this.sql.first<{ n: number }>("SELECT COUNT(*) AS n FROM counters")?.n ?? 0;
  }

  eventIdCount(): number {
    return this.sql.first<{ n: number }>("SELECT COUNT(*) AS n FROM seen_events")?.n ?? 0;
  }
}
