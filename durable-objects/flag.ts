/**
 * FlagDO: one per flag. The only writer of its rollout state and decision
 * log. It applies operator actions through the pure state machine, then
 * reports the new state to the RegistryDO, which publishes it; a report
 * that fails is retried by the object's alarm until it lands.
 */
import { DurableObject } from "cloudflare:workers";
import type { Decision } from "../core/decision";
import { candidateIdentity } from "../core/generation";
import type { FlagSpec } from "../core/manifest";
import { applyAction, initialState, reconfigure, RolloutStateSchema, type ActionRequest, type RolloutState } from "../core/rollout";
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

const REPORT_RETRY_MIN_MS = 1_000;
const REPORT_RETRY_MAX_MS = 300_000;

interface DecisionRow extends Record<string, string | number | null> {
  id: number;
  at: number;
  generation: number;
  action: string;
  source: Decision["source"];
  actor: string;
  reason: string | null;
  from_status: RolloutState["status"];
  from_stage: number;
  to_status: RolloutState["status"];
  to_stage: number;
  state_version: number;
  inputs: string | null;
}

interface FlagRow extends Record<string, string | number | null> {
  key: string;
  spec: string | null;
  identity: string | null;
  state: string;
  report_attempts: number;
}

export class FlagDO extends DurableObject<Env> {
  private readonly sql: Sql;

  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    this.sql = new Sql(ctx.storage);
    void ctx.blockConcurrencyWhile(async () => {
      this.sql.run(`CREATE TABLE IF NOT EXISTS flag (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        key TEXT NOT NULL, spec TEXT, identity TEXT, state TEXT NOT NULL,
        report_attempts INTEGER NOT NULL DEFAULT 0)`);
      this.sql.run(`CREATE TABLE IF NOT EXISTS decisions (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, generation INTEGER NOT NULL,
        action TEXT NOT NULL, source TEXT NOT NULL, actor TEXT NOT NULL, reason TEXT,
        from_status TEXT NOT NULL, from_stage INTEGER NOT NULL, to_status TEXT NOT NULL, to_stage INTEGER NOT NULL,
        state_version INTEGER NOT NULL, inputs TEXT)`);
    });
  }

  private row(): FlagRow | null {
    return this.sql.first<FlagRow>("SELECT key, spec, identity, state, report_attempts FROM flag WHERE id = 1");
  }

  private spec(row: FlagRow): FlagSpec | null {
    return row.spec === null ? null : (JSON.parse(row.spec) as FlagSpec);
  }

  /** Takes a new or edited spec from the RegistryDO; returns the state to publish. */
  async configure(spec: FlagSpec, now: number): Promise<{ state: RolloutState; candidateChanged: boolean }> {
    const row = this.row();
    const identity = candidateIdentity(spec);
    const stages = spec.rollout.stages;
    let state: RolloutState;
    let candidateChanged: boolean;
    if (row === null) {
      state = initialState(stages, 1, 1, now);
      candidateChanged = true;
    } else {
      const previous = RolloutStateSchema.parse(JSON.parse(row.state));
      // A retired flag coming back, or a new candidate, is a new generation.
      candidateChanged = row.spec === null || row.identity !== identity;
      state = reconfigure(previous, stages, candidateChanged, now);
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
        this.logDecision(state, state, now, { action, source: "config", actor: "registry", reason });
      }
    });
    return { state, candidateChanged };
  }

  /** The flag was deleted: forget the spec, keep the generation counter and the decision log. */
  async retire(): Promise<void> {
    this.sql.run("UPDATE flag SET spec = NULL, identity = NULL, report_attempts = 0 WHERE id = 1");
    await this.ctx.storage.deleteAlarm();
  }

  async view(): Promise<FlagView | null> {
    const row = this.row();
    if (row === null) return null;
    return { key: row.key, configured: row.spec !== null, state: RolloutStateSchema.parse(JSON.parse(row.state)) };
  }

  /** Applies an operator action, logs it, and reports the new state for publishing. */
  async act(request: ActionRequest, actor: string, now: number): Promise<ActResult> {
    const row = this.row();
    const spec = row ? this.spec(row) : null;
    if (row === null || spec === null) return { ok: false, code: "not_found", message: "no such flag" };
    const before = RolloutStateSchema.parse(JSON.parse(row.state));
    const result = applyAction(before, spec.rollout.stages, request, now);
    if (!result.ok) return result;
    const decision = this.sql.transaction(() => {
      this.sql.run("UPDATE flag SET state = ? WHERE id = 1", JSON.stringify(result.state));
      return this.logDecision(before, result.state, now, {
        action: request.action + (request.variant ? `:${request.variant}` : ""),
        source: "operator",
        actor,
        reason: request.reason ?? null,
      });
    });
    const published = await this.report(row.key, result.state, decision);
    return { ok: true, state: result.state, decision, published };
  }

  /** The decision log, newest first. */
  async decisions(limit: number, beforeId?: number): Promise<Decision[]> {
    const rows = this.sql.all<DecisionRow>(
      `SELECT * FROM decisions WHERE id < ? ORDER BY id DESC LIMIT ?`,
      beforeId ?? Number.MAX_SAFE_INTEGER, limit,
    );
    return rows.map((r) => ({
      id: r.id,
      at: r.at,
      generation: r.generation,
      action: r.action,
      source: r.source,
      actor: r.actor,
      reason: r.reason,
      from: { status: r.from_status, stage: r.from_stage },
      to: { status: r.to_status, stage: r.to_stage },
      stateVersion: r.state_version,
      inputs: r.inputs,
    }));
  }

  /** Retries a state report the RegistryDO did not take. */
  override async alarm(): Promise<void> {
    const row = this.row();
    if (row === null || row.spec === null || row.report_attempts === 0) return;
    await this.report(row.key, RolloutStateSchema.parse(JSON.parse(row.state)), null);
  }

  private logDecision(
    from: RolloutState,
    to: RolloutState,
    now: number,
    what: { action: string; source: Decision["source"]; actor: string; reason: string | null },
  ): Decision {
    const inserted = this.sql.first<{ id: number }>(
      `INSERT INTO decisions (at, generation, action, source, actor, reason, from_status, from_stage, to_status, to_stage, state_version, inputs)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL) RETURNING id`,
      now, to.generation, what.action, what.source, what.actor, what.reason,
      from.status, from.stageIndex, to.status, to.stageIndex, to.version,
    );
    return {
      id: inserted?.id ?? 0,
      at: now,
      generation: to.generation,
      ...what,
      from: { status: from.status, stage: from.stageIndex },
      to: { status: to.status, stage: to.stageIndex },
      stateVersion: to.version,
      inputs: null,
    };
  }

  /** Reports a state to the RegistryDO; on failure schedules a retry with backoff. */
  private async report(key: string, state: RolloutState, decision: Decision | null): Promise<boolean> {
    try {
      await registryStub(this.env).reportState(key, state, decision);
      this.sql.run("UPDATE flag SET report_attempts = 0 WHERE id = 1");
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
