/**
 * The FlagDO's own row (table `flag`, one row): which flag and wave it runs,
 * the spec as written, the candidate's identity, the rollout state, the
 * judge's memory and the state-report attempts. Decoded once through its
 * schema; the spec is parsed through `FlagSpecSchema` on read (new fields get
 * their defaults), cached per text.
 */
import { z } from "zod";
import { GateMemorySchema, type GateMemory } from "../../core/gates";
import { FlagSpecSchema, type FlagSpec } from "../../core/manifest";
import { RolloutStateSchema, type RolloutState } from "../../core/rollout";
import type { Sql } from "../sql";

const FlagRowSchema = z
  .object({ key: z.string(), wave: z.number(), spec_input: z.string().nullable(), has_spec: z.number(), identity: z.string().nullable(), state: z.string(), report_attempts: z.number(), memory: z.string().nullable() })
  .transform((r) => {
    const memory = r.memory === null ? null : GateMemorySchema.safeParse(JSON.parse(r.memory));
    return {
      key: r.key,
      /** The region wave this object runs (1: the flag's own object). */
      wave: r.wave,
      /** The spec as written (null: retired, or stored before specs were kept as written). */
      specInput: r.spec_input,
      /** Whether some spec is held, as written or (older objects) parsed only. */
      hasSpec: r.has_spec === 1,
      identity: r.identity,
      state: RolloutStateSchema.parse(JSON.parse(r.state)),
      reportAttempts: r.report_attempts,
      /** The judge's memory; null when unset or unreadable (the judge then starts afresh). */
      memory: memory?.success ? memory.data : null,
      /** The stored state and memory as text: two reads with the same revision saw the same judgement. */
      revision: `${r.state}\u0000${r.memory ?? ""}`,
    };
  });
export type FlagRow = z.infer<typeof FlagRowSchema>;

/** A configured flag: its row with the spec parsed. */
export interface LoadedFlag {
  row: FlagRow;
  spec: FlagSpec;
  state: RolloutState;
}

export class FlagStore {
  private parsed: { text: string; spec: FlagSpec } | null = null;

  constructor(private readonly sql: Sql) {}

  /** The row, or null before the first configuration. */
  row(): FlagRow | null {
    const row = this.sql.first("SELECT key, wave, spec_input, (spec IS NOT NULL OR spec_input IS NOT NULL) AS has_spec, identity, state, report_attempts, memory FROM flag WHERE id = 1");
    return row === null ? null : FlagRowSchema.parse(row);
  }

  /** The flag with its spec as written, or null when it holds none (never configured, retired, or an old object awaiting its spec). */
  loaded(): LoadedFlag | null {
    const row = this.row();
    if (row === null || row.specInput === null) return null;
    if (this.parsed?.text !== row.specInput) this.parsed = { text: row.specInput, spec: FlagSpecSchema.parse(JSON.parse(row.specInput)) };
    return { row, spec: this.parsed.spec, state: row.state };
  }

  /** The wave this object runs (1 before its first configuration). */
  wave(): number {
    return this.row()?.wave ?? 1;
  }

  /** Stores a spec as written, its parsed form, identity and the state it starts from; report attempts start again. */
  configure(input: { key: string; wave: number; spec: FlagSpec; specInput: string; identity: string; state: RolloutState }): void {
    this.sql.run(
      `INSERT INTO flag (id, key, wave, spec, spec_input, identity, state, report_attempts) VALUES (1, ?, ?, ?, ?, ?, ?, 0)
       ON CONFLICT (id) DO UPDATE SET key = excluded.key, wave = excluded.wave, spec = excluded.spec, spec_input = excluded.spec_input,
         identity = excluded.identity, state = excluded.state, report_attempts = 0`,
      input.key, input.wave, JSON.stringify(input.spec), input.specInput, input.identity, JSON.stringify(input.state),
    );
  }

  setState(state: RolloutState): void {
    this.sql.run("UPDATE flag SET state = ? WHERE id = 1", JSON.stringify(state));
  }

  setMemory(memory: GateMemory): void {
    this.sql.run("UPDATE flag SET memory = ? WHERE id = 1", JSON.stringify(memory));
  }

  setStateAndMemory(state: RolloutState, memory: GateMemory): void {
    this.sql.run("UPDATE flag SET state = ?, memory = ? WHERE id = 1", JSON.stringify(state), JSON.stringify(memory));
  }

  /** Who wrote the spec in force, as the audit names them (four-eyes approvals compare with it). */
  setSpecAuthor(author: string): void {
    this.sql.run("UPDATE flag SET spec_author = ? WHERE id = 1", author);
  }

  specAuthor(): string | null {
    const row = this.sql.first("SELECT spec_author FROM flag WHERE id = 1");
    return row === null ? null : z.object({ spec_author: z.string().nullable() }).parse(row).spec_author;
  }

  setReportAttempts(attempts: number): void {
    this.sql.run("UPDATE flag SET report_attempts = ? WHERE id = 1", attempts);
  }

  /** The flag was deleted: forget the spec, keep the state (its generation counter). */
  retire(): void {
    this.sql.run("UPDATE flag SET spec = NULL, spec_input = NULL, identity = NULL, report_attempts = 0 WHERE id = 1");
  }
}
