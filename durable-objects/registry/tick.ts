/**
 * The cron's fan-out, run by the RegistryDO: a batch of FlagDOs judged at the
 * tick's time, a few at a time, one failure never stopping the others.
 */
import { z } from "zod";
import type { RolloutState } from "../../core/rollout";
import type { JudgeResult } from "../flag/flag-do";
import { flagStub } from "../flag/stub";
import { waveObjectName } from "../../core/waves";

/** One object the cron judges: a flag's own (wave 1) or one of its region waves. */
export interface TickTarget {
  key: string;
  wave: number;
}

/** Flags judged per invocation: well under the 1,000 subrequests of a paid invocation (50 on Free: lower it there). */
export const TICK_BATCH = 200;
const TICK_CONCURRENCY = 10;

export const LastTickSchema = z.strictObject({
  now: z.number(),
  evaluated: z.int().min(0),
  changed: z.int().min(0),
  failed: z.int().min(0),
  batches: z.int().min(0),
  /** Wall-clock time the last batch of this tick finished. */
  finishedAt: z.number(),
});
export type LastTick = z.infer<typeof LastTickSchema>;

/** A tick still running: its time and how many flags (in key order) are done. */
export const PendingTickSchema = z.strictObject({ now: z.number(), cursor: z.int().min(0) });

export interface TickProgress {
  evaluated: number;
  changed: number;
  failed: number;
  /** Flags left for the registry's alarm to continue with. */
  remaining: number;
}

/** Judges `targets` at `now`; returns every state the FlagDOs answered with. */
export async function judgeBatch(env: Env, targets: readonly TickTarget[], now: number) {
  const states: { key: string; wave: number; state: RolloutState; action?: string; softAborts?: number; counterShards?: number; metrics?: JudgeResult["metrics"] }[] = [];
  /** Flags whose object asked for its spec again (stored before specs were kept as written). */
  const needSpec: string[] = [];
  let evaluated = 0;
  let failed = 0;
  for (let i = 0; i < targets.length; i += TICK_CONCURRENCY) {
    await Promise.all(
      targets.slice(i, i + TICK_CONCURRENCY).map(async ({ key, wave }) => {
        const name = waveObjectName(key, wave);
        try {
          const result = await flagStub(env, name).judge(now);
          // A flag an overlapping trigger already judged this minute was judged: count it.
          if (result.judged || result.alreadyJudged) evaluated++;
          if (result.needsSpec && wave === 1) needSpec.push(key);
          if (result.state) states.push({ key, wave, state: result.state, ...(result.action ? { action: result.action } : {}), ...(result.softAborts ? { softAborts: result.softAborts } : {}), ...(result.counterShards ? { counterShards: result.counterShards } : {}), ...(result.metrics ? { metrics: result.metrics } : {}) });
        } catch (error) {
          failed++;
          console.error(`cron: flag ${name} failed to evaluate`, error);
        }
      }),
    );
  }
  return { states, evaluated, failed, needSpec };
}

/** The running summary of a tick, with one more batch added. */
export function addBatch(previous: LastTick | null, now: number, batch: { evaluated: number; changed: number; failed: number }, finishedAt: number): LastTick {
  const same = previous?.now === now ? previous : null;
  return {
    now,
    evaluated: (same?.evaluated ?? 0) + batch.evaluated,
    changed: (same?.changed ?? 0) + batch.changed,
    failed: (same?.failed ?? 0) + batch.failed,
    batches: (same?.batches ?? 0) + 1,
    finishedAt,
  };
}
