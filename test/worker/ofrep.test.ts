import { SELF } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { booleanSpec, call, evaluate, evaluateUntil, putFlag, uniqueKey } from "./helpers";

async function bulk(context: unknown, headers: Record<string, string> = {}) {
  return SELF.fetch("https://rampart.test/ofrep/v1/evaluate/flags", {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: JSON.stringify({ context }),
  });
}

/** Creates a flag and waits until the edge serves it. */
async function servedFlag(spec: { key: string } & Record<string, unknown>) {
  await putFlag(spec);
  const r = await evaluateUntil(spec.key, { targetingKey: "probe" }, (res) => res.status !== 404);
  expect(r.status).not.toBe(404);
}

describe("OFREP single evaluation", () => {
  it("evaluates a splitting flag with reason SPLIT, variant, value and metadata", async () => {
    const key = uniqueKey("split");
    await servedFlag({ ...booleanSpec(key), pins: { candidate: { MODEL_VER: "m2" } } });
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => evaluate(key, { targetingKey: `user-${i}` })));
    for (const r of results) {
      expect(r.status).toBe(200);
      expect(r.headers.get("content-type")).toContain("application/json");
      expect(r.json).toMatchObject({ key, reason: "SPLIT", metadata: { stage: 0, weight: 50, generation: 1 } });
      expect(r.json.value).toBe(r.json.variant === "candidate");
      expect(typeof r.json.metadata.configVersion).toBe("number");
    }
    const arms = new Set(results.map((r) => r.json.metadata.arm));
    expect(arms).toEqual(new Set(["baseline", "candidate"]));
    const candidate = results.find((r) => r.json.variant === "candidate");
    expect(candidate?.json.metadata["pin.MODEL_VER"]).toBe("m2");
  });

  it("answers the same through the Worker's fast path and through the router (a query, a percent-encoded key, a preflight)", async () => {
    const key = uniqueKey("fast");
    await servedFlag(booleanSpec(key));
    const post = async (path: string) => {
      const r = await SELF.fetch(`https://rampart.test${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ context: { targetingKey: "user-7" } }) });
      return { status: r.status, cors: r.headers.get("access-control-allow-origin"), body: await r.json<Record<string, unknown>>() };
    };
    const plain = await post(`/ofrep/v1/evaluate/flags/${key}`);
    expect(plain).toMatchObject({ status: 200, cors: "*", body: { key, reason: "SPLIT" } });
    expect(await post(`/ofrep/v1/evaluate/flags/${key}?client=web`)).toEqual(plain);
    // "%2D" is "-": Hono decodes the key; the fast path leaves such paths to it.
    expect(await post(`/ofrep/v1/evaluate/flags/${key.replace("-", "%2D")}`)).toEqual(plain);
    const trailing = await post(`/ofrep/v1/evaluate/flags/${key}/extra`);
    expect(trailing.status).toBe(404);
    const preflight = await SELF.fetch(`https://rampart.test/ofrep/v1/evaluate/flags/${key}`, { method: "OPTIONS", headers: { origin: "https://app.example", "access-control-request-method": "POST" } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-methods")).toContain("POST");
  });

  it("reads a body without Content-Length (streamed) like any other, and refuses one that is not UTF-8 or too long", async () => {
    const key = uniqueKey("stream");
    await servedFlag(booleanSpec(key));
    const streamOf = (bytes: Uint8Array) =>
      new ReadableStream<Uint8Array>({
        start(controller) {
          controller.enqueue(bytes.slice(0, 5));
          controller.enqueue(bytes.slice(5));
          controller.close();
        },
      });
    const post = (body: ReadableStream<Uint8Array> | Uint8Array) => SELF.fetch(`https://rampart.test/ofrep/v1/evaluate/flags/${key}`, { method: "POST", headers: { "content-type": "application/json" }, body });
    const streamed = await post(streamOf(new TextEncoder().encode(JSON.stringify({ context: { targetingKey: "user-7" } }))));
    expect(streamed.status).toBe(200);
    const answer = await streamed.json();
    expect(answer).toMatchObject({ key, reason: "SPLIT" });
    const latin1 = await post(new Uint8Array([...new TextEncoder().encode('{"context":{"targetingKey":"'), 0xe9, ...new TextEncoder().encode('"}}')]));
    expect(latin1.status).toBe(400);
    expect(await latin1.json()).toMatchObject({ key, errorCode: "PARSE_ERROR", errorDetails: expect.stringContaining("UTF-8") });
    const latin1Streamed = await post(streamOf(new Uint8Array([...new TextEncoder().encode('{"context":{"targetingKey":"'), 0xe9, ...new TextEncoder().encode('"}}')])));
    expect(latin1Streamed.status).toBe(400);
    // U+FFFD is what invalid bytes decode to: sent as such it is refused too (two ids could otherwise become one).
    const replacement = new TextEncoder().encode(JSON.stringify({ context: { targetingKey: "user-\uFFFD" } }));
    for (const sent of [await post(replacement), await post(streamOf(replacement))]) {
      expect(sent.status).toBe(400);
      expect(await sent.json()).toMatchObject({ key, errorCode: "PARSE_ERROR", errorDetails: expect.stringContaining("U+FFFD") });
    }
    // A byte-order mark is not part of the text (WHATWG Encoding's UTF-8 decode), read whole or streamed.
    const withBom = new Uint8Array([0xef, 0xbb, 0xbf, ...new TextEncoder().encode(JSON.stringify({ context: { targetingKey: "user-7" } }))]);
    for (const sent of [await post(withBom), await post(streamOf(withBom))]) expect(await sent.json()).toEqual(answer);
    const long = await post(streamOf(new TextEncoder().encode(JSON.stringify({ context: { targetingKey: "u", blob: "x".repeat(70_000) } }))));
    expect(long.status).toBe(400);
    expect(await long.json()).toMatchObject({ errorCode: "PARSE_ERROR", errorDetails: expect.stringContaining("65536") });
  });

  it("answers 404 FLAG_NOT_FOUND with the key for an unknown flag", async () => {
    const r = await evaluate("no-such-flag", { targetingKey: "u" });
    expect(r.status).toBe(404);
    expect(r.json).toMatchObject({ key: "no-such-flag", errorCode: "FLAG_NOT_FOUND" });
  });

  it("answers 400 TARGETING_KEY_MISSING when a splitting stage has no key", async () => {
    const key = uniqueKey("nokey");
    await servedFlag(booleanSpec(key));
    const r = await evaluate(key, { plan: "pro" });
    expect(r.status).toBe(400);
    expect(r.json).toMatchObject({ key, errorCode: "TARGETING_KEY_MISSING" });
  });

  it("needs no key for a static stage", async () => {
    const key = uniqueKey("static");
    await putFlag(booleanSpec(key, [{ weight: 0, shadow: true }, { weight: 100 }]));
    const r = await evaluateUntil(key, {}, (res) => res.status === 200);
    expect(r.json).toMatchObject({ value: false, reason: "STATIC", metadata: { shadow: true } });
  });

  it("answers 400 with OFREP error codes for malformed requests", async () => {
    const post = (body: string) => SELF.fetch("https://rampart.test/ofrep/v1/evaluate/flags/any", { method: "POST", headers: { "content-type": "application/json" }, body });
    const parse = await post("{not json");
    expect(parse.status).toBe(400);
    expect(await parse.json()).toMatchObject({ key: "any", errorCode: "PARSE_ERROR" });
    const array = await post('{"context": [1, 2]}');
    expect(await array.json()).toMatchObject({ key: "any", errorCode: "INVALID_CONTEXT" });
    const numericKey = await post('{"context": {"targetingKey": 42}}');
    expect(await numericKey.json()).toMatchObject({ errorCode: "INVALID_CONTEXT", errorDetails: expect.stringContaining("targetingKey") });
    const huge = await post(JSON.stringify({ context: { targetingKey: "u", blob: "x".repeat(70_000) } }));
    expect(huge.status).toBe(400);
    expect(await huge.json()).toMatchObject({ errorCode: "PARSE_ERROR", errorDetails: expect.stringContaining("65536") });
  });

  it("answers CORS preflights and exposes the ETag to browsers", async () => {
    const r = await SELF.fetch("https://rampart.test/ofrep/v1/evaluate/flags", {
      method: "OPTIONS",
      headers: { origin: "https://app.example", "access-control-request-method": "POST", "access-control-request-headers": "content-type,if-none-match" },
    });
    expect(r.status).toBeLessThan(300);
    expect(r.headers.get("access-control-allow-origin")).toBe("*");
    expect(r.headers.get("access-control-allow-headers")?.toLowerCase()).toContain("if-none-match");
    const post = await bulk({ targetingKey: "u" }, { origin: "https://app.example" });
    expect(post.headers.get("access-control-expose-headers")).toContain("ETag");
  });
});

describe("OFREP bulk evaluation", () => {
  it("answers 400 PARSE_ERROR to a malformed bulk request", async () => {
    const r = await SELF.fetch("https://rampart.test/ofrep/v1/evaluate/flags", { method: "POST", headers: { "content-type": "application/json" }, body: "[1," });
    expect(r.status).toBe(400);
    expect(await r.json()).toMatchObject({ errorCode: "PARSE_ERROR" });
    const badContext = await bulk("not an object");
    expect(await badContext.json()).toMatchObject({ errorCode: "INVALID_CONTEXT" });
  });

  it("evaluates every flag and reports per-flag errors inline", async () => {
    const split = uniqueKey("bulk-split");
    const fixed = uniqueKey("bulk-fixed");
    await servedFlag(booleanSpec(split));
    await servedFlag(booleanSpec(fixed, [{ weight: 0, shadow: true }, { weight: 100 }]));
    const r = await bulk({});
    expect(r.status).toBe(200);
    const body = await r.json<{ flags: { key: string; errorCode?: string; reason?: string }[] }>();
    expect(body.flags.find((f) => f.key === split)).toMatchObject({ errorCode: "TARGETING_KEY_MISSING" });
    expect(body.flags.find((f) => f.key === fixed)).toMatchObject({ reason: "STATIC" });
  });

  it("answers 304 to If-None-Match only while neither the config nor the context changed", async () => {
    const key = uniqueKey("etag");
    await servedFlag(booleanSpec(key));
    const first = await bulk({ targetingKey: "alice" });
    const etag = first.headers.get("etag");
    expect(etag).toMatch(/^"[^"]+"$/);
    const same = await bulk({ targetingKey: "alice" }, { "if-none-match": etag ?? "" });
    expect(same.status).toBe(304);
    expect(same.headers.get("etag")).toBe(etag);
    const otherContext = await bulk({ targetingKey: "bob" }, { "if-none-match": etag ?? "" });
    expect(otherContext.status).toBe(200);
    expect(otherContext.headers.get("etag")).not.toBe(etag);
    await call("POST", `/admin/flags/${key}/actions`, { body: { action: "kill" } });
    const killed = await evaluateUntil(key, { targetingKey: "alice" }, (res) => res.json.reason === "DISABLED");
    expect(killed.json.reason).toBe("DISABLED");
    const changed = await bulk({ targetingKey: "alice" }, { "if-none-match": etag ?? "" });
    expect(changed.status).toBe(200);
    expect(changed.headers.get("etag")).not.toBe(etag);
  });
});

describe("health", () => {
  it("reports status, version, config version and snapshot age", async () => {
    const r = await call("GET", "/health", { headers: {} });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({ status: "ok", version: expect.any(String), configVersion: expect.any(Number) });
    expect(r.json.snapshotAgeMs).toBeGreaterThanOrEqual(0);
  });
});
