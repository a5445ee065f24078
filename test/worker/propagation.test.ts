import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { snapshotStorageKey, type Snapshot, type SnapshotHead } from "../../core/snapshot";
import { registryStub } from "../../durable-objects/registry/stub";
import { createApp } from "../../worker/app";
import { settingsOf } from "../../worker/config";
import { isolateServices } from "../../worker/context";
import { SnapshotCache, type SnapshotSource } from "../../worker/snapshot";
import { workerSnapshotSource } from "../../worker/snapshot-source";
import { booleanSpec, call, evaluate, evaluateUntil, putFlag, PROPAGATION_MS, sleep, uniqueKey } from "./helpers";

function snapshot(version: number, keys: string[] = []): Snapshot {
  return {
    version,
    etag: `"${version}-test"`,
    publishedAt: 0,
    flags: keys.map((key) => ({
      key,
      type: "boolean" as const,
      variants: { baseline: false, candidate: true },
      pins: {},
      stickiness: "targetingKey",
      salt: key,
      exposures: "served" as const,
      counterShards: 1,
      stages: [{ weight: 100, shadow: false }],
      state: { status: "completed" as const, stageIndex: 0, generation: 1, version: 1, forced: null, pausedFrom: null, killedFrom: null, stageEnteredAt: 0, updatedAt: 0 },
      specVersion: 1,
    })),
  };
}

/** A source whose answers the test scripts, counting the calls it gets. */
function scriptedSource(answer: () => Promise<Snapshot>) {
  const calls = { head: 0, snapshot: 0 };
  const source: SnapshotSource = {
    async fetchHead(): Promise<SnapshotHead> {
      calls.head++;
      const s = await answer();
      return { version: s.version, etag: s.etag };
    },
    async fetchSnapshot() {
      calls.snapshot++;
      return answer();
    },
  };
  return { source, calls };
}

const TIMING = { refreshMs: 100, maxStaleMs: 300, loadTimeoutMs: 50 };
const noSchedule = (work: Promise<unknown>) => void work.catch(() => undefined);

describe("kill switch propagation", () => {
  it("a killed flag serves the baseline with DISABLED everywhere once the documented bound has passed", async () => {
    const key = uniqueKey("kill");
    await putFlag(booleanSpec(key, [{ weight: 50 }, { weight: 100 }]));
    const live = await evaluateUntil(key, { targetingKey: "u-1" }, (r) => r.status === 200);
    expect(live.json.reason).toBe("SPLIT");
    const kill = await call("POST", `/admin/flags/${key}/actions`, { body: { action: "kill", reason: "incident" } });
    expect(kill.json.published).toBe(true);
    await sleep(PROPAGATION_MS);
    const after = await Promise.all(Array.from({ length: 50 }, (_, i) => evaluate(key, { targetingKey: `user-${i}` })));
    for (const r of after) expect(r.json).toMatchObject({ value: false, variant: "baseline", reason: "DISABLED" });
  });
});

describe("snapshot cache", () => {
  it("an isolate that never had a snapshot answers OFREP 503 GENERAL at once when the registry is unreachable", async () => {
    const { source } = scriptedSource(() => Promise.reject(new Error("registry unreachable")));
    const cache = new SnapshotCache(source, TIMING);
    const app = createApp({ ...isolateServices, snapshots: () => cache });
    const r = await app.request("/ofrep/v1/evaluate/flags/anything", { method: "POST", body: "{}" }, env);
    expect(r.status).toBe(503);
    expect(r.headers.get("retry-after")).toBe("1");
    expect(await r.json()).toMatchObject({ key: "anything", errorCode: "GENERAL" });
    const health = await app.request("/health", {}, env);
    expect(health.status).toBe(503);
    expect(await health.json()).toMatchObject({ status: "unavailable" });
  });

  it("routing answers 503 with Retry-After, at once, while no snapshot is known", async () => {
    const { source } = scriptedSource(() => Promise.reject(new Error("registry unreachable")));
    const app = createApp({ ...isolateServices, snapshots: () => new SnapshotCache(source, TIMING) });
    const r = await app.request("/api/anything", {}, env);
    expect(r.status).toBe(503);
    expect(r.headers.get("retry-after")).toBe("1");
    expect(await r.json()).toMatchObject({ error: "unavailable" });
  });

  it("does not hang when the source never answers: 503 after the load timeout", async () => {
    const { source } = scriptedSource(() => new Promise<Snapshot>(() => undefined));
    const app = createApp({ ...isolateServices, snapshots: () => new SnapshotCache(source, TIMING) });
    const r = await app.request("/ofrep/v1/evaluate/flags/anything", { method: "POST", body: "{}" }, env);
    expect(r.status).toBe(503);
  });

  it("serves the warm snapshot synchronously and refreshes it in the background", () => {
    let now = 0;
    let version = 1;
    const { source, calls } = scriptedSource(async () => snapshot(version, ["a"]));
    const cache = new SnapshotCache(source, TIMING, () => now);
    const scheduled: Promise<unknown>[] = [];
    return (async () => {
      await cache.serve(noSchedule);
      expect(cache.peek()?.version).toBe(1);
      now = 50;
      expect(cache.serve((w) => scheduled.push(w))).toBe(cache.peek()); // fresh: no promise, no refresh
      expect(scheduled).toHaveLength(0);
      version = 2;
      now = 150; // stale but within maxStale: old snapshot now, refresh behind
      const served = cache.serve((w) => scheduled.push(w));
      expect(served).not.toBeInstanceOf(Promise);
      expect((served as { version: number }).version).toBe(1);
      await Promise.all(scheduled);
      expect(cache.peek()?.version).toBe(2);
      expect(calls.snapshot).toBe(2);
    })();
  });

  it("coalesces concurrent refreshes into one, without any request awaiting another's promise", async () => {
    let now = 0;
    const { source, calls } = scriptedSource(async () => snapshot(1, ["a"]));
    const cache = new SnapshotCache(source, TIMING, () => now);
    await cache.serve(noSchedule);
    now = 1000;
    await Promise.all(Array.from({ length: 20 }, () => Promise.resolve(cache.serve(noSchedule))));
    expect(calls.head).toBe(2);
  });

  it("keeps serving the last-known-good snapshot when the source fails, and backs off", async () => {
    let now = 0;
    let failing = false;
    const { source, calls } = scriptedSource(async () => {
      if (failing) throw new Error("KV and registry down");
      return snapshot(3, ["a"]);
    });
    const cache = new SnapshotCache(source, TIMING, () => now);
    await cache.serve(noSchedule);
    failing = true;
    now = 10_000;
    expect((await cache.serve(noSchedule))?.version).toBe(3);
    const headCalls = calls.head;
    now = 10_050; // within the back-off: no new attempt, no wait
    expect(cache.serve(noSchedule)).toBe(cache.peek());
    expect(calls.head).toBe(headCalls);
  });
});

describe("keep-warm", () => {
  /** A clock the test moves and a sleep it releases: each chain step runs when the test says so. */
  function scriptedTime() {
    const time = { now: 0 };
    const sleepers: (() => void)[] = [];
    const sleep = () => new Promise<void>((resolve) => sleepers.push(resolve));
    /** Moves the clock to `to` and lets the sleeping chain take one step (and its load finish). */
    const step = async (to: number) => {
      time.now = to;
      sleepers.shift()?.();
      for (let i = 0; i < 20; i++) await Promise.resolve();
    };
    return { time, sleep, step, sleepers };
  }
  const WARM = { ...TIMING, keepWarmMs: 1_000 };

  it("keeps a pausing isolate's snapshot confirmed: the request after a pause is served at once and sees what changed during it", async () => {
    const { time, sleep, step } = scriptedTime();
    let version = 1;
    const { source, calls } = scriptedSource(async () => snapshot(version, ["a"]));
    const cache = new SnapshotCache(source, WARM, () => time.now, sleep);
    const scheduled: Promise<unknown>[] = [];
    await cache.serve((w) => scheduled.push(w)); // cold: loads, and starts the chain
    version = 2; // a kill switch, published during the pause
    for (let t = 100; t <= 900; t += 100) await step(t); // no request for 900 ms
    expect(calls.head).toBeGreaterThanOrEqual(8);
    // Past MAX_STALE (300 ms) since the last request, yet served from memory — and already version 2.
    const served = cache.serve(noSchedule);
    expect(served).not.toBeInstanceOf(Promise);
    expect((served as { version: number }).version).toBe(2);
  });

  it("without keep-warm the same request waits for a head check first", async () => {
    const { time, sleep } = scriptedTime();
    const { source } = scriptedSource(async () => snapshot(1, ["a"]));
    const cache = new SnapshotCache(source, TIMING, () => time.now, sleep);
    await cache.serve(noSchedule);
    time.now = 900;
    expect(cache.serve(noSchedule)).toBeInstanceOf(Promise);
  });

  it("keeps the last-known-good snapshot when a keep-warm refresh fails, and its waitUntil work does not reject", async () => {
    const { time, sleep, step } = scriptedTime();
    let failing = false;
    const { source, calls } = scriptedSource(async () => {
      if (failing) throw new Error("registry unreachable");
      return snapshot(4, ["a"]);
    });
    const cache = new SnapshotCache(source, WARM, () => time.now, sleep);
    const scheduled: Promise<unknown>[] = [];
    await cache.serve((w) => void scheduled.push(w));
    failing = true;
    for (let t = 100; t <= 600; t += 100) await step(t);
    expect(calls.head).toBeGreaterThan(1); // it tried
    expect(cache.peek()?.version).toBe(4);
    for (let t = 700; t <= 2_000; t += 100) await step(t);
    await expect(Promise.all(scheduled)).resolves.toBeDefined();
  });

  it("stops refreshing keepWarmMs after the last request, and one chain runs at a time", async () => {
    const { time, sleep, step, sleepers } = scriptedTime();
    const { source, calls } = scriptedSource(async () => snapshot(1, ["a"]));
    const cache = new SnapshotCache(source, WARM, () => time.now, sleep);
    const scheduled: Promise<unknown>[] = [];
    const schedule = (w: Promise<unknown>) => void scheduled.push(w);
    await cache.serve(schedule);
    await step(150);
    void cache.serve(schedule); // a request refreshing on its own (age ≥ refreshMs) starts no second chain
    await Promise.resolve();
    expect(sleepers).toHaveLength(1);
    for (let t = 200; t <= 1_100; t += 100) await step(t);
    const headsWhenIdle = calls.head;
    for (let t = 1_200; t <= 3_000; t += 100) await step(t); // 1 s after the last request: the chain has ended
    expect(calls.head).toBe(headsWhenIdle);
    expect(sleepers).toHaveLength(0);
    await Promise.all(scheduled); // and its waitUntil promise settled
  });
});

describe("snapshot from KV, with the registry as fallback", () => {
  it("reads the head's version from KV, and from the RegistryDO when KV does not have it (yet)", async () => {
    await putFlag(booleanSpec(uniqueKey("kv")));
    const head = await registryStub(env).getHead();
    expect(await env.SNAPSHOTS.get(snapshotStorageKey(head))).not.toBeNull();
    const source = workerSnapshotSource(env, settingsOf(env));
    expect((await source.fetchSnapshot(head)).version).toBe(head.version);
    await env.SNAPSHOTS.delete(snapshotStorageKey(head)); // as if KV had not propagated the key
    const fallback = await source.fetchSnapshot(head);
    expect(fallback.version).toBe(head.version);
    expect(fallback.etag).toBe(head.etag);
  });
});

describe("head through the Cache API", () => {
  it("reuses the location's cached head for the TTL, then asks the registry again", async () => {
    // Two sources over the same location cache: one trusts entries for a minute, one not at all.
    const patient = workerSnapshotSource(env, { headTtlMs: 60_000 });
    const eager = workerSnapshotSource(env, { headTtlMs: 0 });
    const before = await eager.fetchHead(); // asks the registry and caches the head
    await putFlag(booleanSpec(uniqueKey("head")));
    const cached = await patient.fetchHead();
    expect(cached).toEqual(before); // within its TTL: the location's entry, not the registry
    const fresh = await eager.fetchHead();
    expect(fresh.version).toBeGreaterThan(before.version);
    const loaded = await eager.fetchSnapshot(fresh);
    expect(loaded.version).toBe(fresh.version);
  });
});
