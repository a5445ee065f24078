/** What routes share: the app's Hono environment and per-isolate services. */
import type { Context } from "hono";
import type { AuthVariables } from "./auth";
import { settingsOf } from "./config";
import { SnapshotCache, type Schedule } from "./snapshot";
import { workerSnapshotSource } from "./snapshot-source";

export type AppEnv = { Bindings: Env; Variables: AuthVariables };

export interface Services {
  snapshots(env: Env): SnapshotCache;
}

let isolateCache: SnapshotCache | null = null;

/** The production services: one snapshot cache per isolate. */
export const isolateServices: Services = {
  snapshots(env) {
    isolateCache ??= new SnapshotCache(workerSnapshotSource(env, settingsOf(env)), settingsOf(env));
    return isolateCache;
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
