/** Runtime settings from `[vars]` and secrets, parsed once per isolate. */
import { z } from "zod";
import { summarizeIssues, toIssues } from "../core/issues";

const Millis = (fallback: number) => z.coerce.number().int().min(1).max(600_000).default(fallback);

const SettingsSchema = z.object({
  // Propagation bound HEAD_TTL_MS + MAX_STALE_MS = 2 s (docs/propagation.md derives it and its cost).
  HEAD_TTL_MS: Millis(1_000),
  REFRESH_MS: Millis(500),
  MAX_STALE_MS: Millis(1_000),
  LOAD_TIMEOUT_MS: Millis(1_000),
  // 0 turns keep-warm off; at most 25 s (a chain lives in one request's waitUntil).
  KEEP_WARM_MS: z.coerce.number().int().min(0).max(25_000).default(10_000),
  FLUSH_MS: z.coerce.number().int().min(100).max(25_000).default(5_000),
  FLUSH_MAX: z.coerce.number().int().min(1).max(100_000).default(1_000),
  FLUSH_MIN_MS: z.coerce.number().int().min(0).max(25_000).default(1_000),
  EVENTS_RATE_PER_MINUTE: z.coerce.number().int().min(1).default(600),
});

export interface Settings {
  /** How long a location's cached head (snapshot version) is trusted. */
  readonly headTtlMs: number;
  /** Age after which an isolate refreshes in the background while serving what it has. */
  readonly refreshMs: number;
  /** Age after which an isolate waits (up to loadTimeoutMs) for a refresh before serving. */
  readonly maxStaleMs: number;
  readonly loadTimeoutMs: number;
  /** How long after its last request an isolate keeps its snapshot refreshed in the background (0: off). */
  readonly keepWarmMs: number;
  /** Counter buffer: flush when this old (must stay under the ~30 s of waitUntil)… */
  readonly flushMs: number;
  /** …or when it holds this many exposures, but not more often than every flushMinMs. */
  readonly flushMax: number;
  readonly flushMinMs: number;
  /** POST /v1/events calls per client per minute, per isolate, before 429. */
  readonly eventsPerMinute: number;
}

let cached: { env: Env; settings: Settings } | null = null;

export function settingsOf(env: Env): Settings {
  if (cached?.env === env) return cached.settings;
  const parsed = SettingsSchema.safeParse(env);
  if (!parsed.success) throw new Error(`invalid settings: ${summarizeIssues(toIssues(parsed.error.issues))}`);
  const v = parsed.data;
  const settings: Settings = {
    headTtlMs: v.HEAD_TTL_MS,
    refreshMs: v.REFRESH_MS,
    maxStaleMs: Math.max(v.MAX_STALE_MS, v.REFRESH_MS),
    loadTimeoutMs: v.LOAD_TIMEOUT_MS,
    keepWarmMs: v.KEEP_WARM_MS,
    flushMs: v.FLUSH_MS,
    flushMax: v.FLUSH_MAX,
    flushMinMs: v.FLUSH_MIN_MS,
    eventsPerMinute: v.EVENTS_RATE_PER_MINUTE,
  };
  cached = { env, settings };
  return settings;
}

/** The documented propagation bound: a change is served everywhere within this many ms. */
export function propagationBoundMs(settings: Settings): number {
  return settings.headTtlMs + settings.maxStaleMs;
}
