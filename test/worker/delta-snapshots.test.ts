/**
 * Delta snapshots: an isolate that holds a snapshot reads only the flags a
 * change touched (the head lists them; each entry has its own immutable
 * key), not the whole flag set — against the real registry, KV and the
 * worker's snapshot source.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { assign } from "../../core/assign";
import type { CompiledSnapshot } from "../../core/compile";
import { entryStorageKey } from "../../core/snapshot";
import { SnapshotCache, type SnapshotSource } from "../../worker/snapshot";
import { workerSnapshotSource } from "../../worker/snapshot-source";
import { call, uniqueKey } from "./helpers";

/** The worker's own source, counting what it reads. */
function countingSource() {
  const inner = workerSnapshotSource(env, { headTtlMs: 0 });
  const reads = { heads: 0, snapshots: 0, entries: [] as string[] };
  const source: SnapshotSource = {
    fetchHead: () => {
      reads.heads++;
      return inner.fetchHead();
    },
    fetchSnapshot: (head) => {
      reads.snapshots++;
      return inner.fetchSnapshot(head);
    },
    fetchEntry: (key, version) => {
      reads.entries.push(key);
      return inner.fetchEntry?.(key, version) ?? Promise.resolve(null);
    },
  };
  return { source, reads };
}

/** An isolate's snapshot cache on a clock the test moves: each `refresh()` is one background refresh, awaited. */
function isolate() {
  const { source, reads } = countingSource();
  let now = 1_000_000;
  const cache = new SnapshotCache(source, { refreshMs: 1_000, maxStaleMs: 3_000, loadTimeoutMs: 5_000 }, () => now);
  const refresh = async (): Promise<CompiledSnapshot> => {
    now += 1_500;
    const work: Promise<unknown>[] = [];
    const served = cache.serve((p) => work.push(p));
    const snapshot = served instanceof Promise ? await served : served;
    await Promise.all(work);
    const current = cache.peek();
    if (!current || !snapshot) throw new Error("no snapshot");
    return current;
  };
  return { cache, reads, refresh };
}

const flag = (key: string) => ({ key, type: "boolean", variants: { baseline: false, candidate: true }, rollout: { stages: [{ weight: 50 }, { weight: 100 }] } });

describe("delta snapshots", () => {
  it("a one-flag change reads only that flag's entry; every other flag stays as compiled", async () => {
    const prefix = uniqueKey("delta");
    const keys = Array.from({ length: 40 }, (_, i) => `${prefix}-${i}`);
    expect((await call("POST", "/admin/manifest", { body: { flags: keys.map(flag) } })).status).toBe(200);
    const edge = isolate();
    const cold = await edge.refresh();
    expect(edge.reads.snapshots).toBe(1);
    expect(keys.every((k) => cold.flags.has(k))).toBe(true);

    const killed = keys[7] ?? "";
    expect((await call("POST", `/admin/flags/${killed}/actions`, { body: { action: "kill" } })).status).toBe(200);
    const warm = await edge.refresh();
    // One head, one entry — the killed flag — and no whole snapshot.
    expect(edge.reads).toMatchObject({ snapshots: 1, entries: [killed] });
    expect(edge.cache.loads).toMatchObject({ full: 1, delta: 1, entries: 1 });
    expect(warm.version).toBeGreaterThan(cold.version);
    const served = assign(warm.flags.get(killed) ?? (null as never), { targetingKey: "u" });
    expect(served).toMatchObject({ reason: "DISABLED", metadata: { status: "killed", configVersion: warm.version } });
    // Untouched flags are the very objects compiled before, not recompiled.
    expect(warm.flags.get(keys[0] ?? "")).toBe(cold.flags.get(keys[0] ?? ""));
    // And the result is what a full load of the same version would compile.
    const full = isolate();
    const reference = await full.refresh();
    expect(reference.version).toBe(warm.version);
    for (const k of keys) expect(assign(warm.flags.get(k) ?? (null as never), { targetingKey: "u-1" })).toEqual(assign(reference.flags.get(k) ?? (null as never), { targetingKey: "u-1" }));
  }, 30_000);

  it("a deleted flag is dropped by the delta; an isolate too far behind, or one whose entry was superseded, loads the whole snapshot", async () => {
    const prefix = uniqueKey("delta-far");
    const keys = Array.from({ length: 5 }, (_, i) => `${prefix}-${i}`);
    await call("POST", "/admin/manifest", { body: { flags: keys.map(flag) } });
    const edge = isolate();
    await edge.refresh();
    await call("DELETE", `/admin/flags/${keys[0] ?? ""}`);
    const after = await edge.refresh();
    expect(after.flags.has(keys[0] ?? "")).toBe(false);
    expect(edge.reads).toMatchObject({ snapshots: 1, entries: [] });

    // 70 changes (more versions than the head's log keeps) while this isolate was away: one full load.
    for (let i = 0; i < 35; i++) {
      await call("POST", `/admin/flags/${keys[1] ?? ""}/actions`, { body: { action: "kill" } });
      await call("POST", `/admin/flags/${keys[1] ?? ""}/actions`, { body: { action: "unkill" } });
    }
    await edge.refresh();
    expect(edge.reads.snapshots).toBe(2);
    expect(edge.cache.loads.full).toBe(2);

    // A change, then another to the same flag before this isolate looks: its first entry is superseded in the registry,
    // but the net delta asks only for the newest, so it still reads one entry.
    await call("POST", `/admin/flags/${keys[2] ?? ""}/actions`, { body: { action: "pause" } });
    await call("POST", `/admin/flags/${keys[2] ?? ""}/actions`, { body: { action: "resume" } });
    const before = edge.reads.entries.length;
    await edge.refresh();
    expect(edge.reads.entries.slice(before)).toEqual([keys[2]]);
  }, 30_000);

  it("a manifest touching more flags than the head lists is loaded whole, once", async () => {
    const prefix = uniqueKey("delta-wide");
    const edge = isolate();
    await edge.refresh();
    const keys = Array.from({ length: 150 }, (_, i) => `${prefix}-${i}`);
    await call("POST", "/admin/manifest", { body: { flags: keys.map(flag) } });
    const after = await edge.refresh();
    expect(keys.every((k) => after.flags.has(k))).toBe(true);
    expect(edge.reads.entries).toEqual([]);
    expect(edge.reads.snapshots).toBe(2);
  }, 30_000);
});

describe("a delta that cannot be read", () => {
  it("loads the whole snapshot when a listed entry is gone (superseded in the registry, not in KV), and serves the change", async () => {
    const prefix = uniqueKey("delta-gone");
    const keys = Array.from({ length: 5 }, (_, i) => `${prefix}-${i}`);
    await call("POST", "/admin/manifest", { body: { flags: keys.map(flag) } });
    const inner = workerSnapshotSource(env, { headTtlMs: 0 });
    const reads = { snapshots: 0, entries: 0 };
    const source: SnapshotSource = {
      fetchHead: () => inner.fetchHead(),
      fetchSnapshot: (head) => (reads.snapshots++, inner.fetchSnapshot(head)),
      // As when the entry's KV key has not reached this location and the registry has moved past that version.
      fetchEntry: () => (reads.entries++, Promise.resolve(null)),
    };
    let now = 1_000_000;
    const cache = new SnapshotCache(source, { refreshMs: 1_000, maxStaleMs: 3_000, loadTimeoutMs: 5_000 }, () => now);
    const refresh = async () => {
      now += 1_500;
      const work: Promise<unknown>[] = [];
      const served = cache.serve((p) => work.push(p));
      if (served instanceof Promise) await served;
      await Promise.all(work);
      return cache.peek();
    };
    await refresh();
    await call("POST", `/admin/flags/${keys[1] ?? ""}/actions`, { body: { action: "kill" } });
    const after = await refresh();
    expect(reads).toEqual({ snapshots: 2, entries: 1 });
    expect(cache.loads).toMatchObject({ full: 2, delta: 0 });
    expect(assign(after?.flags.get(keys[1] ?? "") ?? (null as never), { targetingKey: "u" })).toMatchObject({ reason: "DISABLED" });
  }, 30_000);
});

describe("an entry this release cannot read", () => {
  it("costs that flag alone: every other change in the delta, and a later kill, are served on the next refreshes", async () => {
    const prefix = uniqueKey("delta-newer");
    const [a, b, c] = [`${prefix}-a`, `${prefix}-b`, `${prefix}-c`];
    await call("POST", "/admin/manifest", { body: { flags: [a, b, c].map(flag) } });
    const edge = isolate();
    await edge.refresh();
    expect((await call("POST", `/admin/flags/${a}/actions`, { body: { action: "pause" } })).status).toBe(200);
    expect((await call("POST", `/admin/flags/${b}/actions`, { body: { action: "kill" } })).status).toBe(200);
    // A's entry as a newer release would write it: a field this release does not know.
    const head = await workerSnapshotSource(env, { headTtlMs: 0 }).fetchHead();
    const aVersion = head.changes?.find((change) => change.set.includes(a))?.version ?? 0;
    const storageKey = entryStorageKey(a, aVersion);
    const written = JSON.parse((await env.SNAPSHOTS.get(storageKey, "text")) ?? "null") as Record<string, unknown>;
    expect(written).toMatchObject({ key: a });
    await env.SNAPSHOTS.put(storageKey, JSON.stringify({ ...written, holdout: { percent: 5 } }));

    const after = await edge.refresh();
    // One delta, no fallback to the whole snapshot: B's kill is in, A is absent (FLAG_NOT_FOUND), C untouched.
    expect(edge.cache.loads).toMatchObject({ full: 1, delta: 1 });
    expect(after.version).toBe(head.version);
    expect(assign(after.flags.get(b) ?? (null as never), { targetingKey: "u" })).toMatchObject({ reason: "DISABLED" });
    expect(after.flags.has(a)).toBe(false);
    expect(after.flags.has(c)).toBe(true);

    // The isolate is not frozen on that version: the next change (a kill) arrives by the next refresh.
    expect((await call("POST", `/admin/flags/${c}/actions`, { body: { action: "kill" } })).status).toBe(200);
    const next = await edge.refresh();
    expect(next.version).toBeGreaterThan(after.version);
    expect(assign(next.flags.get(c) ?? (null as never), { targetingKey: "u" })).toMatchObject({ reason: "DISABLED" });
    expect(edge.cache.loads).toMatchObject({ full: 1, delta: 2 });
  }, 30_000);
});

describe("a cold isolate", () => {
  it("answers its first single-flag evaluation from that flag alone, in one read, while the whole snapshot loads behind it", async () => {
    const prefix = uniqueKey("cold");
    const keys = Array.from({ length: 30 }, (_, i) => `${prefix}-${i}`);
    await call("POST", "/admin/manifest", { body: { flags: keys.map(flag) } });
    await call("POST", `/admin/flags/${keys[3] ?? ""}/actions`, { body: { action: "kill" } });
    const inner = workerSnapshotSource(env, { headTtlMs: 0 });
    const reads: string[] = [];
    const source: SnapshotSource = {
      fetchHead: () => (reads.push("head"), inner.fetchHead()),
      fetchSnapshot: (head) => (reads.push("snapshot"), inner.fetchSnapshot(head)),
      fetchFlag: (key) => (reads.push(`flag ${key}`), inner.fetchFlag?.(key) ?? Promise.reject(new Error("no fetchFlag"))),
    };
    const cache = new SnapshotCache(source, { refreshMs: 1_000, maxStaleMs: 3_000, loadTimeoutMs: 5_000 });
    const background: Promise<unknown>[] = [];
    const served = await cache.serveFlag((p) => background.push(p), keys[3] ?? "");
    // The answer came from one read of that flag: killed, as published.
    expect(reads.filter((r) => r.startsWith("flag"))).toEqual([`flag ${keys[3]}`]);
    expect(served?.flags.size).toBe(1);
    expect(assign(served?.flags.get(keys[3] ?? "") ?? (null as never), { targetingKey: "u" })).toMatchObject({ reason: "DISABLED" });
    expect(cache.loads.single).toBe(1);
    // The whole snapshot was loading meanwhile; once in, the isolate serves every flag from it.
    await Promise.all(background);
    expect(reads).toContain("snapshot");
    const warm = await cache.serveFlag(() => undefined, keys[5] ?? "");
    expect(warm?.flags.size).toBeGreaterThanOrEqual(30);
    expect(reads.filter((r) => r.startsWith("flag"))).toHaveLength(1);
    // Requests arriving cold at once make one read of their flag between them (the others wait for it).
    const crowd = new SnapshotCache(source, { refreshMs: 1_000, maxStaleMs: 3_000, loadTimeoutMs: 5_000 });
    const before = reads.filter((r) => r === `flag ${keys[7]}`).length;
    const answers = await Promise.all(Array.from({ length: 5 }, async () => crowd.serveFlag(() => undefined, keys[7] ?? "")));
    expect(answers.every((a) => a?.flags.has(keys[7] ?? ""))).toBe(true);
    expect(reads.filter((r) => r === `flag ${keys[7]}`).length - before).toBe(1);
    // A flag that does not exist answers as absent (FLAG_NOT_FOUND), from the same one read.
    const cold = new SnapshotCache(source, { refreshMs: 1_000, maxStaleMs: 3_000, loadTimeoutMs: 5_000 });
    const missing = await cold.serveFlag(() => undefined, `${prefix}-none`);
    expect(missing?.flags.has(`${prefix}-none`)).toBe(false);
  }, 30_000);
});
