/**
 * One flag evaluation as every entry point serves it (OFREP over HTTP, the
 * Worker binding): the isolate's snapshot, `assign`, and — for a served
 * exposure of a rollout — the counter and the exposure-log sample. Never
 * awaits storage once the snapshot is warm.
 */
import { assign, isRolloutExposure, stickinessValueOf, type CodeDefault, type EvaluationContext, type NotServed, type Served } from "../core/assign";
import type { Services } from "./context";
import { sampleExposure } from "./exposure-log";
import { replicateOf } from "./replicate";
import type { Schedule } from "./snapshot";
import type { CompiledSnapshot } from "../core/compile";
import { evaluationFailure, NOT_READY, type EvaluationFailure } from "../core/evaluation-outcome";
import { inRequestWave } from "./edge-location";
import { snapshotScope } from "../core/prerequisites";

/** A served value, or why none was served (a kind each protocol renders once: `core/evaluation-outcome.ts`). */
export type Evaluation = { ok: true; served: Served | CodeDefault } | EvaluationFailure;

/**
 * `request`: the HTTP request, whose `request.cf` may place it in a region
 * wave when the context names no region; null for a binding call. The
 * answer is synchronous once the isolate is warm (no promise to allocate or
 * await on the hot path); a promise only while the snapshot loads.
 */
export function evaluateFlag(services: Services, env: Env, schedule: Schedule, key: string, context: EvaluationContext, request: Request | null = null): Evaluation | Promise<Evaluation> {
  // Cold, only this flag is read before answering (the whole snapshot loads behind it).
  const pending = services.snapshots(env).serveFlag(schedule, key);
  if (pending instanceof Promise) return pending.then((snapshot) => evaluateIn(snapshot, services, env, schedule, key, context, request));
  return evaluateIn(pending, services, env, schedule, key, context, request);
}

const FAILURE_KIND = { TARGETING_KEY_MISSING: "targeting_key_missing", INVALID_CONTEXT: "invalid_context", GENERAL: "targeting_error" } as const satisfies Record<NotServed["errorCode"], EvaluationFailure["kind"]>;

function evaluateIn(snapshot: CompiledSnapshot | null, services: Services, env: Env, schedule: Schedule, key: string, context: EvaluationContext, request: Request | null): Evaluation | Promise<Evaluation> {
  if (snapshot === null) return NOT_READY;
  const found = snapshot.flags.get(key);
  if (!found) return evaluationFailure("not_found", `flag "${key}" does not exist`);
  // Its prerequisites are other flags: a cold isolate's one-flag read cannot answer them, the whole snapshot can.
  if (found.needsScope && snapshot.partial) {
    const whole = services.snapshots(env).serve(schedule);
    return whole instanceof Promise ? whole.then((s) => evaluateIn(s?.partial ? null : s, services, env, schedule, key, context, request)) : evaluateIn(whole?.partial ? null : whole, services, env, schedule, key, context, request);
  }
  const flag = inRequestWave(found, context, request);
  const now = Date.now();
  const result = assign(flag, context, flag.needsScope ? snapshotScope(snapshot.flags, (f, ctx) => inRequestWave(f, ctx, request), 0, now) : undefined, now);
  if (!result.ok) return evaluationFailure(FAILURE_KIND[result.errorCode], result.message);
  // A single evaluation is an exposure (the contract); bulk evaluations count none.
  if (!result.codeDefault && flag.source.exposures === "served" && isRolloutExposure(flag, result)) {
    const { state } = flag.source;
    services.counters(env).addExposure(flag.counterKey, state.generation, state.stageIndex, result.arm, replicateOf(flag, result, context), schedule, flag.source.counterShards);
    if (flag.source.exposureLog) sampleExposure(services.exposureLog(env), flag, result, stickinessValueOf(flag, context) ?? "", Date.now(), schedule);
  } else if (!result.codeDefault && result.experiment !== undefined && flag.source.exposures === "served") {
    // An experiment's variant: counted to the flag's own object, for the experiment's compare report.
    services.counters(env).addExperimentExposure(flag.key, result.experiment, result.variant, result.replicate ?? 0, schedule, flag.source.counterShards);
  }
  return { ok: true, served: result };
}
