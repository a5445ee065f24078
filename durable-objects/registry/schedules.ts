/**
 * Scheduled changes waiting for the cron (table `schedules`, registry
 * migration 7; `core/schedule.ts`). Each row decoded once through its schema.
 */
import { z } from "zod";
import { ScheduleSchema, type Schedule, type ScheduleRequest } from "../../core/schedule";
import type { Sql } from "../sql";

const ScheduleRowSchema = z
  .object({ id: z.number(), flag: z.string(), wave: z.number(), at: z.number(), action: z.string(), variant: z.string().nullable(), reason: z.string().nullable(), spec: z.string().nullable(), created_by: z.string(), created_at: z.number() })
  .transform((r) => ScheduleSchema.parse({ id: r.id, flag: r.flag, wave: r.wave, at: r.at, action: r.action, variant: r.variant, reason: r.reason, spec: r.spec === null ? null : (JSON.parse(r.spec) as unknown), createdBy: r.created_by, createdAt: r.created_at }));

export class Schedules {
  constructor(private readonly sql: Sql) {}

  add(flag: string, request: ScheduleRequest, actor: string, now: number): Schedule {
    const row = this.sql.first(
      "INSERT INTO schedules (flag, wave, at, action, variant, reason, spec, created_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
      flag, request.wave ?? 1, request.at, request.action, request.variant ?? null, request.reason ?? null, request.spec === undefined ? null : JSON.stringify(request.spec), actor, now,
    );
    return ScheduleRowSchema.parse(row);
  }

  get(flag: string, id: number): Schedule | null {
    const row = this.sql.first("SELECT * FROM schedules WHERE flag = ? AND id = ?", flag, id);
    return row === null ? null : ScheduleRowSchema.parse(row);
  }

  /** A flag's pending schedules, soonest first. */
  of(flag: string): Schedule[] {
    return this.sql.all("SELECT * FROM schedules WHERE flag = ? ORDER BY at, id", flag).map((row) => ScheduleRowSchema.parse(row));
  }

  count(flag: string): number {
    return this.sql.first<{ n: number }>("SELECT COUNT(*) AS n FROM schedules WHERE flag = ?", flag)?.n ?? 0;
  }

  /** Every schedule due at `now`, soonest first. */
  due(now: number): Schedule[] {
    return this.sql.all("SELECT * FROM schedules WHERE at <= ? ORDER BY at, id", now).map((row) => ScheduleRowSchema.parse(row));
  }

  /** Pending schedules per flag with the soonest time: what /metrics lists. */
  pending(): { flag: string; count: number; next: number }[] {
    return this.sql.all<{ flag: string; n: number; next: number }>("SELECT flag, COUNT(*) AS n, MIN(at) AS next FROM schedules GROUP BY flag ORDER BY flag").map((r) => ({ flag: r.flag, count: r.n, next: r.next }));
  }

  remove(id: number): void {
    this.sql.run("DELETE FROM schedules WHERE id = ?", id);
  }

  removeFlag(flag: string): void {
    this.sql.run("DELETE FROM schedules WHERE flag = ?", flag);
  }
}
