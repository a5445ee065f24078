/**
 * FlagDO: one per flag (and one per region wave after the first). The only
 * writer of its rollout state, counters and decision log. Operator actions
 * and cron judgements both go through the pure state machine
 * (`core/rollout.ts`, `core/decision-step.ts`); every change is logged with
 * its rule and numbers and reported to the RegistryDO for publishing. Its
 * state lives in repositories — the flag row, counters, decisions,
 * approvals, unattributed counts, state history, the outbox and the jobs
 * whose earliest due row sets the alarm — and each RPC method is a short
 * shell over them.
 */
import { DurableObject } from "cloudflare:workers";
import { z } from "zod";
import { plainCopy } from "../../core/dict";
import { autoShards } from "../../core/load-model";
import { CounterCellSchema, emptyReplicated, mergeReplicated, minuteOf, pooledPair, type ReplicatedPair } from "../../core/counters";
import type { Decision } from "../../core/decision";
import { applyDecision } from "../../core/decision-step";
import { fromColumns, type ForwardedColumns } from "../../core/events";
import { ExperimentCellSchema, type ExperimentCell } from "../../core/experiment-cell";
import { buildExperimentReport } from "../../core/experiment-report";
import { ruleExperiments, ruleIteration, ruleName } from "../../core/targeting-rules";
import { candidateIdentity } from "../../core/generation";
import { freshMemory, type GateMemory } from "../../core/gates";
import { FlagSpecSchema, type FlagSpec } from "../../core/manifest";
import { buildReport, type CompareReport } from "../../core/report";
import { applyAction, initialState, reconfigure, servedWeight, type ActionRequest, type RolloutState } from "../../core/rollout";
import { buildSeries, type Series } from "../../core/series";
import { waveObjectName, type WaveStep } from "../../core/waves";
import type { LatestJudgement } from "../registry/flag-metrics";
import { registryStub } from "../registry/stub";
import { migrate, schemaVersion } from "../migrations";
import { Sql } from "../sql";
import { askApprovalCheck, CHECK_RETRY_MS } from "./approval-check";
import { Approvals } from "./approvals";
import { CounterStore, mergeStages, type CounterRead, type SpanQuery } from "./counter-store";
import { DecisionLog, type NewDecision } from "./decision-log";
import { DisagreementLog, type Disagreement } from "./disagreements";
import { FlagStore, type FlagRow, type LoadedFlag } from "./flag-store";
import { EventIngest, type IngestResult } from "./ingest";
import { ExperimentStore } from "./experiment-store";
import { readSeries } from "./prometheus-source";
import { Jobs } from "./jobs";
import { judgeFlag, replayInputs, spansToRead, summarize } from "./judge";
import { Outbox } from "./outbox";
import { FLAG_MIGRATIONS } from "./schema";
import { StateHistory } from "./state-history";
import { FlagStats } from "./stats";
import { counterShardStub } from "./stub";
import type { ActResult, ApprovalAsk, ApprovalRequest, ApproveResult, CounterBatch, ExperimentReportResult, FlagView, JudgeResult, ReplayResult, StorageStats } from "./types";
import { UnattributedCounts } from "./unattributed";

export { ApprovalAskBodySchema, ApprovalAskSchema, ApprovalRequestSchema, type ActResult, type ApprovalRequest, type ApproveResult, type CounterBatch, type FlagView, type JudgeResult, type ReplayResult } from "./types";
export { CHECK_RETRY_MS } from "./approval-check";

const CounterBatchSchema = z.strictObject({ id: z.string().min(1).max(128), cells: CounterCellSchema.array(), experiments: ExperimentCellSchema.array().optional() });

const REPORT_RETRY_MIN_MS = 1_000;
const REPORT_RETRY_MAX_MS = 300_000;
/** Actions that notify webhooks. */
const NOTIFY = new Set(["promote", "complete", "demote", "rollback", "kill", "fallback", "recover", "start"]);

export class FlagDO extends DurableObject<Env> {
  private readonly sql: Sql;
  private readonly flag: FlagStore;
  private readonly log: DecisionLog;
  private readonly stats: FlagStats;
  private readonly counters: CounterStore;
  private readonly experiments: ExperimentStore;
  private readonly approvals: Approvals;
  private readonly unattributed: UnattributedCounts;
  private readonly ingest: EventIngest;
  private readonly outbox: Outbox;
  private readonly jobs: Jobs;
  private readonly disagreements: DisagreementLog;
  private readonly history: StateHistory;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = new Sql(ctx.storage);
    void ctx.blockConcurrencyWhile(async () => {
      migrate(this.sql, FLAG_MIGRATIONS, Date.now());
    });
    this.flag = new FlagStore(this.sql);
    this.log = new DecisionLog(this.sql);
    this.stats = new FlagStats(this.sql);
    this.counters = new CounterStore(this.sql);
    this.experiments = new ExperimentStore(this.sql);
    this.approvals = new Approvals(this.sql);
    this.unattributed = new UnattributedCounts(this.sql);
    this.outbox = new Outbox(this.sql);
    this.jobs = new Jobs(this.sql);
    this.disagreements = new DisagreementLog(this.sql);
    this.history = new StateHistory(this.sql);
    this.ingest = new EventIngest(this.counters, this.disagreements, this.unattributed, this.experiments);
  }

  /**
   * Takes a new or edited spec from the RegistryDO (as the operator wrote it,
   * with its key) and returns the state to publish. `wave` > 1: this object
   * runs that region wave of the flag, which waits until the wave before it
   * completes (`core/waves.ts`).
   */
  async configure(specInput: unknown, now: number, wave = 1, author?: string): Promise<{ state: RolloutState; candidateChanged: boolean }> {
    const spec = FlagSpecSchema.parse(specInput);
    const specText = JSON.stringify(specInput);
    const row = this.flag.row();
    const identity = candidateIdentity(spec);
    const waiting = wave > 1;
    // A retired flag coming back, or a new candidate, is a new generation.
    const candidateChanged = row === null || !row.hasSpec || row.identity !== identity;
    const state = row === null ? initialState(spec.rollout.stages, 1, 1, now, waiting) : reconfigure(row.state, spec.rollout.stages, candidateChanged, now, waiting);
    this.sql.transaction(() => {
      this.flag.configure({ key: spec.key, wave, spec, specInput: specText, identity, state });
      if (author !== undefined) this.flag.setSpecAuthor(author);
      this.history.recordSpec(state.generation, specText);
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
    const flag = this.flag.loaded();
    if (flag === null) return null;
    const result = applyAction(flag.state, flag.spec.rollout.stages, { action: step.action }, now);
    if (!result.ok) return null;
    const next = step.action === "start" ? { ...result.state, generation: Math.max(step.generation, flag.state.generation) } : result.state;
    if (next.generation !== flag.state.generation) this.history.recordSpec(next.generation, flag.row.specInput ?? JSON.stringify(flag.spec));
    const decision = this.commit(flag, next, now, { action: step.action, source: "config", actor: "registry", reason: step.reason });
    return { state: next, decision };
  }

  /** The flag was deleted: forget the spec, keep the generation counter and the decision log. */
  async retire(): Promise<void> {
    this.flag.retire();
  }

  async view(): Promise<FlagView | null> {
    const row = this.flag.row();
    return row === null ? null : { key: row.key, configured: row.specInput !== null, state: row.state };
  }

  /** Applies an operator action, logs it, and reports the new state for publishing. */
  async act(request: ActionRequest, actor: string, now: number): Promise<ActResult> {
    const flag = this.flag.loaded();
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
      this.experiments.add(batch.experiments ?? []);
      this.stats.increment("counter_batches");
      // A shard is never judged, so it compacts itself, at most hourly.
      if (now - (this.stats.get("compacted_at") ?? 0) > 3_600_000) {
        this.counters.compact(now);
        this.experiments.compact(now);
        this.stats.set("compacted_at", now);
      }
      return { counted: true };
    });
  }

  /** A counter shard's totals and spans, for its primary's judgement. */
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

  /** A counter shard's experiment counts over a span, for its primary's experiment report. */
  async readExperimentSpan(iteration: string, from: number, to: number): Promise<Record<string, ExperimentCell["counts"][]>> {
    return plainCopy(this.experiments.span(iteration, from, to));
  }

  /**
   * The compare report of the experiment on rule `rule` (`core/experiment-report.ts`):
   * its current iteration, or the one named; over [from, to), by default the iteration's whole life.
   */
  async experimentReport(rule: string, query: { iteration?: string; from?: number; to: number }): Promise<ExperimentReportResult> {
    // 1. The flag, the rule and the iteration asked for.
    const flag = this.flag.loaded();
    if (flag === null) return { ok: false, code: "not_found", message: "no such flag" };
    const { spec } = flag;
    const index = spec.rules.findIndex((r, i) => ruleName(r, i) === rule);
    const found = spec.rules[index];
    const serve = found?.serve;
    const current = found && serve && serve !== "rollout" && "split" in serve && serve.experiment ? { iteration: ruleIteration(found, index) ?? "", split: serve.split, experiment: serve.experiment } : null;
    const iterations = this.experiments.ofRule(rule);
    const iteration = query.iteration ?? current?.iteration;
    if (iteration === undefined) {
      const message = found === undefined ? `flag "${spec.key}" has no rule "${rule}"` : `rule "${rule}" is no experiment: give its split \`experiment: { control: VARIANT }\``;
      return { ok: false, code: iterations.length > 0 ? "unknown_iteration" : "not_an_experiment", path: "rule", message: iterations.length > 0 ? `${message}; earlier iterations: ${iterations.map((i) => i.iteration).join(", ")} (?iteration=)` : message };
    }
    const past = iterations.find((i) => i.iteration === iteration) ?? null;
    const isCurrent = current !== null && current.iteration === iteration;
    if (!isCurrent && past === null) return { ok: false, code: "unknown_iteration", path: "iteration", message: `rule "${rule}" has no iteration "${iteration}"${iterations.length > 0 ? `; it has ${iterations.map((i) => i.iteration).join(", ")}` : ""}` };
    // 2. The counts of this object and its shards, over the span asked (default: since the iteration's first exposure).
    const from = query.from ?? past?.firstAt ?? query.to - 86_400_000;
    const spans = [this.experiments.span(iteration, from, query.to), ...(await this.readShards(spec, (shard) => shard.readExperimentSpan(iteration, from, query.to)))];
    const counts: Record<string, ExperimentCell["counts"][]> = {};
    for (const span of spans) for (const [variant, replicates] of Object.entries(span)) mergeReplicated((counts[variant] ??= emptyReplicated()), replicates);
    // 3. The report: the current split's variants and experiment, or what the past iteration recorded.
    const experiment = isCurrent && current ? current.experiment : { control: past?.control ?? "" };
    const variants = isCurrent && current ? current.split.map((p) => p.variant) : [experiment.control];
    const report = buildExperimentReport(spec, { flag: spec.key, rule, iteration, current: isCurrent, experiment, variants }, counts, from, query.to);
    return { ok: true, report: plainCopy({ ...report, iterations, unattributed: this.unattributed.of(flag.state.generation) }) };
  }

  /** Events forwarded by the edge, credited to the exposures that caused them (`ingest.ts`); duplicates change nothing. */
  async ingestEvents(columns: ForwardedColumns, now: number): Promise<IngestResult & { deleted?: true }> {
    // A deleted flag's object refuses its events (the registry retires it before the delete returns), so an
    // isolate that has not yet seen the delete cannot answer `accepted` for an event nothing will count.
    if (!(this.flag.row()?.hasSpec ?? false)) return { accepted: 0, duplicates: 0, unattributed: 0, deleted: true };
    // Not parsed again: only this Worker's edge calls here (a binding, not a route), with events `checkEvent` made from ones
    // that passed `EventSchema` (or OTLP's outcomes, of that shape by construction). Parsing 500 spans' events twice was a
    // tenth of an OTLP batch's CPU (docs/benchmarks.md).
    const events = fromColumns(columns);
    // The history the batch's times need, read once.
    const history = this.history.since(events.reduce((min, e) => Math.min(min, e.at), now));
    const current = ruleExperiments(this.flag.loaded()?.spec.rules ?? []);
    return this.sql.transaction(() => this.ingest.ingest(events, history, now, current));
  }

  /**
   * Records an approval or a rejection of the current stage. It must name the
   * generation and stage it is for (an approval covers that stage of that
   * generation only); the cron acts on it at its next look.
   */
  async approve(request: ApprovalRequest, actor: string, now: number): Promise<ApproveResult> {
    const flag = this.flag.loaded();
    if (flag === null) return { ok: false, code: "not_found", message: "no such flag" };
    const { state, spec } = flag;
    const problem = approvalProblem(spec, state, request);
    if (problem !== null) return problem;
    // Four eyes: someone other than the spec's author and/or whoever started the stage (cron and the registry are nobody).
    const approval = spec.rollout.stages[state.stageIndex]?.approval;
    const distinct = typeof approval === "object" ? (approval.distinctFrom ?? []) : [];
    const author = this.flag.specAuthor();
    const starter = this.log.starterOf(state.generation, state.stageIndex);
    const people = { author: author !== null && isPerson(author) ? author : null, starter: starter !== null && isPerson(starter) ? starter : null };
    for (const who of distinct) {
      const other = people[who];
      if (other !== null && principalOf(other) === principalOf(actor)) {
        return { ok: false, code: "same_person", path: "actor", message: `this stage needs an approver other than its ${who === "author" ? "spec's author" : "starter"} (${principalOf(other)})` };
      }
    }
    const witnessed = distinct.length === 0 ? request.note ?? null : [request.note, `four eyes: spec by ${people.author ?? "unknown"}, stage started by ${people.starter ?? "the cron"}, approved by ${principalOf(actor)}`].filter(Boolean).join("; ");
    const decision = this.sql.transaction(() => this.recordApproval(spec, state, request.decision, actor, witnessed, now));
    await this.scheduleAlarm();
    return { ok: true, decision };
  }

  /**
   * Asks people to approve the stage a request names, when the flag waits
   * in it for an approval: the deployment's and the spec's webhooks get an
   * `approval_requested` naming who asks and why (the cron sends one when it
   * starts holding; this one is asked for). Changes no state; the caller audits.
   */
  async requestApproval(request: ApprovalAsk, actor: string, now: number): Promise<{ ok: true } | Extract<ApproveResult, { ok: false }>> {
    const flag = this.flag.loaded();
    if (flag === null) return { ok: false, code: "not_found", message: "no such flag" };
    const problem = approvalProblem(flag.spec, flag.state, request);
    if (problem !== null) return problem;
    const urls = this.webhookUrls(flag.spec);
    if (urls.length > 0) {
      const wave = this.flag.wave();
      this.outbox.enqueue(urls, {
        type: "approval_requested",
        flag: flag.spec.key,
        ...(flag.spec.waves ? { wave, regions: flag.spec.waves.order[wave - 1] ?? [] } : {}),
        generation: request.generation,
        stage: request.stage,
        at: new Date(now).toISOString(),
        source: "operator",
        actor,
        rule: "hold:approval",
        reason: request.note ?? null,
      }, now);
      this.jobs.schedule("deliver_webhooks", this.outbox.nextDue());
      await this.scheduleAlarm();
    }
    return { ok: true };
  }

  /** Events of a generation that could not be credited to an arm, by reason. */
  async unattributedCounts(generation?: number): Promise<Record<string, number>> {
    return this.unattributed.of(generation ?? this.flag.loaded()?.state.generation ?? 0);
  }

  /**
   * The cron's judgement at `now`. Idempotent per minute: a repeated or
   * overlapping trigger for a minute already judged changes nothing. The
   * caller (the RegistryDO) publishes a changed state.
   */
  async judge(now: number): Promise<JudgeResult> {
    // 1. Load the flag and the judge's memory; a minute already judged is done.
    const flag = this.flag.loaded();
    if (flag === null) return { judged: false, state: null, needsSpec: this.needsSpec() };
    const { row, spec, state } = flag;
    const memory: GateMemory = row.memory ?? freshMemory(state);
    const sameStage = memory.generation === state.generation && memory.stage === state.stageIndex;
    if (sameStage && memory.lastMinute >= minuteOf(now)) return { judged: false, alreadyJudged: true, state };

    // 2. Read the counters of every shard; another trigger may have judged while the shards were read.
    const spans = spansToRead(spec, state, memory, now);
    const [reads, series] = await Promise.all([
      this.readShards(spec, (shard) => shard.readCounters(state.generation, spans)).then((shards) => [this.counters.read(state.generation, spans), ...shards]),
      // Gates on outside series (Prometheus): read at this look, and logged with the decision's inputs.
      readSeries(spec, state, now, (name) => secretOf(this.env, name)),
    ]);
    const latest = this.flag.row();
    if (latest !== null && latest.revision !== row.revision) return { judged: false, alreadyJudged: true, state: latest.state };

    // 3. Judge, and take the next state from the one decision step the simulation uses too.
    const { decision, inputs } = judgeFlag(reads, spec, state, memory, now, this.approvals.of(state.generation), series);
    const { state: next, memory: memoryAfter, changed } = applyDecision(state, spec.rollout.stages, decision, now);

    // 4. Store, log (a hold once per rule), notify.
    const loggable = changed || decision.rule !== this.log.lastCronRule();
    this.sql.transaction(() => {
      this.flag.setStateAndMemory(next, { ...memoryAfter, lastMinute: minuteOf(now) });
      if (changed) this.history.record(next, now);
      const verdicts = JSON.stringify(summarize(decision));
      const inputsJson = JSON.stringify(inputs);
      if (loggable) {
        const logged = this.log.append(state, next, now, { action: changed ? decision.action : "hold", source: "cron", actor: "cron", reason: decision.reasons.join("; "), rule: decision.rule, verdicts, inputs: inputsJson });
        if ((changed && NOTIFY.has(decision.action)) || decision.warn) this.notify(spec, logged, now, decision.warn && !changed ? "warn" : decision.action);
        // One request per stage: a hold is logged when its rule changes, not every minute.
        if (decision.rule === "hold:approval") this.notify(spec, logged, now, "approval_requested");
      }
      // Soft abort rules that started firing: a decision each, notified, and nothing served changes.
      for (const soft of decision.softAborts) {
        const logged = this.log.append(next, next, now, { action: "soft_abort", source: "cron", actor: "cron", reason: `soft abort rule (notifies only): ${soft.reason}`, rule: `soft_abort:${soft.metric}`, verdicts, inputs: inputsJson });
        this.notify(spec, logged, now, "soft_abort");
      }
      this.counters.compact(now);
      this.experiments.compact(now);
      this.trackApprovalCheck(spec, next, decision.rule, now);
    });

    // 5. Answer the registry with the state, the shards edges should use, and the numbers /metrics shows.
    const { shards } = this.observeFlushRate(spec, now);
    await this.scheduleAlarm();
    const weight = servedWeight(next, spec.rollout.stages).weightBp / 100;
    // The latest judgement travels with every tick's metrics (not the log): a
    // hold is logged once per rule, but what it waits for changes every minute.
    const judgement: LatestJudgement = { action: changed ? decision.action : "hold", rule: decision.rule, reason: decision.reasons.join("; ") };
    const metrics = plainCopy({ generation: state.generation, weight, ...pooledPair(inputs.totals), unattributed: this.unattributed.total(state.generation), judgement });
    return { judged: true, state: next, action: decision.action, rule: decision.rule, counterShards: shards, ...(decision.softAborts.length > 0 ? { softAborts: decision.softAborts.length } : {}), metrics };
  }

  /** The A/B compare report over [from, to) for a generation (default: the current one). */
  async compareReport(from: number, to: number, generation?: number): Promise<CompareReport | null> {
    const flag = this.flag.loaded();
    if (flag === null) return null;
    const gen = generation ?? flag.state.generation;
    const [shards, series] = await Promise.all([
      this.readShards(flag.spec, (shard) => shard.readSpanByStage(gen, from, to)),
      // Gates on Prometheus series: the current stage's points, as the cron would read them now.
      gen === flag.state.generation ? readSeries(flag.spec, flag.state, Math.min(to, Date.now()), (name) => secretOf(this.env, name)) : Promise.resolve(undefined),
    ]);
    const stages = [this.counters.spanByStage(gen, from, to), ...shards].reduce(mergeStages);
    return { ...buildReport(flag.spec, gen, stages, from, to, servedWeight(flag.state, flag.spec.rollout.stages).shadow, series), unattributed: this.unattributed.of(gen) };
  }

  /** Metrics over time in `n` steps of `step` ms from `from`, for charts (`core/series.ts`). */
  async series(from: number, step: number, n: number, generation?: number): Promise<Series | null> {
    const flag = this.flag.loaded();
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
    const verdicts = JSON.stringify(summarize(replayable.decision));
    return { ok: true, decision, replayed: { action: replayable.decision.action, rule: replayable.decision.rule, verdicts }, matches: verdicts === decision.verdicts };
  }

  /** Storage footprint, for the retention test and operators. */
  async storageStats(): Promise<StorageStats> {
    return {
      counterRows: this.counters.rowCount(),
      eventIds: this.counters.eventIdCount(),
      outbox: this.outbox.pending(),
      counterBatches: this.stats.get("counter_batches") ?? 0,
      unattributed: await this.unattributedCounts(),
      schemaVersion: schemaVersion(this.sql),
    };
  }

  /** Runs every job that is due (`jobs.ts`), then sets the alarm to the next. */
  override async alarm(): Promise<void> {
    for (const job of this.jobs.due(Date.now())) {
      if (job.kind === "report_state") {
        const row = this.flag.row();
        if (row?.hasSpec && row.reportAttempts > 0) await this.reportState(row, row.state, null);
        else this.jobs.cancel("report_state");
      } else if (job.kind === "approval_check") {
        await this.runApprovalCheck(Date.now());
      } else {
        await this.outbox.deliverDue(Date.now(), this.env.WEBHOOK_SECRET);
        this.jobs.schedule("deliver_webhooks", this.outbox.nextDue());
      }
    }
    await this.scheduleAlarm(true);
  }

  /**
   * Asks the stage's check URL whether to leave it (`approval-check.ts`).
   * Approve and reject are recorded as decisions by `check:<host>`; pending,
   * an unsigned answer or a failure asks again in CHECK_RETRY_MS.
   */
  async runApprovalCheck(now: number, send: typeof fetch = fetch): Promise<"approve" | "reject" | "pending" | "failed" | "none"> {
    const flag = this.flag.loaded();
    const approval = flag?.spec.rollout.stages[flag.state.stageIndex]?.approval;
    if (!flag || typeof approval !== "object" || approval.check === undefined) {
      this.jobs.cancel("approval_check");
      return "none";
    }
    const { state, spec } = flag;
    const url = approval.check;
    const retry = (outcome: "pending" | "failed") => {
      this.jobs.schedule("approval_check", now + CHECK_RETRY_MS);
      return outcome;
    };
    const secret = this.env.WEBHOOK_SECRET;
    if (!secret) {
      console.error(`approval check ${url}: not asked, WEBHOOK_SECRET is not set (checks are signed both ways)`);
      return retry("failed");
    }
    const question = { flag: flag.row.key, generation: state.generation, stage: state.stageIndex, weight: spec.rollout.stages[state.stageIndex]?.weight, next: spec.rollout.stages[state.stageIndex + 1]?.weight ?? null, at: now };
    const asked = await askApprovalCheck(url, question, secret, send);
    if (!asked.ok) {
      console.warn(`approval check ${url} failed; asking again later`, asked.error);
      return retry("failed");
    }
    const { answer } = asked;
    if (answer.decision === "pending") return retry("pending");
    const verdict = answer.decision;
    this.sql.transaction(() => {
      this.recordApproval(spec, state, verdict, `check:${new URL(url).host}`, answer.note ?? null, now);
      this.jobs.cancel("approval_check");
    });
    return verdict;
  }

  // ---- the work behind the methods ----

  /** Whether the flag holds only a spec from before specs were stored as written (the registry then sends it again). */
  private needsSpec(): boolean {
    const row = this.flag.row();
    return row !== null && row.hasSpec && row.specInput === null;
  }


  /**
   * An operator's release of the SRM latch: the judge forgets the mismatch it
   * saw in this generation, so promotion may go on (a mismatch still present
   * holds again at the next judgement). Logged as a decision with the reason,
   * and audited by the registry like every operator action.
   */
  private async clearSrm(flag: LoadedFlag, reason: string | undefined, actor: string, now: number): Promise<ActResult> {
    if (!reason?.trim()) return { ok: false, code: "invalid_request", path: "reason", message: "clear_srm needs `reason`: what explains the mismatch, for the audit log" };
    const stored = flag.row.memory;
    const latch = stored !== null && stored.generation === flag.state.generation ? stored.srmLatch : undefined;
    if (stored === null || latch === undefined) return { ok: false, code: "invalid_transition", message: `no sample ratio mismatch is holding generation ${flag.state.generation}` };
    const { srmLatch: _cleared, ...memory } = stored;
    const seen = `mismatch seen at stage ${latch.stage}, candidate ${(latch.observedCandidateShare * 100).toFixed(2)}% against ${(latch.expectedCandidateShare * 100).toFixed(2)}%`;
    const decision = this.sql.transaction(() => {
      this.flag.setMemory(memory);
      return this.log.append(flag.state, flag.state, now, { action: "clear_srm", source: "operator", actor, reason: `${reason.trim()} (${seen})`, rule: null, verdicts: null, inputs: null });
    });
    const published = await this.reportState(flag.row, flag.state, decision);
    return { ok: true, state: flag.state, decision, published };
  }

  /** An approval or rejection of the current stage: its row, its decision in the log, its notification (call inside a transaction). */
  private recordApproval(spec: FlagSpec, state: RolloutState, decision: "approve" | "reject", actor: string, note: string | null, now: number): Decision {
    const verdict = decision === "reject" ? "rejected" : "approved";
    this.approvals.record({ generation: state.generation, stage: state.stageIndex, verdict, actor, note, at: now });
    const logged = this.log.append(state, state, now, { action: decision, source: "operator", actor, reason: note, rule: null, verdicts: null, inputs: null });
    this.notify(spec, logged, now, verdict);
    return logged;
  }

  /** A stage waiting on an external check has the alarm ask it; any other judgement stops asking. */
  private trackApprovalCheck(spec: FlagSpec, state: RolloutState, rule: string, now: number): void {
    const approval = spec.rollout.stages[state.stageIndex]?.approval;
    const waiting = rule === "hold:approval" && typeof approval === "object" && approval.check !== undefined;
    if (waiting) this.jobs.scheduleOnce("approval_check", now);
    else this.jobs.cancel("approval_check");
  }

  /** Reads every counter shard of the flag (shard 0 is this object itself). */
  private async readShards<T>(spec: FlagSpec, read: (shard: DurableObjectStub<FlagDO>) => Promise<T>): Promise<T[]> {
    const name = waveObjectName(spec.key, this.flag.wave());
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
  private commit(flag: LoadedFlag, next: RolloutState, now: number, what: NewDecision): Decision {
    return this.sql.transaction(() => {
      this.flag.setState(next);
      this.history.record(next, now);
      const decision = this.log.append(flag.state, next, now, what);
      const verb = what.action.split(":")[0] ?? what.action;
      if (NOTIFY.has(verb)) this.notify(flag.spec, decision, now, verb);
      return decision;
    });
  }

  /** Queues the decision's webhook for every URL of the spec and the deployment (delivered by the alarm). */
  /** Where a flag's notifications go: its spec's webhooks and the deployment's WEBHOOK_URLS. */
  private webhookUrls(spec: FlagSpec): string[] {
    const deployment = (this.env.WEBHOOK_URLS ?? "").split(",").map((u) => u.trim()).filter(Boolean);
    return [...new Set([...spec.webhooks, ...deployment])];
  }

  private notify(spec: FlagSpec, decision: Decision, now: number, kind: string): void {
    const urls = this.webhookUrls(spec);
    if (urls.length === 0) return;
    const wave = this.flag.wave();
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
    this.jobs.schedule("deliver_webhooks", this.outbox.nextDue());
  }

  /** Sets the alarm to the earliest due job; from the alarm handler itself (`fired`) to whatever is due next. */
  private async scheduleAlarm(fired = false): Promise<void> {
    const due = this.jobs.earliest();
    const current = fired ? null : await this.ctx.storage.getAlarm();
    if (due !== null && (current === null || due < current)) await this.ctx.storage.setAlarm(due);
  }

  /** Reports a state to the RegistryDO; on failure schedules a retry with backoff. */
  private async reportState(row: Pick<FlagRow, "key" | "wave">, state: RolloutState, decision: Decision | null): Promise<boolean> {
    try {
      await registryStub(this.env).reportState(row.key, state, decision, row.wave);
      this.flag.setReportAttempts(0);
      this.jobs.cancel("report_state");
      await this.scheduleAlarm();
      return true;
    } catch (error) {
      const attempts = (this.flag.row()?.reportAttempts ?? 0) + 1;
      this.flag.setReportAttempts(attempts);
      const delay = Math.min(REPORT_RETRY_MAX_MS, REPORT_RETRY_MIN_MS * 2 ** (attempts - 1));
      console.error(`flag ${row.key}: state report failed (attempt ${attempts}), retrying in ${delay} ms`, error);
      this.jobs.schedule("report_state", Date.now() + delay);
      await this.scheduleAlarm();
      return false;
    }
  }
}

/** A Worker secret (or var) by the name a spec gives; only text values. */
function secretOf(env: Env, name: string): string | undefined {
  const value = (env as unknown as Record<string, unknown>)[name];
  return typeof value === "string" ? value : undefined;
}

/** The person behind an audit actor: without a claimed name ("ana@x (claims bot)" → "ana@x"; "admin:ana" → "admin"). */
function principalOf(actor: string): string {
  return actor.replace(/ \(claims [^)]*\)$/, "").replace(/^(admin|read):.*$/, "$1");
}

/** The cron and the registry start stages and write configurations, but are nobody a four-eyes rule is about. */
function isPerson(actor: string): boolean {
  return actor !== "cron" && actor !== "registry";
}

/** Why an approval of `request`'s generation and stage cannot be taken now, or null when the flag waits in that stage for one. */
function approvalProblem(spec: FlagSpec, state: RolloutState, request: Pick<ApprovalRequest, "generation" | "stage">): Extract<ApproveResult, { ok: false }> | null {
  if (request.generation !== state.generation) return { ok: false, code: "stale", path: "generation", message: `this approval is for generation ${request.generation}; the flag is at generation ${state.generation}` };
  if (request.stage !== state.stageIndex) return { ok: false, code: "stale", path: "stage", message: `this approval is for stage ${request.stage}; the flag is at stage ${state.stageIndex}` };
  if (!spec.rollout.stages[state.stageIndex]?.approval) return { ok: false, code: "not_awaited", path: "stage", message: `stage ${state.stageIndex} does not need approval` };
  if (state.status !== "ramping" && state.status !== "shadow") return { ok: false, code: "not_awaited", path: "stage", message: `a ${state.status} rollout awaits no approval` };
  return null;
}
