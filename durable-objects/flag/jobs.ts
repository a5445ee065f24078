/**
 * The FlagDO's scheduled work (table `jobs`): one row per kind of job with
 * when it is next due. The earliest row sets the object's single alarm (as
 * cloudflare/agents schedules do), so no job's schedule overwrites another's;
 * the alarm runs every job that is due, then sets itself to the next.
 */
import { z } from "zod";
import type { Sql } from "../sql";

export const JOB_KINDS = [
  /** Send the state to the registry again: a report it did not take (backoff). */
  "report_state",
  /** Ask the stage's external approval check (again). */
  "approval_check",
  /** Deliver the webhooks whose attempt is due (the outbox holds them). */
  "deliver_webhooks",
] as const;
export type JobKind = (typeof JOB_KINDS)[number];

const JobRowSchema = z.object({ kind: z.enum(JOB_KINDS), due_at: z.number() }).transform((r) => ({ kind: r.kind, dueAt: r.due_at }));
export type Job = z.infer<typeof JobRowSchema>;

export class Jobs {
  constructor(private readonly sql: Sql) {}

  /** When the job is due, or null when it is not scheduled. */
  dueAt(kind: JobKind): number | null {
    return this.sql.first<{ due_at: number }>("SELECT due_at FROM jobs WHERE kind = ?", kind)?.due_at ?? null;
  }

  /** Schedules the job at `at` (null: unschedules it). */
  schedule(kind: JobKind, at: number | null): void {
    if (at === null) this.sql.run("DELETE FROM jobs WHERE kind = ?", kind);
    else this.sql.run("INSERT INTO jobs (kind, due_at) VALUES (?, ?) ON CONFLICT (kind) DO UPDATE SET due_at = excluded.due_at", kind, at);
  }

  /** Schedules the job at `at` unless it is already scheduled. */
  scheduleOnce(kind: JobKind, at: number): void {
    this.sql.run("INSERT INTO jobs (kind, due_at) VALUES (?, ?) ON CONFLICT (kind) DO NOTHING", kind, at);
  }

  cancel(kind: JobKind): void {
    this.schedule(kind, null);
  }

  /** The jobs due at `now`, earliest first. */
  due(now: number): Job[] {
    return this.sql.all("SELECT kind, due_at FROM jobs WHERE due_at <= ? ORDER BY due_at, kind", now).map((row) => JobRowSchema.parse(row));
  }

  /** When the earliest job is due: what the alarm is set to. */
  earliest(): number | null {
    return this.sql.first<{ at: number | null }>("SELECT MIN(due_at) AS at FROM jobs")?.at ?? null;
  }
}
