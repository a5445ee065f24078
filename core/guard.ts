/**
 * Guard flags (the seed's safety guard and cost guard): serve the primary
 * variant (the candidate's value) while a guard metric stays inside its
 * bound; fall back to the safe variant (the baseline's value) when it does
 * not; return after `recoverAfter` healthy windows.
 *
 * No flapping on noise, in both directions:
 * - Falling back needs evidence: the condition is judged with the abort
 *   rules' e-process (`abort.ts`), restarted every minute — anytime-valid, so over every minute the
 *   primary serves, a metric that is in fact inside its bound triggers a
 *   fallback with probability at most α (GUARD_ALPHA), however long it runs.
 *   Each return to the primary starts the e-process afresh from that moment.
 * - Returning needs healthy windows: while fallen back, `probe`% of traffic
 *   keeps the primary (so its recovery can be seen at all); each closed
 *   window whose primary level is inside the bound, on at least `minSamples`
 *   samples, counts; any other window resets the count.
 *
 * States: stage 0 (weight 100, status completed) is the primary; stage 1
 * (weight `probe`, status ramping) is the fallback. Operators may kill,
 * unkill, force and unforce a guard; the cron does the rest.
 */
import type { z } from "zod";
import { emptyReplicated, type Replicated } from "./counters";
import { judgeAbort, restartAt, type AbortMemory, type AbortVerdict } from "./abort";
import { linearize, quantileOf } from "./estimate";
import type { AbortRule, MetricDefinition } from "./gate-spec";
import type { JudgedGuardSchema } from "./guard-spec";
import type { RolloutState } from "./rollout";

/**
 * The e-process's level. A guard promises at most 1% false fallbacks over
 * all its looks; the binomial evidence is tempered by a design effect that is
 * estimated from the replicate groups, not known, so half the budget covers
 * that estimate's error (measured: `npm run simulate -- --only guard-aa-5k`).
 */
export const GUARD_ALPHA = 0.005;

/**
 * A guard's e-process restarts every minute (abort rules: every hour), so a
 * spike after hours of calm is caught in minutes; restart j weighs
 * 1/((j+1)(j+2)), which a real spike's evidence pays for at once.
 */
export const GUARD_RESTART_MS = 60_000;

/** The state after the cron switches a guard. */
export function guardMove(state: RolloutState, to: "fallback" | "recover", now: number): RolloutState {
  const fallback = to === "fallback";
  return { ...state, stageIndex: fallback ? 1 : 0, status: fallback ? "ramping" : "completed", stageEnteredAt: now, updatedAt: now, version: state.version + 1 };
}

export interface GuardJudgement {
  action: "hold" | "fallback" | "recover";
  rule: string;
  reason: string;
  verdict: AbortVerdict | null;
  memory: AbortMemory | undefined;
  healthyStreak: number;
}

/** A window's level of the guard metric on the primary, and whether it is inside the bound. */
function windowHealth(when: AbortRule, definitions: Readonly<Record<string, MetricDefinition>>, primary: Readonly<Replicated>, minSamples: number) {
  const est = linearize(when.metric, definitions, [primary]);
  // Quantile levels compare in the metric's unit; rates and means likewise.
  const inside = est.value !== null && (when.direction === "above" ? est.value <= when.level : est.value >= when.level);
  const enough = est.samples >= minSamples && (quantileOf(when.metric) === undefined || est.samples >= 20 / (1 - (quantileOf(when.metric) ?? 0)));
  return { value: est.value, samples: est.samples, healthy: inside && enough, enough };
}

/**
 * One look at a guard. `primaryTotals`: the primary arm's counts of stage 0
 * for the generation; `window`: the primary's counts in the window that just
 * closed in the fallback stage, when one did.
 */
export function judgeGuard(
  guard: z.infer<typeof JudgedGuardSchema>,
  definitions: Readonly<Record<string, MetricDefinition>>,
  state: RolloutState,
  primaryTotals: Readonly<Replicated> | undefined,
  window: Readonly<Replicated> | null,
  previous: { memory: AbortMemory | undefined; healthyStreak: number },
  now: number,
): GuardJudgement {
  const when: AbortRule = guard.when;
  if (state.stageIndex === 0) {
    const totals = [primaryTotals ?? emptyReplicated()];
    // A fresh look at the primary (first look, or back from a fallback) counts only from now on.
    const memory = previous.memory ?? restartAt(when, definitions, totals, now, GUARD_RESTART_MS);
    const judged = judgeAbort(when, definitions, totals, now, memory, GUARD_ALPHA, GUARD_RESTART_MS);
    if (judged.verdict.fired) {
      return { action: "fallback", rule: `guard:${when.metric}:fallback`, reason: `falling back: ${judged.verdict.reason}`, verdict: judged.verdict, memory: undefined, healthyStreak: 0 };
    }
    return { action: "hold", rule: "hold:guard-primary", reason: `serving the primary: ${judged.verdict.reason}`, verdict: judged.verdict, memory: judged.memory, healthyStreak: 0 };
  }
  let streak = previous.healthyStreak;
  let last = "no window has closed since the fallback";
  if (window) {
    const health = windowHealth(when, definitions, window, guard.minSamples);
    streak = health.healthy ? streak + 1 : 0;
    const shown = health.value === null ? "n/a" : health.value.toPrecision(4);
    last = `last window: primary ${when.metric} ${shown} (n=${health.samples}) ${health.healthy ? "inside" : health.enough ? "outside" : "too few samples for"} the bound ${when.direction} ${when.level}`;
  }
  if (streak >= guard.recoverAfter) {
    return { action: "recover", rule: `guard:${when.metric}:recover`, reason: `returning to the primary: ${streak} healthy windows in a row; ${last}`, verdict: null, memory: undefined, healthyStreak: 0 };
  }
  return { action: "hold", rule: "hold:guard-fallback", reason: `serving the fallback: healthy windows ${streak} of ${guard.recoverAfter}; ${last}`, verdict: null, memory: undefined, healthyStreak: streak };
}
