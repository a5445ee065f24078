/**
 * The rollout state each region wave's FlagDO last reported (table
 * `flag_waves`). A flag without waves has one wave, its own object: every
 * flag's state is stored the same way (migration 6 moved wave 1 here from
 * `flags.state`).
 */
import { z } from "zod";
import { RolloutStateSchema, type RolloutState } from "../../core/rollout";
import { notStartedWave } from "../../core/waves";
import type { FlagSpec } from "../../core/manifest";
import type { Sql } from "../sql";

const WaveRowSchema = z.object({ wave: z.number(), state: z.string() }).transform((r) => ({ wave: r.wave, state: RolloutStateSchema.parse(JSON.parse(r.state)) }));

export class WaveStates {
  constructor(private readonly sql: Sql) {}

  /** One wave's state, or null when it has reported none. */
  get(key: string, wave: number): RolloutState | null {
    const row = this.sql.first("SELECT wave, state FROM flag_waves WHERE key = ? AND wave = ?", key, wave);
    return row === null ? null : WaveRowSchema.parse(row).state;
  }

  /** Wave 1's state: the flag's own object's. */
  first(key: string): RolloutState {
    const state = this.get(key, 1);
    if (state === null) throw new Error(`flag ${key} has no stored state`);
    return state;
  }

  /** Every wave's state in order (a single entry for a flag without waves); a wave that has not reported is waiting. */
  of(key: string, spec: FlagSpec): RolloutState[] {
    const stored = new Map(this.sql.all("SELECT wave, state FROM flag_waves WHERE key = ?", key).map((row) => { const r = WaveRowSchema.parse(row); return [r.wave, r.state] as const; }));
    const first = stored.get(1);
    if (first === undefined) throw new Error(`flag ${key} has no stored state`);
    const count = spec.waves?.order.length ?? 1;
    return Array.from({ length: count }, (_, i) => stored.get(i + 1) ?? notStartedWave(first));
  }

  /** Stores a wave's state when it is newer than the one held; true when stored. */
  putIfNewer(key: string, wave: number, state: RolloutState): boolean {
    return this.sql.all(
      `INSERT INTO flag_waves (key, wave, state, state_version) VALUES (?, ?, ?, ?)
       ON CONFLICT (key, wave) DO UPDATE SET state = excluded.state, state_version = excluded.state_version WHERE excluded.state_version > flag_waves.state_version
       RETURNING wave`,
      key, wave, JSON.stringify(state), state.version,
    ).length > 0;
  }

  /** Replaces every wave's state (a spec was stored: each wave's object answered with its state). */
  replaceAll(key: string, states: readonly RolloutState[]): void {
    this.sql.run("DELETE FROM flag_waves WHERE key = ?", key);
    states.forEach((state, i) => this.sql.run("INSERT INTO flag_waves (key, wave, state, state_version) VALUES (?, ?, ?, ?)", key, i + 1, JSON.stringify(state), state.version));
  }

  /** The waves that have reported, in order. */
  waves(key: string): number[] {
    return this.sql.all<{ wave: number }>("SELECT wave FROM flag_waves WHERE key = ? ORDER BY wave", key).map((r) => r.wave);
  }

  removeAll(key: string): void {
    this.sql.run("DELETE FROM flag_waves WHERE key = ?", key);
  }
}
