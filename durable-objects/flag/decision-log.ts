/** A FlagDO's decision log in SQLite. */
import type { Decision } from "../../core/decision";
import type { RolloutState } from "../../core/rollout";
import type { Sql } from "../sql";

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
  rule: string | null;
  verdicts: string | null;
  inputs: string | null;
}

export interface NewDecision {
  action: string;
  source: Decision["source"];
  actor: string;
  reason: string | null;
  rule?: string | null;
  verdicts?: string | null;
  inputs?: string | null;
}

export class DecisionLog {
  /** Its table comes from the FlagDO's migrations (`flag-schema.ts`). */
  constructor(private readonly sql: Sql) {}

  /** Who moved the rollout into `stage` of `generation` (the latest such transition): an operator, or "cron"/"registry". */
  starterOf(generation: number, stage: number): string | null {
    const row = this.sql.first<{ actor: string }>(
      "SELECT actor FROM decisions WHERE generation = ? AND to_stage = ? AND (from_stage != to_stage OR from_status != to_status) ORDER BY id DESC LIMIT 1",
      generation, stage,
    );
    return row?.actor ?? null;
  }

  append(from: RolloutState, to: RolloutState, now: number, what: NewDecision): Decision {
    const inserted = this.sql.first<{ id: number }>(
      `INSERT INTO decisions (at, generation, action, source, actor, reason, from_status, from_stage, to_status, to_stage, state_version, rule, verdicts, inputs)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`,
      now, to.generation, what.action, what.source, what.actor, what.reason,
      from.status, from.stageIndex, to.status, to.stageIndex, to.version,
      what.rule ?? null, what.verdicts ?? null, what.inputs ?? null,
    );
    const decision = inserted ? this.get(inserted.id) : null;
    if (decision === null) throw new Error("the decision just written cannot be read back");
    return decision;
  }

  /** Newest first. */
  list(limit: number, beforeId?: number): Decision[] {
    return this.sql
      .all<DecisionRow>("SELECT * FROM decisions WHERE id < ? ORDER BY id DESC LIMIT ?", beforeId ?? Number.MAX_SAFE_INTEGER, limit)
      .map(toDecision);
  }

  get(id: number): Decision | null {
    const row = this.sql.first<DecisionRow>("SELECT * FROM decisions WHERE id = ?", id);
    return row ? toDecision(row) : null;
  }

  /** The rule of the newest cron decision, to log a hold only when its reason changes. */
  lastCronRule(): string | null {
    return this.sql.first<{ rule: string | null }>("SELECT rule FROM decisions WHERE source = 'cron' ORDER BY id DESC LIMIT 1")?.rule ?? null;
  }
}

function toDecision(r: DecisionRow): Decision {
  return {
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
    rule: r.rule,
    verdicts: r.verdicts,
    inputs: r.inputs,
  };
}
