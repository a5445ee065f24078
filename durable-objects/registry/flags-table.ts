/**
 * The registry's flags table: one row per flag with the spec as the
 * operator wrote it, its hash and version, and the counter shards its
 * objects chose. Each row is decoded once through its schema; the spec is
 * parsed from the written text through `FlagSpecSchema` (new fields get
 * their defaults), cached per text.
 */
import { z } from "zod";
import { FlagSpecSchema, type FlagSpec } from "../../core/manifest";
import type { SpecEntry } from "./types";
import type { Sql } from "../sql";

const StoredFlagSchema = z
  .object({ key: z.string(), raw: z.string(), spec_hash: z.string(), spec_version: z.number(), counter_shards: z.number(), created_at: z.number(), updated_at: z.number() })
  .transform((r) => ({ key: r.key, raw: r.raw, specHash: r.spec_hash, specVersion: r.spec_version, counterShards: r.counter_shards, createdAt: r.created_at, updatedAt: r.updated_at }));
export type StoredFlag = z.infer<typeof StoredFlagSchema>;

const COLUMNS = "key, raw, spec_hash, spec_version, counter_shards, created_at, updated_at";

export class FlagsTable {
  private readonly parsed = new Map<string, { text: string; spec: FlagSpec }>();

  constructor(private readonly sql: Sql) {}

  get(key: string): StoredFlag | null {
    const row = this.sql.first(`SELECT ${COLUMNS} FROM flags WHERE key = ?`, key);
    return row === null ? null : StoredFlagSchema.parse(row);
  }

  /** Every flag, by key. */
  all(): StoredFlag[] {
    return this.sql.all(`SELECT ${COLUMNS} FROM flags ORDER BY key`).map((row) => StoredFlagSchema.parse(row));
  }

  keys(): string[] {
    return this.sql.all<{ key: string }>("SELECT key FROM flags ORDER BY key").map((r) => r.key);
  }

  count(): number {
    return this.sql.first<{ n: number }>("SELECT COUNT(*) AS n FROM flags")?.n ?? 0;
  }

  /** A stored flag's spec, re-parsed from what the operator wrote. */
  specOf(flag: Pick<StoredFlag, "key" | "raw">): FlagSpec {
    const cached = this.parsed.get(flag.key);
    if (cached?.text === flag.raw) return cached.spec;
    const spec = FlagSpecSchema.parse(specInputOf({ raw: JSON.parse(flag.raw) as unknown, spec: { key: flag.key } }));
    this.parsed.set(flag.key, { text: flag.raw, spec });
    return spec;
  }

  /** The spec of the flag `key`, or null when there is no such flag. */
  specOfKey(key: string): FlagSpec | null {
    const flag = this.get(key);
    return flag === null ? null : this.specOf(flag);
  }

  /** Specs by key, for planning a manifest. */
  specs(flags: readonly StoredFlag[] = this.all()): Map<string, FlagSpec> {
    return new Map(flags.map((f) => [f.key, this.specOf(f)]));
  }

  /** Writes a flag's spec (its version goes up by one); returns the row as it was before, or null for a new flag. */
  upsert(entry: SpecEntry, specHash: string, now: number): StoredFlag | null {
    const existing = this.get(entry.spec.key);
    this.sql.run(
      `INSERT INTO flags (key, raw, spec, spec_hash, spec_version, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (key) DO UPDATE SET raw = excluded.raw, spec = excluded.spec, spec_hash = excluded.spec_hash,
         spec_version = excluded.spec_version, updated_at = excluded.updated_at`,
      entry.spec.key, JSON.stringify(entry.raw), JSON.stringify(entry.spec), specHash, (existing?.specVersion ?? 0) + 1, existing?.createdAt ?? now, now,
    );
    return existing;
  }

  remove(key: string): void {
    this.sql.run("DELETE FROM flags WHERE key = ?", key);
  }

  /** Raises the flag's counter shards to `shards` (they only grow); true when it changed. */
  raiseCounterShards(key: string, shards: number): boolean {
    return this.sql.all("UPDATE flags SET counter_shards = ? WHERE key = ? AND counter_shards < ? RETURNING key", shards, key, shards).length > 0;
  }
}

/** The spec as the operator wrote it, with its key (a PUT may leave the key to the URL). */
export function specInputOf(entry: Pick<SpecEntry, "raw"> & { spec: Pick<FlagSpec, "key"> }): unknown {
  const raw = entry.raw !== null && typeof entry.raw === "object" && !Array.isArray(entry.raw) ? entry.raw : {};
  return { ...raw, key: entry.spec.key };
}
