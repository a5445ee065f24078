/**
 * The step after a judgement: the state a cron decision moves the rollout
 * to, and the judge's memory for the next look. The one place this is
 * chosen — the FlagDO and the gate simulation both call it, so what the
 * simulation measures is what the cron does.
 */
import { guardMove } from "./guard";
import { memoryForStage, type CronAction, type GateMemory, type RolloutDecision } from "./gates";
import type { Stage } from "./manifest";
import { applyAction, type Action, type RolloutState } from "./rollout";

export interface DecisionStep {
  state: RolloutState;
  memory: GateMemory;
  /** Whether the state moved (a new version to record and publish). */
  changed: boolean;
}

/** The state-machine action a cron decision asks for (null: none — a hold, or a guard's own switch). */
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
    case "fallback":
    case "recover":
      return null;
  }
}

/**
 * Applies a cron decision: (1) a guard's switch moves it between primary
 * and fallback (`guardMove`); (2) any other move goes through the state
 * machine, and one it refuses (the state changed meanwhile) leaves the
 * state as it was; (3) a moved state gets the memory of its new stage
 * (abort e-processes and the SRM latch carry on within the generation).
 */
export function applyDecision(state: RolloutState, stages: readonly Stage[], decision: Pick<RolloutDecision, "action" | "memory">, now: number): DecisionStep {
  const { action } = decision;
  let next = state;
  if (action === "fallback" || action === "recover") next = guardMove(state, action, now);
  else {
    const transition = transitionOf(action);
    const moved = transition === null ? null : applyAction(state, stages, { action: transition }, now);
    if (moved?.ok) next = moved.state;
  }
  const changed = next !== state;
  return { state: next, memory: changed ? memoryForStage(decision.memory, next) : decision.memory, changed };
}
