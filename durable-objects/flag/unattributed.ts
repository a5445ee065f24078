/**
 * Events that could not be credited to an arm (table `unattributed`), per
 * generation and reason (`core/attribution.ts`): shown on the report and
 * /metrics so a team sees what its events lack.
 */
import type { UnattributedReason } from "../../core/attribution";
import type { Sql } from "../sql";

export class UnattributedCounts {
  constructor(private readonly sql: Sql) {}

  add(generation: number, reason: UnattributedReason, n: number): void {
    this.sql.run("INSERT INTO unattributed (generation, reason, n) VALUES (?, ?, ?) ON CONFLICT (generation, reason) DO UPDATE SET n = n + excluded.n", generation, reason, n);
  }

  /** A generation's counts by reason. */
  of(generation: number): Record<string, number> {
    const out: Record<string, number> = {};
    for (const row of this.sql.all<{ reason: string; n: number }>("SELECT reason, n FROM unattributed WHERE generation = ? ORDER BY reason", generation)) out[row.reason] = row.n;
    return out;
  }

  total(generation: number): number {
    return this.sql.first<{ n: number | null }>("SELECT SUM(n) AS n FROM unattributed WHERE generation = ?", generation)?.n ?? 0;
  }
}
