/**
 * An experiment's counters in the flag's object (`core/experiment.ts`): one
 * row per iteration × variant × replicate group × hour (tables
 * `experiment_counters` and `experiments`). Hour buckets keep a month-long
 * three-way experiment at about 70,000 rows; an experiment is read over
 * hours, not minutes. Every row is decoded once through its schema.
 */
import { z } from "zod";
import { emptyReplicated, mergeCounts, parseCounts, type Replicated } from "../../core/counters";
import { IterationSchema } from "../../core/experiment";
import { HOUR_MS, type ExperimentCell } from "../../core/experiment-cell";
import { VariantNameSchema } from "../../core/variant-name";
import type { Sql } from "../sql";

/** Experiment counts older than this are deleted (experiments run for weeks, rollouts for days). */
export const EXPERIMENT_RETENTION_MS = 90 * 86_400_000;

export const ExperimentRowSchema = z.strictObject({
  iteration: IterationSchema,
  rule: z.string().min(1),
  control: VariantNameSchema,
  firstAt: z.int(),
  lastAt: z.int(),
});
export type ExperimentRow = z.infer<typeof ExperimentRowSchema>;

const CountsRowSchema = z.strictObject({ variant: VariantNameSchema, replicate: z.int().min(0), data: z.string() });

export class ExperimentStore {
  constructor(private readonly sql: Sql) {}

  /** Adds cells (inside the transaction that claims their batch or events). */
  add(cells: readonly ExperimentCell[]): void {
    for (const c of cells) {
      const at = c.hour * HOUR_MS;
      this.sql.run(
        `INSERT INTO experiments (iteration, rule, control, first_at, last_at) VALUES (?, ?, ?, ?, ?)
         ON CONFLICT (iteration) DO UPDATE SET first_at = MIN(first_at, excluded.first_at), last_at = MAX(last_at, excluded.last_at)`,
        c.iteration, c.rule, c.control, at, at,
      );
      const row = this.sql.first<{ data: string }>("SELECT data FROM experiment_counters WHERE iteration = ? AND variant = ? AND replicate = ? AND hour = ?", c.iteration, c.variant, c.replicate, c.hour);
      const counts = row === null ? c.counts : mergeCounts(parseCounts(row.data), c.counts);
      this.sql.run("INSERT OR REPLACE INTO experiment_counters (iteration, variant, replicate, hour, data) VALUES (?, ?, ?, ?, ?)", c.iteration, c.variant, c.replicate, c.hour, JSON.stringify(counts));
    }
  }

  /** An iteration this object has counted, or null. */
  find(iteration: string): ExperimentRow | null {
    const row = this.sql.first("SELECT iteration, rule, control, first_at AS firstAt, last_at AS lastAt FROM experiments WHERE iteration = ?", iteration);
    return row === null ? null : ExperimentRowSchema.parse(row);
  }

  /** A rule's iterations, newest first. */
  ofRule(rule: string): ExperimentRow[] {
    return this.sql.all("SELECT iteration, rule, control, first_at AS firstAt, last_at AS lastAt FROM experiments WHERE rule = ? ORDER BY last_at DESC", rule).map((row) => ExperimentRowSchema.parse(row));
  }

  /** Per variant, by replicate, the counts of hour buckets starting in [from, to). */
  span(iteration: string, from: number, to: number): Record<string, Replicated> {
    const out: Record<string, Replicated> = {};
    const rows = this.sql.all("SELECT variant, replicate, data FROM experiment_counters WHERE iteration = ? AND hour >= ? AND hour < ?", iteration, Math.floor(from / HOUR_MS), Math.ceil(to / HOUR_MS));
    for (const raw of rows) {
      const row = CountsRowSchema.parse(raw);
      const into = (out[row.variant] ??= emptyReplicated())[row.replicate];
      if (into) mergeCounts(into, parseCounts(row.data));
    }
    return out;
  }

  /** Retention: hour buckets past `EXPERIMENT_RETENTION_MS` go (the iteration's row stays, for its history). */
  compact(now: number): void {
    this.sql.run("DELETE FROM experiment_counters WHERE hour < ?", Math.floor((now - EXPERIMENT_RETENTION_MS) / HOUR_MS));
  }
}
