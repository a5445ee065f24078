/**
 * FlagDO: one per flag. The only writer of its rollout state, counters and
 * decision log. Operator actions and cron judgements both go through the
 * pure state machine; every change is logged with its rule and numbers and
 * reported to the RegistryDO for publishing (retried by the alarm until it
 * lands); notifications go through an outbox, also delivered by the alarm.
 */
import { DurableObject } from "cloudflare:workers";
import { plainCopy } from "../core/dict";
import { CounterCellSchema, emptyCounts, minuteOf, pooledPair, recordEvent, type ArmCounts, type ArmPair, type CounterCell } from "../core/counters";
import type { Decision } from "../core/decision";
import { candidateIdentity } from "../core/generation";
import { freshMemory, GateMemorySchema, type GateMemory } from "../core/gates";
import type { FlagSpec } from "../core/manifest";
import { buildReport, type CompareReport } from "../core/report";
import { applyAction, initialState, reconfigure, RolloutStateSchema, servedWeight, type ActionRequest, type RolloutState } from "../core/rollout";
import { CounterStore, mergeStages, type CounterRead, type SpanQuery } from "./counter-store";
import { counterShardStub } from "./flag-stub";
import { DecisionLog, type NewDecision } from "./decision-log";
import { DisagreementLog, type Disagreement } from "./disagreements";
import { judgeFlag, replayInputs, spansToRead, summarize, transitionOf } from "./judge";
import { Outbox } from "./outbox";
import { registryStub } from "./registry-stub";
import { Sql } from "./sql";

export type ActResult =
  | { ok: true; state: RolloutState; decision: Decision; published: boolean }
  | { ok: false; code: "not_found" | "invalid_transition" | "invalid_request"; message: string };

export interface FlagView {
  key: string;
  configured: boolean;
  state: RolloutState;
}

/** One event after the edge validated and credited it. */
export interface CreditedEvent {
  id: string;
  name: string;
  value?: number;
  generation: number;
  stage: number;
  arm: "baseline" | "candidate";
  minute: number;
  /** The event's targeting key, sent only for shadow disagreements (kept for inspection). */
  targetingKey?: string;
  /** The event's time in ms. */
  at?: number;
}

export interface EvaluateResult {
  /** False when this minute was already judged (a repeated or overlapping trigger). */
  evaluated: boolean;
  state: RolloutState | null;
  action?: string;
  rule?: string;
  /** The current generation's counts per arm (all stages), when judged: what /metrics shows. */
  metrics?: { generation: number; weight: number; baseline: ArmCounts; candidate: ArmCounts };
}

export type ReplayResult =
  | { ok: true; decision: Decision; replayed: { action: string; rule: string; verdicts: string }; matches: boolean }
  | { ok: false; message: string };

const CounterCellArraySchema = CounterCellSchema.array();
const REPORT_RETRY_MIN_MS = 1_000;
const REPORT_RETRY_MAX_MS = 300_000;
/** Actions that notify webhooks. */
const NOTIFY = new Set(["promote", "complete", "demote", "rollback", "kill"]);

interface FlagRow extends Record<string, string | number | null> {
  key: string;
  spec: string | null;
  identity: string | null;
  state: string;
  report_attempts: number;
  memory: string | null;
}

export class FlagDO extends DurableObject<Env> {
  private readonly sql: Sql;
  private readonly log: DecisionLog;
  private readonly counters: CounterStore;
  private readonly outbox: Outbox;
  private readonly disagreements: DisagreementLog;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = new Sql(ctx.storage);
    this.sql.run(`CREATE TABLE IF NOT EXISTS flag (
      id INTEGER PRIMARY KEY CHECK (id = 1),
      key TEXT NOT NULL, spec TEXT, identity TEXT, state TEXT NOT NULL,
      report_attempts INTEGER NOT NULL DEFAULT 0)`);
    const columns = new Set(this.sql.all<{ name: string }>("PRAGMA table_info(flag)").map((c) => c.name));
    if (!columns.has("memory")) this.sql.run("ALTER TABLE flag ADD COLUMN memory TEXT");
    this.sql.run("CREATE TABLE IF NOT EXISTS stats (k TEXT PRIMARY KEY, v INTEGER NOT NULL)");
    this.log = new DecisionLog(this.sql);
    this.counters = new CounterStore(this.sql);
    this.outbox = new Outbox(this.sql);
    this.disagreements = new DisagreementLog(this.sql);
  }

  private row(): FlagRow | null {
    return this.sql.first<FlagRow>("SELECT key, spec, identity, state, report_attempts, memory FROM flag WHERE id = 1");
  }

  private loaded(): { row: FlagRow; spec: FlagSpec; state: RolloutState } | null {
    const row = this.row();
    if (row === null || row.spec === null) return null;
    return { row, spec: JSON.parse(row.spec) as FlagSpec, state: RolloutStateSchema.parse(JSON.parse(row.state)) };
  }

  /** Takes a new or edited spec from the RegistryDO; returns the state to publish. */
  async configure(spec: FlagSpec, now: number): Promise<{ state: RolloutState; candidateChanged: boolean }> {
    const row = this.row();
    const identity = candidateIdentity(spec);
    let state: RolloutState;
    let candidateChanged: boolean;
    if (row === null) {
      state = initialState(spec.rollout.stages, 1, 1, now);
      candidateChanged = true;
    } else {
      const previous = RolloutStateSchema.parse(JSON.parse(row.state));
      // A retired flag coming back, or a new candidate, is a new generation.
      candidateChanged = row.spec === null || row.identity !== identity;
      state = reconfigure(previous, spec.rollout.stages, candidateChanged, now);
    }
    this.sql.transaction(() => {
      this.sql.run(
        `INSERT INTO flag (id, key, spec, identity, state, report_attempts) VALUES (1, ?, ?, ?, ?, 0)
         ON CONFLICT (id) DO UPDATE SET key = excluded.key, spec = excluded.spec, identity = excluded.identity,
           state = excluded.state, report_attempts = 0`,
        spec.key, JSON.stringify(spec), identity, JSON.stringify(state),
      );
      if (candidateChanged) {
        const action = row === null ? "created" : "new_generation";
        const reason = row === null ? "first configuration" : "the candidate changed (value, pins, stickiness or salt)";
        this.log.append(state, state, now, { action, source: "config", actor: "registry", reason });
      }
    });
    return { state, candidateChanged };
  }

  /** The flag was deleted: forget the spec, keep the generation counter and the decision log. */
  async retire(): Promise<void> {
    this.sql.run("UPDATE flag SET spec = NULL, identity = NULL, report_attempts = 0 WHERE id = 1");
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
    const result = applyAction(flag.state, flag.spec.rollout.stages, request, now);
    if (!result.ok) return result;
    const action = request.action + (request.variant ? `:${request.variant}` : "");
    const decision = this.commit(flag, result.state, now, { action, source: "operator", actor, reason: request.reason ?? null });
    const published = await this.reportState(flag.row.key, result.state, decision);
    return { ok: true, state: result.state, decision, published };
  }

  /** Counters flushed from edge isolates (served exposures); also the whole job of a counter shard. */
  async addCounts(input: CounterCell[]): Promise<void> {
    const now = Date.now();
    const cells = CounterCellArraySchema.parse(input);
    this.sql.transaction(() => {
      this.counters.add(cells);
      this.sql.run("INSERT INTO stats (k, v) VALUES ('counter_batches', 1) ON CONFLICT (k) DO UPDATE SET v = v + 1");
      // A shard is never judged, so it compacts itself, at most hourly.
      const last = this.sql.first<{ v: number }>("SELECT v FROM stats WHERE k = 'compacted_at'")?.v ?? 0;
      if (now - last > 3_600_000) {
        this.counters.compact(now);
        this.sql.run("INSERT OR REPLACE INTO stats (k, v) VALUES ('compacted_at', ?)", now);
      }
    });
  }

  /** A counter shard's totals and spans, for its primary's evaluation. */
  async readCounters(generation: number, spans: SpanQuery[]): Promise<CounterRead> {
    return plainCopy(this.counters.read(generation, spans));
  }

  /** A counter shard's per-stage counts over a span, for its primary's report. */
  async readSpanByStage(generation: number, from: number, to: number): Promise<Record<string, ArmPair>> {
    return plainCopy(this.counters.spanByStage(generation, from, to));
  }

  /** Events credited at the edge; duplicates (by event id) change nothing. */
  async ingestEvents(events: CreditedEvent[], now: number): Promise<{ accepted: number; duplicates: number }> {
    return this.sql.transaction(() => {
      const fresh = this.counters.claimEventIds(events.map((e) => e.id), minuteOf(now));
      const cells: CounterCell[] = [];
      for (const e of events) {
        if (!fresh.has(e.id)) continue;
        const counts = emptyCounts();
        recordEvent(counts, e.name, e.value);
        cells.push({ generation: e.generation, stage: e.stage, arm: e.arm, minute: e.minute, counts });
        if (e.name === "comparison" && e.value === 0) {
          this.disagreements.add({ eventId: e.id, at: e.at ?? now, targetingKey: e.targetingKey ?? "", arm: e.arm, generation: e.generation });
        }
      }
      this.counters.add(cells);
      this.disagreements.trim();
      return { accepted: fresh.size, duplicates: events.length - fresh.size };
    });
  }

  /**
   * The cron's judgement at `now`. Idempotent per minute: a repeated or
   * overlapping trigger for a minute already judged changes nothing. The
   * caller (the RegistryDO) publishes a changed state.
   */
  async evaluate(now: number): Promise<EvaluateResult> {
    const flag = this.loaded();
    if (flag === null) return { evaluated: false, state: null };
    const { row, spec, state } = flag;
    const stored = row.memory ? GateMemorySchema.safeParse(JSON.parse(row.memory)) : null;
    const memory: GateMemory = stored?.success ? stored.data : freshMemory(state);
    const sameStage = memory.generation === state.generation && memory.stage === state.stageIndex;
    if (sameStage && memory.lastMinute >= minuteOf(now)) return { evaluated: false, state };

    const spans = spansToRead(spec, state, memory, now);
    const reads = [this.counters.read(state.generation, spans), ...(await this.readShards(spec, (shard) => shard.readCounters(state.generation, spans)))];
    // Reading shards awaited: another trigger for this minute may have judged meanwhile.
    const latest = this.row();
    if (latest?.state !== row.state || latest.memory !== row.memory) return { evaluated: false, state: RolloutStateSchema.parse(JSON.parse(latest?.state ?? row.state)) };
    const { decision, inputs } = judgeFlag(reads, spec, state, memory, now);
    const transition = transitionOf(decision.action);
    const moved = transition ? applyAction(state, spec.rollout.stages, { action: transition }, now) : null;
    const next = moved?.ok ? moved.state : state;
    const changed = next !== state;
    const loggable = changed || decision.rule !== this.log.lastCronRule();
    this.sql.transaction(() => {
      const memoryAfter = changed ? freshMemory(next) : decision.memory;
      memoryAfter.lastMinute = minuteOf(now);
      this.sql.run("UPDATE flag SET state = ?, memory = ? WHERE id = 1", JSON.stringify(next), JSON.stringify(memoryAfter));
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
      }
      this.counters.compact(now);
    });
    await this.scheduleAlarm();
    const pooled = pooledPair(inputs.totals);
    const weight = servedWeight(next, spec.rollout.stages).weightBp / 100;
    return { evaluated: true, state: next, action: decision.action, rule: decision.rule, metrics: plainCopy({ generation: state.generation, weight, ...pooled }) };
  }

  /** The A/B compare report over [from, to) for a generation (default: the current one). */
  async compareReport(from: number, to: number, generation?: number): Promise<CompareReport | null> {
    const flag = this.loaded();
    if (flag === null) return null;
    const gen = generation ?? flag.state.generation;
    const stages = [this.counters.spanByStage(gen, from, to), ...(await this.readShards(flag.spec, (shard) => shard.readSpanByStage(gen, from, to)))].reduce(mergeStages);
    return buildReport(flag.spec, gen, stages, from, to, servedWeight(flag.state, flag.spec.rollout.stages).shadow);
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
    if (decision === null) return { ok: false, message: `no decision ${id}` };
    if (decision.inputs === null) return { ok: false, message: `decision ${id} was an operator or configuration action: there is nothing to recompute` };
    const replayed = replayInputs(decision.inputs);
    const verdicts = JSON.stringify(summarize(replayed));
    return { ok: true, decision, replayed: { action: replayed.action, rule: replayed.rule, verdicts }, matches: verdicts === decision.verdicts };
  }

  /** Storage footprint, for the retention test and operators. */
  async storageStats(): Promise<{ counterRows: number; eventIds: number; outbox: number; counterBatches: number }> {
    const batches = this.sql.first<{ v: number }>("SELECT v FROM stats WHERE k = 'counter_batches'")?.v ?? 0;
    return { counterRows: this.counters.rowCount(), eventIds: this.counters.eventIdCount(), outbox: this.outbox.pending(), counterBatches: batches };
  }

  /** Retries a state report the RegistryDO did not take, and delivers due webhooks. */
  override async alarm(): Promise<void> {
    const row = this.row();
    if (row !== null && row.spec !== null && row.report_attempts > 0) {
      await this.reportState(row.key, RolloutStateSchema.parse(JSON.parse(row.state)), null);
    }
    await this.outbox.deliverDue(Date.now(), this.env.WEBHOOK_SECRET);
    await this.scheduleAlarm();
  }

  /** Reads every counter shard of the flag (shard 0 is this object itself). */
  private async readShards<T>(spec: FlagSpec, read: (shard: DurableObjectStub<FlagDO>) => Promise<T>): Promise<T[]> {
    const shards = Array.from({ length: spec.counterShards - 1 }, (_, i) => counterShardStub(this.env, spec.key, i + 1));
    return Promise.all(shards.map(read));
  }

  /** Stores a new state and its decision in one transaction; queues notifications. */
  private commit(flag: { row: FlagRow; spec: FlagSpec; state: RolloutState }, next: RolloutState, now: number, what: NewDecision): Decision {
    return this.sql.transaction(() => {
      this.sql.run("UPDATE flag SET state = ? WHERE id = 1", JSON.stringify(next));
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
    this.outbox.enqueue(urls, {
      type: kind,
      flag: spec.key,
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

  private async scheduleAlarm(): Promise<void> {
    const due = this.outbox.nextDue();
    const current = await this.ctx.storage.getAlarm();
    if (due !== null && (current === null || due < current)) await this.ctx.storage.setAlarm(due);
  }

  /** Reports a state to the RegistryDO; on failure schedules a retry with backoff. */
  private async reportState(key: string, state: RolloutState, decision: Decision | null): Promise<boolean> {
    try {
      await registryStub(this.env).reportState(key, state, decision);
      this.sql.run("UPDATE flag SET report_attempts = 0 WHERE id = 1");
      await this.scheduleAlarm();
      return true;
    } catch (error) {
      const attempts = (this.row()?.report_attempts ?? 0) + 1;
      this.sql.run("UPDATE flag SET report_attempts = ? WHERE id = 1", attempts);
      const delay = Math.min(REPORT_RETRY_MAX_MS, REPORT_RETRY_MIN_MS * 2 ** (attempts - 1));
      console.error(`flag ${key}: state report failed (attempt ${attempts}), retrying in ${delay} ms`, error);
      await this.ctx.storage.setAlarm(Date.now() + delay);
      return false;
    }
  }
}
