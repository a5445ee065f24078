/**
 * The FlagDO's storage schema, as ordered migrations (see `migrations.ts`).
 * Never edit a migration that has shipped: add the next one.
 */
import { RolloutStateSchema } from "../../core/rollout";
import { addColumnIfMissing, type Migration } from "../migrations";

export const FLAG_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "initial schema (adopts databases written before versioning)",
    up(sql) {
      sql.run(`CREATE TABLE IF NOT EXISTS flag (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        key TEXT NOT NULL, spec TEXT, identity TEXT, state TEXT NOT NULL,
        report_attempts INTEGER NOT NULL DEFAULT 0)`);
      addColumnIfMissing(sql, "flag", "memory", "TEXT");
      sql.run("CREATE TABLE IF NOT EXISTS stats (k TEXT PRIMARY KEY, v INTEGER NOT NULL)");
      sql.run(`CREATE TABLE IF NOT EXISTS decisions (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, generation INTEGER NOT NULL,
        action TEXT NOT NULL, source TEXT NOT NULL, actor TEXT NOT NULL, reason TEXT,
        from_status TEXT NOT NULL, from_stage INTEGER NOT NULL, to_status TEXT NOT NULL, to_stage INTEGER NOT NULL,
        state_version INTEGER NOT NULL, inputs TEXT)`);
      addColumnIfMissing(sql, "decisions", "rule", "TEXT");
      addColumnIfMissing(sql, "decisions", "verdicts", "TEXT");
      sql.run(`CREATE TABLE IF NOT EXISTS counters (
        generation INTEGER NOT NULL, stage INTEGER NOT NULL, arm TEXT NOT NULL, minute INTEGER NOT NULL,
        span INTEGER NOT NULL DEFAULT 1, data TEXT NOT NULL, PRIMARY KEY (generation, stage, arm, minute))`);
      sql.run(`CREATE TABLE IF NOT EXISTS totals (
        generation INTEGER NOT NULL, stage INTEGER NOT NULL, arm TEXT NOT NULL, data TEXT NOT NULL,
        PRIMARY KEY (generation, stage, arm))`);
      sql.run("CREATE TABLE IF NOT EXISTS seen_events (id TEXT PRIMARY KEY, minute INTEGER NOT NULL)");
      sql.run("CREATE INDEX IF NOT EXISTS seen_events_minute ON seen_events (minute)");
      sql.run(`CREATE TABLE IF NOT EXISTS outbox (
        id INTEGER PRIMARY KEY AUTOINCREMENT, url TEXT NOT NULL, body TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL)`);
      sql.run(`CREATE TABLE IF NOT EXISTS disagreements (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, at INTEGER NOT NULL,
        targeting_key TEXT NOT NULL, arm TEXT NOT NULL, generation INTEGER NOT NULL)`);
    },
  },
  {
    version: 2,
    name: "counters per replicate group of users; edge flush batches claimed once",
    up(sql) {
      // Counts written before this version carry no user grouping: they move to group 0, which
      // makes their variance conservative (one group holds all of them) rather than falsely small.
      sql.run(`CREATE TABLE counters_v2 (
        generation INTEGER NOT NULL, stage INTEGER NOT NULL, arm TEXT NOT NULL, replicate INTEGER NOT NULL,
        minute INTEGER NOT NULL, span INTEGER NOT NULL DEFAULT 1, data TEXT NOT NULL,
        PRIMARY KEY (generation, stage, arm, replicate, minute))`);
      sql.run("INSERT INTO counters_v2 SELECT generation, stage, arm, 0, minute, span, data FROM counters");
      sql.run("DROP TABLE counters");
      sql.run("ALTER TABLE counters_v2 RENAME TO counters");
      sql.run("CREATE INDEX counters_minute ON counters (generation, minute)");
      sql.run(`CREATE TABLE totals_v2 (
        generation INTEGER NOT NULL, stage INTEGER NOT NULL, arm TEXT NOT NULL, replicate INTEGER NOT NULL,
        data TEXT NOT NULL, PRIMARY KEY (generation, stage, arm, replicate))`);
      sql.run("INSERT INTO totals_v2 SELECT generation, stage, arm, 0, data FROM totals");
      sql.run("DROP TABLE totals");
      sql.run("ALTER TABLE totals_v2 RENAME TO totals");
      sql.run("CREATE TABLE seen_batches (id TEXT PRIMARY KEY, minute INTEGER NOT NULL)");
      sql.run("CREATE INDEX seen_batches_minute ON seen_batches (minute)");
    },
  },
  {
    version: 3,
    name: "state history and per-generation specs for attributing events; unattributed counts",
    up(sql) {
      sql.run(`CREATE TABLE state_history (
        seq INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, generation INTEGER NOT NULL, state TEXT NOT NULL)`);
      sql.run("CREATE INDEX state_history_at ON state_history (at)");
      sql.run("CREATE TABLE generation_specs (generation INTEGER PRIMARY KEY, spec TEXT NOT NULL)");
      sql.run(`CREATE TABLE unattributed (
        generation INTEGER NOT NULL, reason TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (generation, reason))`);
      // The spec as the operator wrote it, re-parsed on every read so new fields get their defaults.
      // Rows written before hold only the parsed spec: the registry sends the written one again
      // at the next cron tick (`evaluate` answers `needsSpec`), which also records its generation spec.
      sql.run("ALTER TABLE flag ADD COLUMN spec_input TEXT");
      // A flag that existed before: its current state is the history it has, from when its stage began.
      const row = sql.first<{ state: string }>("SELECT state FROM flag WHERE id = 1");
      if (row) {
        const state = RolloutStateSchema.safeParse(JSON.parse(row.state));
        if (state.success) sql.run("INSERT INTO state_history (at, generation, state) VALUES (?, ?, ?)", state.data.stageEnteredAt, state.data.generation, row.state);
      }
    },
  },
  {
    version: 4,
    name: "stage approvals and rejections (operators and external checks)",
    up(sql) {
      sql.run(`CREATE TABLE approvals (
        id INTEGER PRIMARY KEY AUTOINCREMENT, generation INTEGER NOT NULL, stage INTEGER NOT NULL,
        verdict TEXT NOT NULL, actor TEXT NOT NULL, note TEXT, at INTEGER NOT NULL)`);
      sql.run("CREATE INDEX approvals_generation ON approvals (generation, stage)");
    },
  },
  {
    version: 5,
    name: "the region wave this object runs (1 for a flag without waves: its own object)",
    up(sql) {
      sql.run("ALTER TABLE flag ADD COLUMN wave INTEGER NOT NULL DEFAULT 1");
    },
  },
  {
    version: 6,
    name: "scheduled work in one jobs table (the earliest due row sets the alarm)",
    up(sql) {
      sql.run("CREATE TABLE jobs (kind TEXT PRIMARY KEY, due_at INTEGER NOT NULL)");
      // The two schedules kept among the stats until now, and the outbox's next delivery.
      sql.run("INSERT INTO jobs (kind, due_at) SELECT 'report_state', v FROM stats WHERE k = 'report_retry_at'");
      sql.run("INSERT INTO jobs (kind, due_at) SELECT 'approval_check', v FROM stats WHERE k = 'approval_check_at'");
      sql.run("INSERT INTO jobs (kind, due_at) SELECT 'deliver_webhooks', MIN(next_at) FROM outbox HAVING COUNT(*) > 0");
      sql.run("DELETE FROM stats WHERE k IN ('report_retry_at', 'approval_check_at')");
    },
  },
  {
    version: 7,
    name: "experiments: every variant of a split with a control, per iteration, replicate group and hour",
    up(sql) {
      sql.run(`CREATE TABLE experiment_counters (
        iteration TEXT NOT NULL, variant TEXT NOT NULL, replicate INTEGER NOT NULL, hour INTEGER NOT NULL,
        data TEXT NOT NULL, PRIMARY KEY (iteration, variant, replicate, hour))`);
      sql.run("CREATE INDEX experiment_counters_hour ON experiment_counters (hour)");
      sql.run(`CREATE TABLE experiments (
        iteration TEXT PRIMARY KEY, rule TEXT NOT NULL, control TEXT NOT NULL,
        first_at INTEGER NOT NULL, last_at INTEGER NOT NULL)`);
    },
  },
  {
    version: 8,
    name: "who wrote the spec in force (four-eyes approvals)",
    up(sql) {
      sql.run("ALTER TABLE flag ADD COLUMN spec_author TEXT");
    },
  },
];
