/**
 * Versioned storage for Durable Objects: each object class lists its schema
 * changes in order, and the object applies the ones its database has not
 * seen — each in its own transaction, recorded in `schema_migrations` —
 * inside `blockConcurrencyWhile`, before it serves any call. A database
 * written by any earlier release is brought forward step by step; one
 * written before versioning existed is adopted by migration 1, whose
 * statements are idempotent.
 */
import type { Sql } from "./sql";

export interface Migration {
  version: number;
  name: string;
  up(sql: Sql): void;
}

/** Applies the pending migrations in order; returns the versions applied. */
export function migrate(sql: Sql, migrations: readonly Migration[], now: number): number[] {
  sql.run("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, at INTEGER NOT NULL)");
  const current = sql.first<{ v: number | null }>("SELECT MAX(version) AS v FROM schema_migrations")?.v ?? 0;
  const applied: number[] = [];
  let previous = 0;
  for (const m of migrations) {
    if (m.version <= previous) throw new Error(`migrations out of order at ${m.version} (${m.name})`);
    previous = m.version;
    if (m.version <= current) continue;
    sql.transaction(() => {
      m.up(sql);
      sql.run("INSERT INTO schema_migrations (version, name, at) VALUES (?, ?, ?)", m.version, m.name, now);
    });
    applied.push(m.version);
  }
  return applied;
}

/** The schema version a database is at (0: never migrated). */
export function schemaVersion(sql: Sql): number {
  sql.run("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, at INTEGER NOT NULL)");
  return sql.first<{ v: number | null }>("SELECT MAX(version) AS v FROM schema_migrations")?.v ?? 0;
}

/** Adds a column if the table lacks it (for adopting databases written before a column existed). */
export function addColumnIfMissing(sql: Sql, table: string, column: string, definition: string): void {
  const columns = new Set(sql.all<{ name: string }>(`PRAGMA table_info(${table})`).map((c) => c.name));
  if (!columns.has(column)) sql.run(`ALTER TABLE ${table} ADD COLUMN ${column} ${definition}`);
}
