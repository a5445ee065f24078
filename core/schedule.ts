/**
 * Scheduled changes: an operator action (kill, unkill, pause, resume,
 * promote, start a waiting wave, …) to be carried out by the first cron tick
 * at or after `at`, as `schedule:<who asked>`, and audited like any action;
 * or `update`, a new spec stored at that time (a split's new weights, an
 * experiment's cutoff: the spec that serves its winner), as if PUT then.
 * A schedule that can no longer apply (the flag moved on) is audited as
 * failed and dropped, never retried.
 */
import { z } from "zod";
import { ArmSchema, JsonValueSchema } from "./manifest";
import { ACTIONS } from "./rollout";
import { MAX_WAVES } from "./waves";

/** Schedules a flag may hold at once, and how far ahead one may be set. */
export const MAX_SCHEDULES_PER_FLAG = 50;
export const MAX_SCHEDULE_AHEAD_MS = 366 * 86_400_000;

/** An operator action, or `update`: store `spec` as the flag's spec. */
export const SCHEDULED_ACTIONS = [...ACTIONS, "update"] as const;
export const ScheduledActionSchema = z.enum(SCHEDULED_ACTIONS);

/** A time as ISO 8601 with a zone, or milliseconds since the epoch. */
const TimeSchema = z.union([z.int().min(0), z.iso.datetime({ offset: true })]).transform((v) => (typeof v === "number" ? v : Date.parse(v)));

export const ScheduleRequestSchema = z.strictObject({
  at: TimeSchema.describe("When: ISO 8601 with a zone (2027-01-15T09:00:00Z), or ms since the epoch; the first cron tick at or after it acts"),
  action: ScheduledActionSchema,
  variant: ArmSchema.optional().describe("For force: the arm to serve"),
  reason: z.string().max(1000).optional(),
  wave: z.int().min(1).max(MAX_WAVES).optional().describe("The region wave acted on (default 1)"),
  spec: z.record(z.string(), JsonValueSchema).optional().describe("For update: the flag's spec from `at` on, as PUT /admin/flags/{key} takes it (checked now, and again when it is stored)"),
});
export type ScheduleRequest = z.infer<typeof ScheduleRequestSchema>;

export const ScheduleSchema = z.strictObject({
  id: z.int().min(1),
  flag: z.string(),
  wave: z.int().min(1),
  at: z.number(),
  action: ScheduledActionSchema,
  variant: ArmSchema.nullable(),
  reason: z.string().nullable(),
  /** An update's spec as written (JSON, stored by the registry); null for an action. */
  spec: z.unknown().transform((v) => (v === undefined ? null : v)),
  createdBy: z.string(),
  createdAt: z.number(),
});
export type Schedule = z.infer<typeof ScheduleSchema>;

/** The problem with a request's time, or null: not in the past, not beyond MAX_SCHEDULE_AHEAD_MS. */
export function scheduleTimeProblem(at: number, now: number): string | null {
  if (!Number.isFinite(at)) return "not a time";
  if (at <= now) return `${new Date(at).toISOString()} is not in the future (now ${new Date(now).toISOString()})`;
  if (at - now > MAX_SCHEDULE_AHEAD_MS) return "at most 366 days ahead";
  return null;
}
