/** What routes share: the app's Hono environment and per-isolate services. */
import type { Context } from "hono";
import type { AuthVariables } from "./auth";
import { counterShardStub } from "../durable-objects/flag/stub";
import { plainCopy } from "../core/dict";
import { settingsOf } from "./config";
import { ExposureLog } from "./exposure-log";
import { CounterBuffer } from "./flush";
import { RateLimiter } from "./rate-limit";
import { SnapshotCache, type Schedule } from "./snapshot";
import { workerSnapshotSource } from "./snapshot-source";

export type AppEnv = { Bindings: Env; Variables: AuthVariables };

export interface Services {
  snapshots(env: Env): SnapshotCache;
  counters(env: Env): CounterBuffer;
  eventLimiter(env: Env): RateLimiter;
  exposureLog(env: Env): ExposureLog;
}

let isolateCache: SnapshotCache | null = null;
let isolateCounters: CounterBuffer | null = null;
let isolateLimiter: RateLimiter | null = null;
let isolateExposureLog: ExposureLog | null = null;

/** Records an isolate holds for the exposure log at most while R2 is unavailable. */
const EXPOSURE_LOG_MAX_PENDING = 10_000;

/** The production services: one snapshot cache, counter buffer and rate limiter per isolate. */
export const isolateServices: Services = {
  snapshots(env) {
    isolateCache ??= new SnapshotCache(workerSnapshotSource(env, settingsOf(env)), settingsOf(env));
    return isolateCache;
  },
  counters(env) {
    isolateCounters ??= new CounterBuffer((flag, shard, batch) => counterShardStub(env, flag, shard).addCounts(plainCopy(batch)), {
      flushMs: settingsOf(env).flushMs,
      maxSize: settingsOf(env).flushMax,
      minIntervalMs: settingsOf(env).flushMinMs,
    });
    return isolateCounters;
  },
  eventLimiter(env) {
    isolateLimiter ??= new RateLimiter(settingsOf(env).eventsPerMinute, 60_000);
    return isolateLimiter;
  },
  exposureLog(env) {
    isolateExposureLog ??= new ExposureLog(
      async (key, body) => {
        await env.EXPOSURES.put(key, body, { httpMetadata: { contentType: "application/x-ndjson" } });
      },
      { flushMs: settingsOf(env).flushMs, maxPending: EXPOSURE_LOG_MAX_PENDING, idKey: env.EXPOSURE_ID_KEY ? env.EXPOSURE_ID_KEY : null },
    );
    return isolateExposureLog;
  },
};

/** Runs work after the response through `waitUntil`; outside a request context, it logs failures. */
export function scheduler(c: Context): Schedule {
  return (work) => {
    try {
      c.executionCtx.waitUntil(work);
    } catch {
      work.catch((error: unknown) => console.error("background work failed", error));
    }
  };
}

/** The same, for a request answered outside Hono (the Worker's fast path), from its execution context. */
export function contextScheduler(ctx: ExecutionContext): Schedule {
  return (work) => ctx.waitUntil(work);
}
