/**
 * RegistryDO: the single writer of flag specs, the flag index and the audit
 * log. It composes the snapshot from each flag's spec and the latest rollout
 * state its FlagDOs reported and publishes it (`publishing.ts`); the cron's
 * fan-out runs from here (`tick.ts`). Its state lives in repositories — the
 * flags table, every wave's state, typed meta, the audit log, the metrics of
 * the last tick — and each RPC method is a short shell over them.
 */
import { DurableObject } from "cloudflare:workers";
import { canonicalJson, toHex } from "../../core/canonical";
import { plainCopy } from "../../core/dict";
import type { Decision } from "../../core/decision";
import { FlagSpecSchema, type FlagSpec } from "../../core/manifest";
import { summarizeIssues, toIssues } from "../../core/issues";
import { servedWeight, type RolloutState } from "../../core/rollout";
import { snapshotFlagOf, type SnapshotFlag, type SnapshotHead } from "../../core/snapshot";
import { leadingWave, nextWaveSteps, notStartedWave, waveObjectName } from "../../core/waves";
import { COUNTER_CALLS_BUDGET } from "../../core/load-model";
import { flagStub } from "../flag/stub";
import { migrate } from "../migrations";
import { Serializer, Sql } from "../sql";
import { AuditLog, type AuditFilter } from "./audit-log";
import { Grants } from "./grants";
import { ApiTokens, type TokenCheck } from "./api-tokens";
import type { ApiToken, Grant, GrantKind, GrantRequest, TokenRequest } from "../../core/access";
import { FlagMetricsStore, type MetricsSnapshot } from "./flag-metrics";
import { FlagsTable, specInputOf, type StoredFlag } from "./flags-table";
import { RegistryMeta } from "./meta";
import { planChanges, type PlanEntry } from "./plan";
import { Publisher, type Composer } from "./publishing";
import { REGISTRY_MIGRATIONS } from "./schema";
import { addBatch, judgeBatch, TICK_BATCH, type LastTick, type TickProgress, type TickTarget } from "./tick";
import type { AuditEntry, FlagRecord, FlagSummary, Judgement, SpecEntry, WaveSummary } from "./types";
import { WaveStates } from "./wave-states";
import { Schedules } from "./schedules";
import { Segments } from "./segments";
import { SegmentSchema, type Segment, type StoredSegment } from "../../core/segment";
import { ruleSegmentReferences } from "../../core/targeting-rules";
import { dependentsOf, prerequisiteProblems } from "../../core/prerequisites";
import { MAX_SCHEDULES_PER_FLAG, type Schedule, type ScheduleRequest } from "../../core/schedule";

/** A wave's state that changed, and its status before: what moves the other waves. */
interface WaveChange {
  key: string;
  wave: number;
  before: RolloutState["status"];
}

export class RegistryDO extends DurableObject<Env> {
  private readonly sql: Sql;
  private readonly writes = new Serializer();
  private readonly flags: FlagsTable;
  private readonly waves: WaveStates;
  private readonly meta: RegistryMeta;
  private readonly publisher: Publisher;
  private readonly metrics: FlagMetricsStore;
  private readonly audits: AuditLog;
  private readonly grants: Grants;
  private readonly tokens: ApiTokens;
  private readonly schedules: Schedules;
  private readonly segments: Segments;
  /** What publishing composes: each flag's entry from its spec and every wave's state. */
  private readonly composer: Composer;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = new Sql(ctx.storage);
    this.flags = new FlagsTable(this.sql);
    this.waves = new WaveStates(this.sql);
    this.meta = new RegistryMeta(this.sql);
    this.publisher = new Publisher(this.sql, this.meta, env.SNAPSHOTS);
    this.metrics = new FlagMetricsStore(this.sql);
    this.audits = new AuditLog(this.sql);
    this.grants = new Grants(this.sql);
    this.tokens = new ApiTokens(this.sql);
    this.schedules = new Schedules(this.sql);
    this.segments = new Segments(this.sql);
    this.composer = { keys: () => this.flags.keys(), compose: (key) => this.entryOf(key) };
    void ctx.blockConcurrencyWhile(async () => {
      migrate(this.sql, REGISTRY_MIGRATIONS, Date.now());
      this.publisher.ensureSnapshot();
    });
  }

  /** The head edges poll, with what the recent versions changed (a delta an isolate can apply). */
  async getHead(): Promise<SnapshotHead> {
    return this.publisher.head();
  }

  /** The latest snapshot as JSON text (edges parse and validate it once), built from the published entries. */
  async getSnapshotJson(): Promise<string> {
    return this.publisher.snapshotJson();
  }

  /** One flag's entry as published in `version`, or null when it has changed since (the edge then loads the whole snapshot). */
  async getEntryJson(key: string, version: number): Promise<string | null> {
    return this.publisher.entryJson(key, version);
  }

  /** The published version and one flag's current entry (null: no such flag): what a cold isolate needs to answer for one flag. */
  async getFlagEntry(key: string): Promise<{ version: number; body: string | null }> {
    return { version: this.publisher.version(), body: this.publisher.currentEntry(key) };
  }

  async listFlags(): Promise<FlagSummary[]> {
    return this.flags.all().map((flag) => this.summaryOf(flag));
  }

  async getFlag(key: string): Promise<FlagRecord | null> {
    const flag = this.flags.get(key);
    if (flag === null) return null;
    const spec = this.flags.specOf(flag);
    return {
      key: flag.key,
      spec: JSON.parse(flag.raw) as unknown,
      specHash: flag.specHash,
      specVersion: flag.specVersion,
      state: this.waves.first(key),
      judgement: this.judgementOf(flag.key, spec).judgement,
      ...(spec.waves ? { waves: this.waveSummaries(flag, spec) } : {}),
      createdAt: flag.createdAt,
      updatedAt: flag.updatedAt,
    };
  }

  /** A flag's region waves (empty without waves), or null for an unknown flag: what admin requests naming a wave or region check. */
  async flagWaves(key: string): Promise<WaveSummary[] | null> {
    const flag = this.flags.get(key);
    if (flag === null) return null;
    const spec = this.flags.specOf(flag);
    return spec.waves ? this.waveSummaries(flag, spec) : [];
  }

  /** Creates or replaces one flag and publishes. */
  async putFlag(entry: SpecEntry, actor: string, now: number): Promise<{ created: boolean; changed: boolean; state: RolloutState; specVersion: number } | ReferenceRefusal> {
    return this.writes.run(async () => {
      const missing = [...this.missingSegments([entry.spec]), ...this.prerequisiteIssues(entry.spec.key, [entry.spec], [])];
      if (missing.length > 0) return { refused: "invalid_reference" as const, issues: missing };
      const [plan] = planChanges(this.flags.specs(), [entry.spec], false);
      const changed = plan?.change !== "unchanged";
      if (changed) {
        await this.storeSpec(entry, actor, now, "put");
        await this.publish(now);
      }
      const stored = this.flags.get(entry.spec.key);
      if (stored === null) throw new Error(`flag ${entry.spec.key} vanished while being written`);
      return { created: plan?.change === "create", changed, state: this.waves.first(stored.key), specVersion: stored.specVersion };
    });
  }

  /** Deletes a flag; its FlagDOs keep their decision logs and generation counters. */
  async deleteFlag(key: string, actor: string, now: number): Promise<boolean | { refused: "required_by"; dependents: string[] }> {
    return this.writes.run(async () => {
      const flag = this.flags.get(key);
      if (flag === null) return false;
      const dependents = dependentsOf(this.flags.specs(), key);
      if (dependents.length > 0) return { refused: "required_by" as const, dependents };
      await this.removeFlag(flag, actor, now);
      await this.publish(now);
      return true;
    });
  }

  /** What applying a manifest would change, without changing it. */
  async planManifest(specs: FlagSpec[], prune: boolean): Promise<PlanEntry[]> {
    return planChanges(this.flags.specs(), specs, prune);
  }

  /** Applies a manifest: every changed flag is configured, then one snapshot is published. */
  async applyManifest(entries: SpecEntry[], prune: boolean, actor: string, now: number, segments: Segment[] = []): Promise<PlanEntry[] | ReferenceRefusal> {
    return this.writes.run(async () => {
      const stored = new Map(this.flags.all().map((f) => [f.key, f]));
      const plan = planChanges(this.flags.specs([...stored.values()]), entries.map((e) => e.spec), prune);
      const deleted = plan.filter((p) => p.change === "delete").map((p) => p.key);
      const missing = [...this.missingSegments(entries.map((e) => e.spec), true, segments.map((s) => s.name)), ...this.prerequisiteIssues(null, entries.map((e) => e.spec), deleted)];
      if (missing.length > 0) return { refused: "invalid_reference" as const, issues: missing };
      // The manifest's segments first (only those that changed), so its flags find them; their other users are republished too.
      let segmentsChanged = false;
      for (const segment of segments) {
        if (JSON.stringify(this.segments.get(segment.name)?.segment) === JSON.stringify(segment)) continue;
        segmentsChanged = true;
        this.writeSegment(segment, actor, now);
      }
      const byKey = new Map(entries.map((e) => [e.spec.key, e]));
      for (const item of plan) {
        const entry = byKey.get(item.key);
        if ((item.change === "create" || item.change === "update") && entry) await this.storeSpec(entry, actor, now, "manifest");
        const flag = stored.get(item.key);
        if (item.change === "delete" && flag) await this.removeFlag(flag, actor, now);
      }
      if (segmentsChanged || plan.some((p) => p.change !== "unchanged")) await this.publish(now);
      return plan;
    });
  }

  /** A FlagDO reports its state (`wave` > 1: a region wave's object). Stale or replayed reports (version not newer) change nothing. */
  async reportState(key: string, state: RolloutState, decision: Decision | null, wave = 1): Promise<{ applied: boolean }> {
    return this.writes.run(async () => {
      const applied = this.applyState(key, wave, state, decision);
      if (applied) await this.followWaves([applied], state.updatedAt);
      if (applied) await this.publish(state.updatedAt);
      return { applied: applied !== null };
    });
  }

  /** Every flag's counts as of the last cron tick, and decision counts: one RPC per /metrics scrape. */
  async metricsSnapshot(): Promise<MetricsSnapshot> {
    // Counts are read back as prototype-free dictionaries, which RPC cannot carry: send a plain copy.
    return plainCopy({ ...this.metrics.snapshot(), schedules: this.schedules.pending() });
  }

  /** Every role grant (`core/access.ts`). */
  async listGrants(): Promise<Grant[]> {
    return this.grants.all();
  }

  /** Creates or replaces a grant, audited. */
  async putGrant(kind: GrantKind, subject: string, grant: GrantRequest, actor: string, now: number): Promise<{ created: boolean }> {
    return this.sql.transaction(() => {
      const created = this.grants.put(kind, subject, grant, actor, now);
      this.audits.append({ at: now, actor, action: created ? "grant:create" : "grant:update", flag: null, summary: `${kind} ${subject}: ${grant.role}${grant.prefixes ? ` on ${grant.prefixes.join(", ")}` : " on every flag"}` });
      return { created };
    });
  }

  /** Removes a grant, audited; false when there was none. */
  async deleteGrant(kind: GrantKind, subject: string, actor: string, now: number): Promise<boolean> {
    return this.sql.transaction(() => {
      const deleted = this.grants.delete(kind, subject);
      if (deleted) this.audits.append({ at: now, actor, action: "grant:delete", flag: null, summary: `${kind} ${subject}: grant removed` });
      return deleted;
    });
  }

  /** Stores a new API token (its secret's hash only), audited. */
  async addToken(id: string, hash: string, request: TokenRequest, actor: string, now: number): Promise<ApiToken> {
    return this.sql.transaction(() => {
      const token = this.tokens.add(id, hash, request, actor, now);
      this.audits.append({ at: now, actor, action: "token:create", flag: null, summary: `token ${request.name} (${id}): ${request.role}${request.prefixes ? ` on ${request.prefixes.join(", ")}` : " on every flag"}${request.expiresAt !== undefined ? `, until ${new Date(request.expiresAt).toISOString()}` : ""}` });
      return token;
    });
  }

  async listTokens(): Promise<ApiToken[]> {
    return this.tokens.all();
  }

  /** The live token with this id and secret hash (recording its use), or why not. */
  async checkToken(id: string, hash: string, now: number): Promise<TokenCheck> {
    return this.tokens.check(id, hash, now);
  }

  /** Revokes a token, audited; null when there is no live token of that id. */
  async revokeToken(id: string, actor: string, now: number): Promise<ApiToken | null> {
    return this.sql.transaction(() => {
      const revoked = this.tokens.revoke(id, now);
      if (revoked) this.audits.append({ at: now, actor, action: "token:revoke", flag: null, summary: `token ${revoked.name} (${id}) revoked` });
      return revoked;
    });
  }

  /** One page of an audit export, oldest first (`AuditLog.page`). */
  async auditPage(afterId: number, limit: number, filter: AuditFilter): Promise<AuditEntry[]> {
    return this.audits.page(afterId, Math.min(Math.max(limit, 1), 1_000), filter);
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
    await this.runDueSchedules(now);
    const pending = this.meta.get("tick");
    if (!pending || pending.now < now) this.meta.set("tick", { now, cursor: 0 });
    return this.runTickBatch();
  }

  override async alarm(): Promise<void> {
    await this.runTickBatch();
  }

  /**
   * Asks people for a stage's approval: an audit entry (`approval:request`)
   * that the dashboard and the audit export show; the flag's object has
   * checked that the stage waits for one. False for an unknown flag.
   */
  async requestApproval(key: string, request: { generation: number; stage: number; note?: string | undefined }, actor: string, now: number): Promise<AuditEntry | null> {
    if (this.flags.get(key) === null) return null;
    const summary = `approval asked for generation ${request.generation} stage ${request.stage}${request.note ? `: ${request.note}` : ""}`;
    this.audits.append({ at: now, actor, action: "approval:request", flag: key, summary });
    return this.audits.newest(1, key)[0] ?? null;
  }

  /** Schedules a change of one flag (`core/schedule.ts`); audited. The caller has checked the time. */
  async addSchedule(key: string, request: ScheduleRequest, actor: string, now: number): Promise<{ ok: true; schedule: Schedule } | { ok: false; kind: "not_found" | "no_such_wave" | "too_many"; message: string }> {
    const spec = this.flags.specOfKey(key);
    if (spec === null) return { ok: false, kind: "not_found", message: `flag "${key}" does not exist` };
    const waves = spec.waves?.order.length ?? 1;
    if ((request.wave ?? 1) > waves) return { ok: false, kind: "no_such_wave", message: `flag "${key}" has ${waves} wave${waves === 1 ? "" : "s"}` };
    if (this.schedules.count(key) >= MAX_SCHEDULES_PER_FLAG) return { ok: false, kind: "too_many", message: `flag "${key}" already has ${MAX_SCHEDULES_PER_FLAG} pending schedules (the limit): cancel one first` };
    const schedule = this.sql.transaction(() => {
      const added = this.schedules.add(key, request, actor, now);
      this.audits.append({ at: now, actor, action: "schedule:add", flag: key, summary: `#${added.id}: ${describeSchedule(added)}` });
      return added;
    });
    return { ok: true, schedule };
  }

  /** A flag's pending schedules, soonest first (null: no such flag). */
  async listSchedules(key: string): Promise<Schedule[] | null> {
    return this.flags.get(key) === null ? null : this.schedules.of(key);
  }

  /** Cancels a pending schedule; false when the flag has none with that id. */
  async cancelSchedule(key: string, id: number, actor: string, now: number): Promise<boolean> {
    const schedule = this.schedules.get(key, id);
    if (schedule === null) return false;
    this.sql.transaction(() => {
      this.schedules.remove(id);
      this.audits.append({ at: now, actor, action: "schedule:cancel", flag: key, summary: `#${id} cancelled: ${describeSchedule(schedule)}` });
    });
    return true;
  }

  /** The cron's progress: a tick still running (batches left) and the last one finished. */
  async listSegments(): Promise<(StoredSegment & { flags: string[] })[]> {
    const users = this.segmentUsers();
    return plainCopy(this.segments.all().map((s) => ({ ...s, flags: users.get(s.segment.name) ?? [] })));
  }

  async getSegment(name: string): Promise<(StoredSegment & { flags: string[] }) | null> {
    const stored = this.segments.get(name);
    return stored === null ? null : plainCopy({ ...stored, flags: this.segmentUsers().get(name) ?? [] });
  }

  /**
   * Stores a segment and republishes the flags that use it — only those, each
   * a changed entry in the delta edges apply — audited with their keys.
   */
  async putSegment(input: unknown, actor: string, now: number): Promise<{ created: boolean; version: number; republished: string[] }> {
    const segment = SegmentSchema.parse(input);
    return this.writes.run(async () => {
      const written = this.writeSegment(segment, actor, now);
      if (written.republished.length > 0) await this.publish(now);
      return written;
    });
  }

  /** Deletes a segment no flag uses; one in use is refused with the flags that use it. */
  async deleteSegment(name: string, actor: string, now: number): Promise<{ deleted: boolean; usedBy: string[] }> {
    return this.writes.run(async () => {
      if (this.segments.get(name) === null) return { deleted: false, usedBy: [] };
      const usedBy = this.segmentUsers().get(name) ?? [];
      if (usedBy.length > 0) return { deleted: false, usedBy };
      this.sql.transaction(() => {
        this.segments.remove(name);
        this.audits.append({ at: now, actor, action: "segment:delete", flag: null, specHash: null, summary: `segment ${name} deleted` });
      });
      return { deleted: true, usedBy: [] };
    });
  }

  async cronStatus(): Promise<{ pending: { now: number; cursor: number; flags: number } | null; last: LastTick | null }> {
    const pending = this.meta.get("tick");
    return { pending: pending ? { ...pending, flags: this.flags.count() } : null, last: this.meta.get("last_tick") };
  }

  // ---- the work behind the methods ----

  /**
   * Carries out every schedule due at `now`, soonest first, through the
   * wave's object as an operator action by `schedule:<who asked>` (the
   * object reports the new state, audited like any action). One that no
   * longer applies is audited as failed; either way it is done.
   */
  private async runDueSchedules(now: number): Promise<void> {
    for (const schedule of this.schedules.due(now)) {
      let failure: string | null;
      try {
        failure = schedule.action === "update" ? await this.runScheduledUpdate(schedule, now) : await this.runScheduledAction(schedule, now);
      } catch (error) {
        // The object could not be reached: the next tick tries again.
        console.error(`schedule #${schedule.id} of ${schedule.flag}: not carried out`, error);
        continue;
      }
      this.sql.transaction(() => {
        this.schedules.remove(schedule.id);
        if (failure !== null) this.audits.append({ at: now, actor: "cron", action: "schedule:failed", flag: schedule.flag, summary: `#${schedule.id} (${describeSchedule(schedule)}) not carried out: ${failure}` });
      });
    }
  }

  /** Stores a segment and marks the flags using it for the next publish, audited (the caller publishes). */
  private writeSegment(segment: Segment, actor: string, now: number): { created: boolean; version: number; republished: string[] } {
    const republished = this.segmentUsers().get(segment.name) ?? [];
    return this.sql.transaction(() => {
      const stored = this.segments.put(segment, actor, now);
      for (const key of republished) this.publisher.markDirty(key);
      this.audits.append({ at: now, actor, action: stored.created ? "segment:create" : "segment:update", flag: null, specHash: null, summary: `segment ${segment.name} v${stored.version}: ${segment.keys.length} keys${segment.when ? " and a rule" : ""}; republishes ${republished.length === 0 ? "no flag" : republished.join(", ")}` });
      return { ...stored, republished };
    });
  }

  /** A scheduled operator action through the wave's object; what went wrong, or null. */
  private async runScheduledAction(schedule: Schedule, now: number): Promise<string | null> {
    const action = schedule.action as Exclude<Schedule["action"], "update">;
    const request = { action, ...(schedule.variant ? { variant: schedule.variant } : {}), reason: `scheduled #${schedule.id}${schedule.reason ? `: ${schedule.reason}` : ""}` };
    const result = await flagStub(this.env, waveObjectName(schedule.flag, schedule.wave)).act(request, `schedule:${schedule.createdBy}`, now);
    return result.ok ? null : result.message;
  }

  /** A scheduled spec, stored as a PUT would store it (checked again: segments or required flags may have gone meanwhile); what went wrong, or null. */
  private async runScheduledUpdate(schedule: Schedule, now: number): Promise<string | null> {
    if (this.flags.get(schedule.flag) === null) return `flag "${schedule.flag}" no longer exists`;
    const parsed = FlagSpecSchema.safeParse(schedule.spec);
    if (!parsed.success) return summarizeIssues(toIssues(parsed.error.issues, ["spec"]));
    const result = await this.putFlag({ raw: schedule.spec, spec: parsed.data, signedBy: null }, `schedule:${schedule.createdBy}`, now);
    return "refused" in result ? summarizeIssues(result.issues) : null;
  }

  /** A flag's line in the list: with region waves, its leading wave's (the first not completed); each wave is under `waves`. */
  private summaryOf(flag: StoredFlag): FlagSummary {
    const spec = this.flags.specOf(flag);
    const { states, state, judgement } = this.judgementOf(flag.key, spec);
    return {
      key: flag.key,
      description: spec.description ?? null,
      kind: spec.kind,
      type: spec.type,
      status: state.status,
      stage: state.stageIndex,
      weight: servedWeight(state, spec.rollout.stages).weightBp / 100,
      generation: state.generation,
      forced: state.forced,
      specVersion: flag.specVersion,
      updatedAt: flag.updatedAt,
      judgement,
      ...(spec.waves ? { waves: this.waveSummaries(flag, spec, states) } : {}),
    };
  }

  /** The leading wave's state (the first not completed) and the cron's latest judgement of it, current only while nothing has moved the rollout since that tick. */
  private judgementOf(key: string, spec: FlagSpec): { states: RolloutState[]; state: RolloutState; judgement: Judgement | null } {
    const states = this.waves.of(key, spec);
    const lead = leadingWave(states);
    const state = states[lead] ?? this.waves.first(key);
    const latest = this.metrics.get(waveObjectName(key, lead + 1));
    const current = latest?.judgement && latest.generation === state.generation && latest.status === state.status && latest.at >= state.updatedAt;
    return { states, state, judgement: current && latest.judgement ? { at: latest.at, ...latest.judgement } : null };
  }

  /** Each wave's regions, state and the spec hash it serves (the seed's "roll by region with audit hashes"). */
  private waveSummaries(flag: StoredFlag, spec: FlagSpec, states = this.waves.of(flag.key, spec)): WaveSummary[] {
    return states.map((state, i) => ({
      wave: i + 1,
      regions: spec.waves?.order[i] ?? [],
      status: state.status,
      stage: state.stageIndex,
      weight: servedWeight(state, spec.rollout.stages).weightBp / 100,
      generation: state.generation,
      forced: state.forced,
      specHash: flag.specHash,
      updatedAt: state.updatedAt,
    }));
  }

  /** Segment name → the keys of the flags whose rules refer to it. */
  private segmentUsers(): Map<string, string[]> {
    const users = new Map<string, string[]>();
    for (const [, spec] of this.flags.specs()) {
      for (const name of new Set(ruleSegmentReferences(spec.rules).map((r) => r.name))) users.set(name, [...(users.get(name) ?? []), spec.key]);
    }
    return users;
  }

  /** Each reference to a segment that does not exist, with its path (`flags[i].` first in a manifest). */
  private missingSegments(specs: readonly FlagSpec[], inManifest = false, alsoKnown: readonly string[] = []): { path: string; message: string }[] {
    const known = new Set([...this.segments.all().map((s) => s.segment.name), ...alsoKnown]);
    return specs.flatMap((spec, i) =>
      ruleSegmentReferences(spec.rules)
        .filter((ref) => !known.has(ref.name))
        .map((ref) => ({ path: pathText(inManifest ? ["flags", i, ...ref.path] : ref.path), message: `unknown segment "${ref.name}": create it first (PUT /admin/segments/${ref.name})` })),
    );
  }

  /**
   * The prerequisite problems the flags would have after writing `specs` and
   * deleting `deleted`: every flag is checked (an edit of one can break a
   * flag requiring it). Paths are the spec's own for a single flag
   * (`single`), `flags[i].…` for a manifest's, and `<key>: …` for others.
   */
  private prerequisiteIssues(single: string | null, specs: readonly FlagSpec[], deleted: readonly string[]): { path: string; message: string }[] {
    const all = this.flags.specs();
    for (const key of deleted) all.delete(key);
    for (const spec of specs) all.set(spec.key, spec);
    const index = new Map(specs.map((spec, i) => [spec.key, i]));
    return prerequisiteProblems(all, [...all.values()]).map((p) => {
      const at = index.get(p.key);
      const path = p.key === single ? pathText(p.path) : at !== undefined && single === null ? pathText(["flags", at, ...p.path]) : `${p.key}: ${pathText(p.path)}`;
      return { path, message: p.message };
    });
  }

  /** A flag's snapshot entry as it should be served now, or null when it was deleted. */
  private entryOf(key: string): SnapshotFlag | null {
    const flag = this.flags.get(key);
    if (flag === null) return null;
    const spec = this.flags.specOf(flag);
    const [first, ...later] = this.waves.of(key, spec);
    if (first === undefined) throw new Error(`flag ${key} has no stored state`);
    const segments = ruleSegmentReferences(spec.rules).length > 0 ? this.segments.byName() : undefined;
    return snapshotFlagOf(spec, first, flag.specVersion, later, flag.counterShards, segments);
  }

  private async publish(now: number): Promise<void> {
    await this.publisher.publish(now, this.composer);
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
      const spec = this.flags.specOfKey(change.key);
      if (!spec?.waves) continue;
      const steps = nextWaveSteps(this.waves.of(change.key, spec), change.wave - 1, change.before, spec.waves.onRegression);
      for (const step of steps) {
        try {
          const moved = await flagStub(this.env, waveObjectName(change.key, step.wave)).followWave(step, now);
          if (!moved) continue;
          const applied = this.applyState(change.key, step.wave, moved.state, moved.decision);
          if (applied) queue.push(applied);
        } catch (error) {
          // The next report or tick of the changed wave tries again (its state is level: completed, rolled back).
          console.error(`waves: ${step.action} of ${change.key} wave ${step.wave} failed`, error);
          this.publisher.markDirty(change.key);
        }
      }
    }
  }

  /** One batch of the pending tick: judge TICK_BATCH objects, apply what they answer, publish, and continue from the alarm if flags are left. */
  private async runTickBatch(): Promise<TickProgress> {
    const tick = this.meta.get("tick");
    if (!tick) return { evaluated: 0, changed: 0, failed: 0, remaining: 0 };
    const flags = this.flags.all();
    // A batch is TICK_BATCH objects: a flag with region waves is one object per wave.
    const batch: StoredFlag[] = [];
    const targets: TickTarget[] = [];
    for (const flag of flags.slice(tick.cursor)) {
      const waves = this.flags.specOf(flag).waves?.order.length ?? 1;
      if (batch.length > 0 && targets.length + waves > TICK_BATCH) break;
      batch.push(flag);
      for (let wave = 1; wave <= waves; wave++) targets.push({ key: flag.key, wave });
    }
    const { states, evaluated, failed, needSpec } = await judgeBatch(this.env, targets, tick.now);
    for (const key of needSpec) {
      // A FlagDO upgraded from before specs were stored as written: give it the written spec (its state is kept).
      const flag = batch.find((f) => f.key === key);
      if (flag) await flagStub(this.env, key).configure(specInputOf({ raw: JSON.parse(flag.raw) as unknown, spec: { key } }), tick.now).catch((error: unknown) => console.error(`cron: re-sending ${key}'s spec failed`, error));
    }
    const changed = await this.writes.run(async () => {
      const changes: WaveChange[] = [];
      for (const { key, wave, state, action, softAborts, counterShards, metrics } of states) {
        // A flag whose objects chose more counter shards (its flush rate rose) is republished so edges spread over them.
        if (counterShards && this.flags.raiseCounterShards(key, counterShards)) {
          this.publisher.markDirty(key);
          this.audits.append({ at: tick.now, actor: "cron", action: "counter_shards", flag: key, summary: `${counterShards} counter shards: the flag's flush rate grew past ${COUNTER_CALLS_BUDGET * 0.7} calls/s per object` });
        }
        const change = this.applyState(key, wave, state, null, action);
        if (change) changes.push(change);
        // Soft abort rules change nothing served; they are counted on /metrics (rampart_decisions_total{action="soft_abort"}).
        for (let i = 0; i < (softAborts ?? 0); i++) this.metrics.countDecision("soft_abort", "cron");
        if (metrics) this.metrics.put({ key: waveObjectName(key, wave), ...(wave > 1 || this.hasWaves(key) ? { flag: key, wave } : {}), status: state.status, at: tick.now, ...metrics });
      }
      await this.followWaves(changes, tick.now);
      if (changes.length > 0 || this.publisher.hasDirty()) await this.publish(tick.now);
      return changes.length;
    });
    const cursor = tick.cursor + batch.length;
    const previous = tick.cursor === 0 ? null : this.meta.get("last_tick");
    this.meta.set("last_tick", addBatch(previous, tick.now, { evaluated, changed, failed }, Date.now()));
    const remaining = Math.max(0, flags.length - cursor);
    if (remaining > 0) {
      this.meta.set("tick", { now: tick.now, cursor });
      await this.ctx.storage.setAlarm(Date.now());
    } else {
      this.meta.clear("tick");
    }
    return { evaluated, changed, failed, remaining };
  }

  private hasWaves(key: string): boolean {
    return this.flags.specOfKey(key)?.waves !== undefined;
  }

  /**
   * Takes a state report (`cronAction` names what the cron decided when it
   * comes from a tick). The state is applied only when newer than the one
   * held (stale or replayed reports change nothing); the decision behind it
   * is audited either way, once per wave and decision id, so an operator
   * action that raced a spec change is never lost from the audit log.
   */
  private applyState(key: string, wave: number, state: RolloutState, decision: Decision | null, cronAction?: string): WaveChange | null {
    const spec = this.flags.specOfKey(key);
    if (spec === null) return null;
    // A wave that has not reported yet was waiting.
    const before = this.waves.get(key, wave) ?? notStartedWave(state);
    const inWave = wave > 1 || spec.waves ? `wave ${wave}: ` : "";
    const newer = this.sql.transaction(() => {
      const stored = this.waves.putIfNewer(key, wave, state);
      if (stored) this.publisher.markDirty(key);
      if (decision !== null) {
        const change = `${inWave}${decision.from.status} stage ${decision.from.stage} → ${decision.to.status} stage ${decision.to.stage}`;
        const summary = decision.reason ? `${change} (${decision.reason})` : change;
        if (this.audits.append({ at: decision.at, actor: decision.actor, action: decision.action, flag: key, summary, decisionId: decision.id, wave })) this.metrics.countDecision(decision.action, decision.source);
      } else if (stored) {
        const summary = `${inWave}${before.status} stage ${before.stageIndex} → ${state.status} stage ${state.stageIndex}`;
        this.audits.append({ at: state.updatedAt, actor: "cron", action: cronAction ?? "cron", flag: key, summary });
        this.metrics.countDecision(cronAction ?? "cron", "cron");
      }
      return stored;
    });
    return newer ? { key, wave, before: before.status } : null;
  }

  /** Configures every wave's object with the spec, then stores it, its states and its audit entry. */
  private async storeSpec(entry: SpecEntry, actor: string, now: number, via: string): Promise<void> {
    const { spec } = entry;
    const input = specInputOf(entry);
    const { state, candidateChanged } = await flagStub(this.env, spec.key).configure(input, now, 1, actor);
    // Region waves after the first run in their own objects; a wave the spec no longer has is retired.
    const waveCount = spec.waves?.order.length ?? 1;
    const states: RolloutState[] = [state];
    for (let wave = 2; wave <= waveCount; wave++) states.push((await flagStub(this.env, waveObjectName(spec.key, wave)).configure(input, now, wave, actor)).state);
    for (const wave of this.waves.waves(spec.key).filter((w) => w > waveCount)) await flagStub(this.env, waveObjectName(spec.key, wave)).retire();
    const specHash = await sha256Hex(canonicalJson(spec));
    this.sql.transaction(() => {
      const existing = this.flags.upsert(entry, specHash, now);
      this.waves.replaceAll(spec.key, states);
      const generation = candidateChanged ? `generation ${state.generation} starts` : `generation ${state.generation} continues`;
      this.audits.append({ at: now, actor, action: existing ? `${via}:update` : `${via}:create`, flag: spec.key, specHash, summary: generation, signingKey: entry.signedBy ?? null });
      this.publisher.markDirty(spec.key);
    });
  }

  /** Retires every wave's object, then removes the flag, its states and metrics, audited. */
  private async removeFlag(flag: StoredFlag, actor: string, now: number): Promise<void> {
    // Wave 1 is the flag's own object: retired even if it never reported.
    const waves = [...new Set([1, ...this.waves.waves(flag.key)])];
    for (const wave of waves) await flagStub(this.env, waveObjectName(flag.key, wave)).retire();
    this.sql.transaction(() => {
      this.flags.remove(flag.key);
      this.waves.removeAll(flag.key);
      this.schedules.removeFlag(flag.key);
      for (const wave of waves) this.metrics.remove(waveObjectName(flag.key, wave));
      this.audits.append({ at: now, actor, action: "delete", flag: flag.key, specHash: flag.specHash, summary: "deleted; its decision log is kept" });
      this.publisher.markDirty(flag.key);
    });
  }
}

/** A refusal of specs naming segments or prerequisite flags that do not exist (or a cycle); the route answers 400 with these issues. */
export interface ReferenceRefusal {
  refused: "invalid_reference";
  issues: { path: string; message: string }[];
}

/** A path as the API's issues write it: rules[2].when.value. */
function pathText(path: readonly (string | number)[]): string {
  return path.reduce<string>((text, part) => (typeof part === "number" ? `${text}[${part}]` : text === "" ? part : `${text}.${part}`), "");
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return toHex(digest);
}

/** A schedule in words, for the audit log: "kill wave 2 at 2027-01-15T09:00:00.000Z (reason)". */
function describeSchedule(schedule: Schedule): string {
  const what = `${schedule.action}${schedule.variant ? `:${schedule.variant}` : ""}${schedule.wave > 1 ? ` wave ${schedule.wave}` : ""}`;
  return `${what} at ${new Date(schedule.at).toISOString()}${schedule.reason ? ` (${schedule.reason})` : ""}`;
}
