/**
 * Crediting an outcome event to the exposure that caused it: the arm,
 * generation and stage its unit was served under — not whatever the flag
 * serves when the event happens to arrive.
 *
 * In order of preference:
 * 1. the `assignment` token the evaluation's metadata carried and the client
 *    echoed ("generation.stage.arm");
 * 2. the event's `variant`, with the generation and stage the flag was in at
 *    the event's own timestamp (from the flag's state history);
 * 3. neither: the unit is assigned again against the flag as it was at the
 *    event's timestamp, using the event's `context` (scope attributes, the
 *    stickiness attribute) and its `targetingKey` — unless the flag's rules
 *    ask segments or other flags, which the flag's own object cannot
 *    answer as the edge did then: such an event needs its token
 *    ("needs_assignment"), rather than a guess that could credit a
 *    rule-served user to the rollout.
 *
 * A shadow comparison always belongs to the candidate (it compares the
 * candidate's answer with the baseline's). An event that cannot be credited
 * is returned with the reason, to be counted as unattributed — never given
 * to an arm by default.
 */
import { assign, compileFlag, isRolloutExposure, parseAssignmentToken, unitReplicate, type CompiledFlag, type EvaluationContext } from "./assign";
import type { Arm, FlagSpec } from "./manifest";
import type { RolloutState } from "./rollout";
import { snapshotFlagOf } from "./snapshot";
import { ruleSegmentReferences } from "./targeting-rules";
import { prerequisitesOf } from "./prerequisites";

export const UNATTRIBUTED_REASONS = [
  "before_first_state",
  "unknown_generation",
  "bad_assignment",
  "not_in_rollout",
  "forced",
  "out_of_scope",
  "no_unit",
  "needs_assignment",
  "unknown_experiment",
] as const;
export type UnattributedReason = (typeof UNATTRIBUTED_REASONS)[number];

export interface AttributableEvent {
  name: string;
  variant?: Arm;
  assignment?: string;
  targetingKey: string;
  context?: EvaluationContext;
}

export type Attribution =
  | { ok: true; generation: number; stage: number; arm: Arm; replicate: number | null }
  | { ok: false; reason: UnattributedReason };

/** What attribution reads of the flag: its state at a time, and the spec a generation was served with. */
export interface FlagHistory {
  stateAt(time: number): RolloutState | null;
  specOf(generation: number): FlagSpec | null;
}

const JUDGED = new Set(["shadow", "ramping", "paused", "completed"]);

export function attribute(event: AttributableEvent, time: number, history: FlagHistory): Attribution {
  const context: EvaluationContext = { ...(event.context ?? {}), targetingKey: event.targetingKey };
  const comparison = event.name === "comparison";
  if (event.assignment !== undefined) {
    const token = parseAssignmentToken(event.assignment);
    if (token === null) return { ok: false, reason: "bad_assignment" };
    const spec = history.specOf(token.generation);
    if (spec === null) return { ok: false, reason: "unknown_generation" };
    if (token.stage >= spec.rollout.stages.length) return { ok: false, reason: "bad_assignment" };
    const replicate = unitReplicate(compiled(spec, history.stateAt(time)), context);
    return { ok: true, generation: token.generation, stage: token.stage, arm: comparison ? "candidate" : token.arm, replicate };
  }
  const state = history.stateAt(time);
  if (state === null) return { ok: false, reason: "before_first_state" };
  const spec = history.specOf(state.generation);
  if (spec === null) return { ok: false, reason: "unknown_generation" };
  if (!JUDGED.has(state.status)) return { ok: false, reason: "not_in_rollout" };
  if (state.forced !== null) return { ok: false, reason: "forced" };
  const flag = compiled(spec, state);
  const credit = (arm: Arm): Attribution => ({ ok: true, generation: state.generation, stage: state.stageIndex, arm, replicate: unitReplicate(flag, context) });
  if (comparison) return credit("candidate");
  if (event.variant !== undefined) return credit(event.variant);
  if (ruleSegmentReferences(spec.rules).length > 0 || prerequisitesOf(spec).length > 0) return { ok: false, reason: "needs_assignment" };
  const served = assign(flag, context);
  if (!served.ok) return { ok: false, reason: "no_unit" };
  if (served.codeDefault) return { ok: false, reason: "not_in_rollout" };
  if (served.reason === "DEFAULT") return { ok: false, reason: "out_of_scope" };
  if (!isRolloutExposure(flag, served)) return { ok: false, reason: "not_in_rollout" };
  return credit(served.arm);
}

/** An event echoing an experiment's token ("x.ITERATION.VARIANT"): credited to that variant of that iteration. */
export type ExperimentAttribution =
  | { ok: true; iteration: string; rule: string; control: string; variant: string; replicate: number | null }
  | { ok: false; reason: UnattributedReason };

/**
 * Credits an experiment event to the variant its token names, in an
 * iteration this flag's object has counted exposures of (`known`); its
 * replicate group comes from the unit's stickiness value, as at the edge.
 */
export function attributeExperiment(
  event: AttributableEvent,
  token: { iteration: string; variant: string },
  time: number,
  history: FlagHistory,
  known: (iteration: string) => { rule: string; control: string } | null,
): ExperimentAttribution {
  const experiment = known(token.iteration);
  if (experiment === null) return { ok: false, reason: "unknown_experiment" };
  const state = history.stateAt(time);
  const spec = state === null ? null : history.specOf(state.generation);
  const replicate = spec === null ? null : unitReplicate(compiled(spec, state), { ...(event.context ?? {}), targetingKey: event.targetingKey });
  return { ok: true, iteration: token.iteration, rule: experiment.rule, control: experiment.control, variant: token.variant, replicate };
}

/** Compiled flags by spec and state object: a batch of events credited against the same history compiles each once. */
const compiledCache = new WeakMap<FlagSpec, WeakMap<RolloutState, CompiledFlag>>();
const NO_STATE: RolloutState = { status: "ramping", stageIndex: 0, generation: 1, version: 1, forced: null, pausedFrom: null, killedFrom: null, stageEnteredAt: 0, updatedAt: 0 };

function compiled(spec: FlagSpec, state: RolloutState | null): CompiledFlag {
  const key = state ?? NO_STATE;
  let bySpec = compiledCache.get(spec);
  if (!bySpec) compiledCache.set(spec, (bySpec = new WeakMap()));
  let flag = bySpec.get(key);
  if (!flag) bySpec.set(key, (flag = compileUncached(spec, state)));
  return flag;
}

function compileUncached(spec: FlagSpec, state: RolloutState | null) {
  const placeholder: RolloutState = state ?? { status: "ramping", stageIndex: 0, generation: 1, version: 1, forced: null, pausedFrom: null, killedFrom: null, stageEnteredAt: 0, updatedAt: 0 };
  return compileFlag(snapshotFlagOf(spec, placeholder, 0), 0);
}
