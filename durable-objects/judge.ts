/**
 * Assembles what the cron judges a flag from (totals, the window that just
 * closed, abort spans), runs the pure evaluation, and maps its action to a
 * state transition. The counts come as one `CounterRead` per counter object
 * (the flag's own and its shards'), merged here.
 */
import { emptyCounts } from "../core/counters";
import { evaluateRollout, planEvaluation, type CronAction, type EvaluationInputs, type GateMemory, type RolloutDecision } from "../core/gates";
import type { FlagSpec } from "../core/manifest";
import type { Action, RolloutState } from "../core/rollout";
import { mergeRead, type CounterRead, type SpanQuery } from "./counter-store";

/** The spans the evaluation at `now` needs: the window that closed (if any), then each abort rule's. */
export function spansToRead(spec: FlagSpec, state: RolloutState, memory: GateMemory, now: number): SpanQuery[] {
  const plan = planEvaluation(spec, state, memory, now);
  const spans: SpanQuery[] = plan.window ? [{ from: plan.window.from, to: plan.window.to, stage: state.stageIndex }] : [];
  return [...spans, ...plan.abortSpans];
}

export function judgeFlag(reads: CounterRead[], spec: FlagSpec, state: RolloutState, memory: GateMemory, now: number): { decision: RolloutDecision; inputs: EvaluationInputs } {
  const [first, ...rest] = reads;
  if (!first) throw new Error("judgeFlag needs the flag's own counters");
  const merged = rest.reduce(mergeRead, first);
  const plan = planEvaluation(spec, state, memory, now);
  const offset = plan.window ? 1 : 0;
  const inputs: EvaluationInputs = {
    now,
    spec: { rollout: spec.rollout, gates: spec.gates, abort: spec.abort, metrics: spec.metrics },
    state,
    memory,
    totals: merged.totals,
    window: plan.window && merged.spans[0] ? { span: plan.window, counts: merged.spans[0] } : null,
    abortCounts: plan.abortSpans.map((_, i) => merged.spans[offset + i]?.candidate ?? emptyCounts()),
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
