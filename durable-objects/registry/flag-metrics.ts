/**
 * What /metrics shows, kept by the RegistryDO so one RPC answers a scrape:
 * each flag's counts for its current generation as of the last cron tick,
 * and the number of decisions that changed a rollout, by action and source.
 */
import { z } from "zod";
import { ArmCountsSchema } from "../../core/counters";
import type { Sql } from "../sql";

/** What the cron concluded at its latest look at a flag, whether or not it logged a decision. */
export const LatestJudgementSchema = z.strictObject({ action: z.string(), rule: z.string(), reason: z.string() });
export type LatestJudgement = z.infer<typeof LatestJudgementSchema>;

export const FlagMetricsSchema = z.strictObject({
  /** The counted object: the flag's key, or its region wave's object name. */
  key: z.string(),
  /** With region waves: the flag and the wave (1-based) this row counts. */
  flag: z.string().optional(),
  wave: z.int().min(1).optional(),
  generation: z.int(),
  status: z.string(),
  weight: z.number(),
  baseline: ArmCountsSchema,
  candidate: ArmCountsSchema,
  /** Events of the generation no arm could be credited with (`core/attribution.ts`). */
  unattributed: z.int().min(0).optional(),
  /** The latest judgement (absent in rows written before it was kept). */
  judgement: LatestJudgementSchema.optional(),
  at: z.number(),
});
export type FlagMetrics = z.infer<typeof FlagMetricsSchema>;

export interface MetricsSnapshot {
  flags: FlagMetrics[];
  decisions: { action: string; source: string; count: number }[];
  /** Pending scheduled changes per flag, with the soonest (absent from the store's own snapshot; the registry adds them). */
  schedules?: { flag: string; count: number; next: number }[];
}

export class FlagMetricsStore {
  /** Its tables come from the registry's migrations (`registry-schema.ts`). */
  constructor(private readonly sql: Sql) {}

  put(metrics: FlagMetrics): void {
    this.sql.run("INSERT OR REPLACE INTO flag_metrics (key, data) VALUES (?, ?)", metrics.key, JSON.stringify(metrics));
  }

  /** One flag's row, or null when the cron has not judged it yet. */
  get(key: string): FlagMetrics | null {
    const row = this.sql.first<{ data: string }>("SELECT data FROM flag_metrics WHERE key = ?", key);
    if (row === null) return null;
    const parsed = FlagMetricsSchema.safeParse(JSON.parse(row.data));
    return parsed.success ? parsed.data : null;
  }

  remove(key: string): void {
    this.sql.run("DELETE FROM flag_metrics WHERE key = ?", key);
  }

  countDecision(action: string, source: string): void {
    this.sql.run(
      "INSERT INTO decision_counts (action, source, n) VALUES (?, ?, 1) ON CONFLICT (action, source) DO UPDATE SET n = n + 1",
      action.split(":")[0] ?? action,
      source,
    );
  }

  snapshot(): MetricsSnapshot {
    return {
      flags: this.sql.all<{ data: string }>("SELECT data FROM flag_metrics ORDER BY key").map((r) => FlagMetricsSchema.parse(JSON.parse(r.data))),
      decisions: this.sql.all<{ action: string; source: string; n: number }>("SELECT action, source, n FROM decision_counts ORDER BY action, source").map((r) => ({ action: r.action, source: r.source, count: r.n })),
    };
  }
}
