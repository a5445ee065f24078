import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { flagStub } from "../../durable-objects/flag/stub";
import { hmacHex, Outbox } from "../../durable-objects/flag/outbox";
import { Sql } from "../../durable-objects/sql";
import { booleanSpec, call, putFlag, uniqueKey } from "./helpers";

interface Captured {
  url: string;
  body: string;
  signature: string | null;
}

/** A stand-in for fetch that records what is sent and answers with `status`. */
function receiver(status: number) {
  const captured: Captured[] = [];
  const send = ((input: RequestInfo | URL, init?: RequestInit) => {
    captured.push({ url: input instanceof Request ? input.url : input.toString(), body: typeof init?.body === "string" ? init.body : "", signature: new Headers(init?.headers).get("x-rampart-signature") });
    return Promise.resolve(new Response(null, { status }));
  }) as typeof fetch;
  return { captured, send };
}

const DAY = 86_400_000;

describe("webhooks", () => {
  it("queues a notification for a promote in the decision's transaction, then delivers it signed", async () => {
    const key = uniqueKey("hook");
    await putFlag({ ...booleanSpec(key, [{ weight: 0, shadow: true }, { weight: 10 }, { weight: 100 }]), webhooks: ["http://127.0.0.1:9/rampart"] });
    const promote = await call("POST", `/admin/flags/${key}/actions`, { body: { action: "promote", reason: "shadow agreed" } });
    expect(promote.status).toBe(200);
    expect(promote.json.state.status).toBe("ramping"); // decided before any delivery
    expect((await flagStub(env, key).storageStats()).outbox).toBe(1);

    const { captured, send } = receiver(200);
    const result = await runInDurableObject(flagStub(env, key), (_instance, state) =>
      new Outbox(new Sql(state.storage)).deliverDue(Date.now() + DAY, env.WEBHOOK_SECRET, send),
    );
    expect(result).toEqual({ delivered: 1, failed: 0 });
    const [sent] = captured;
    expect(sent?.url).toBe("http://127.0.0.1:9/rampart");
    expect(JSON.parse(sent?.body ?? "{}")).toMatchObject({ type: "promote", flag: key, source: "operator", reason: "shadow agreed", to: { status: "ramping", stage: 1 } });
    expect(sent?.signature).toBe(`sha256=${await hmacHex(env.WEBHOOK_SECRET, sent?.body ?? "")}`);
    expect((await flagStub(env, key).storageStats()).outbox).toBe(0);
  });

  it("keeps a failed delivery and retries it later with backoff, then gives up", async () => {
    const key = uniqueKey("hook-fail");
    await putFlag({ ...booleanSpec(key), webhooks: ["http://127.0.0.1:9/down"] });
    await call("POST", `/admin/flags/${key}/actions`, { body: { action: "kill" } });
    const { captured, send } = receiver(503);
    const attempts = await runInDurableObject(flagStub(env, key), async (_instance, state) => {
      const outbox = new Outbox(new Sql(state.storage));
      let now = Date.now() + DAY;
      const first = await outbox.deliverDue(now, env.WEBHOOK_SECRET, send);
      const notYet = await outbox.deliverDue(now + 1, env.WEBHOOK_SECRET, send); // backoff: not due again at once
      for (let i = 0; i < 10; i++) {
        now += DAY;
        await outbox.deliverDue(now, env.WEBHOOK_SECRET, send);
      }
      return { first, notYet, pending: outbox.pending() };
    });
    expect(attempts.first).toEqual({ delivered: 0, failed: 1 });
    expect(attempts.notYet).toEqual({ delivered: 0, failed: 0 });
    expect(attempts.pending).toBe(0); // dropped after the last attempt
    expect(captured.length).toBeGreaterThanOrEqual(7);
  });

  it("delivers to the other receivers while one hangs, and counts backoff from when the attempt ended", async () => {
    const key = uniqueKey("hook-hang");
    await putFlag({ ...booleanSpec(key), webhooks: ["http://127.0.0.1:9/hangs", "http://127.0.0.1:9/fine"] });
    await call("POST", `/admin/flags/${key}/actions`, { body: { action: "kill" } });
    let clock = 0;
    const delivered: string[] = [];
    const send = ((input: RequestInfo | URL) => {
      const url = input instanceof Request ? input.url : input instanceof URL ? input.href : input;
      if (url.endsWith("/hangs")) {
        clock += 10_000; // the receiver took the whole delivery timeout
        return Promise.reject(new Error("timed out"));
      }
      delivered.push(url);
      return Promise.resolve(new Response(null, { status: 200 }));
    }) as typeof fetch;
    const result = await runInDurableObject(flagStub(env, key), async (_instance, state) => {
      const outbox = new Outbox(new Sql(state.storage));
      const now = Date.now() + DAY;
      const first = await outbox.deliverDue(now, env.WEBHOOK_SECRET, send, () => clock);
      const next = outbox.nextDue();
      return { first, nextIn: next === null ? null : next - now };
    });
    expect(result.first).toEqual({ delivered: 1, failed: 1 });
    expect(delivered).toEqual(["http://127.0.0.1:9/fine"]);
    expect(result.nextIn).toBe(10_000 + 2_000); // the 2 s backoff after the 10 s the attempt took
  });

  it("sends nothing unsigned: without WEBHOOK_SECRET a delivery fails and is retried later", async () => {
    const key = uniqueKey("hook-unsigned");
    await putFlag({ ...booleanSpec(key), webhooks: ["http://127.0.0.1:9/x"] });
    await call("POST", `/admin/flags/${key}/actions`, { body: { action: "kill" } });
    const { captured, send } = receiver(200);
    const result = await runInDurableObject(flagStub(env, key), (_instance, state) => new Outbox(new Sql(state.storage)).deliverDue(Date.now() + DAY, undefined, send));
    expect(result).toEqual({ delivered: 0, failed: 1 });
    expect(captured).toHaveLength(0);
  });

  it("rejects a webhook that is not an http(s) URL, naming the field", async () => {
    const key = uniqueKey("hook-bad");
    const r = await call("PUT", `/admin/flags/${key}`, { body: { ...booleanSpec(key), webhooks: ["ftp://x"] } });
    expect(r.status).toBe(400);
    expect(r.json.issues[0]).toMatchObject({ path: "webhooks[0]", message: "must be an http(s) URL" });
  });
});
