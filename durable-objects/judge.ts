/**
 * Assembles what the cron judges a flag from (totals, the window that just
 * closed, abort spans) out of the counter store, runs the pure evaluation,
 * and maps its action to a state transition.
 */
import { evaluateRollout, planEvaluation, type CronAction, type EvaluationInputs, type GateMemory, type RolloutDecision } from "../core/gates";
import type { FlagSpec } from "../core/manifest";
import type { Action, RolloutState } from "../core/rollout";
import type { CounterStore } from "./counter-store";

export function judgeFlag(store: CounterStore, spec: FlagSpec, state: RolloutState, memory: GateMemory, now: number): { decision: RolloutDecision; inputs: EvaluationInputs } {
  const plan = planEvaluation(spec, state, memory, now);
  const inputs: EvaluationInputs = {
    now,
    spec: { rollout: spec.rollout, gates: spec.gates, abort: spec.abort, metrics: spec.metrics },
    state,
    memory,
    totals: store.totals(state.generation),
    window: plan.window ? { span: plan.window, counts: store.span(state.generation, plan.window.from, plan.window.to, state.stageIndex) } : null,
    abortCounts: plan.abortSpans.map((span) => store.span(state.generation, span.from, span.to).candidate),
  };
  return { decision: evaluateRollout(inputs), inputs };
}

/** The state-machine action a cron decision asks for (null: hold). */
export function transitionOf(action: CronAction): Action | null {
  switch (action) {
    case "promote":
    case "complete":
      return "promote";
    case "demote":
      return "demote";
    case "rollback":
      return "rollback";
    case "kill":
      return "kill";
    case "hold":
      return null;
  }
}

/** What a decision looks like in the log and in notifications: verdicts without the raw counts. */
export function summarize(decision: RolloutDecision) {
  return {
    action: decision.action,
    rule: decision.rule,
    reasons: decision.reasons,
    verdicts: decision.verdicts,
    windowVerdicts: decision.windowVerdicts,
    aborts: decision.aborts,
    srm: decision.srm,
    alpha: decision.alpha,
  };
}

/** Replays a stored decision from its inputs. */
export function replayInputs(inputsJson: string): RolloutDecision {
  return evaluateRollout(JSON.parse(inputsJson) as EvaluationInputs);
}
