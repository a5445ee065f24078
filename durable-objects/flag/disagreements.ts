/** Recent shadow disagreements of a flag (comparison events with value 0), newest kept. */
import type { Sql } from "../sql";

/** How many disagreements a flag keeps. */
export const KEEP_DISAGREEMENTS = 1000;

export interface Disagreement {
  eventId: string;
  at: number;
  targetingKey: string;
  arm: "baseline" | "candidate";
  generation: number;
}

export class DisagreementLog {
  /** Its table comes from the FlagDO's migrations (`flag-schema.ts`). */
  constructor(private readonly sql: Sql) {}

  add(d: Disagreement): void {
    this.sql.run(
      "INSERT INTO disagreements (event_id, at, targeting_key, arm, generation) VALUES (?, ?, ?, ?, ?)",
      d.eventId, d.at, d.targetingKey, d.arm, d.generation,
    );
  }

  /** Drops all but the newest KEEP_DISAGREEMENTS. */
  trim(): void {
    this.sql.run("DELETE FROM disagreements WHERE seq <= (SELECT MAX(seq) FROM disagreements) - ?", KEEP_DISAGREEMENTS);
  }

  recent(limit: number): Disagreement[] {
    return this.sql
      .all<{ event_id: string; at: number; targeting_key: string; arm: "baseline" | "candidate"; generation: number }>(
        "SELECT event_id, at, targeting_key, arm, generation FROM disagreements ORDER BY seq DESC LIMIT ?",
        limit,
      )
      .map((r) => ({ eventId: r.event_id, at: r.at, targetingKey: r.targeting_key, arm: r.arm, generation: r.generation }));
  }
}
