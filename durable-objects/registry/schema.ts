/**
 * The RegistryDO's storage schema, as ordered migrations (see `migrations.ts`).
 * Never edit a migration that has shipped: add the next one.
 */
import type { Migration } from "../migrations";

export const REGISTRY_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: "initial schema (adopts databases written before versioning)",
    up(sql) {
      sql.run("CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)");
      sql.run(`CREATE TABLE IF NOT EXISTS flags (
        key TEXT PRIMARY KEY, raw TEXT NOT NULL, spec TEXT NOT NULL, spec_hash TEXT NOT NULL,
        spec_version INTEGER NOT NULL, state TEXT NOT NULL, state_version INTEGER NOT NULL,
        created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)`);
      sql.run(`CREATE TABLE IF NOT EXISTS audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL,
        flag TEXT, spec_hash TEXT, summary TEXT NOT NULL)`);
      sql.run(`CREATE TABLE IF NOT EXISTS snapshot (
        id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL, etag TEXT NOT NULL, body TEXT NOT NULL)`);
      sql.run("CREATE TABLE IF NOT EXISTS flag_metrics (key TEXT PRIMARY KEY, data TEXT NOT NULL)");
      sql.run("CREATE TABLE IF NOT EXISTS decision_counts (action TEXT NOT NULL, source TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (action, source))");
    },
  },
  {
    version: 2,
    name: "audit entries carry the decision they record, once each",
    up(sql) {
      sql.run("ALTER TABLE audit ADD COLUMN decision_id INTEGER");
      sql.run("CREATE UNIQUE INDEX audit_decision ON audit (flag, decision_id) WHERE decision_id IS NOT NULL");
    },
  },
  {
    version: 3,
    name: "audit entries record the key that signed the spec (MANIFEST_PUBLIC_KEYS)",
    up(sql) {
      sql.run("ALTER TABLE audit ADD COLUMN signing_key TEXT");
    },
  },
  {
    version: 4,
    name: "region waves: the state each wave after the first reported (wave 1's stays in flags.state)",
    up(sql) {
      sql.run(`CREATE TABLE flag_waves (
        key TEXT NOT NULL, wave INTEGER NOT NULL, state TEXT NOT NULL, state_version INTEGER NOT NULL,
        PRIMARY KEY (key, wave))`);
    },
  },
  {
    version: 5,
    name: "delta snapshots: each flag's published entry, the versions that changed which keys, flags to republish",
    up(sql) {
      // content: the entry as composed (compared to find changes); body: the same with the version it changed in (what edges read).
      sql.run("CREATE TABLE flag_entries (key TEXT PRIMARY KEY, version INTEGER NOT NULL, content TEXT NOT NULL, body TEXT NOT NULL)");
      sql.run("CREATE TABLE snapshot_changes (version INTEGER NOT NULL, key TEXT NOT NULL, deleted INTEGER NOT NULL, PRIMARY KEY (version, key))");
      sql.run("CREATE TABLE dirty_flags (key TEXT PRIMARY KEY)");
      // Counter shards the flag's objects chose from their observed flush rates (at least the spec's counterShards).
      sql.run("ALTER TABLE flags ADD COLUMN counter_shards INTEGER NOT NULL DEFAULT 1");
      // The full body is built from flag_entries when asked for (one row could not hold thousands of flags: 2 MB per value).
      sql.run("UPDATE snapshot SET body = ''");
    },
  },
  {
    version: 6,
    name: "every wave's state in flag_waves (wave 1's moves out of flags); audit entries name the wave of the decision they record",
    up(sql) {
      sql.run("INSERT OR IGNORE INTO flag_waves (key, wave, state, state_version) SELECT key, 1, state, state_version FROM flags");
      sql.run("ALTER TABLE flags DROP COLUMN state");
      sql.run("ALTER TABLE flags DROP COLUMN state_version");
      // Decision ids are per object: a wave's were stored as -(wave * 1e9 + id) to keep them apart from wave 1's.
      sql.run("ALTER TABLE audit ADD COLUMN wave INTEGER NOT NULL DEFAULT 1");
      sql.run("UPDATE audit SET wave = (-decision_id) / 1000000000, decision_id = (-decision_id) % 1000000000 WHERE decision_id < 0");
      sql.run("DROP INDEX audit_decision");
      sql.run("CREATE UNIQUE INDEX audit_decision ON audit (flag, wave, decision_id) WHERE decision_id IS NOT NULL");
      // The 'dirty' flag duplicated dirty_flags (set and cleared with it); a registry from before dirty_flags republishes every flag.
      sql.run("INSERT OR IGNORE INTO dirty_flags (key) SELECT key FROM flags WHERE EXISTS (SELECT 1 FROM meta WHERE k = 'dirty')");
      sql.run("DELETE FROM meta WHERE k = 'dirty'");
    },
  },
  {
    version: 7,
    name: "scheduled changes: an operator action the cron carries out at a time",
    up(sql) {
      sql.run(`CREATE TABLE schedules (
        id INTEGER PRIMARY KEY AUTOINCREMENT, flag TEXT NOT NULL, wave INTEGER NOT NULL, at INTEGER NOT NULL, action TEXT NOT NULL,
        variant TEXT, reason TEXT, created_by TEXT NOT NULL, created_at INTEGER NOT NULL)`);
      sql.run("CREATE INDEX schedules_at ON schedules (at)");
      sql.run("CREATE INDEX schedules_flag ON schedules (flag, at)");
    },
  },
  {
    version: 8,
    name: "segments: named audiences the flags' rules refer to",
    up(sql) {
      sql.run("CREATE TABLE segments (name TEXT PRIMARY KEY, body TEXT NOT NULL, version INTEGER NOT NULL, updated_by TEXT NOT NULL, updated_at INTEGER NOT NULL)");
    },
  },
  {
    version: 9,
    name: "scheduled spec updates: a schedule may carry the spec to store at its time",
    up(sql) {
      sql.run("ALTER TABLE schedules ADD COLUMN spec TEXT");
    },
  },
  {
    version: 10,
    name: "role grants to people and groups (core/access.ts)",
    up(sql) {
      sql.run(`CREATE TABLE grants (
        kind TEXT NOT NULL CHECK (kind IN ('user', 'group')), subject TEXT NOT NULL, role TEXT NOT NULL, prefixes TEXT,
        created_by TEXT NOT NULL, created_at INTEGER NOT NULL, PRIMARY KEY (kind, subject))`);
    },
  },
  {
    version: 11,
    name: "API tokens for machines, CI and agents, stored as hashes",
    up(sql) {
      sql.run(`CREATE TABLE api_tokens (
        id TEXT PRIMARY KEY, name TEXT NOT NULL, hash TEXT NOT NULL, role TEXT NOT NULL, prefixes TEXT, expires_at INTEGER,
        created_by TEXT NOT NULL, created_at INTEGER NOT NULL, last_used_at INTEGER, revoked_at INTEGER)`);
    },
  },
];
