/**
 * A FlagDO's rollout state over time and the spec each generation was served
 * with: what attribution needs to credit a late event to the stage and arm
 * its unit was in when the event happened.
 */
import { FlagSpecSchema, type FlagSpec } from "../../core/manifest";
import { RolloutStateSchema, type RolloutState } from "../../core/rollout";
import type { Sql } from "../sql";

/** States kept per flag (the oldest beyond this go; events older than 7 days are refused anyway). */
const KEEP_STATES = 10_000;

export class StateHistory {
  /** Parsed specs by generation: generation specs never change once the generation is over, and are small. */
  private readonly specs = new Map<number, { text: string; spec: FlagSpec }>();

  constructor(private readonly sql: Sql) {}

  /**
   * Appends a state (call in the transaction that stores it, after the flag
   * row holds the spec it is served with). Consecutive equal positions are
   * kept once.
   */
  record(state: RolloutState, now: number): void {
    const last = this.sql.first<{ state: string }>("SELECT state FROM state_history ORDER BY seq DESC LIMIT 1");
    if (last) {
      const previous = RolloutStateSchema.parse(JSON.parse(last.state));
      const same = previous.generation === state.generation && previous.stageIndex === state.stageIndex && previous.status === state.status && previous.forced === state.forced;
      if (same) return;
    }
    this.sql.run("INSERT INTO state_history (at, generation, state) VALUES (?, ?, ?)", now, state.generation, JSON.stringify(state));
    // A generation started by an action (resume after a rollback) is served with the flag's current spec.
    this.sql.run("INSERT OR IGNORE INTO generation_specs (generation, spec) SELECT ?, spec_input FROM flag WHERE id = 1 AND spec_input IS NOT NULL", state.generation);
    this.sql.run("DELETE FROM state_history WHERE seq <= (SELECT MAX(seq) FROM state_history) - ?", KEEP_STATES);
  }

  /** Remembers the spec a generation is served with (its latest edit), as written: re-parsed on read. */
  recordSpec(generation: number, specInput: string): void {
    this.sql.run("INSERT OR REPLACE INTO generation_specs (generation, spec) VALUES (?, ?)", generation, specInput);
    this.specs.delete(generation);
  }

  /** The state in force at `time` (the latest recorded at or before it), or null before the first. */
  stateAt(time: number): RolloutState | null {
    const row = this.sql.first<{ state: string }>("SELECT state FROM state_history WHERE at <= ? ORDER BY at DESC, seq DESC LIMIT 1", time);
    return row ? RolloutStateSchema.parse(JSON.parse(row.state)) : null;
  }

  /**
   * The history from `from` on, read once into memory: what crediting a
   * batch of events needs, without two queries and a parse per event.
   */
  since(from: number): { stateAt(time: number): RolloutState | null; specOf(generation: number): FlagSpec | null } {
    const rows = this.sql.all<{ at: number; state: string }>(
      "SELECT at, state FROM state_history WHERE at >= COALESCE((SELECT MAX(at) FROM state_history WHERE at <= ?), 0) ORDER BY at, seq",
      from,
    );
    const states = rows.map((r) => ({ at: r.at, state: RolloutStateSchema.parse(JSON.parse(r.state)) }));
    const specs = new Map<number, FlagSpec | null>();
    return {
      stateAt: (time) => {
        // The last state recorded at or before `time` (rows are in order of time, then of writing).
        let lo = 0;
        let hi = states.length;
        while (lo < hi) {
          const mid = (lo + hi) >> 1;
          if ((states[mid] as { at: number }).at <= time) lo = mid + 1;
          else hi = mid;
        }
        return lo === 0 ? (time >= from ? null : this.stateAt(time)) : (states[lo - 1] as { state: RolloutState }).state;
      },
      specOf: (generation) => {
        if (!specs.has(generation)) specs.set(generation, this.specOf(generation));
        return specs.get(generation) ?? null;
      },
    };
  }

  specOf(generation: number): FlagSpec | null {
    // The current generation is always served with the flag's current spec (also when no record was kept for it).
    const row =
      this.sql.first<{ spec: string }>("SELECT spec FROM generation_specs WHERE generation = ?", generation) ??
      this.sql.first<{ spec: string }>("SELECT spec_input AS spec FROM flag WHERE id = 1 AND spec_input IS NOT NULL AND json_extract(state, '$.generation') = ?", generation);
    if (row === null) return null;
    const cached = this.specs.get(generation);
    if (cached?.text === row.spec) return cached.spec;
    const spec = FlagSpecSchema.parse(JSON.parse(row.spec));
    this.specs.set(generation, { text: row.spec, spec });
    return spec;
  }
}
