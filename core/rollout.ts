/**
 * The rollout state machine (shadow → ramping stages → completed; paused, rolled back, killed). Pure: the caller passes `now` and
 * stores what comes back. Every accepted transition bumps `version`, which is
 * how the RegistryDO tells a new state report from a replayed one.
 */
import { z } from "zod";
import { ArmSchema, type FlagKind, type Stage } from "./manifest";

/** `waiting`: a region wave that has not started (it serves the baseline until the wave before it completes; `core/waves.ts`). */
export const RolloutStatusSchema = z.enum(["waiting", "shadow", "ramping", "paused", "completed", "rolled_back", "killed"]);
export type RolloutStatus = z.infer<typeof RolloutStatusSchema>;

export const RolloutStateSchema = z.strictObject({
  status: RolloutStatusSchema,
  stageIndex: z.int().min(0),
  generation: z.int().min(1),
  version: z.int().min(1),
  forced: ArmSchema.nullable(),
  /** What `resume` returns to while paused. */
  pausedFrom: z.enum(["shadow", "ramping"]).nullable(),
  /** What `unkill` returns to while killed. */
  killedFrom: RolloutStatusSchema.exclude(["killed"]).nullable(),
  stageEnteredAt: z.number(),
  updatedAt: z.number(),
});
export type RolloutState = z.infer<typeof RolloutStateSchema>;

export const ACTIONS = ["promote", "demote", "rollback", "pause", "resume", "kill", "unkill", "force", "unforce", "start"] as const;
export const ActionSchema = z.enum(ACTIONS);
export type Action = z.infer<typeof ActionSchema>;

/**
 * `clear_srm` changes no rollout state: it clears the judge's memory of a
 * sample ratio mismatch (`GateMemory.srmLatch`), which blocks promotion
 * until an operator has looked; its reason is required and audited.
 */
export const OperatorActionSchema = z.enum([...ACTIONS, "clear_srm"]);
export type OperatorAction = z.infer<typeof OperatorActionSchema>;

export const ActionRequestSchema = z.strictObject({
  action: OperatorActionSchema,
  variant: ArmSchema.optional(),
  reason: z.string().max(1000).optional(),
});
export type ActionRequest = z.infer<typeof ActionRequestSchema>;

export type TransitionResult =
  | { readonly ok: true; readonly state: RolloutState }
  | { readonly ok: false; readonly code: "invalid_transition" | "invalid_request"; readonly message: string };

/** Where a rollout starts: its first stage, as shadow or ramping (or completed for a single 100% stage); a later region wave starts waiting. */
export function initialState(stages: readonly Stage[], generation: number, version: number, now: number, waiting = false): RolloutState {
  return {
    status: waiting ? "waiting" : statusOfStage(stages, 0),
    stageIndex: 0,
    generation,
    version,
    forced: null,
    pausedFrom: null,
    killedFrom: null,
    stageEnteredAt: now,
    updatedAt: now,
  };
}

function statusOfStage(stages: readonly Stage[], index: number): "shadow" | "ramping" | "completed" {
  const stage = stages[index];
  if (stage?.shadow) return "shadow";
  return stage?.weight === 100 ? "completed" : "ramping";
}

/** Index of the first stage that sends traffic to the candidate. */
export function firstWeightedStage(stages: readonly Stage[]): number {
  const index = stages.findIndex((s) => s.weight > 0);
  return index === -1 ? 0 : index;
}

/** Which actions each state accepts (force/unforce are accepted in every state). */
const ALLOWED: Record<RolloutStatus, readonly Action[]> = {
  // `start` begins a waiting wave early (the registry starts it when the wave before completes).
  waiting: ["start", "kill"],
  shadow: ["promote", "rollback", "pause", "kill"],
  ramping: ["promote", "demote", "rollback", "pause", "kill"],
  paused: ["resume", "rollback", "kill"],
  completed: ["rollback", "kill"],
  rolled_back: ["resume"],
  killed: ["unkill"],
};

/**
 * What operators may do to flags that are not staged rollouts: a kill switch
 * only flips; a guard is switched by the cron, so operators may only stop it
 * (kill, force) and let it go again.
 */
const KIND_ACTIONS: Record<Exclude<FlagKind, "rollout">, { actions: readonly Action[]; why: string }> = {
  kill_switch: { actions: ["kill", "unkill"], why: "a kill switch is on until killed; only kill and unkill apply" },
  guard: { actions: ["kill", "unkill", "force", "unforce"], why: "a guard is switched by the cron by its bound; operators may kill, unkill, force and unforce it" },
  targeting: { actions: ["kill", "unkill"], why: "a targeting flag is served by its rules; only kill (its default variant for everyone) and unkill apply" },
};

/** Applies an operator's action; refuses, with a message saying why, what the flag's kind or state does not allow. */
export function applyAction(
  state: RolloutState,
  stages: readonly Stage[],
  request: { action: Action; variant?: ActionRequest["variant"] },
  now: number,
  kind: FlagKind = "rollout",
): TransitionResult {
  const { action } = request;
  const next = { ...state, version: state.version + 1, updatedAt: now };
  const refuse = (message: string): TransitionResult => ({ ok: false, code: "invalid_transition", message });
  if (kind !== "rollout" && !KIND_ACTIONS[kind].actions.includes(action)) return refuse(KIND_ACTIONS[kind].why);

  if (action === "force") {
    if (!request.variant) return { ok: false, code: "invalid_request", message: "force needs `variant`: baseline or candidate" };
    return { ok: true, state: { ...next, forced: request.variant } };
  }
  if (action === "unforce") {
    if (state.forced === null) return refuse("the flag is not forced");
    return { ok: true, state: { ...next, forced: null } };
  }
  if (!ALLOWED[state.status].includes(action)) {
    const allowed = [...ALLOWED[state.status], "force", "unforce"].join(", ");
    return refuse(`cannot ${action} a ${state.status} rollout; allowed: ${allowed}`);
  }
  switch (action) {
    case "promote": {
      const target = state.stageIndex + 1;
      if (target >= stages.length) return refuse("already at the last stage");
      return { ok: true, state: { ...next, stageIndex: target, status: statusOfStage(stages, target), stageEnteredAt: now } };
    }
    case "demote": {
      const target = firstWeightedStage(stages);
      if (state.stageIndex <= target) return refuse("already at the first weighted stage");
      return { ok: true, state: { ...next, stageIndex: target, status: statusOfStage(stages, target), stageEnteredAt: now } };
    }
    case "rollback":
      return { ok: true, state: { ...next, status: "rolled_back", pausedFrom: null, stageEnteredAt: now } };
    case "pause":
      return { ok: true, state: { ...next, status: "paused", pausedFrom: state.status === "shadow" ? "shadow" : "ramping" } };
    case "resume":
      if (state.status === "rolled_back") {
        // A rolled-back candidate starts over as a new generation: fresh counters, first stage.
        return { ok: true, state: { ...initialState(stages, state.generation + 1, next.version, now), forced: state.forced } };
      }
      return { ok: true, state: { ...next, status: state.pausedFrom ?? "ramping", pausedFrom: null } };
    case "start":
      return { ok: true, state: { ...next, stageIndex: 0, status: statusOfStage(stages, 0), stageEnteredAt: now } };
    case "kill":
      return { ok: true, state: { ...next, status: "killed", killedFrom: state.status === "killed" ? null : state.status } };
    case "unkill":
      return { ok: true, state: { ...next, status: state.killedFrom ?? "rolled_back", killedFrom: null } };
  }
  return refuse(`unknown action ${String(action)}`);
}

/**
 * The state after the spec changed. A new candidate (value, pins, stickiness
 * or salt) starts a new generation at the first stage; other edits keep the
 * state, clamped to the stages that still exist.
 */
export function reconfigure(state: RolloutState, stages: readonly Stage[], candidateChanged: boolean, now: number, waiting = false): RolloutState {
  if (candidateChanged) return initialState(stages, state.generation + 1, state.version + 1, now, waiting);
  const stageIndex = Math.min(state.stageIndex, stages.length - 1);
  const live = state.status === "shadow" || state.status === "ramping" || state.status === "completed";
  const status = live ? statusOfStage(stages, stageIndex) : state.status;
  return { ...state, stageIndex, status, version: state.version + 1, updatedAt: now };
}

/** What the state serves: the candidate's weight in basis points, and whether the stage is shadow. */
export function servedWeight(state: RolloutState, stages: readonly Stage[]): { weightBp: number; shadow: boolean } {
  switch (state.status) {
    case "waiting":
    case "killed":
    case "rolled_back":
      return { weightBp: 0, shadow: false };
    case "completed":
      return { weightBp: 10_000, shadow: false };
    case "shadow":
    case "ramping":
    case "paused": {
      const stage = stages[state.stageIndex];
      return { weightBp: stage ? Math.round(stage.weight * 100) : 0, shadow: stage?.shadow ?? false };
    }
  }
}
