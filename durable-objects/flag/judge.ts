/**
 * Assembles what the cron judges a flag from (totals, the window that just
 * closed, abort spans), runs the pure evaluation, and maps its action to a
 * state transition. The counts come as one `CounterRead` per counter object
 * (the flag's own and its shards'), merged here.
 */
import { z } from "zod";
import { JudgementInputsSchema, judgeRollout, JUDGE_METHOD, planJudgement, type JudgementInputs, type GateMemory, type RolloutDecision, type StageApproval } from "../../core/gates";
import type { FlagSpec } from "../../core/manifest";
import type { SeriesRead } from "../../core/series-gate";
import type { RolloutState } from "../../core/rollout";
import { mergeRead, type CounterRead, type SpanQuery } from "./counter-store";

/** The spans the evaluation at `now` needs: the window that closed in the current stage, if any. */
export function spansToRead(spec: FlagSpec, state: RolloutState, memory: GateMemory, now: number): SpanQuery[] {
  const plan = planJudgement(spec, state, memory, now);
  return plan.window ? [{ from: plan.window.from, to: plan.window.to, stage: state.stageIndex }] : [];
}

export function judgeFlag(reads: CounterRead[], spec: FlagSpec, state: RolloutState, memory: GateMemory, now: number, approvals: StageApproval[] = [], series?: Record<string, SeriesRead>): { decision: RolloutDecision; inputs: JudgementInputs } {
  const [first, ...rest] = reads;
  if (!first) throw new Error("judgeFlag needs the flag's own counters");
  const merged = rest.reduce(mergeRead, first);
  const plan = planJudgement(spec, state, memory, now);
  const inputs: JudgementInputs = {
    method: JUDGE_METHOD,
    now,
    spec: { rollout: spec.rollout, gates: spec.gates, abort: spec.abort, metrics: spec.metrics, ...(spec.kind !== "rollout" ? { kind: spec.kind } : {}), ...(spec.guard ? { guard: spec.guard } : {}) },
    state,
    memory,
    totals: merged.totals,
    window: plan.window && merged.spans[0] ? { span: plan.window, counts: merged.spans[0] } : null,
    ...(approvals.length > 0 ? { approvals } : {}),
    ...(series ? { series } : {}),
  };
  return { decision: judgeRollout(inputs), inputs };
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
    ...(decision.softAborts.length > 0 ? { softAborts: decision.softAborts.map((a) => a.metric) } : {}),
    srm: decision.srm,
    alpha: decision.alpha,
  };
}

/**
 * What replay reads back of a decision's stored inputs: checked through a
 * schema, and refused — saying so — when they were written by a judging
 * method this code no longer runs.
 */
const StoredInputsSchema = z.looseObject({ method: z.int().optional() });

/** Replays a stored decision from its inputs. */
export function replayInputs(inputsJson: string): { ok: true; decision: RolloutDecision } | { ok: false; message: string } {
  const raw: unknown = JSON.parse(inputsJson);
  const head = StoredInputsSchema.safeParse(raw);
  const method = head.success ? (head.data.method ?? 1) : 1;
  if (method !== JUDGE_METHOD) {
    return { ok: false, message: `it was judged with method ${method}, which this version (method ${JUDGE_METHOD}: user-level variances, promotion on evidence, anytime-valid abort rules) no longer runs; its logged verdicts stand as they were` };
  }
  return { ok: true, decision: judgeRollout(JudgementInputsSchema.parse(raw)) };
}
