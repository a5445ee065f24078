/**
 * Keys that name Object.prototype members (`__proto__`, `constructor`,
 * `toString`, …) sent as event names must be stored like any other name and
 * must not break the Worker for later requests (issue: one event named
 * `__proto__` answered 500 on every route until the process restarted).
 */
import { SELF, env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { flagStub } from "../../durable-objects/flag/stub";
import { booleanSpec, call, evaluateUntil, putFlag, uniqueKey } from "./helpers";

const INHERITED = ["__proto__", "constructor", "toString", "hasOwnProperty", "valueOf"];

async function sendEvents(events: unknown[]) {
  const r = await SELF.fetch("https://rampart.test/v1/events", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ events }) });
  return { status: r.status, json: await r.json<Record<string, any>>() };
}

describe("user-chosen names that collide with Object.prototype", () => {
  it("an event named __proto__ is stored, and every route keeps working afterwards", async () => {
    const key = uniqueKey("proto");
    await putFlag({ ...booleanSpec(key), metrics: { odd: { kind: "ratio", numerator: INHERITED.slice(1), denominator: "__proto__" } } });
    await evaluateUntil(key, { targetingKey: "probe" }, (r) => r.status === 200);
    // The exact request from the report, then the other inherited names.
    const first = await sendEvents([{ eventId: "x", flag: key, targetingKey: "u", name: "__proto__", value: 1, variant: "candidate" }]);
    expect(first.status).toBe(202);
    expect(first.json.accepted).toBe(1);
    const rest = await sendEvents(INHERITED.slice(1).map((name, i) => ({ eventId: `y${i}`, flag: key, targetingKey: "u", name, value: 2, variant: "candidate" })));
    expect(rest.json.accepted).toBe(INHERITED.length - 1);

    // Nothing leaked into the isolate's prototypes.
    expect(Object.prototype).not.toHaveProperty("count");
    expect(({} as Record<string, unknown>)["sum"]).toBeUndefined();
    // Every kind of route still answers.
    expect((await call("GET", "/health")).status).toBe(200);
    expect((await call("POST", `/ofrep/v1/evaluate/flags/${key}`, { body: { context: { targetingKey: "u" } }, headers: {} })).status).toBe(200);
    expect((await call("GET", `/admin/flags/${key}`)).status).toBe(200);
    expect((await call("POST", `/admin/flags/${key}/actions`, { body: { action: "kill" } })).status).toBe(200);

    // Each name was counted under its own name: 4 events worth 1 each over one __proto__ event.
    const report = await flagStub(env, key).compareReport(0, Date.now() + 3_600_000);
    expect(report?.arms.candidate.metrics["odd"]).toMatchObject({ value: 4, samples: 1 });
  });

  it("a bulk evaluation context with a __proto__ attribute gets its own ETag", async () => {
    const key = uniqueKey("proto-etag");
    await putFlag(booleanSpec(key, [{ weight: 100 }]));
    await evaluateUntil(key, { targetingKey: "probe" }, (r) => r.status === 200);
    const etag = async (raw: string) =>
      (await SELF.fetch("https://rampart.test/ofrep/v1/evaluate/flags", { method: "POST", headers: { "content-type": "application/json" }, body: raw })).headers.get("etag");
    const a = await etag('{"context":{"targetingKey":"u","__proto__":{"tier":"gold"}}}');
    const b = await etag('{"context":{"targetingKey":"u","__proto__":{"tier":"free"}}}');
    expect(a).not.toBeNull();
    expect(a).not.toBe(b);
  });
});
