/**
 * The numbers a FlagDO keeps about itself (table `stats`, from
 * `schema.ts`), under a fixed set of keys: a misspelt key is a type
 * error, not a row nobody reads.
 */
import type { Sql } from "../sql";

export const FLAG_STAT_KEYS = [
  /** Counter batches taken (for the flush-rate model and storage stats). */
  "counter_batches",
  /** When old counter rows were last compacted. */
  "compacted_at",
  /** Counter shards chosen from the observed flush rate. */
  "counter_shards",
  /** The flush-rate sample: batches counted and when, at the last judgement. */
  "rate_batches",
  "rate_at",
] as const;
export type FlagStatKey = (typeof FLAG_STAT_KEYS)[number];

export class FlagStats {
  constructor(private readonly sql: Sql) {}

  /** The value, or undefined when unset. */
  get(key: FlagStatKey): number | undefined {
    return this.sql.first<{ v: number }>("SELECT v FROM stats WHERE k = ?", key)?.v;
  }

  set(key: FlagStatKey, value: number): void {
    this.sql.run("INSERT OR REPLACE INTO stats (k, v) VALUES (?, ?)", key, value);
  }

  clear(key: FlagStatKey): void {
    this.sql.run("DELETE FROM stats WHERE k = ?", key);
  }

  increment(key: FlagStatKey): void {
    this.sql.run("INSERT INTO stats (k, v) VALUES (?, 1) ON CONFLICT (k) DO UPDATE SET v = v + 1", key);
  }
}
