/**
 * The cron's judgement of one flag: counters + rollout state + memory + now →
 * a decision (hold, promote, complete, demote, rollback, kill) with every
 * gate's verdict and the rule that fired. Pure: replaying the same inputs
 * gives the same decision.
 *
 * Order of precedence: abort rules (kill) → gate rollbacks (or the gate's
 * `action`) → severe at a window's close → sample ratio mismatch (hold) →
 * warnings (hold) → promotion → hold.
 */
import { z } from "zod";
import type { ArmCounts, ArmPair, GenerationTotals } from "./counters";
import type { AbortRule } from "./gate-spec";
import { judgeGate, type GateVerdict } from "./gate-verdict";
import type { FlagSpec } from "./manifest";
import { servedWeight, type RolloutState } from "./rollout";
import { srmLogBayesFactor } from "./stats";
import { judgeAbort, type AbortVerdict } from "./abort";

/** The flag's false-alarm budget, split evenly over its judged gates (Bonferroni). */
export const FLAG_ALPHA = 0.05;
/** The budget for `severe` checks on a single window, over the whole flag. */
export const SEVERE_ALPHA = 0.001;
/** Sample ratio mismatch threshold: anytime-valid, p < 0.001. */
export const SRM_ALPHA = 0.001;
/** A stage is starved when it lacks data after this many times its hold (or healthy-window span). */
export const STARVED_FACTOR = 3;

export const GateMemorySchema = z.strictObject({
  generation: z.int(),
  stage: z.int(),
  /** Minute of the last evaluation: a repeated trigger in the same minute changes nothing. */
  lastMinute: z.int(),
  /** Index of the last closed window judged in this stage (−1: none yet). */
  windowIndex: z.int(),
  healthyStreak: z.int(),
  /** Per gate index: since when its rollback condition has held (for `sustained`). */
  breachSince: z.record(z.string(), z.number()),
  /** Per abort rule index: since when its condition has held. */
  abortSince: z.record(z.string(), z.number()),
});
export type GateMemory = z.infer<typeof GateMemorySchema>;

export function freshMemory(state: RolloutState): GateMemory {
  return { generation: state.generation, stage: state.stageIndex, lastMinute: -1, windowIndex: -1, healthyStreak: 0, breachSince: {}, abortSince: {} };
}

export type CronAction = "hold" | "promote" | "complete" | "demote" | "rollback" | "kill";

export interface WindowSpan {
  index: number;
  from: number;
  to: number;
}

/** What the evaluation needs loaded besides the generation totals. */
export interface EvaluationPlan {
  window: WindowSpan | null;
  /** Per abort rule: the trailing span its condition is judged on. */
  abortSpans: { from: number; to: number }[];
}

export interface EvaluationInputs {
  now: number;
  spec: Pick<FlagSpec, "rollout" | "gates" | "abort" | "metrics">;
  state: RolloutState;
  memory: GateMemory;
  totals: GenerationTotals;
  /** Counts of the window that just closed in the current stage, when one did. */
  window: { span: WindowSpan; counts: ArmPair } | null;
  /** Candidate counts over each abort rule's trailing span. */
  abortCounts: ArmCounts[];
}

export interface SrmCheck {
  observed: { baseline: number; candidate: number };
  expectedCandidateShare: number;
  logBayesFactor: number;
  threshold: number;
  mismatch: boolean;
}

export interface RolloutDecision {
  action: CronAction;
  /** The rule that decided: "abort:error_rate", "gate:ctr:rollback", "srm", "promote", "hold:…". */
  rule: string;
  reasons: string[];
  verdicts: GateVerdict[];
  windowVerdicts: GateVerdict[] | null;
  aborts: AbortVerdict[];
  srm: SrmCheck | null;
  alpha: { flag: number; perGate: number; severePerGate: number };
  /** A warning worth notifying about even when the decision holds. */
  warn: boolean;
  memory: GateMemory;
}

const LIVE = new Set(["shadow", "ramping", "paused", "completed"]);

/** Which window (if any) closed since the last evaluation, and the spans abort rules look at. */
export function planEvaluation(spec: Pick<FlagSpec, "rollout" | "abort">, state: RolloutState, memory: GateMemory, now: number): EvaluationPlan {
  const windowMs = spec.rollout.window;
  const current = Math.floor((now - state.stageEnteredAt) / windowMs);
  const sameStage = memory.generation === state.generation && memory.stage === state.stageIndex;
  const last = sameStage ? memory.windowIndex : -1;
  const closed = current - 1;
  const window = closed > last && closed >= 0 ? { index: closed, from: state.stageEnteredAt + closed * windowMs, to: state.stageEnteredAt + (closed + 1) * windowMs } : null;
  const abortSpans = spec.abort.map((rule) => ({ from: now - abortSpan(rule), to: now }));
  return { window, abortSpans };
}

/** Abort rules judge the trailing `sustained` span (10 minutes when unset, at least 5). */
export function abortSpan(rule: AbortRule): number {
  return Math.max(rule.sustained ?? 600_000, 300_000);
}

function stagePairs(totals: GenerationTotals): ArmPair[] {
  return Object.values(totals.stages);
}

/** Judges a flag and says what the cron should do. */
export function evaluateRollout(inputs: EvaluationInputs): RolloutDecision {
  const { spec, state, now } = inputs;
  const memory = sameStage(inputs.memory, state) ? { ...inputs.memory, breachSince: { ...inputs.memory.breachSince }, abortSince: { ...inputs.memory.abortSince } } : freshMemory(state);
  memory.lastMinute = Math.floor(now / 60_000);
  const judged = spec.gates.filter((g) => !g.informational).length;
  const alpha = { flag: FLAG_ALPHA, perGate: FLAG_ALPHA / Math.max(1, judged), severePerGate: SEVERE_ALPHA / Math.max(1, judged) };
  const stage = spec.rollout.stages[state.stageIndex];
  const shadow = servedWeight(state, spec.rollout.stages).shadow;
  const pairs = stagePairs(inputs.totals);
  const verdicts = spec.gates.map((gate) => judgeGate(gate, spec.metrics, pairs, { alpha: alpha.perGate, includeSevere: false, shadow }));
  const aborts = spec.abort.map((rule, i) => judgeAbort(rule, spec.metrics, inputs.abortCounts[i], now, memory, i));
  const decide = (action: CronAction, rule: string, reasons: string[], extra: Partial<RolloutDecision> = {}): RolloutDecision => ({
    action, rule, reasons, verdicts, windowVerdicts: null, aborts, srm: null, alpha, warn: false, memory, ...extra,
  });

  if (!LIVE.has(state.status)) return decide("hold", `hold:${state.status}`, [`a ${state.status} rollout is not judged`]);

  const fired = aborts.find((a) => a.fired);
  if (fired) return decide("kill", `abort:${fired.metric}`, [fired.reason]);
  if (state.status === "completed") return decide("hold", "hold:completed", ["completed: only abort rules apply"]);

  // Gate breaches, honouring `sustained`.
  for (const [i, gate] of spec.gates.entries()) {
    const v = verdicts[i];
    if (!v || gate.informational) continue;
    const breached = v.verdict === "rollback";
    const key = String(i);
    if (!breached) {
      delete memory.breachSince[key];
      continue;
    }
    const since = (memory.breachSince[key] ??= now);
    if (gate.sustained !== undefined && now - since < gate.sustained) continue;
    const action: CronAction = gate.action === "hold" ? "hold" : gate.action === "demote" ? "demote" : "rollback";
    if (state.status === "shadow" && action === "demote") continue;
    return decide(action, `gate:${gate.metric}:rollback`, [describeBreach(v, "rollback", gate.sustained)], { warn: true });
  }
  if (state.status === "paused") return decide("hold", "hold:paused", ["paused: only rollback and abort verdicts act"]);

  // A closed window: severe check on its own data, healthy-window counting.
  let windowVerdicts: GateVerdict[] | null = null;
  const srm = srmCheck(inputs, spec.rollout.stages[state.stageIndex]?.weight ?? 0, shadow);
  if (inputs.window) {
    const windowPairs = [inputs.window.counts];
    windowVerdicts = spec.gates.map((gate) => judgeGate(gate, spec.metrics, windowPairs, { alpha: alpha.severePerGate, includeSevere: true, shadow }));
    memory.windowIndex = inputs.window.span.index;
    const severe = windowVerdicts.findIndex((v, i) => v.verdict === "severe" && !spec.gates[i]?.informational);
    if (severe >= 0) {
      const v = windowVerdicts[severe] as GateVerdict;
      return decide("rollback", `gate:${v.metric}:severe`, [describeBreach(v, "severe")], { windowVerdicts, srm, warn: true });
    }
    const healthy = verdicts.every((v, i) => spec.gates[i]?.informational || v.verdict === "healthy" || v.verdict === "not_applicable");
    const served = shadow || inputs.window.counts.candidate.exposures > 0 || inputs.window.counts.candidate.agree + inputs.window.counts.candidate.disagree > 0;
    memory.healthyStreak = healthy && served && !srm?.mismatch ? memory.healthyStreak + 1 : 0;
  }
  const extra = { windowVerdicts, srm };
  if (srm?.mismatch) {
    return decide("hold", "srm", [`sample ratio mismatch: candidate ${srm.observed.candidate} of ${srm.observed.candidate + srm.observed.baseline} exposures, expected ${(srm.expectedCandidateShare * 100).toFixed(2)}%`], { ...extra, warn: true });
  }
  const warned = verdicts.find((v, i) => v.verdict === "warn" && !spec.gates[i]?.informational);
  if (warned) return decide("hold", `gate:${warned.metric}:warn`, [describeBreach(warned, "warn")], { ...extra, warn: true });

  // Promotion.
  const waits: string[] = [];
  const inStage = now - state.stageEnteredAt;
  const hold = stage?.hold ?? 0;
  if (inStage < hold) waits.push(`hold time: ${formatMs(hold - inStage)} left`);
  const stagePair = inputs.totals.stages[String(state.stageIndex)];
  const stageSamples = shadow ? (stagePair ? stagePair.candidate.agree + stagePair.candidate.disagree + stagePair.baseline.agree + stagePair.baseline.disagree : 0) : stagePair?.candidate.exposures ?? 0;
  if (stage?.minSamples !== undefined && stageSamples < stage.minSamples) waits.push(`samples: ${stageSamples} of ${stage.minSamples}`);
  const starvedGates = verdicts.filter((v, i) => !spec.gates[i]?.informational && (v.verdict === "insufficient_sample" || v.verdict === "no_data"));
  if (starvedGates.length > 0) waits.push(`${starvedGates.map((v) => `${v.metric} ${v.verdict}`).join(", ")}`);
  const needed = spec.rollout.healthyWindowsToPromote;
  if (memory.healthyStreak < needed) waits.push(`healthy windows: ${memory.healthyStreak} of ${needed}`);
  if (waits.length === 0) {
    const next = spec.rollout.stages[state.stageIndex + 1];
    if (!next) return decide("hold", "hold:last-stage", ["at the last stage"], extra);
    const action: CronAction = next.weight === 100 ? "complete" : "promote";
    return decide(action, action, [`${needed} healthy windows, hold time and samples met; to ${next.weight}%`], extra);
  }
  const starvedAfter = STARVED_FACTOR * Math.max(hold, spec.rollout.window * needed);
  const starving = (starvedGates.length > 0 || waits.some((w) => w.startsWith("samples"))) && inStage >= starvedAfter;
  if (starving) {
    return decide("hold", "hold:starved", [`stage starved: still short of data after ${formatMs(inStage)} (limit ${formatMs(starvedAfter)}); ${waits.join("; ")}`], { ...extra, warn: true });
  }
  return decide("hold", "hold:waiting", waits, extra);
}

function sameStage(memory: GateMemory, state: RolloutState): boolean {
  return memory.generation === state.generation && memory.stage === state.stageIndex;
}

/** Anytime-valid sample ratio check on the current stage's exposures. */
function srmCheck(inputs: EvaluationInputs, weightPercent: number, shadow: boolean): SrmCheck | null {
  if (shadow || weightPercent <= 0 || weightPercent >= 100 || inputs.state.forced !== null) return null;
  const pair = inputs.totals.stages[String(inputs.state.stageIndex)];
  if (!pair) return null;
  const share = weightPercent / 100;
  const observed = { baseline: pair.baseline.exposures, candidate: pair.candidate.exposures };
  const logBayesFactor = srmLogBayesFactor([observed.candidate, observed.baseline], [share, 1 - share]);
  const threshold = Math.log(1 / SRM_ALPHA);
  return { observed, expectedCandidateShare: share, logBayesFactor, threshold, mismatch: logBayesFactor > threshold };
}

function describeBreach(v: GateVerdict, level: "warn" | "rollback" | "severe", sustained?: number): string {
  const t = v.thresholds[level];
  const pct = (x: number | null | undefined) => (x === null || x === undefined ? "n/a" : `${(x * 100).toFixed(2)}%`);
  const shown = v.compare === "relative" || v.compare === "absolute" ? pct : (x: number | null | undefined) => (x === null || x === undefined ? "n/a" : x.toPrecision(4));
  const interval = v.interval ? `[${shown(v.interval[0])}, ${shown(v.interval[1])}]` : "";
  const held = sustained ? `, held ${formatMs(sustained)}` : "";
  return `${v.metric} ${v.compare} ${shown(v.delta)} ${interval} past ${level} ${shown(t)} (baseline ${v.baseline?.toPrecision(4) ?? "n/a"}, candidate ${v.candidate?.toPrecision(4) ?? "n/a"}, n=${v.samples.baseline}/${v.samples.candidate}${held})`;
}

export function formatMs(ms: number): string {
  if (ms >= 86_400_000) return `${(ms / 86_400_000).toFixed(1)}d`;
  if (ms >= 3_600_000) return `${(ms / 3_600_000).toFixed(1)}h`;
  if (ms >= 60_000) return `${Math.round(ms / 60_000)}m`;
  return `${Math.round(ms / 1000)}s`;
}
