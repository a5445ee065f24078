import { SELF, env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { flagStub } from "../../durable-objects/flag/stub";
import { createApp } from "../../worker/app";
import { isolateServices } from "../../worker/context";
import { RateLimiter } from "../../worker/rate-limit";
import { SnapshotCache } from "../../worker/snapshot";
import { workerSnapshotSource } from "../../worker/snapshot-source";
import { booleanSpec, call, evaluateUntil, putFlag, uniqueKey } from "./helpers";

/** Each call comes from its own address unless told otherwise: the events limit is per client address. */
async function send(body: unknown, headers: Record<string, string> = {}) {
  const r = await SELF.fetch("https://rampart.test/v1/events", {
    method: "POST",
    headers: { "content-type": "application/json", "cf-connecting-ip": uniqueKey("ip"), ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: r.status, headers: r.headers, json: await r.json<Record<string, any>>() };
}

/** A flag counting exposures from events, served to the edge. */
async function eventFlag() {
  const key = uniqueKey("ev");
  await putFlag({ ...booleanSpec(key), exposures: "events", metrics: { ctr: { kind: "ratio", numerator: "click", denominator: "exposure" } } });
  await evaluateUntil(key, { targetingKey: "probe" }, (r) => r.status === 200);
  return key;
}

async function ctrSamples(key: string) {
  const report = await flagStub(env, key).compareReport(0, Date.now() + 3_600_000);
  return { baseline: report?.arms.baseline.metrics["ctr"]?.samples, candidate: report?.arms.candidate.metrics["ctr"]?.samples, clicks: report?.arms.candidate.metrics["ctr"]?.value };
}

describe("POST /v1/events", () => {
  it("accepts a batch, credits each event to its arm, and a replayed batch changes no counter", async () => {
    const key = await eventFlag();
    const events = [
      { eventId: `${key}-1`, flag: key, targetingKey: "u1", name: "exposure", variant: "candidate" },
      { eventId: `${key}-2`, flag: key, targetingKey: "u1", name: "click", variant: "candidate" },
      { eventId: `${key}-3`, flag: key, targetingKey: "u2", name: "exposure", variant: "baseline" },
      { eventId: `${key}-4`, flag: key, targetingKey: "u3", name: "exposure" },
    ];
    const first = await send({ events });
    expect(first.status).toBe(202);
    expect(first.json).toEqual({ accepted: 4, duplicates: 0, rejected: [] });
    const counted = await ctrSamples(key);
    expect((counted.baseline ?? 0) + (counted.candidate ?? 0)).toBe(3);
    const replay = await send({ events });
    expect(replay.json).toEqual({ accepted: 0, duplicates: 4, rejected: [] });
    expect(await ctrSamples(key)).toEqual(counted);
  });

  it("counts shadow comparisons by agreement and lists recent disagreements", async () => {
    const key = await eventFlag();
    const events = [
      { eventId: `${key}-c1`, flag: key, targetingKey: "u1", name: "comparison", value: 1, variant: "candidate" },
      { eventId: `${key}-c2`, flag: key, targetingKey: "u2", name: "comparison", value: 0, variant: "candidate" },
      { eventId: `${key}-c3`, flag: key, targetingKey: "u3", name: "comparison", value: 0, variant: "candidate" },
    ];
    expect((await send({ events })).json.accepted).toBe(3);
    const report = await flagStub(env, key).compareReport(0, Date.now() + 3_600_000);
    expect(report?.arms.candidate.metrics["shadow_agreement"]).toMatchObject({ value: 1 / 3, samples: 3 });
    const res = await SELF.fetch(`https://rampart.test/admin/flags/${key}/disagreements`, { headers: { authorization: `Bearer ${env.ADMIN_TOKEN}` } });
    const body = await res.json<{ disagreements: { targetingKey: string; eventId: string }[] }>();
    expect(body.disagreements.map((d) => d.targetingKey)).toEqual(["u3", "u2"]);
  });

  it("rejects bad events by index with a reason and accepts the rest", async () => {
    const key = await eventFlag();
    const now = Date.now();
    const events = [
      { eventId: "ok-1", flag: key, targetingKey: "u1", name: "exposure", variant: "candidate" },
      { eventId: "x", flag: key, name: "click" },
      { eventId: "x2", flag: "no-such-flag", targetingKey: "u", name: "click" },
      { eventId: "x3", flag: key, targetingKey: "u", name: "click", variant: "treatment" },
      { eventId: "x4", flag: key, targetingKey: "u", name: "click", timestamp: now - 8 * 86_400_000 },
      { eventId: "x5", flag: key, targetingKey: "u", name: "click", timestamp: new Date(now + 3_600_000).toISOString() },
      { eventId: "x6", flag: key, targetingKey: "u", name: "latency_ms" },
      { eventId: "x7", flag: key, targetingKey: "u", name: "comparison", value: 0.5 },
    ];
    const r = await send({ events });
    expect(r.status).toBe(202);
    expect(r.json.accepted).toBe(1);
    expect(r.json.rejected.map((x: { index: number; error: string }) => [x.index, x.error])).toEqual([
      [1, "invalid_event"],
      [2, "unknown_flag"],
      [3, "unknown_variant"],
      [4, "timestamp_out_of_range"],
      [5, "timestamp_out_of_range"],
      [6, "invalid_event"],
      [7, "invalid_event"],
    ]);
    expect(r.json.rejected[0].message).toContain("targetingKey");
  });

  it("rejects exposure events for a flag that counts served exposures (no double counting)", async () => {
    const key = uniqueKey("served");
    await putFlag(booleanSpec(key));
    await evaluateUntil(key, { targetingKey: "probe" }, (res) => res.status === 200);
    const r = await send({ events: [{ eventId: "e1", flag: key, targetingKey: "u", name: "exposure", variant: "candidate" }] });
    expect(r.json.rejected[0]).toMatchObject({ index: 0, error: "exposure_not_counted" });
  });

  it("answers 415 to a body that is not JSON and 413 past 1 MiB", async () => {
    const client = { "cf-connecting-ip": uniqueKey("limits") };
    const form = await SELF.fetch("https://rampart.test/v1/events", { method: "POST", headers: { "content-type": "text/plain", ...client }, body: "{}" });
    expect(form.status).toBe(415);
    const big = await send({ events: [{ eventId: "x".repeat(1_100_000) }] }, client);
    expect(big.status).toBe(413);
    expect(big.json.error).toBe("payload_too_large");
  });

  it("answers 400 to a malformed envelope and stores nothing", async () => {
    const key = await eventFlag();
    const before = await ctrSamples(key);
    expect((await send("{oops")).status).toBe(400);
    const tooMany = await send({ events: Array.from({ length: 1001 }, (_, i) => ({ eventId: `${i}`, flag: key, targetingKey: "u", name: "exposure" })) });
    expect(tooMany.status).toBe(400);
    expect(tooMany.json.issues[0]).toEqual({ path: "events", message: "at most 1000 events per call" });
    expect((await send({ events: [], extra: 1 })).status).toBe(400);
    expect(await ctrSamples(key)).toEqual(before);
  });

  it("refuses events for a deleted flag as unknown_flag even from an isolate that has not seen the delete; every accepted one is counted", async () => {
    const key = uniqueKey("ev-deleted");
    await putFlag({ ...booleanSpec(key), exposures: "events", metrics: { ctr: { kind: "ratio", numerator: "click", denominator: "exposure" } } });
    // An isolate whose snapshot still lists the flag: its clock never moves, so it never refreshes.
    const stale = new SnapshotCache(workerSnapshotSource(env, { headTtlMs: 0 }), { refreshMs: 60_000, maxStaleMs: 600_000, loadTimeoutMs: 5_000 }, () => 1_000_000);
    const app = createApp({ ...isolateServices, snapshots: () => stale });
    const post = async (events: unknown[]) => {
      const r = await app.request("/v1/events", { method: "POST", headers: { "content-type": "application/json", "cf-connecting-ip": uniqueKey("ip") }, body: JSON.stringify({ events }) }, env);
      return { status: r.status, json: await r.json<{ accepted: number; duplicates: number; rejected: { index: number; error: string; message: string }[] }>() };
    };
    const batch = (tag: string) => [
      { eventId: `${key}-${tag}-x`, flag: key, targetingKey: `u-${tag}`, name: "exposure", variant: "candidate" },
      { eventId: `${key}-${tag}-c`, flag: key, targetingKey: `u-${tag}`, name: "click", variant: "candidate" },
    ];
    const before = await post(batch("before"));
    expect(before.json).toMatchObject({ accepted: 2, rejected: [] });
    expect(stale.peek()?.flags.has(key)).toBe(true);

    expect((await call("DELETE", `/admin/flags/${key}`)).status).toBe(200);
    // The isolate still serves the flag, yet its events are refused, by index, and nothing is counted.
    expect(stale.peek()?.flags.has(key)).toBe(true);
    const after = await post(batch("after"));
    expect(after.status).toBe(202);
    expect(after.json.accepted).toBe(0);
    expect(after.json.rejected).toEqual([
      { index: 0, error: "unknown_flag", message: `flag "${key}" was deleted` },
      { index: 1, error: "unknown_flag", message: `flag "${key}" was deleted` },
    ]);
    // What was accepted before the delete is still counted in the deleted generation (the object keeps its counters).
    const kept = await flagStub(env, key).readSpanByStage(1, 0, Date.now() + 3_600_000);
    const clicks = Object.values(kept).flatMap((pair) => pair.candidate).reduce((n, c) => n + (c.events["click"]?.count ?? 0), 0);
    expect(clicks).toBe(1);
  });

  it("requires the events token when EVENTS_TOKEN is set", async () => {
    const app = createApp();
    const guarded = { ...env, EVENTS_TOKEN: "events-secret" };
    const body = JSON.stringify({ events: [] });
    const headers = { "content-type": "application/json", "cf-connecting-ip": uniqueKey("tok") };
    const without = await app.request("/v1/events", { method: "POST", headers, body }, guarded);
    expect(without.status).toBe(401);
    const wrong = await app.request("/v1/events", { method: "POST", headers: { ...headers, authorization: "Bearer nope" }, body }, guarded);
    expect(wrong.status).toBe(401);
    const right = await app.request("/v1/events", { method: "POST", headers: { ...headers, authorization: "Bearer events-secret" }, body }, guarded);
    expect(right.status).toBe(400); // past authentication: an empty batch is a 400
  });

  it("answers 429 with Retry-After above the per-client rate, keyed on the address, not on a header the client picks", async () => {
    const client = uniqueKey("client");
    const limit = Number(env.EVENTS_RATE_PER_MINUTE);
    for (let i = 0; i < limit; i++) expect((await send({ events: [] }, { "cf-connecting-ip": client })).status).toBe(400);
    const limited = await send({ events: [] }, { "cf-connecting-ip": client });
    expect(limited.status).toBe(429);
    expect(limited.json.error).toBe("rate_limited");
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
    // A fresh X-Rampart-Client value used to reset the limit.
    expect((await send({ events: [] }, { "cf-connecting-ip": client, "x-rampart-client": uniqueKey("fresh") })).status).toBe(429);
  });

  it("keeps recent clients' windows when a flood of new clients fills the limiter (only the oldest go)", () => {
    const limiter = new RateLimiter(2, 60_000, 100);
    // 150 clients each use their whole allowance; past 100 the oldest make room, one at a time.
    for (let i = 0; i < 150; i++) {
      limiter.take(`c${i}`, i);
      limiter.take(`c${i}`, i);
    }
    // Clearing everyone at once (the old behaviour) would hand these a fresh allowance.
    for (const recent of ["c60", "c100", "c149"]) expect(limiter.take(recent, 200)).toBeGreaterThan(0);
    expect(limiter.take("c0", 200)).toBe(0); // the oldest window was evicted
  });
});
