/**
 * FlagDO: one per flag. The only writer of its rollout state, counters and
 * decision log. Operator actions and cron judgements both go through the
 * pure state machine; every change is logged with its rule and numbers and
 * reported to the RegistryDO for publishing (retried by the alarm until it
 * lands); notifications go through an outbox, and a stage's external
 * approval check is asked — both by the same alarm.
 */
import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import { attribute, type FlagHistory, type UnattributedReason } from "../../core/attribution";
import { plainCopy } from "../../core/dict";
import { autoShards } from "../../core/load-model";
import { CounterCellSchema, emptyCounts, minuteOf, pooledPair, recordEvent, REPLICATES, type ArmCounts, type CounterCell, type ReplicatedPair } from "../../core/counters";
import type { Decision } from "../../core/decision";
import { ForwardedEventSchema, type ForwardedEvent } from "../../core/events";
import { candidateIdentity } from "../../core/generation";
import { freshMemory, GateMemorySchema, type GateMemory } from "../../core/gates";
import { FlagSpecSchema, type FlagSpec } from "../../core/manifest";
import { buildReport, type CompareReport } from "../../core/report";
import type { StageApproval } from "../../core/gates";
import { buildSeries, type Series } from "../../core/series";
import type { LatestJudgement } from "../registry/flag-metrics";
import { applyAction, initialState, reconfigure, RolloutStateSchema, servedWeight, type ActionRequest, type RolloutState } from "../../core/rollout";
import { CounterStore, mergeStages, type CounterRead, type SpanQuery } from "./counter-store";
import { counterShardStub } from "./stub";
import { FlagStats } from "./stats";
import { DecisionLog, type NewDecision } from "./decision-log";
import { DisagreementLog, type Disagreement } from "./disagreements";
import { judgeFlag, replayInputs, spansToRead, summarize } from "./judge";
import { applyDecision } from "../../core/decision-step";
import { hmacHex, Outbox, signatureMatches } from "./outbox";
import { registryStub } from "../registry/stub";
import { FLAG_MIGRATIONS } from "./schema";
import { migrate, schemaVersion } from "../migrations";
import { Sql } from "../sql";
import { StateHistory } from "./state-history";
import { waveObjectName, type WaveStep } from "../../core/waves";

export type ActResult =
  | { ok: true; state: RolloutState; decision: Decision; published: boolean }
  | { ok: false; code: "not_found" | "invalid_transition" | "invalid_request"; message: string; path?: string };

/** How long a pending or failed approval check waits before it is asked again. */
export const CHECK_RETRY_MS = 5 * 60_000;

/** What an approval check answers (its body, signed like a webhook). */
const CheckAnswerSchema = z.object({ decision: z.enum(["approve", "reject", "pending"]), note: z.string().max(2000).optional() });

export const ApprovalRequestSchema = z.strictObject({
  decision: z.enum(["approve", "reject"]).default("approve"),
  /** The generation and stage approved: an approval covers exactly these. */
  generation: z.int().min(1),
  stage: z.int().min(0),
  note: z.string().max(2000).optional(),
});
export type ApprovalRequest = z.infer<typeof ApprovalRequestSchema>;

export type ApproveResult =
  | { ok: true; decision: Decision }
  | { ok: false; code: "not_found" | "stale" | "not_awaited"; path?: string; message: string };

export interface FlagView {
  key: string;
  configured: boolean;
  state: RolloutState;
}

/** What an edge flush sends: its cells under a batch id, which the FlagDO claims once. */
export interface CounterBatch {
  id: string;
  cells: CounterCell[];
}

export interface JudgeResult {
  /** False when this minute was already judged (a repeated or overlapping trigger). */
  judged: boolean;
  /** The object holds a spec stored before specs were kept as written: send it again with `configure`. */
  needsSpec?: boolean;
  /** Not judged now because this minute was already judged (by an overlapping trigger): it counts as judged. */
  alreadyJudged?: boolean;
  state: RolloutState | null;
  action?: string;
  rule?: string;
  /** Counter shards in use (the spec's, or more chosen from the observed flush rate): the snapshot tells edges. */
  counterShards?: number;
  /** Soft abort rules that started firing at this look (each logged as a `soft_abort` decision). */
  softAborts?: number;
  /** The current generation's counts per arm (all stages), when judged: what /metrics shows. */
  metrics?: { generation: number; weight: number; baseline: ArmCounts; candidate: ArmCounts; unattributed: number; judgement: LatestJudgement };
}

export type ReplayResult =
  | { ok: true; decision: Decision; replayed: { action: string; rule: string; verdicts: string }; matches: boolean }
  | { ok: false; kind: "no_decision" | "not_a_judgement" | "unreadable_inputs"; message: string };

const CounterCellArraySchema = CounterCellSchema.array();
const CounterBatchSchema = z.strictObject({ id: z.string().min(1).max(128), cells: CounterCellArraySchema });
const ForwardedEventsSchema = ForwardedEventSchema.array().max(1000);

const REPORT_RETRY_MIN_MS = 1_000;
const REPORT_RETRY_MAX_MS = 300_000;
/** Actions that notify webhooks. */
const NOTIFY = new Set(["promote", "complete", "demote", "rollback", "kill", "fallback", "recover", "start"]);

interface FlagRow extends Record<string, string | number | null> {
  key: string;
  /** The region wave this object runs (1: the flag's own object). */
  wave: number;
  spec: string | null;
  identity: string | null;
  state: string;
  report_attempts: number;
  memory: string | null;
}

export class FlagDO extends DurableObject<Env> {
  private readonly sql: Sql;
  private readonly log: DecisionLog;
  private readonly stats: FlagStats;
  private readonly counters: CounterStore;
  private readonly outbox: Outbox;
  private readonly disagreements: DisagreementLog;

  private readonly history: StateHistory;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = new Sql(ctx.storage);
    void ctx.blockConcurrencyWhile(async () => {
      migrate(this.sql, FLAG_MIGRATIONS, Date.now());
    });
    this.log = new DecisionLog(this.sql);
    this.stats = new FlagStats(this.sql);
    this.counters = new CounterStore(this.sql);
    this.outbox = new Outbox(this.sql);
    this.disagreements = new DisagreementLog(this.sql);
    this.history = new StateHistory(this.sql);
  }

  private row(): FlagRow | null {
    return this.sql.first<FlagRow>("SELECT key, wave, spec_input AS spec, identity, state, report_attempts, memory FROM flag WHERE id = 1");
  }

  /** The spec as written, parsed through the schema on read (cached per text): new fields get their defaults. */
  private parsedSpec: { text: string; spec: FlagSpec } | null = null;

  private specOfRow(text: string): FlagSpec {
    if (this.parsedSpec?.text !== text) this.parsedSpec = { text, spec: FlagSpecSchema.parse(JSON.parse(text)) };
    return this.parsedSpec.spec;
  }

  private loaded(): { row: FlagRow; spec: FlagSpec; state: RolloutState } | null {
    const row = this.row();
    if (row === null || row.spec === null) return null;
    return { row, spec: this.specOfRow(row.spec), state: RolloutStateSchema.parse(JSON.parse(row.state)) };
  }

  /** Whether this object holds no spec at all: its flag was deleted (`retire`), or never configured. */
  private retired(): boolean {
    return this.sql.first("SELECT id FROM flag WHERE id = 1 AND (spec IS NOT NULL OR spec_input IS NOT NULL)") === null;
  }

  /** Whether the flag holds only a spec from before specs were stored as written (the registry then sends it again). */
  private needsSpec(): boolean {
    return this.sql.first("SELECT id FROM flag WHERE id = 1 AND spec IS NOT NULL AND spec_input IS NULL") !== null;
  }

  /**
   * Takes a new or edited spec from the RegistryDO (as the operator wrote it,
   * with its key) and returns the state to publish. `wave` > 1: this object
   * runs that region wave of the flag, which waits until the wave before it
   * completes (`core/waves.ts`).
   */
  async configure(specInput: unknown, now: number, wave = 1): Promise<{ state: RolloutState; candidateChanged: boolean }> {
    const spec = FlagSpecSchema.parse(specInput);
    const inputText = JSON.stringify(specInput);
    const row = this.sql.first<FlagRow>("SELECT key, wave, spec, identity, state, report_attempts, memory FROM flag WHERE id = 1");
    const identity = candidateIdentity(spec);
    const waiting = wave > 1;
    let state: RolloutState;
    let candidateChanged: boolean;
    if (row === null) {
      state = initialState(spec.rollout.stages, 1, 1, now, waiting);
      candidateChanged = true;
    } else {
      const previous = RolloutStateSchema.parse(JSON.parse(row.state));
      // A retired flag coming back, or a new candidate, is a new generation.
      candidateChanged = row.spec === null || row.identity !== identity;
      state = reconfigure(previous, spec.rollout.stages, candidateChanged, now, waiting);
    }
    this.sql.transaction(() => {
      this.sql.run(
        `INSERT INTO flag (id, key, wave, spec, spec_input, identity, state, report_attempts) VALUES (1, ?, ?, ?, ?, ?, ?, 0)
         ON CONFLICT (id) DO UPDATE SET key = excluded.key, wave = excluded.wave, spec = excluded.spec, spec_input = excluded.spec_input,
           identity = excluded.identity, state = excluded.state, report_attempts = 0`,
        spec.key, wave, JSON.stringify(spec), inputText, identity, JSON.stringify(state),
      );
      this.history.recordSpec(state.generation, inputText);
      this.history.record(state, now);
      if (candidateChanged) {
        const action = row === null ? "created" : "new_generation";
        const reason = row === null ? "first configuration" : "the candidate changed (value, pins, stickiness or salt)";
        this.log.append(state, state, now, { action, source: "config", actor: "registry", reason });
      }
    });
    return { state, candidateChanged };
  }

  /**
   * The registry moves this region wave in step with the others: `start` a
   * waiting wave (at the generation of the wave before it, so all waves end
   * on one generation) or `rollback` it because another wave regressed. It
   * returns the state and decision rather than reporting them — the registry
   * asked, and applies them itself. Null when the step no longer applies.
   */
  async followWave(step: WaveStep, now: number): Promise<{ state: RolloutState; decision: Decision } | null> {
    const flag = this.loaded();
    if (flag === null) return null;
    const result = applyAction(flag.state, flag.spec.rollout.stages, { action: step.action }, now);
    if (!result.ok) return null;
    const next = step.action === "start" ? { ...result.state, generation: Math.max(step.generation, flag.state.generation) } : result.state;
    if (next.generation !== flag.state.generation) this.history.recordSpec(next.generation, flag.row.spec ?? JSON.stringify(flag.spec));
    const decision = this.commit(flag, next, now, { action: step.action, source: "config", actor: "registry", reason: step.reason });
    return { state: next, decision };
  }

  /** The flag was deleted: forget the spec, keep the generation counter and the decision log. */
  async retire(): Promise<void> {
    this.sql.run("UPDATE flag SET spec = NULL, spec_input = NULL, identity = NULL, report_attempts = 0 WHERE id = 1");
  }

  async view(): Promise<FlagView | null> {
    const row = this.row();
    if (row === null) return null;
    return { key: row.key, configured: row.spec !== null, state: RolloutStateSchema.parse(JSON.parse(row.state)) };
  }

  /** Applies an operator action, logs it, and reports the new state for publishing. */
  async act(request: ActionRequest, actor: string, now: number): Promise<ActResult> {
    const flag = this.loaded();
    if (flag === null) return { ok: false, code: "not_found", message: "no such flag" };
    if (request.action === "clear_srm") return this.clearSrm(flag, request.reason, actor, now);
    const result = applyAction(flag.state, flag.spec.rollout.stages, { action: request.action, variant: request.variant }, now, flag.spec.kind);
    if (!result.ok) return result;
    const action = request.action + (request.variant ? `:${request.variant}` : "");
    const decision = this.commit(flag, result.state, now, { action, source: "operator", actor, reason: request.reason ?? null });
    const published = await this.reportState(flag.row, result.state, decision);
    return { ok: true, state: result.state, decision, published };
  }

  /**
   * An operator's release of the SRM latch: the judge forgets the mismatch it
   * saw in this generation, so promotion may go on (a mismatch still present
   * holds again at the next judgement). Logged as a decision with the reason,
   * and audited by the registry like every operator action.
   */
  private async clearSrm(flag: { row: FlagRow; spec: FlagSpec; state: RolloutState }, reason: string | undefined, actor: string, now: number): Promise<ActResult> {
    if (!reason?.trim()) return { ok: false, code: "invalid_request", path: "reason", message: "clear_srm needs `reason`: what explains the mismatch, for the audit log" };
    const stored = flag.row.memory ? GateMemorySchema.safeParse(JSON.parse(flag.row.memory)) : null;
    const latch = stored?.success && stored.data.generation === flag.state.generation ? stored.data.srmLatch : undefined;
    if (!stored?.success || latch === undefined) return { ok: false, code: "invalid_transition", message: `no sample ratio mismatch is holding generation ${flag.state.generation}` };
    const { srmLatch: _cleared, ...memory } = stored.data;
    const seen = `mismatch seen at stage ${latch.stage}, candidate ${(latch.observedCandidateShare * 100).toFixed(2)}% against ${(latch.expectedCandidateShare * 100).toFixed(2)}%`;
    const decision = this.sql.transaction(() => {
      this.sql.run("UPDATE flag SET memory = ? WHERE id = 1", JSON.stringify(memory));
      return this.log.append(flag.state, flag.state, now, { action: "clear_srm", source: "operator", actor, reason: `${reason.trim()} (${seen})`, rule: null, verdicts: null, inputs: null });
    });
    const published = await this.reportState(flag.row, flag.state, decision);
    return { ok: true, state: flag.state, decision, published };
  }

  /**
   * Counters flushed from edge isolates (served exposures); also the whole job
   * of a counter shard. A batch id already counted (a retry after a lost
   * reply) changes nothing.
   */
  async addCounts(input: CounterBatch): Promise<{ counted: boolean }> {
    const now = Date.now();
    const batch = CounterBatchSchema.parse(input);
    return this.sql.transaction(() => {
      if (!this.counters.claimBatch(batch.id, minuteOf(now))) return { counted: false };
      this.counters.add(batch.cells);
      this.stats.increment("counter_batches");
      // A shard is never judged, so it compacts itself, at most hourly.
      const last = this.stats.get("compacted_at") ?? 0;
      if (now - last > 3_600_000) {
        this.counters.compact(now);
        this.stats.set("compacted_at", now);
      }
      return { counted: true };
    });
  }

  /** A counter shard's totals and spans, for its primary's evaluation. */
  async readCounters(generation: number, spans: SpanQuery[]): Promise<CounterRead> {
    return plainCopy(this.counters.read(generation, spans));
  }

  /** A counter shard's per-stage counts of consecutive steps, for its primary's series. */
  async readSpanSteps(generation: number, from: number, step: number, n: number): Promise<Record<string, ReplicatedPair>[]> {
    return plainCopy(this.counters.spanSteps(generation, from, step, n));
  }

  /** A counter shard's per-stage counts over a span, for its primary's report. */
  async readSpanByStage(generation: number, from: number, to: number): Promise<Record<string, ReplicatedPair>> {
    return plainCopy(this.counters.spanByStage(generation, from, to));
  }

  /**
   * Events forwarded by the edge: each is credited to the exposure that
   * caused it (`core/attribution.ts`) or counted as unattributed with its
   * reason; duplicates (by event id) change nothing.
   */
  async ingestEvents(input: ForwardedEvent[], now: number): Promise<{ accepted: number; duplicates: number; unattributed: number; deleted?: true }> {
    // A deleted flag's object refuses its events (the registry retires it before the delete returns), so an
    // isolate that has not yet seen the delete cannot answer `accepted` for an event nothing will count.
    if (this.retired()) return { accepted: 0, duplicates: 0, unattributed: 0, deleted: true };
    const events = ForwardedEventsSchema.parse(input);
    const history = this.flagHistory();
    return this.sql.transaction(() => {
      const fresh = this.counters.claimEventIds(events.map((e) => e.id), minuteOf(now));
      const cells: CounterCell[] = [];
      const unattributed = new Map<string, number>();
      for (const e of events) {
        if (!fresh.has(e.id)) continue;
        const credit = attribute(e, e.at, history);
        if (!credit.ok) {
          const key = `${history.stateAt(e.at)?.generation ?? 0}|${credit.reason}`;
          unattributed.set(key, (unattributed.get(key) ?? 0) + 1);
          continue;
        }
        const counts = emptyCounts();
        recordEvent(counts, e.name, e.value);
        // Without a stickiness value any group will do: the event is its own unit.
        const replicate = credit.replicate ?? fnvGroup(e.id);
        cells.push({ generation: credit.generation, stage: credit.stage, arm: credit.arm, replicate, minute: minuteOf(e.at), counts });
        if (e.name === "comparison" && e.value === 0) {
          this.disagreements.add({ eventId: e.id, at: e.at, targetingKey: e.targetingKey, arm: credit.arm, generation: credit.generation });
        }
      }
      this.counters.add(cells);
      for (const [key, n] of unattributed) {
        const [generation, reason] = key.split("|") as [string, UnattributedReason];
        this.sql.run(
          "INSERT INTO unattributed (generation, reason, n) VALUES (?, ?, ?) ON CONFLICT (generation, reason) DO UPDATE SET n = n + excluded.n",
          Number(generation), reason, n,
        );
      }
      this.disagreements.trim();
      const skipped = [...unattributed.values()].reduce((a, b) => a + b, 0);
      return { accepted: fresh.size, duplicates: events.length - fresh.size, unattributed: skipped };
    });
  }

  /** An approval or rejection of the current stage: its row, its decision in the log, its notification (call inside a transaction). */
  private recordApproval(spec: FlagSpec, state: RolloutState, decision: "approve" | "reject", actor: string, note: string | null, now: number): Decision {
    const verdict = decision === "reject" ? "rejected" : "approved";
    this.sql.run("INSERT INTO approvals (generation, stage, verdict, actor, note, at) VALUES (?, ?, ?, ?, ?, ?)", state.generation, state.stageIndex, verdict, actor, note, now);
    const logged = this.log.append(state, state, now, { action: decision, source: "operator", actor, reason: note, rule: null, verdicts: null, inputs: null });
    this.notify(spec, logged, now, verdict);
    return logged;
  }

  /** Approvals and rejections recorded for a generation, oldest first. */
  private approvalsOf(generation: number): StageApproval[] {
    return this.sql
      .all<{ stage: number; verdict: string; actor: string }>("SELECT stage, verdict, actor FROM approvals WHERE generation = ? ORDER BY id", generation)
      .map((r) => ({ stage: r.stage, verdict: r.verdict === "rejected" ? "rejected" : "approved", actor: r.actor }));
  }

  /**
   * Records an approval or a rejection of the current stage. It must name the
   * generation and stage it is for (an approval covers that stage of that
   * generation only); the cron acts on it at its next look.
   */
  async approve(request: ApprovalRequest, actor: string, now: number): Promise<ApproveResult> {
    const flag = this.loaded();
    if (flag === null) return { ok: false, code: "not_found", message: "no such flag" };
    const { state, spec } = flag;
    if (request.generation !== state.generation) return { ok: false, code: "stale", path: "generation", message: `this approval is for generation ${request.generation}; the flag is at generation ${state.generation}` };
    if (request.stage !== state.stageIndex) return { ok: false, code: "stale", path: "stage", message: `this approval is for stage ${request.stage}; the flag is at stage ${state.stageIndex}` };
    if (!spec.rollout.stages[state.stageIndex]?.approval) return { ok: false, code: "not_awaited", path: "stage", message: `stage ${state.stageIndex} does not need approval` };
    if (state.status !== "ramping" && state.status !== "shadow") return { ok: false, code: "not_awaited", path: "stage", message: `a ${state.status} rollout awaits no approval` };
    const decision = this.sql.transaction(() => this.recordApproval(spec, state, request.decision, actor, request.note ?? null, now));
    await this.scheduleAlarm();
    return { ok: true, decision };
  }

  /** Events of a generation that could not be credited to an arm, by reason. */
  async unattributedCounts(generation?: number): Promise<Record<string, number>> {
    const gen = generation ?? this.loaded()?.state.generation ?? 0;
    const out: Record<string, number> = {};
    for (const row of this.sql.all<{ reason: string; n: number }>("SELECT reason, n FROM unattributed WHERE generation = ? ORDER BY reason", gen)) out[row.reason] = row.n;
    return out;
  }

  private flagHistory(): FlagHistory {
    return { stateAt: (t) => this.history.stateAt(t), specOf: (g) => this.history.specOf(g) };
  }

  /**
   * The cron's judgement at `now`. Idempotent per minute: a repeated or
   * overlapping trigger for a minute already judged changes nothing. The
   * caller (the RegistryDO) publishes a changed state.
   */
  async judge(now: number): Promise<JudgeResult> {
    const flag = this.loaded();
    if (flag === null) return { judged: false, state: null, needsSpec: this.needsSpec() };
    const { row, spec, state } = flag;
    const stored = row.memory ? GateMemorySchema.safeParse(JSON.parse(row.memory)) : null;
    const memory: GateMemory = stored?.success ? stored.data : freshMemory(state);
    const sameStage = memory.generation === state.generation && memory.stage === state.stageIndex;
    if (sameStage && memory.lastMinute >= minuteOf(now)) return { judged: false, alreadyJudged: true, state };

    const spans = spansToRead(spec, state, memory, now);
    const reads = [this.counters.read(state.generation, spans), ...(await this.readShards(spec, (shard) => shard.readCounters(state.generation, spans)))];
    // Reading shards awaited: another trigger for this minute may have judged meanwhile.
    const latest = this.row();
    if (latest?.state !== row.state || latest.memory !== row.memory) return { judged: false, alreadyJudged: true, state: RolloutStateSchema.parse(JSON.parse(latest?.state ?? row.state)) };
    const { decision, inputs } = judgeFlag(reads, spec, state, memory, now, this.approvalsOf(state.generation));
    const { state: next, memory: memoryAfter, changed } = applyDecision(state, spec.rollout.stages, decision, now);
    const loggable = changed || decision.rule !== this.log.lastCronRule();
    this.sql.transaction(() => {
      memoryAfter.lastMinute = minuteOf(now);
      this.sql.run("UPDATE flag SET state = ?, memory = ? WHERE id = 1", JSON.stringify(next), JSON.stringify(memoryAfter));
      if (changed) this.history.record(next, now);
      if (loggable) {
        const what: NewDecision = {
          action: changed ? decision.action : "hold",
          source: "cron",
          actor: "cron",
          reason: decision.reasons.join("; "),
          rule: decision.rule,
          verdicts: JSON.stringify(summarize(decision)),
          inputs: JSON.stringify(inputs),
        };
        const logged = this.log.append(state, next, now, what);
        if ((changed && NOTIFY.has(decision.action)) || decision.warn) this.notify(spec, logged, now, decision.warn && !changed ? "warn" : decision.action);
        // One request per stage: a hold is logged when its rule changes, not every minute.
        if (decision.rule === "hold:approval") this.notify(spec, logged, now, "approval_requested");
      }
      // Soft abort rules that started firing: a decision each, notified, and nothing served changes.
      for (const soft of decision.softAborts) {
        const logged = this.log.append(next, next, now, {
          action: "soft_abort",
          source: "cron",
          actor: "cron",
          reason: `soft abort rule (notifies only): ${soft.reason}`,
          rule: `soft_abort:${soft.metric}`,
          verdicts: JSON.stringify(summarize(decision)),
          inputs: JSON.stringify(inputs),
        });
        this.notify(spec, logged, now, "soft_abort");
      }
      this.counters.compact(now);
    });
    this.trackApprovalCheck(spec, next, decision.rule, now);
    const { shards } = this.observeFlushRate(spec, now);
    await this.scheduleAlarm();
    const pooled = pooledPair(inputs.totals);
    const weight = servedWeight(next, spec.rollout.stages).weightBp / 100;
    const unattributed = this.sql.first<{ n: number | null }>("SELECT SUM(n) AS n FROM unattributed WHERE generation = ?", state.generation)?.n ?? 0;
    // The latest judgement travels with every tick's metrics (not the log): a
    // hold is logged once per rule, but what it waits for changes every minute.
    const judgement: LatestJudgement = { action: changed ? decision.action : "hold", rule: decision.rule, reason: decision.reasons.join("; ") };
    return { judged: true, state: next, action: decision.action, rule: decision.rule, counterShards: shards, ...(decision.softAborts.length > 0 ? { softAborts: decision.softAborts.length } : {}), metrics: plainCopy({ generation: state.generation, weight, ...pooled, unattributed, judgement }) };
  }

  /** The A/B compare report over [from, to) for a generation (default: the current one). */
  async compareReport(from: number, to: number, generation?: number): Promise<CompareReport | null> {
    const flag = this.loaded();
    if (flag === null) return null;
    const gen = generation ?? flag.state.generation;
    const stages = [this.counters.spanByStage(gen, from, to), ...(await this.readShards(flag.spec, (shard) => shard.readSpanByStage(gen, from, to)))].reduce(mergeStages);
    const unattributed = await this.unattributedCounts(gen);
    return { ...buildReport(flag.spec, gen, stages, from, to, servedWeight(flag.state, flag.spec.rollout.stages).shadow), unattributed };
  }

  /** Metrics over time in `n` steps of `step` ms from `from`, for charts (`core/series.ts`). */
  async series(from: number, step: number, n: number, generation?: number): Promise<Series | null> {
    const flag = this.loaded();
    if (flag === null) return null;
    const gen = generation ?? flag.state.generation;
    const reads = [this.counters.spanSteps(gen, from, step, n), ...(await this.readShards(flag.spec, (shard) => shard.readSpanSteps(gen, from, step, n)))];
    const steps = reads.reduce((into, read) => into.map((stages, i) => mergeStages(stages, read[i] ?? {})));
    return plainCopy(buildSeries(flag.spec, gen, from, step, steps, servedWeight(flag.state, flag.spec.rollout.stages).shadow));
  }

  /** Recent shadow disagreements, newest first. */
  async recentDisagreements(limit: number): Promise<Disagreement[]> {
    return this.disagreements.recent(limit);
  }

  /** The decision log, newest first. */
  async decisions(limit: number, beforeId?: number): Promise<Decision[]> {
    return this.log.list(limit, beforeId);
  }

  async decision(id: number): Promise<Decision | null> {
    return this.log.get(id);
  }

  /** Recomputes a cron decision from its stored inputs. */
  async replay(id: number): Promise<ReplayResult> {
    const decision = this.log.get(id);
    if (decision === null) return { ok: false, kind: "no_decision", message: `no decision ${id}` };
    if (decision.inputs === null) return { ok: false, kind: "not_a_judgement", message: `decision ${id} was an operator or configuration action: there is nothing to recompute` };
    const replayable = replayInputs(decision.inputs);
    if (!replayable.ok) return { ok: false, kind: "unreadable_inputs", message: `decision ${id}: ${replayable.message}` };
    const replayed = replayable.decision;
    const verdicts = JSON.stringify(summarize(replayed));
    return { ok: true, decision, replayed: { action: replayed.action, rule: replayed.rule, verdicts }, matches: verdicts === decision.verdicts };
  }

  /** Storage footprint, for the retention test and operators. */
  async storageStats(): Promise<{ counterRows: number; eventIds: number; outbox: number; counterBatches: number; unattributed: Record<string, number>; schemaVersion: number }> {
    const batches = this.stats.get("counter_batches") ?? 0;
    return {
      counterRows: this.counters.rowCount(),
      eventIds: this.counters.eventIdCount(),
      outbox: this.outbox.pending(),
      counterBatches: batches,
      unattributed: await this.unattributedCounts(),
      schemaVersion: schemaVersion(this.sql),
    };
  }

  /** The alarm's three jobs, each when due: retry a state report the RegistryDO did not take, ask a stage's approval check, deliver webhooks. */
  override async alarm(): Promise<void> {
    const row = this.row();
    const reportDue = this.reportRetryAt();
    if (row !== null && row.spec !== null && row.report_attempts > 0 && reportDue !== null && reportDue <= Date.now()) {
      await this.reportState(row, RolloutStateSchema.parse(JSON.parse(row.state)), null);
    }
    const checkDue = this.approvalCheckAt();
    if (checkDue !== null && checkDue <= Date.now()) await this.runApprovalCheck(Date.now());
    await this.outbox.deliverDue(Date.now(), this.env.WEBHOOK_SECRET);
    await this.scheduleAlarm(true);
  }

  /** When the stage's external approval check is next due (null: none is waited on). */
  private approvalCheckAt(): number | null {
    return this.stats.get("approval_check_at") ?? null;
  }

  /** A stage waiting on an external check has the alarm ask it; any other judgement stops asking. */
  private trackApprovalCheck(spec: FlagSpec, state: RolloutState, rule: string, now: number): void {
    const approval = spec.rollout.stages[state.stageIndex]?.approval;
    const waiting = rule === "hold:approval" && typeof approval === "object" && approval.check !== undefined;
    if (!waiting) this.stats.clear("approval_check_at");
    else if (this.approvalCheckAt() === null) this.stats.set("approval_check_at", now);
  }

  /**
   * Asks the stage's check URL whether to leave it: a POST signed like a
   * webhook (X-Rampart-Signature: sha256=HMAC(WEBHOOK_SECRET, body)); the
   * answer `{"decision": "approve" | "reject" | "pending", "note"?}` must be
   * signed the same way over its body. Approve and reject are recorded as
   * decisions by `check:<host>`; pending, an unsigned answer or a failure
   * asks again in CHECK_RETRY_MS.
   */
  async runApprovalCheck(now: number, send: typeof fetch = fetch): Promise<"approve" | "reject" | "pending" | "failed" | "none"> {
    const flag = this.loaded();
    const approval = flag?.spec.rollout.stages[flag.state.stageIndex]?.approval;
    if (!flag || typeof approval !== "object" || approval.check === undefined) {
      this.stats.clear("approval_check_at");
      return "none";
    }
    const { state } = flag;
    const retry = (outcome: "pending" | "failed") => {
      this.stats.set("approval_check_at", now + CHECK_RETRY_MS);
      return outcome;
    };
    const secret = this.env.WEBHOOK_SECRET;
    if (!secret) {
      console.error(`approval check ${approval.check}: not asked, WEBHOOK_SECRET is not set (checks are signed both ways)`);
      return retry("failed");
    }
    const body = JSON.stringify({ type: "approval_check", flag: flag.row.key, generation: state.generation, stage: state.stageIndex, weight: flag.spec.rollout.stages[state.stageIndex]?.weight, next: flag.spec.rollout.stages[state.stageIndex + 1]?.weight ?? null, at: new Date(now).toISOString() });
    let answer: z.infer<typeof CheckAnswerSchema>;
    try {
      const response = await send(approval.check, { method: "POST", headers: { "content-type": "application/json", "user-agent": "rampart-approval-check", "x-rampart-signature": `sha256=${await hmacHex(secret, body)}` }, body, signal: AbortSignal.timeout(10_000) });
      const text = await response.text();
      if (!response.ok) throw new Error(`answered ${response.status}`);
      if (!(await signatureMatches(secret, text, response.headers.get("x-rampart-signature")))) throw new Error("the answer is not signed with WEBHOOK_SECRET");
      answer = CheckAnswerSchema.parse(JSON.parse(text));
    } catch (error) {
      console.warn(`approval check ${approval.check} failed; asking again later`, error);
      return retry("failed");
    }
    if (answer.decision === "pending") return retry("pending");
    const actor = `check:${new URL(approval.check).host}`;
    const verdict = answer.decision;
    this.sql.transaction(() => {
      this.recordApproval(flag.spec, state, verdict, actor, answer.note ?? null, now);
      this.stats.clear("approval_check_at");
    });
    return answer.decision;
  }

  /** When the next state-report retry is due, or null when none is pending. */
  private reportRetryAt(): number | null {
    return this.stats.get("report_retry_at") ?? null;
  }

  /** Reads every counter shard of the flag (shard 0 is this object itself). */
  private async readShards<T>(spec: FlagSpec, read: (shard: DurableObjectStub<FlagDO>) => Promise<T>): Promise<T[]> {
    const name = waveObjectName(spec.key, this.row()?.wave ?? 1);
    const shards = Array.from({ length: this.counterShards(spec) - 1 }, (_, i) => counterShardStub(this.env, name, i + 1));
    return Promise.all(shards.map(read));
  }

  /** Counter shards in use: the spec's, or more if this object chose more from its observed flush rate. */
  private counterShards(spec: FlagSpec): number {
    return Math.max(spec.counterShards, this.stats.get("counter_shards") ?? 1);
  }

  /**
   * Counter calls per second into this object since the last look (at the
   * cron's times), and the shards that rate asks for (`autoShards`): a hot
   * flag spreads its flushes over more objects without anyone editing its
   * spec. Shards only grow.
   */
  private observeFlushRate(spec: FlagSpec, now: number): { callsPerSecond: number; shards: number } {
    const batches = this.stats.get("counter_batches") ?? 0;
    const lastBatches = this.stats.get("rate_batches");
    const lastAt = this.stats.get("rate_at");
    this.stats.set("rate_batches", batches);
    this.stats.set("rate_at", now);
    const current = this.counterShards(spec);
    if (lastBatches === undefined || lastAt === undefined || now <= lastAt) return { callsPerSecond: 0, shards: current };
    const callsPerSecond = (batches - lastBatches) / ((now - lastAt) / 1000);
    const shards = autoShards(current, callsPerSecond);
    if (shards > current) this.stats.set("counter_shards", shards);
    return { callsPerSecond, shards };
  }

  /** Stores a new state and its decision in one transaction; queues notifications. */
  private commit(flag: { row: FlagRow; spec: FlagSpec; state: RolloutState }, next: RolloutState, now: number, what: NewDecision): Decision {
    return this.sql.transaction(() => {
      this.sql.run("UPDATE flag SET state = ? WHERE id = 1", JSON.stringify(next));
      this.history.record(next, now);
      const decision = this.log.append(flag.state, next, now, what);
      const verb = what.action.split(":")[0] ?? what.action;
      if (NOTIFY.has(verb)) this.notify(flag.spec, decision, now, verb);
      return decision;
    });
  }

  private notify(spec: FlagSpec, decision: Decision, now: number, kind: string): void {
    const deployment = (this.env.WEBHOOK_URLS ?? "").split(",").map((u) => u.trim()).filter(Boolean);
    const urls = [...new Set([...spec.webhooks, ...deployment])];
    if (urls.length === 0) return;
    const wave = this.row()?.wave ?? 1;
    this.outbox.enqueue(urls, {
      type: kind,
      flag: spec.key,
      ...(spec.waves ? { wave, regions: spec.waves.order[wave - 1] ?? [] } : {}),
      generation: decision.generation,
      decisionId: decision.id,
      at: new Date(decision.at).toISOString(),
      source: decision.source,
      actor: decision.actor,
      rule: decision.rule,
      reason: decision.reason,
      from: decision.from,
      to: decision.to,
    }, now);
  }

  /**
   * One alarm drives all due work — state-report retries, approval checks
   * and webhook deliveries — set to the earliest of them, so no job's schedule overwrites
   * another's. From the alarm handler itself (`fired`) the alarm is reset to
   * whatever is due next.
   */
  private async scheduleAlarm(fired = false): Promise<void> {
    const candidates = [this.outbox.nextDue(), this.reportRetryAt(), this.approvalCheckAt()].filter((t): t is number => t !== null);
    const due = candidates.length > 0 ? Math.min(...candidates) : null;
    const current = fired ? null : await this.ctx.storage.getAlarm();
    if (due !== null && (current === null || due < current)) await this.ctx.storage.setAlarm(due);
  }

  /** Reports a state to the RegistryDO; on failure schedules a retry with backoff. */
  private async reportState(row: Pick<FlagRow, "key" | "wave">, state: RolloutState, decision: Decision | null): Promise<boolean> {
    const { key } = row;
    try {
      await registryStub(this.env).reportState(key, state, decision, row.wave);
      this.sql.run("UPDATE flag SET report_attempts = 0 WHERE id = 1");
      this.stats.clear("report_retry_at");
      await this.scheduleAlarm();
      return true;
    } catch (error) {
      const attempts = (this.row()?.report_attempts ?? 0) + 1;
      this.sql.run("UPDATE flag SET report_attempts = ? WHERE id = 1", attempts);
      const delay = Math.min(REPORT_RETRY_MAX_MS, REPORT_RETRY_MIN_MS * 2 ** (attempts - 1));
      console.error(`flag ${key}: state report failed (attempt ${attempts}), retrying in ${delay} ms`, error);
      this.stats.set("report_retry_at", Date.now() + delay);
      await this.scheduleAlarm();
      return false;
    }
  }
}

/** A replicate group for an event with no stickiness value: spread by its id (FNV-1a), stable across retries. */
function fnvGroup(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return (h >>> 0) % REPLICATES;
}
