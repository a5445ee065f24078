/**
 * How many calls per second a hot flag's counter objects receive, as a
 * function of isolates, evaluations per second, the edge flush settings and
 * the number of counter shards — and how many shards keep every object
 * under a budget (`docs/hot-flags.md`).
 *
 * The edge buffer (`worker/flush.ts`) flushes a flag's counts FLUSH_MS after
 * the first record since the last flush, or at once when FLUSH_MAX records
 * are held; each flush is one call to the flag's counter object that this
 * isolate picked (uniformly at random, once per isolate). With Poisson
 * arrivals at λ per isolate, the mean time between flushes is the wait for
 * the first record (1/λ) plus min(FLUSH_MS, FLUSH_MAX/λ) — and, with the
 * FLUSH_MIN_MS floor between flushes, at least FLUSH_MIN_MS in all.
 */

export interface HotFlagLoad {
  isolates: number;
  /** Evaluations per second of the flag across all isolates (spread evenly). */
  evaluationsPerSecond: number;
  flushMs: number;
  flushMax: number;
  /** FLUSH_MIN_MS: the least time between two flushes of one isolate (0 when absent). */
  flushMinMs?: number;
  shards: number;
}

/** The time from the first record after a flush to the next flush, in seconds. */
function flushWindow(lambda: number, flushMs: number, flushMax: number, flushMinMs: number): number {
  return Math.min(flushMs / 1000, Math.max(flushMinMs / 1000 - 1 / lambda, flushMax / lambda));
}

/** Flushes per second of one isolate receiving λ records per second. */
export function flushRate(lambda: number, flushMs: number, flushMax: number, flushMinMs = 0): number {
  if (lambda <= 0) return 0;
  return 1 / (1 / lambda + flushWindow(lambda, flushMs, flushMax, flushMinMs));
}

/**
 * Calls per second into one counter object: the mean, and the busiest
 * object's at about three standard deviations of the isolates-per-shard
 * spread (each isolate picks its shard at random).
 */
export function callsPerObject(load: HotFlagLoad): { mean: number; busiest: number; total: number } {
  const perIsolate = flushRate(load.evaluationsPerSecond / load.isolates, load.flushMs, load.flushMax, load.flushMinMs);
  const total = perIsolate * load.isolates;
  const isolatesPerShard = load.isolates / load.shards;
  const spread = load.shards > 1 ? 3 * Math.sqrt(isolatesPerShard * (1 - 1 / load.shards)) : 0;
  return { mean: total / load.shards, busiest: Math.min(load.isolates, isolatesPerShard + spread) * perIsolate, total };
}

/** Calls per second per counter object the automatic sharding keeps to (`docs/hot-flags.md`). */
export const COUNTER_CALLS_BUDGET = 500;
/** The share of the budget a shard's mean load may reach: the rest is room for the random spread of isolates over shards and for growth. */
const AUTO_SHARD_UTILISATION = 0.7;

/**
 * The shards a flag should have, given the calls per second its primary
 * counter object was seen receiving with `current` shards. Isolates pick a
 * shard uniformly, so the flag's total is about `current` times what one
 * object receives; shards are added until the mean per object is at most
 * 70% of the budget (16 at most). Never fewer than `current`: counts
 * already sent to a shard are read from it for as long as they are kept.
 */
export function autoShards(current: number, observedCallsPerSecond: number, budget = COUNTER_CALLS_BUDGET): number {
  const total = observedCallsPerSecond * current;
  const wanted = Math.ceil(total / (AUTO_SHARD_UTILISATION * budget));
  return Math.min(16, Math.max(current, wanted));
}

/** The fewest shards (1–16, the spec's range) that keep the busiest object under `budget` calls/s; null when 16 do not. */
export function shardsFor(load: Omit<HotFlagLoad, "shards">, budget: number): number | null {
  for (let shards = 1; shards <= 16; shards++) if (callsPerObject({ ...load, shards }).busiest <= budget) return shards;
  return null;
}

/**
 * Calls per second into each of `shards` objects over `seconds`, simulated:
 * isolates with Poisson arrivals each apply the buffer's flush rule and pick a
 * shard at random. `random` is a seeded source (`core/random.ts`), so runs repeat.
 */
export function simulateCalls(load: HotFlagLoad, seconds: number, random: () => number): number[] {
  const lambda = load.evaluationsPerSecond / load.isolates;
  const window = flushWindow(lambda, load.flushMs, load.flushMax, load.flushMinMs ?? 0);
  const calls = new Array<number>(load.shards).fill(0);
  for (let i = 0; i < load.isolates; i++) {
    const shard = Math.floor(random() * load.shards);
    // Wait for the first record after a flush, then the timer or the size limit, whichever comes first.
    for (let t = -Math.log(1 - random()) / lambda + window; t <= seconds; t += -Math.log(1 - random()) / lambda + window) {
      calls[shard] = (calls[shard] ?? 0) + 1;
    }
  }
  return calls.map((c) => c / seconds);
}
