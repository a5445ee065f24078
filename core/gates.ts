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
import { judgeGuard } from "./guard";
import { JudgedGuardSchema } from "./guard-spec";
import { AbortMemorySchema, ABORT_ALPHA, judgeAbort, type AbortMemory, type AbortVerdict } from "./abort";
import { ReplicatedPairSchema, type GenerationTotals, type Replicated, type ReplicatedPair } from "./counters";
import { dictSchema } from "./dict";
import { MIN_GROUPS, ratioEstimate, robustVariance, widenForGroups } from "./estimate";
import type { AbortRule } from "./gate-spec";
import { judgeGate, type GateVerdict } from "./gate-verdict";
import { judgeSeriesGate, SeriesReadSchema, type SeriesRead } from "./series-gate";
import { FLAG_KINDS, type FlagSpec } from "./manifest";
import { RolloutStateSchema, servedWeight, type RolloutState } from "./rollout";
import { alwaysValidHalfWidth, normalQuantile } from "./stats";

/**
 * The version of the judging method. Decisions store it with their inputs;
 * replay refuses inputs of a method this code no longer runs. 1: exposure-level
 * variances, promotion on no breach. 2: replicate-group (user-level)
 * variances, promotion on evidence, anytime-valid abort e-processes.
 */
export const JUDGE_METHOD = 2;
/** The flag's false-alarm budget, split evenly over its judged gates (Bonferroni). */
export const FLAG_ALPHA = 0.05;
/** The budget for `severe` checks on a single window, over the whole flag. */
export const SEVERE_ALPHA = 0.001;
/** Sample ratio mismatch threshold: anytime-valid, p < 0.001. */
export const SRM_ALPHA = 0.001;
/** Fewest exposures in the smaller arm of a stage before its split is checked. */
export const SRM_MIN_EXPOSURES = 200;
/**
 * The one fixed-horizon test of a stage's sample ratio made when the stage
 * is first ready to be left. The anytime-valid check pays for watching
 * every minute with a wide interval, and a moderate loss (5% of the
 * candidate's exposures) could slip between its looks and ship; one look
 * per stage at α = 0.001 (two-sided, t with the groups' degrees of freedom)
 * costs at most 0.1% false holds per stage left and catches most of what
 * the sequential check misses (README, the simulation's loss scenario).
 */
export const SRM_EXIT_ALPHA = 0.001;
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
  breachSince: z.record(z.string().regex(/^\d+$/), z.number()),
  /** Per abort rule index: its e-process restarts; kept across the stages of a generation. */
  aborts: z.record(z.string().regex(/^\d+$/), AbortMemorySchema),
  /** A guard's e-process while it serves its primary (`guard.ts`); starts afresh at every return. */
  guard: AbortMemorySchema.optional(),
  /**
   * The first sample ratio mismatch seen in this generation, kept across its
   * stages: promotion stays blocked until an operator clears it
   * (`clear_srm`), because a mismatch means the counts that would justify
   * promotion are themselves suspect (Fabijan et al., "Diagnosing Sample
   * Ratio Mismatch in Online Controlled Experiments", KDD 2019) — and a
   * mismatch that comes and goes with the interval's noise must not ship in
   * the gaps between holds.
   */
  srmLatch: z.strictObject({ stage: z.int(), at: z.number(), observedCandidateShare: z.number(), expectedCandidateShare: z.number() }).optional(),
  /** Whether this stage's one exit test of the sample ratio has been made (see `SRM_EXIT_ALPHA`). */
  srmExitChecked: z.boolean().optional(),
});
export type GateMemory = z.infer<typeof GateMemorySchema>;

export function freshMemory(state: RolloutState): GateMemory {
  return { generation: state.generation, stage: state.stageIndex, lastMinute: -1, windowIndex: -1, healthyStreak: 0, breachSince: {}, aborts: {} };
}

/** The memory for a new stage: stage-scoped parts start over, the abort e-processes of the same generation go on. */
export function memoryForStage(previous: GateMemory, state: RolloutState): GateMemory {
  const fresh = freshMemory(state);
  if (previous.generation !== state.generation) return fresh;
  return { ...fresh, aborts: previous.aborts, ...(previous.srmLatch ? { srmLatch: previous.srmLatch } : {}) };
}

export type CronAction = "hold" | "promote" | "complete" | "demote" | "rollback" | "kill" | "fallback" | "recover";

export interface WindowSpan {
  index: number;
  from: number;
  to: number;
}

/** What the evaluation needs loaded besides the generation totals. */
export interface JudgementPlan {
  window: WindowSpan | null;
}

export interface JudgementInputs {
  /** The judging method these inputs are for (`JUDGE_METHOD`). */
  method: number;
  now: number;
  spec: Pick<FlagSpec, "rollout" | "gates" | "abort" | "metrics"> & Partial<Pick<FlagSpec, "kind" | "guard">>;
  state: RolloutState;
  memory: GateMemory;
  /** Per stage, arm and replicate group of users, for the current generation. */
  totals: GenerationTotals;
  /** Counts of the window that just closed in the current stage, when one did. */
  window: { span: WindowSpan; counts: ReplicatedPair } | null;
  /** Approvals and rejections of the current generation's stages. */
  approvals?: StageApproval[];
  /** Each outside-sourced gate's points, by gate index (`series-gate.ts`). */
  series?: Record<string, SeriesRead>;
}

export interface StageApproval {
  stage: number;
  verdict: "approved" | "rejected";
  actor: string;
}

/**
 * The stored form of `JudgementInputs` (decision logs keep them for replay):
 * the spec parts as parsed (durations in ms, amounts as numbers), read back
 * through this schema rather than trusted.
 */
const JudgedSpecSchema = z.strictObject({
  /** Absent in inputs logged before flag kinds (all rollouts). */
  kind: z.enum(FLAG_KINDS).optional(),
  guard: JudgedGuardSchema.optional(),
  rollout: z.strictObject({
    window: z.number().positive(),
    healthyWindowsToPromote: z.int().min(1),
    promote: z.enum(["evidence", "on_no_harm"]).default("evidence"),
    stages: z.array(
      z.strictObject({
        weight: z.number(),
        shadow: z.boolean(),
        hold: z.number().optional(),
        minSamples: z.int().optional(),
        approval: z.union([z.literal("required"), z.strictObject({ check: z.string().optional(), onReject: z.enum(["rollback", "hold"]), distinctFrom: z.array(z.enum(["author", "starter"])).optional() })]).optional(),
      }).transform((s) => ({ ...s, hold: s.hold, minSamples: s.minSamples, approval: s.approval })),
    ),
  }),
  gates: z.array(
    z.strictObject({
      metric: z.string(),
      source: z.strictObject({ prometheus: z.strictObject({ url: z.string(), query: z.string(), step: z.number(), bearerTokenSecret: z.string().optional() }) }).optional(),
      compare: z.enum(["relative", "absolute", "floor", "ceiling"]),
      bad: z.enum(["increase", "decrease"]),
      warn: z.number().optional(),
      rollback: z.number().optional(),
      severe: z.number().optional(),
      sustained: z.number().optional(),
      minSamples: z.int().optional(),
      informational: z.boolean(),
      action: z.enum(["rollback", "hold", "demote"]),
    }).transform((g) => ({ ...g, warn: g.warn, rollback: g.rollback, severe: g.severe, sustained: g.sustained, minSamples: g.minSamples })),
  ),
  abort: z.array(
    z.strictObject({ metric: z.string(), direction: z.enum(["above", "below"]), level: z.number(), sustained: z.number().optional(), soft: z.boolean().optional() }).transform((a) => ({ ...a, sustained: a.sustained, soft: a.soft ?? false })),
  ),
  metrics: dictSchema(
    z.discriminatedUnion("kind", [
      z.strictObject({ kind: z.literal("ratio"), numerator: z.array(z.string()), denominator: z.array(z.string()) }),
      z.strictObject({ kind: z.literal("mean"), event: z.string() }),
    ]),
  ),
});
const WindowSpanSchema = z.strictObject({ index: z.int(), from: z.number(), to: z.number() });
export const JudgementInputsSchema = z.strictObject({
  method: z.int(),
  now: z.number(),
  spec: JudgedSpecSchema,
  state: RolloutStateSchema,
  memory: GateMemorySchema,
  totals: z.strictObject({ generation: z.int(), stages: dictSchema(ReplicatedPairSchema) }),
  window: z.strictObject({ span: WindowSpanSchema, counts: ReplicatedPairSchema }).nullable(),
  /** Approvals and rejections of the current generation's stages (absent in inputs logged before approvals). */
  approvals: z.array(z.strictObject({ stage: z.int(), verdict: z.enum(["approved", "rejected"]), actor: z.string() })).optional(),
  /** What each gate with an outside source read (by gate index), so a replay judges the same points. */
  series: dictSchema(SeriesReadSchema).optional(),
});

export interface SrmCheck {
  observed: { baseline: number; candidate: number };
  expectedCandidateShare: number;
  observedCandidateShare: number;
  /** Always-valid interval of the candidate's share, from replicate groups of users. */
  interval: [number, number];
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
  /** Soft abort rules that started firing at this look: notified once each, nothing else changes. */
  softAborts: AbortVerdict[];
  srm: SrmCheck | null;
  alpha: { flag: number; perGate: number; severePerGate: number; perAbortRule: number };
  /** A warning worth notifying about even when the decision holds. */
  warn: boolean;
  memory: GateMemory;
}

const LIVE = new Set(["shadow", "ramping", "paused", "completed"]);

/** Which window (if any) closed since the last evaluation. */
export function planJudgement(spec: Pick<FlagSpec, "rollout">, state: RolloutState, memory: GateMemory, now: number): JudgementPlan {
  const windowMs = spec.rollout.window;
  const current = Math.floor((now - state.stageEnteredAt) / windowMs);
  const sameStage = memory.generation === state.generation && memory.stage === state.stageIndex;
  const last = sameStage ? memory.windowIndex : -1;
  const closed = current - 1;
  const window = closed > last && closed >= 0 ? { index: closed, from: state.stageEnteredAt + closed * windowMs, to: state.stageEnteredAt + (closed + 1) * windowMs } : null;
  return { window };
}

function stagePairs(totals: GenerationTotals): ReplicatedPair[] {
  return Object.values(totals.stages);
}

/** Judges the abort rules on the generation's cumulative candidate counts; updates their memory. */
/**
 * Judges the abort rules; hard and soft rules each split their own α budget
 * (soft rules only notify, so they must not take power from the hard ones).
 * `softFired` receives the soft rules that started firing at this look.
 */
function judgeAborts(rules: readonly AbortRule[], spec: JudgementInputs["spec"], totals: GenerationTotals, now: number, memory: GateMemory, softFired: AbortVerdict[] = []): AbortVerdict[] {
  if (rules.length === 0) return [];
  const candidate = Object.values(totals.stages).map((pair) => pair.candidate);
  const softCount = rules.filter((r) => r.soft).length;
  const hardCount = rules.length - softCount;
  const next: Record<string, AbortMemory> = {};
  const verdicts = rules.map((rule, i) => {
    const alpha = ABORT_ALPHA / Math.max(1, rule.soft ? softCount : hardCount);
    const judged = judgeAbort(rule, spec.metrics, candidate, now, memory.aborts[String(i)], alpha);
    if (rule.soft) {
      if (judged.verdict.fired && !judged.memory.reported) softFired.push(judged.verdict);
      judged.memory.reported = judged.verdict.fired;
    }
    next[String(i)] = judged.memory;
    return judged.verdict;
  });
  memory.aborts = next;
  return verdicts;
}

/** Judges a flag and says what the cron should do. */
export function judgeRollout(inputs: JudgementInputs): RolloutDecision {
  const { spec, state, now } = inputs;
  const memory = sameStage(inputs.memory, state)
    ? { ...inputs.memory, breachSince: { ...inputs.memory.breachSince }, aborts: { ...inputs.memory.aborts } }
    : memoryForStage(inputs.memory, state);
  memory.lastMinute = Math.floor(now / 60_000);
  const judged = spec.gates.filter((g) => !g.informational).length;
  const alpha = {
    flag: FLAG_ALPHA,
    perGate: FLAG_ALPHA / Math.max(1, judged),
    severePerGate: SEVERE_ALPHA / Math.max(1, judged),
    perAbortRule: ABORT_ALPHA / Math.max(1, spec.abort.filter((r) => !r.soft).length),
  };
  const stage = spec.rollout.stages[state.stageIndex];
  const shadow = servedWeight(state, spec.rollout.stages).shadow;
  const pairs = stagePairs(inputs.totals);
  const verdicts = spec.gates.map((gate, i) =>
    gate.source ? judgeSeriesGate(gate, inputs.series?.[String(i)], alpha.perGate) : judgeGate(gate, spec.metrics, pairs, { alpha: alpha.perGate, includeSevere: false, shadow }),
  );
  const live = LIVE.has(state.status);
  const softAborts: AbortVerdict[] = [];
  const aborts = live ? judgeAborts(spec.abort, spec, inputs.totals, now, memory, softAborts) : [];
  const decide = (action: CronAction, rule: string, reasons: string[], extra: Partial<RolloutDecision> = {}): RolloutDecision => ({
    action, rule, reasons, verdicts, windowVerdicts: null, aborts, softAborts, srm: null, alpha, warn: false, memory, ...extra,
  });

  if (!live) return decide("hold", `hold:${state.status}`, [`a ${state.status} rollout is not judged`]);
  if (spec.kind === "guard" && spec.guard) {
    if (state.forced !== null) return decide("hold", "hold:forced", [`forced to ${state.forced} by an operator: the guard does not switch`]);
    const stagePair = inputs.totals.stages["0"];
    if (inputs.window) memory.windowIndex = inputs.window.span.index;
    const judged = judgeGuard(spec.guard, spec.metrics, state, stagePair?.candidate, inputs.window?.counts.candidate ?? null, { memory: memory.guard, healthyStreak: memory.healthyStreak }, now);
    if (judged.memory) memory.guard = judged.memory;
    else delete memory.guard;
    memory.healthyStreak = judged.healthyStreak;
    return decide(judged.action, judged.rule, [judged.reason], { aborts: judged.verdict ? [judged.verdict] : [], warn: judged.action === "fallback" });
  }

  const fired = aborts.find((a) => a.fired && !a.soft);
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
    // `severe` reads the window's own counters; a gate on an outside series has none (its verdict above covers it).
    windowVerdicts = spec.gates.map((gate, i) => (gate.source ? { ...(verdicts[i] as GateVerdict), verdict: "not_applicable" as const } : judgeGate(gate, spec.metrics, windowPairs, { alpha: alpha.severePerGate, includeSevere: true, shadow })));
    memory.windowIndex = inputs.window.span.index;
    const severe = windowVerdicts.findIndex((v, i) => v.verdict === "severe" && !spec.gates[i]?.informational);
    if (severe >= 0) {
      const v = windowVerdicts[severe] as GateVerdict;
      return decide("rollback", `gate:${v.metric}:severe`, [describeBreach(v, "severe")], { windowVerdicts, srm, warn: true });
    }
    const healthy = verdicts.every((v, i) => spec.gates[i]?.informational || v.verdict === "healthy" || v.verdict === "not_applicable");
    const served = shadow || inputs.window.counts.candidate.some((c) => c.exposures > 0 || c.agree + c.disagree > 0);
    memory.healthyStreak = healthy && served && !srm?.mismatch ? memory.healthyStreak + 1 : 0;
  }
  const extra = { windowVerdicts, srm };
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  if (srm?.mismatch) {
    memory.srmLatch ??= { stage: state.stageIndex, at: now, observedCandidateShare: srm.observedCandidateShare, expectedCandidateShare: srm.expectedCandidateShare };
    return decide("hold", "srm", [`sample ratio mismatch: ${describeSrm(srm)}; promotion is blocked until an operator clears it (action clear_srm)`], { ...extra, warn: true });
  }
  // A mismatch seen earlier in the generation still blocks promotion (gates, aborts and severe checks above still act).
  const latch = memory.srmLatch;
  if (latch) {
    return decide("hold", "hold:srm", [`sample ratio mismatch seen at stage ${latch.stage} (candidate ${pct(latch.observedCandidateShare)}, expected ${pct(latch.expectedCandidateShare)}) at ${new Date(latch.at).toISOString()}; promotion is blocked until an operator clears it (POST /admin/flags/{key}/actions {"action":"clear_srm","reason":…}, or npm run rampart -- clear_srm <key> --reason …)`], extra);
  }
  const warned = verdicts.find((v, i) => v.verdict === "warn" && !spec.gates[i]?.informational);
  if (warned) return decide("hold", `gate:${warned.metric}:warn`, [describeBreach(warned, "warn")], { ...extra, warn: true });

  // Promotion.
  // Each wait has a kind (what the stage lacks) and its words; "starved" is decided on the kinds that need evidence.
  const waitsFor: { kind: WaitKind; text: string }[] = [];
  const wait = (kind: WaitKind, text: string) => void waitsFor.push({ kind, text });
  const inStage = now - state.stageEnteredAt;
  const hold = stage?.hold ?? 0;
  if (inStage < hold) wait("hold_time", `hold time: ${formatMs(hold - inStage)} left`);
  const stagePair = inputs.totals.stages[String(state.stageIndex)];
  const comparisons = stagePair ? [...stagePair.candidate, ...stagePair.baseline].reduce((n, c) => n + c.agree + c.disagree, 0) : 0;
  const stageSamples = shadow ? comparisons : (stagePair?.candidate.reduce((n, c) => n + c.exposures, 0) ?? 0);
  if (stage?.minSamples !== undefined && stageSamples < stage.minSamples) wait("samples", `samples: ${stageSamples} of ${stage.minSamples}`);
  // A shadow stage exists to compare: with no comparison at all it has shown nothing.
  else if (shadow && comparisons === 0) wait("comparisons", "shadow comparisons: none received yet (send `comparison` events)");
  const judgedVerdicts = verdicts.filter((_, i) => !spec.gates[i]?.informational);
  const starvedGates = judgedVerdicts.filter((v) => v.verdict === "insufficient_sample" || v.verdict === "no_data");
  if (starvedGates.length > 0) wait("gate_data", `${starvedGates.map((v) => `${v.metric} ${v.verdict}${v.note ? ` (${v.note})` : ""}`).join(", ")}`);
  const unproven = spec.rollout.promote === "evidence" ? judgedVerdicts.filter((v) => v.verdict === "healthy" && !v.noHarm) : [];
  for (const v of unproven) wait("evidence", describeEvidenceWanted(v));
  const needed = spec.rollout.healthyWindowsToPromote;
  if (memory.healthyStreak < needed) wait("healthy_windows", `healthy windows: ${memory.healthyStreak} of ${needed}`);
  if (waitsFor.length === 0) {
    const next = spec.rollout.stages[state.stageIndex + 1];
    if (!next) return decide("hold", "hold:last-stage", ["at the last stage"], extra);
    // The stage's one exit test of its sample ratio, at the first look where it is ready to be left.
    if (!memory.srmExitChecked) {
      memory.srmExitChecked = true;
      const exit = srmCheck(inputs, stage?.weight ?? 0, shadow, "exit");
      if (exit?.mismatch) {
        memory.srmLatch = { stage: state.stageIndex, at: now, observedCandidateShare: exit.observedCandidateShare, expectedCandidateShare: exit.expectedCandidateShare };
        return decide("hold", "srm", [`sample ratio mismatch at the stage's exit test: ${describeSrm(exit)}; promotion is blocked until an operator clears it (action clear_srm)`], { ...extra, srm: exit, warn: true });
      }
    }
    // Ready to leave the stage: one that needs approval waits for it (gates above still act meanwhile).
    if (stage?.approval) {
      const given = inputs.approvals?.filter((a) => a.stage === state.stageIndex).at(-1);
      const onReject = stage.approval === "required" ? "rollback" : stage.approval.onReject;
      if (given?.verdict === "rejected") {
        const why = `stage ${state.stageIndex} → ${next.weight}% rejected by ${given.actor}`;
        return onReject === "rollback" ? decide("rollback", "approval:rejected", [why], extra) : decide("hold", "hold:rejected", [`${why}; holding (onReject: hold)`], extra);
      }
      if (given?.verdict !== "approved") {
        const who = stage.approval === "required" || !stage.approval.check ? "an operator (POST /admin/flags/{key}/approve, or npm run rampart -- approve)" : `the check at ${stage.approval.check}`;
        return decide("hold", "hold:approval", [`ready to go to ${next.weight}%; waiting for approval by ${who}`], extra);
      }
    }
    const action: CronAction = next.weight === 100 ? "complete" : "promote";
    const basis = spec.rollout.promote === "evidence" ? "every gate's interval rules out its threshold; " : "no gate breached (promote: on_no_harm); ";
    return decide(action, action, [`${basis}${needed} healthy windows, hold time and samples met; to ${next.weight}%`], extra);
  }
  const starvedAfter = STARVED_FACTOR * Math.max(hold, spec.rollout.window * needed);
  const texts = waitsFor.map((w) => w.text);
  const starving = waitsFor.some((w) => EVIDENCE_WAITS.has(w.kind)) && inStage >= starvedAfter;
  if (starving) {
    return decide("hold", "hold:starved", [`stage starved: still short of evidence after ${formatMs(inStage)} (limit ${formatMs(starvedAfter)}); ${texts.join("; ")}`], { ...extra, warn: true });
  }
  return decide("hold", "hold:waiting", texts, extra);
}

/** What a stage can be waiting for before it is left. */
type WaitKind = "hold_time" | "samples" | "comparisons" | "gate_data" | "evidence" | "healthy_windows";
/** The waits that only more data ends: a stage stuck on one of them past its limit is starved. */
const EVIDENCE_WAITS: ReadonlySet<WaitKind> = new Set(["samples", "comparisons", "gate_data", "evidence"]);

function sameStage(memory: GateMemory, state: RolloutState): boolean {
  return memory.generation === state.generation && memory.stage === state.stageIndex;
}

/**
 * Anytime-valid sample ratio check on the current stage's exposures: the
 * candidate's share with a variance from replicate groups of users (a user's
 * exposures all land in one arm, so exposures are not independent draws),
 * inside the normal-mixture always-valid interval at α = 0.001.
 */
function srmCheck(inputs: JudgementInputs, weightPercent: number, shadow: boolean, look: "sequential" | "exit" = "sequential"): SrmCheck | null {
  if (shadow || weightPercent <= 0 || weightPercent >= 100 || inputs.state.forced !== null) return null;
  const pair = inputs.totals.stages[String(inputs.state.stageIndex)];
  if (!pair) return null;
  const share = weightPercent / 100;
  const candidate = pair.candidate.map((c) => c.exposures);
  const all = pair.candidate.map((c, r) => c.exposures + (pair.baseline[r]?.exposures ?? 0));
  const observed = { baseline: pair.baseline.reduce((n, c) => n + c.exposures, 0), candidate: candidate.reduce((a, b) => a + b, 0) };
  const total = observed.baseline + observed.candidate;
  if (total === 0) return null;
  const estimate = ratioEstimate(candidate, all, (_p, n) => (share * (1 - share)) / n);
  // Not on a stage's first handful of users: each arm needs data in most groups (see MIN_GROUPS).
  const occupied = (arm: Replicated) => arm.filter((c) => c.exposures > 0).length;
  if (occupied(pair.candidate) < MIN_GROUPS || occupied(pair.baseline) < MIN_GROUPS || Math.min(observed.baseline, observed.candidate) < SRM_MIN_EXPOSURES) return null;
  const observedShare = estimate.value ?? share;
  // The mixture scale: a mismatch of 5% of the smaller arm's share is the size worth finding.
  const tau = 0.05 * Math.min(share, 1 - share);
  const variance = robustVariance(estimate);
  const raw = look === "exit" ? normalQuantile(1 - SRM_EXIT_ALPHA / 2) * Math.sqrt(variance) : alwaysValidHalfWidth(variance, tau * tau, SRM_ALPHA);
  const half = widenForGroups(raw, estimate);
  const interval: [number, number] = [observedShare - half, observedShare + half];
  return { observed, expectedCandidateShare: share, observedCandidateShare: observedShare, interval, mismatch: share < interval[0] || share > interval[1] };
}

function describeSrm(srm: SrmCheck): string {
  const pct = (x: number) => `${(x * 100).toFixed(2)}%`;
  return `candidate ${srm.observed.candidate} of ${srm.observed.candidate + srm.observed.baseline} exposures (${pct(srm.observedCandidateShare)}, interval [${pct(srm.interval[0])}, ${pct(srm.interval[1])}]), expected ${pct(srm.expectedCandidateShare)}`;
}

/** What a healthy gate still lacks for promotion on evidence. */
function describeEvidenceWanted(v: GateVerdict): string {
  const t = v.thresholds.rollback ?? v.thresholds.warn;
  const scale = v.compare === "relative" || v.compare === "absolute";
  const shown = (x: number | undefined | null) => (x === undefined || x === null ? "n/a" : scale ? `${(x * 100).toFixed(2)}%` : x.toPrecision(4));
  const side = v.compare === "floor" || v.compare === "ceiling" ? shown(t) : `${v.bad === "decrease" ? "−" : "+"}${shown(t)}`;
  const interval = v.interval ? `[${shown(v.interval[0])}, ${shown(v.interval[1])}]` : "n/a";
  const more = v.dataNeeded !== null && Number.isFinite(v.dataNeeded) ? `; about ${v.dataNeeded.toFixed(1)}× the current data (n=${v.samples.baseline}/${v.samples.candidate}) at today's estimate` : "; today's estimate is itself past the threshold";
  return `evidence: ${v.metric} interval ${interval} does not yet rule out ${side}${more}`;
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
