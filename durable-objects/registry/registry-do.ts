/**
 * RegistryDO: the single writer of flag specs, the flag index and the audit
 * log. It composes the snapshot from each flag's spec and the latest rollout
 * state its FlagDO reported, writes it to KV under an immutable versioned
 * key, and keeps the small head (version + ETag) that edges poll.
 */
import { DurableObject } from "cloudflare:workers";
import { canonicalJson, fingerprint, toHex } from "../../core/canonical";
import { plainCopy } from "../../core/dict";
import type { Decision } from "../../core/decision";
import { FlagSpecSchema, type FlagSpec } from "../../core/manifest";
import { RolloutStateSchema, servedWeight, type RolloutState } from "../../core/rollout";
import { entryStorageKey, snapshotFlagOf, snapshotStorageKey, type SnapshotChange, type SnapshotHead } from "../../core/snapshot";
import { flagStub } from "../flag/stub";
import { FlagMetricsStore, type MetricsSnapshot } from "./flag-metrics";
import { planChanges, type PlanEntry } from "./plan";
import { AuditLog } from "./audit-log";
import type { AuditEntry, FlagRecord, FlagSummary, SpecEntry, WaveSummary } from "./types";
import { addBatch, judgeBatch, LastTickSchema, PendingTickSchema, TICK_BATCH, type LastTick, type TickProgress, type TickTarget } from "./tick";
import { leadingWave, nextWaveSteps, notStartedWave, waveObjectName } from "../../core/waves";
import { COUNTER_CALLS_BUDGET } from "../../core/load-model";
import { migrate } from "../migrations";
import { REGISTRY_MIGRATIONS } from "./schema";
import { Serializer, Sql } from "../sql";

/** A wave's state that changed, and its status before: what moves the other waves. */
interface WaveChange {
  key: string;
  wave: number;
  before: RolloutState["status"];
}

/** How long superseded snapshots stay readable in KV (edges only read the newest). */
const SNAPSHOT_KV_TTL_S = 86_400;

interface FlagRow extends Record<string, string | number | null> {
  key: string;
  counter_shards: number;
  raw: string;
  spec: string;
  spec_hash: string;
  spec_version: number;
  state: string;
  state_version: number;
  created_at: number;
  updated_at: number;
}

export class RegistryDO extends DurableObject<Env> {
  private readonly sql: Sql;
  private readonly writes = new Serializer();
  private readonly metrics: FlagMetricsStore;
  private readonly audits: AuditLog;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = new Sql(ctx.storage);
    this.metrics = new FlagMetricsStore(this.sql);
    this.audits = new AuditLog(this.sql);
    void ctx.blockConcurrencyWhile(async () => {
      migrate(this.sql, REGISTRY_MIGRATIONS, Date.now());
      if (this.sql.first("SELECT id FROM snapshot WHERE id = 1") === null) {
        // An empty registry still publishes: edges then answer FLAG_NOT_FOUND, not "no snapshot".
        this.sql.run("INSERT INTO snapshot (id, version, etag, body) VALUES (1, 1, ?, '')", snapshotEtag(1, []));
      }
    });
  }

  /** The head edges poll, with what the recent versions changed (a delta an isolate can apply). */
  async getHead(): Promise<SnapshotHead> {
    const row = this.sql.first<{ version: number; etag: string }>("SELECT version, etag FROM snapshot WHERE id = 1");
    const version = row?.version ?? 0;
    return { version, etag: row?.etag ?? '"0"', ...this.changeLog(version) };
  }

  /**
   * The newest versions' changes, newest first, while they fit HEAD_CHANGE_KEYS
   * keys (the head is read by every isolate every refresh, so it stays small);
   * `since` is the newest version they do not cover.
   */
  private changeLog(version: number): { since: number; changes: SnapshotChange[] } {
    const rows = this.sql.all<{ version: number; key: string; deleted: number }>(
      "SELECT version, key, deleted FROM snapshot_changes WHERE version > ? ORDER BY version DESC, key", version - HEAD_CHANGE_VERSIONS,
    );
    const byVersion = new Map<number, SnapshotChange>();
    for (const r of rows) {
      const change = byVersion.get(r.version) ?? { version: r.version, set: [], deleted: [] };
      (r.deleted ? change.deleted : change.set).push(r.key);
      byVersion.set(r.version, change);
    }
    const changes: SnapshotChange[] = [];
    let keys = 0;
    let since = version;
    const firstKnown = this.firstDeltaVersion();
    // Versions with no row changed nothing edges see (a republish): they are covered too.
    for (let v = version; v > Math.max(0, version - HEAD_CHANGE_VERSIONS); v--) {
      const change = byVersion.get(v);
      const size = change ? change.set.length + change.deleted.length : 0;
      if (keys + size > HEAD_CHANGE_KEYS || v < firstKnown) break;
      if (change) changes.push(change);
      keys += size;
      since = v - 1;
    }
    return { since, changes };
  }

  /** The first version the change log holds (versions published before delta snapshots existed, or by a full recomposition, are not deltas). */
  private firstDeltaVersion(): number {
    const first = this.sql.first<{ v: string }>("SELECT v FROM meta WHERE k = 'first_delta_version'");
    return first === null ? Number.POSITIVE_INFINITY : Number(first.v);
  }

  /** The latest snapshot as JSON text (edges parse and validate it once), built from the published entries. */
  async getSnapshotJson(): Promise<string> {
    const row = this.sql.first<{ version: number; etag: string; body: string }>("SELECT version, etag, body FROM snapshot WHERE id = 1");
    if (row === null) throw new Error("registry has no snapshot");
    const at = this.sql.first<{ v: string }>("SELECT v FROM meta WHERE k = 'published_at'");
    return fullSnapshotText(row.version, row.etag, Number(at?.v ?? 0), this.entryBodies());
  }

  /** One flag's entry as published in `version`, or null when it has changed since (the edge then loads the whole snapshot). */
  async getEntryJson(key: string, version: number): Promise<string | null> {
    return this.sql.first<{ body: string }>("SELECT body FROM flag_entries WHERE key = ? AND version = ?", key, version)?.body ?? null;
  }

  /** The published version and one flag's current entry (null: no such flag): what a cold isolate needs to answer for one flag. */
  async getFlagEntry(key: string): Promise<{ version: number; body: string | null }> {
    const version = this.sql.first<{ version: number }>("SELECT version FROM snapshot WHERE id = 1")?.version ?? 0;
    return { version, body: this.sql.first<{ body: string }>("SELECT body FROM flag_entries WHERE key = ?", key)?.body ?? null };
  }

  private entryBodies(): string[] {
    return this.sql.all<{ body: string }>("SELECT body FROM flag_entries ORDER BY key").map((r) => r.body);
  }

  async listFlags(): Promise<FlagSummary[]> {
    return this.rows().map((row) => {
      const spec = this.specOf(row);
      const states = this.waveStatesOf(row);
      // With region waves the flag's line is its leading wave's (the first not completed); each wave is under `waves`.
      const lead = leadingWave(states);
      const state = states[lead] ?? RolloutStateSchema.parse(JSON.parse(row.state));
      const latest = this.metrics.get(waveObjectName(row.key, lead + 1));
      // Current only while nothing has moved the rollout since that tick (an operator action has not been judged yet).
      const current = latest?.judgement && latest.generation === state.generation && latest.status === state.status && latest.at >= state.updatedAt;
      return {
        key: row.key,
        description: spec.description ?? null,
        kind: spec.kind,
        type: spec.type,
        status: state.status,
        stage: state.stageIndex,
        weight: servedWeight(state, spec.rollout.stages).weightBp / 100,
        generation: state.generation,
        forced: state.forced,
        specVersion: row.spec_version,
        updatedAt: row.updated_at,
        judgement: current && latest.judgement ? { at: latest.at, ...latest.judgement } : null,
        ...(spec.waves ? { waves: this.waveSummaries(spec, states, row.spec_hash) } : {}),
      };
    });
  }

  /** Each wave's regions, state and the spec hash it serves (the seed's "roll by region with audit hashes"). */
  private waveSummaries(spec: FlagSpec, states: readonly RolloutState[], specHash: string): WaveSummary[] {
    return states.map((state, i) => ({
      wave: i + 1,
      regions: spec.waves?.order[i] ?? [],
      status: state.status,
      stage: state.stageIndex,
      weight: servedWeight(state, spec.rollout.stages).weightBp / 100,
      generation: state.generation,
      forced: state.forced,
      specHash,
      updatedAt: state.updatedAt,
    }));
  }

  /** Every wave's state in order (wave 1's is the flag's own; a single entry for a flag without waves). */
  private waveStatesOf(row: Pick<FlagRow, "key" | "raw" | "state">): RolloutState[] {
    const first = RolloutStateSchema.parse(JSON.parse(row.state));
    const spec = this.specOf(row);
    if (!spec.waves) return [first];
    const stored = new Map(this.sql.all<{ wave: number; state: string }>("SELECT wave, state FROM flag_waves WHERE key = ?", row.key).map((r) => [r.wave, RolloutStateSchema.parse(JSON.parse(r.state))]));
    return spec.waves.order.map((_, i) => (i === 0 ? first : (stored.get(i + 1) ?? notStartedWave(first))));
  }

  async getFlag(key: string): Promise<FlagRecord | null> {
    const row = this.sql.first<FlagRow>("SELECT * FROM flags WHERE key = ?", key);
    if (row === null) return null;
    const spec = this.specOf(row);
    const states = this.waveStatesOf(row);
    return {
      key: row.key,
      spec: JSON.parse(row.raw) as unknown,
      specHash: row.spec_hash,
      specVersion: row.spec_version,
      state: RolloutStateSchema.parse(JSON.parse(row.state)),
      ...(spec.waves ? { waves: this.waveSummaries(spec, states, row.spec_hash) } : {}),
      createdAt: row.created_at,
      updatedAt: row.updated_at,
    };
  }

  /** A flag's region waves (empty without waves), or null for an unknown flag: what admin requests naming a wave or region check. */
  async flagWaves(key: string): Promise<WaveSummary[] | null> {
    const row = this.sql.first<FlagRow>("SELECT * FROM flags WHERE key = ?", key);
    if (row === null) return null;
    const spec = this.specOf(row);
    return spec.waves ? this.waveSummaries(spec, this.waveStatesOf(row), row.spec_hash) : [];
  }

  /** Creates or replaces one flag and publishes. */
  async putFlag(entry: SpecEntry, actor: string, now: number): Promise<{ created: boolean; changed: boolean; state: RolloutState; specVersion: number }> {
    return this.writes.run(async () => {
      const [plan] = planChanges(this.storedSpecs(), [entry.spec], false);
      const created = plan?.change === "create";
      const changed = plan?.change !== "unchanged";
      if (changed) {
        await this.storeSpec(entry, actor, now, "put");
        await this.publish(now);
      }
      const record = this.sql.first<FlagRow>("SELECT * FROM flags WHERE key = ?", entry.spec.key);
      if (record === null) throw new Error(`flag ${entry.spec.key} vanished while being written`);
      return { created, changed, state: RolloutStateSchema.parse(JSON.parse(record.state)), specVersion: record.spec_version };
    });
  }

  /** Deletes a flag; its FlagDO keeps its decision log and generation counter. */
  async deleteFlag(key: string, actor: string, now: number): Promise<boolean> {
    return this.writes.run(async () => {
      const row = this.sql.first<FlagRow>("SELECT * FROM flags WHERE key = ?", key);
      if (row === null) return false;
      await this.removeFlag(row, actor, now);
      await this.publish(now);
      return true;
    });
  }

  /** What applying a manifest would change, without changing it. */
  async planManifest(specs: FlagSpec[], prune: boolean): Promise<PlanEntry[]> {
    return planChanges(this.storedSpecs(), specs, prune);
  }

  /** Applies a manifest: every changed flag is configured, then one snapshot is published. */
  async applyManifest(entries: SpecEntry[], prune: boolean, actor: string, now: number): Promise<PlanEntry[]> {
    return this.writes.run(async () => {
      const rows = this.rows();
      const plan = planChanges(this.storedSpecs(rows), entries.map((e) => e.spec), prune);
      const byKey = new Map(entries.map((e) => [e.spec.key, e]));
      for (const item of plan) {
        const entry = byKey.get(item.key);
        if ((item.change === "create" || item.change === "update") && entry) await this.storeSpec(entry, actor, now, "manifest");
        const row = rows.find((r) => r.key === item.key);
        if (item.change === "delete" && row) await this.removeFlag(row, actor, now);
      }
      if (plan.some((p) => p.change !== "unchanged")) await this.publish(now);
      return plan;
    });
  }

  /** A FlagDO reports its state (`wave` > 1: a region wave's object). Stale or replayed reports (version not newer) change nothing. */
  async reportState(key: string, state: RolloutState, decision: Decision | null, wave = 1): Promise<{ applied: boolean }> {
    return this.writes.run(async () => {
      const applied = this.applyState(key, state, decision, undefined, wave);
      if (applied) await this.followWaves([applied], state.updatedAt);
      if (applied) await this.publish(state.updatedAt);
      return { applied: applied !== null };
    });
  }

  /**
   * Moves region waves in step after wave states changed: starts the wave
   * after one that completed, rolls back the ones a regression stops
   * (`core/waves.ts`). Each step's state comes back from the wave's object
   * and is applied like a report — which may make further steps (a wave
   * whose only stage is 100% completes as it starts).
   */
  private async followWaves(changes: readonly WaveChange[], now: number): Promise<void> {
    const queue = [...changes];
    for (let guard = 0; queue.length > 0 && guard < 64; guard++) {
      const change = queue.shift();
      if (!change) break;
      const row = this.sql.first<FlagRow>("SELECT * FROM flags WHERE key = ?", change.key);
      if (row === null) continue;
      const spec = this.specOf(row);
      if (!spec.waves) continue;
      const steps = nextWaveSteps(this.waveStatesOf(row), change.wave - 1, change.before, spec.waves.onRegression);
      for (const step of steps) {
        try {
          const moved = await flagStub(this.env, waveObjectName(change.key, step.wave)).followWave(step, now);
          if (!moved) continue;
          const applied = this.applyState(change.key, moved.state, moved.decision, undefined, step.wave);
          if (applied) queue.push(applied);
        } catch (error) {
          // The next report or tick of the changed wave tries again (its state is level: completed, rolled back).
          console.error(`waves: ${step.action} of ${change.key} wave ${step.wave} failed`, error);
          this.markDirty(change.key);
        }
      }
    }
  }

  /** Every flag's counts as of the last cron tick, and decision counts: one RPC per /metrics scrape. */
  async metricsSnapshot(): Promise<MetricsSnapshot> {
    // Counts are read back as prototype-free dictionaries, which RPC cannot carry: send a plain copy.
    return plainCopy(this.metrics.snapshot());
  }

  /** The audit log, newest first; only one flag's entries when `flag` is given. */
  async auditLog(limit: number, flag?: string): Promise<AuditEntry[]> {
    return this.audits.newest(limit, flag);
  }

  /**
   * Cron: judges every flag at `now`. Flags are taken in batches of
   * TICK_BATCH per invocation (the rest continue from the registry's alarm),
   * which keeps each invocation under the per-invocation subrequest limit.
   * Each FlagDO returns its state; newer ones are applied (this also takes
   * any state report the registry missed) and published once per batch.
   */
  async tick(now: number): Promise<TickProgress> {
    const pending = this.pendingTick();
    if (!pending || pending.now < now) this.sql.run("INSERT OR REPLACE INTO meta (k, v) VALUES ('tick', ?)", JSON.stringify({ now, cursor: 0 }));
    return this.runTickBatch();
  }

  override async alarm(): Promise<void> {
    await this.runTickBatch();
  }

  /** The cron's progress: a tick still running (batches left) and the last one finished. */
  async cronStatus(): Promise<{ pending: { now: number; cursor: number; flags: number } | null; last: LastTick | null }> {
    const pending = this.pendingTick();
    const flags = this.sql.first<{ n: number }>("SELECT COUNT(*) AS n FROM flags")?.n ?? 0;
    const last = this.sql.first<{ v: string }>("SELECT v FROM meta WHERE k = 'last_tick'");
    return { pending: pending ? { ...pending, flags } : null, last: last ? LastTickSchema.parse(JSON.parse(last.v)) : null };
  }

  private pendingTick(): { now: number; cursor: number } | null {
    const row = this.sql.first<{ v: string }>("SELECT v FROM meta WHERE k = 'tick'");
    return row ? PendingTickSchema.parse(JSON.parse(row.v)) : null;
  }

  private async runTickBatch(): Promise<TickProgress> {
    const tick = this.pendingTick();
    if (!tick) return { evaluated: 0, changed: 0, failed: 0, remaining: 0 };
    const keys = this.sql.all<{ key: string }>("SELECT key FROM flags ORDER BY key").map((r) => r.key);
    // A batch is TICK_BATCH objects: a flag with region waves is one object per wave.
    const batch: string[] = [];
    const targets: TickTarget[] = [];
    for (const key of keys.slice(tick.cursor)) {
      const row = this.sql.first<FlagRow>("SELECT key, raw FROM flags WHERE key = ?", key);
      const waves = row ? (this.specOf(row).waves?.order.length ?? 1) : 1;
      if (batch.length > 0 && targets.length + waves > TICK_BATCH) break;
      batch.push(key);
      for (let wave = 1; wave <= waves; wave++) targets.push({ key, wave });
    }
    const { states, evaluated, failed, needSpec } = await judgeBatch(this.env, targets, tick.now);
    for (const key of needSpec) {
      // A FlagDO upgraded from before specs were stored as written: give it the written spec (its state is kept).
      const row = this.sql.first<FlagRow>("SELECT raw, key FROM flags WHERE key = ?", key);
      if (row) await flagStub(this.env, key).configure({ ...parseObject(row.raw), key }, tick.now).catch((error: unknown) => console.error(`cron: re-sending ${key}'s spec failed`, error));
    }
    const changed = await this.writes.run(async () => {
      let applied = 0;
      const changes: WaveChange[] = [];
      for (const { key, wave, state, action, softAborts, counterShards, metrics } of states) {
        // A flag whose objects chose more counter shards (its flush rate rose) is republished so edges spread over them.
        if (counterShards && this.sql.all("UPDATE flags SET counter_shards = ? WHERE key = ? AND counter_shards < ? RETURNING key", counterShards, key, counterShards).length > 0) {
          this.markDirty(key);
          this.audits.append({ at: tick.now, actor: "cron", action: "counter_shards", flag: key, summary: `${counterShards} counter shards: the flag's flush rate grew past ${COUNTER_CALLS_BUDGET * 0.7} calls/s per object` });
        }
        const change = this.applyState(key, state, null, action, wave);
        if (change) {
          applied++;
          changes.push(change);
        }
        // Soft abort rules change nothing served; they are counted on /metrics (rampart_decisions_total{action="soft_abort"}).
        for (let i = 0; i < (softAborts ?? 0); i++) this.metrics.countDecision("soft_abort", "cron");
        if (metrics) this.metrics.put({ key: waveObjectName(key, wave), ...(wave > 1 || this.hasWaves(key) ? { flag: key, wave } : {}), status: state.status, at: tick.now, ...metrics });
      }
      await this.followWaves(changes, tick.now);
      const dirty = this.sql.first("SELECT v FROM meta WHERE k = 'dirty'") !== null;
      if (applied > 0 || dirty) await this.publish(tick.now);
      return applied;
    });
    const cursor = tick.cursor + batch.length;
    this.accumulateTick(tick.now, tick.cursor === 0, { evaluated, changed, failed });
    const remaining = Math.max(0, keys.length - cursor);
    if (remaining > 0) {
      this.sql.run("INSERT OR REPLACE INTO meta (k, v) VALUES ('tick', ?)", JSON.stringify({ now: tick.now, cursor }));
      await this.ctx.storage.setAlarm(Date.now());
    } else {
      this.sql.run("DELETE FROM meta WHERE k = 'tick'");
    }
    return { evaluated, changed, failed, remaining };
  }

  private accumulateTick(now: number, first: boolean, batch: { evaluated: number; changed: number; failed: number }): void {
    const row = this.sql.first<{ v: string }>("SELECT v FROM meta WHERE k = 'last_tick'");
    const previous = row && !first ? LastTickSchema.parse(JSON.parse(row.v)) : null;
    this.sql.run("INSERT OR REPLACE INTO meta (k, v) VALUES ('last_tick', ?)", JSON.stringify(addBatch(previous, now, batch, Date.now())));
  }

  /** Parsed specs by flag key, cached per stored text (the stored spec is read through the schema once). */
  private readonly parsedSpecs = new Map<string, { text: string; spec: FlagSpec }>();

  /** A stored flag's spec, re-parsed from what the operator wrote (new fields get their defaults). */
  private specOf(row: Pick<FlagRow, "key" | "raw">): FlagSpec {
    const cached = this.parsedSpecs.get(row.key);
    if (cached?.text === row.raw) return cached.spec;
    const spec = FlagSpecSchema.parse(specInputOf({ raw: JSON.parse(row.raw) as unknown, spec: { key: row.key } }));
    this.parsedSpecs.set(row.key, { text: row.raw, spec });
    return spec;
  }

  private storedSpecs(rows: readonly FlagRow[] = this.rows()): Map<string, FlagSpec> {
    return new Map(rows.map((r) => [r.key, this.specOf(r)]));
  }

  private rows(): FlagRow[] {
    return this.sql.all<FlagRow>("SELECT * FROM flags ORDER BY key");
  }

  /** `cronAction` names what the cron decided when the state comes from a tick. */
  /**
   * Takes a state report. The state is applied only when newer than the one
   * held (stale or replayed reports change nothing); the decision behind it
   * is audited either way, once per decision id, so an operator action that
   * raced a spec change is never lost from the audit log.
   */
  private applyState(key: string, state: RolloutState, decision: Decision | null, cronAction?: string, wave = 1): WaveChange | null {
    const flagRow = this.sql.first<{ state: string; state_version: number }>("SELECT state, state_version FROM flags WHERE key = ?", key);
    if (flagRow === null) return null;
    const row = wave === 1 ? flagRow : (this.sql.first<{ state: string; state_version: number }>("SELECT state, state_version FROM flag_waves WHERE key = ? AND wave = ?", key, wave) ?? { state: JSON.stringify(notStartedWave(state)), state_version: 0 });
    const newer = state.version > row.state_version;
    const before = RolloutStateSchema.parse(JSON.parse(row.state));
    const inWave = wave > 1 || this.hasWaves(key) ? `wave ${wave}: ` : "";
    this.sql.transaction(() => {
      if (newer) {
        if (wave === 1) this.sql.run("UPDATE flags SET state = ?, state_version = ? WHERE key = ?", JSON.stringify(state), state.version, key);
        else this.sql.run("INSERT OR REPLACE INTO flag_waves (key, wave, state, state_version) VALUES (?, ?, ?, ?)", key, wave, JSON.stringify(state), state.version);
        this.markDirty(key);
      }
      if (decision !== null) {
        const change = `${inWave}${decision.from.status} stage ${decision.from.stage} → ${decision.to.status} stage ${decision.to.stage}`;
        const summary = decision.reason ? `${change} (${decision.reason})` : change;
        // Decision ids are per object: a wave's are kept apart from wave 1's (audit entries are unique per flag and decision id).
        const decisionId = wave === 1 ? decision.id : -(wave * 1e9 + decision.id);
        if (this.audits.append({ at: decision.at, actor: decision.actor, action: decision.action, flag: key, summary, decisionId })) this.metrics.countDecision(decision.action, decision.source);
      } else if (newer) {
        const summary = `${inWave}${before.status} stage ${before.stageIndex} → ${state.status} stage ${state.stageIndex}`;
        this.audits.append({ at: state.updatedAt, actor: "cron", action: cronAction ?? "cron", flag: key, summary });
        this.metrics.countDecision(cronAction ?? "cron", "cron");
      }
    });
    return newer ? { key, wave, before: before.status } : null;
  }

  private hasWaves(key: string): boolean {
    const row = this.sql.first<FlagRow>("SELECT key, raw FROM flags WHERE key = ?", key);
    return row !== null && this.specOf(row).waves !== undefined;
  }

  private async storeSpec(entry: SpecEntry, actor: string, now: number, via: string): Promise<void> {
    const { spec } = entry;
    const input = specInputOf(entry);
    const { state, candidateChanged } = await flagStub(this.env, spec.key).configure(input, now);
    // Region waves after the first run in their own objects; a wave the spec no longer has is retired.
    const waveCount = spec.waves?.order.length ?? 1;
    const waveStates: RolloutState[] = [];
    for (let wave = 2; wave <= waveCount; wave++) waveStates.push((await flagStub(this.env, waveObjectName(spec.key, wave)).configure(input, now, wave)).state);
    const dropped = this.sql.all<{ wave: number }>("SELECT wave FROM flag_waves WHERE key = ? AND wave > ?", spec.key, waveCount);
    for (const { wave } of dropped) await flagStub(this.env, waveObjectName(spec.key, wave)).retire();
    const specHash = await sha256Hex(canonicalJson(spec));
    this.sql.transaction(() => {
      const existing = this.sql.first<FlagRow>("SELECT * FROM flags WHERE key = ?", spec.key);
      this.sql.run(
        `INSERT INTO flags (key, raw, spec, spec_hash, spec_version, state, state_version, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (key) DO UPDATE SET raw = excluded.raw, spec = excluded.spec, spec_hash = excluded.spec_hash,
           spec_version = excluded.spec_version, state = excluded.state, state_version = excluded.state_version,
           updated_at = excluded.updated_at`,
        spec.key, JSON.stringify(entry.raw), JSON.stringify(spec), specHash, (existing?.spec_version ?? 0) + 1,
        JSON.stringify(state), state.version, existing?.created_at ?? now, now,
      );
      this.sql.run("DELETE FROM flag_waves WHERE key = ?", spec.key);
      waveStates.forEach((waveState, i) => this.sql.run("INSERT INTO flag_waves (key, wave, state, state_version) VALUES (?, ?, ?, ?)", spec.key, i + 2, JSON.stringify(waveState), waveState.version));
      const generation = candidateChanged ? `generation ${state.generation} starts` : `generation ${state.generation} continues`;
      this.audits.append({ at: now, actor, action: existing ? `${via}:update` : `${via}:create`, flag: spec.key, specHash, summary: generation, signingKey: entry.signedBy ?? null });
      this.markDirty(spec.key);
    });
  }

  private async removeFlag(row: FlagRow, actor: string, now: number): Promise<void> {
    await flagStub(this.env, row.key).retire();
    const waves = this.sql.all<{ wave: number }>("SELECT wave FROM flag_waves WHERE key = ?", row.key);
    for (const { wave } of waves) await flagStub(this.env, waveObjectName(row.key, wave)).retire();
    this.sql.transaction(() => {
      this.sql.run("DELETE FROM flags WHERE key = ?", row.key);
      this.sql.run("DELETE FROM flag_waves WHERE key = ?", row.key);
      for (const { wave } of waves) this.metrics.remove(waveObjectName(row.key, wave));
      this.metrics.remove(row.key);
      this.audits.append({ at: now, actor, action: "delete", flag: row.key, specHash: row.spec_hash, summary: "deleted; its decision log is kept" });
      this.markDirty(row.key);
    });
  }

  /** The flag's entry must be published again (its spec or a wave's state changed, or it was deleted). */
  private markDirty(key: string): void {
    this.sql.run("INSERT INTO meta (k, v) VALUES ('dirty', '1') ON CONFLICT (k) DO NOTHING");
    this.sql.run("INSERT INTO dirty_flags (key) VALUES (?) ON CONFLICT (key) DO NOTHING", key);
  }

  /**
   * Publishes the next version. Only flags marked dirty are composed again;
   * an entry whose content did not change is not republished. Each changed
   * entry goes to KV under its own immutable key (`entry/<key>/<version>`),
   * the whole snapshot under its versioned key (for isolates that are cold
   * or too far behind), and the change is logged for the head, which moves
   * last. Edges fall back to the registry for anything KV lacks.
   */
  private async publish(now: number): Promise<void> {
    const { version: previous } = await this.getHead();
    const version = previous + 1;
    // Keys and versions of every entry (small); contents only for the dirty flags compared below.
    const published = new Map(this.sql.all<{ key: string; version: number }>("SELECT key, version FROM flag_entries").map((r) => [r.key, r]));
    const flagCount = this.sql.first<{ n: number }>("SELECT COUNT(*) AS n FROM flags")?.n ?? 0;
    // After the upgrade that introduced entries (none yet) every flag is composed once.
    const all = published.size === 0 && flagCount > 0;
    const dirty = all ? this.rows().map((r) => r.key) : this.sql.all<{ key: string }>("SELECT key FROM dirty_flags").map((r) => r.key);
    const set: { key: string; content: string; body: string }[] = [];
    const deleted: string[] = [];
    for (const key of dirty) {
      const row = this.sql.first<FlagRow>("SELECT * FROM flags WHERE key = ?", key);
      if (row === null) {
        if (published.has(key)) deleted.push(key);
        continue;
      }
      const [first, ...later] = this.waveStatesOf(row);
      const entry = snapshotFlagOf(this.specOf(row), first ?? RolloutStateSchema.parse(JSON.parse(row.state)), row.spec_version, later, row.counter_shards);
      const content = JSON.stringify(entry);
      if (this.sql.first<{ content: string }>("SELECT content FROM flag_entries WHERE key = ?", key)?.content === content) continue;
      set.push({ key, content, body: JSON.stringify({ ...entry, configVersion: version }) });
    }
    for (const { key } of set) published.set(key, { key, version });
    for (const key of deleted) published.delete(key);
    const etag = snapshotEtag(version, [...published.values()].map((e) => [e.key, e.version] as const));
    const bodies = new Map(this.sql.all<{ key: string; body: string }>("SELECT key, body FROM flag_entries").map((r) => [r.key, r.body]));
    for (const { key, body } of set) bodies.set(key, body);
    for (const key of deleted) bodies.delete(key);
    const full = fullSnapshotText(version, etag, now, [...bodies.keys()].sort().map((k) => bodies.get(k) ?? ""));
    try {
      await Promise.all([
        ...set.map(({ key, body }) => this.env.SNAPSHOTS.put(entryStorageKey(key, version), body, { expirationTtl: SNAPSHOT_KV_TTL_S })),
        this.env.SNAPSHOTS.put(snapshotStorageKey({ version, etag }), full, { expirationTtl: SNAPSHOT_KV_TTL_S }),
      ]);
    } catch (error) {
      // Edges fall back to the registry when KV lacks an entry or a version; publishing goes on.
      console.error(`snapshot ${version}: KV write failed`, error);
    }
    this.sql.transaction(() => {
      for (const { key, content, body } of set) {
        this.sql.run("INSERT INTO flag_entries (key, version, content, body) VALUES (?, ?, ?, ?) ON CONFLICT (key) DO UPDATE SET version = excluded.version, content = excluded.content, body = excluded.body", key, version, content, body);
        this.sql.run("INSERT INTO snapshot_changes (version, key, deleted) VALUES (?, ?, 0)", version, key);
      }
      for (const key of deleted) {
        this.sql.run("DELETE FROM flag_entries WHERE key = ?", key);
        this.sql.run("INSERT INTO snapshot_changes (version, key, deleted) VALUES (?, ?, 1)", version, key);
      }
      this.sql.run("DELETE FROM snapshot_changes WHERE version <= ?", version - HEAD_CHANGE_VERSIONS);
      // A full recomposition (the first after the upgrade) is not a delta from the version before it.
      if (all || this.sql.first("SELECT v FROM meta WHERE k = 'first_delta_version'") === null) this.sql.run("INSERT OR REPLACE INTO meta (k, v) VALUES ('first_delta_version', ?)", String(version + 1));
      this.sql.run("UPDATE snapshot SET version = ?, etag = ?, body = '' WHERE id = 1", version, etag);
      this.sql.run("INSERT OR REPLACE INTO meta (k, v) VALUES ('published_at', ?)", String(now));
      this.sql.run("DELETE FROM meta WHERE k = 'dirty'");
      this.sql.run("DELETE FROM dirty_flags");
    });
  }
}

/** Versions the head's change log reaches back, at most, and keys it lists, at most (a manifest touching more is loaded whole). */
const HEAD_CHANGE_VERSIONS = 64;
const HEAD_CHANGE_KEYS = 128;

/** A snapshot's ETag: its version and a fingerprint of which entry (key, version changed in) each flag is at. */
function snapshotEtag(version: number, entries: readonly (readonly [string, number])[]): string {
  return `"${version}-${fingerprint(entries.map(([k, v]) => `${k}@${v}`).sort().join(","))}"`;
}

/** The whole snapshot's JSON from its entries' JSON, without parsing or serialising them again. */
function fullSnapshotText(version: number, etag: string, publishedAt: number, bodies: readonly string[]): string {
  return `{"version":${version},"etag":${JSON.stringify(etag)},"publishedAt":${publishedAt},"flags":[${bodies.join(",")}]}`;
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return toHex(digest);
}

/** The spec as the operator wrote it, with its key (a PUT may leave the key to the URL). */
export function specInputOf(entry: Pick<SpecEntry, "raw"> & { spec: Pick<FlagSpec, "key"> }): unknown {
  const raw = entry.raw !== null && typeof entry.raw === "object" && !Array.isArray(entry.raw) ? entry.raw : {};
  return { ...raw, key: entry.spec.key };
}

function parseObject(text: string): Record<string, unknown> {
  const value: unknown = JSON.parse(text);
  return value !== null && typeof value === "object" && !Array.isArray(value) ? { ...value } : {};
}
