/**
 * OpenTelemetry in: the real OpenTelemetry JS SDK (`@opentelemetry/sdk-trace-base`
 * with its OTLP exporters, protobuf and JSON; `@opentelemetry/sdk-logs`)
 * sends spans and log records to the worker on workerd, annotated by the
 * OpenFeature hook in sdk/server (`RampartSpanHook`) while the flag is
 * evaluated through Rampart's provider. Their durations, errors, events and
 * a configured attribute become the served arm's outcomes. Bodies that
 * cannot be read are refused naming where; records that cannot be counted
 * are answered as OTLP partial success; an exporter's retry counts once.
 */
import { gzipSync } from "node:zlib";
import { pathToFileURL } from "node:url";
import { join } from "node:path";
import { context, SpanStatusCode, type Tracer } from "@opentelemetry/api";
import { AsyncLocalStorageContextManager } from "@opentelemetry/context-async-hooks";
import { OTLPLogExporter } from "@opentelemetry/exporter-logs-otlp-http";
import { OTLPTraceExporter as JsonTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import { OTLPTraceExporter as ProtoTraceExporter } from "@opentelemetry/exporter-trace-otlp-proto";
import { ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import { LoggerProvider, SimpleLogRecordProcessor } from "@opentelemetry/sdk-logs";
import { BasicTracerProvider, SimpleSpanProcessor, type ReadableSpan } from "@opentelemetry/sdk-trace-base";
import { SeverityNumber } from "@opentelemetry/api-logs";
import { OpenFeature } from "@openfeature/server-sdk";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { WireWriter } from "../../core/otlp/wire";
import { buildSdk } from "../../scripts/build-sdk";
import { E2E_PROPAGATION_MS, startLocalWorker, type LocalWorker } from "../../scripts/lib/local-worker";
import type * as ServerSdk from "../../sdk/server/index";
import type * as ServerOtel from "../../sdk/server/span-hook";

const EVENTS_TOKEN = "otlp-events-token";
const AUTH = { authorization: `Bearer ${EVENTS_TOKEN}` };
let worker: LocalWorker;
let sdk: typeof ServerSdk;
let otel: typeof ServerOtel;

beforeAll(async () => {
  const [bundles, started] = await Promise.all([buildSdk(), startLocalWorker({ EVENTS_TOKEN, FLUSH_MS: "100", OTLP_VALUE_ATTRIBUTES: "gen_ai.usage.output_tokens=output_tokens" })]);
  worker = started;
  sdk = (await import(pathToFileURL(bundles[0] ?? "").href)) as typeof ServerSdk;
  otel = (await import(pathToFileURL(join(bundles[0] ?? "", "..", "otel.js")).href)) as typeof ServerOtel;
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
  // The app's one line: every evaluation is recorded on the active span.
  OpenFeature.addHooks(new otel.RampartSpanHook());
}, 120_000);

afterAll(async () => {
  await OpenFeature.close();
  await worker?.dispose();
});

const retrieverFlag = (key: string) => ({
  key,
  type: "string",
  variants: { baseline: "bm25", candidate: "hybrid" },
  rollout: { stages: [{ weight: 50 }, { weight: 100 }] },
  metrics: { output_tokens: { kind: "mean", event: "output_tokens" }, ctr: { kind: "ratio", numerator: "click", denominator: "exposure" } },
  gates: [{ metric: "latency_p50", bad: "increase", warn: "10%", rollback: "20%", minSamples: 1000 }],
});

interface ArmReport { exposures: number; metrics: Record<string, { value: number | null; samples: number }> }
async function armsWhen(key: string, done: (arms: Record<"baseline" | "candidate", ArmReport>) => boolean) {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const { arms } = (await (await worker.admin("GET", `/admin/flags/${key}/report?from=0`)).json()) as { arms: Record<"baseline" | "candidate", ArmReport> };
    if (done(arms) || Date.now() > deadline) return arms;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Serves `n` users a span each: evaluated through the provider (its hook annotates the span), candidate spans slower, some failing. */
async function traffic(tracer: Tracer, key: string, n: number) {
  const client = OpenFeature.getClient("otlp");
  const expected = { baseline: { n: 0, errors: 0, clicks: 0 }, candidate: { n: 0, errors: 0, clicks: 0 } };
  for (let i = 0; i < n; i++) {
    const start = Date.now() - 1_000;
    await tracer.startActiveSpan("retrieve", { startTime: start }, async (span) => {
      const details = await client.getStringDetails(key, "bm25", { targetingKey: `reader-${i}` });
      const arm = details.variant as "baseline" | "candidate";
      const e = expected[arm];
      e.n++;
      span.setAttribute("gen_ai.usage.output_tokens", arm === "candidate" ? 120 : 100);
      if (arm === "candidate" && i % 5 === 0) {
        span.setStatus({ code: SpanStatusCode.ERROR, message: "timeout" });
        e.errors++;
      }
      if (i % 3 === 0) {
        span.addEvent("click");
        e.clicks++;
      }
      span.end(start + (arm === "candidate" ? 80 : 40));
    });
  }
  return expected;
}

async function setUp(key: string) {
  expect((await worker.admin("PUT", `/admin/flags/${key}`, retrieverFlag(key))).status).toBe(201);
  await new Promise((r) => setTimeout(r, E2E_PROPAGATION_MS + 100));
  await OpenFeature.setProviderAndWait("otlp", new sdk.RampartProvider({ url: worker.baseUrl }));
}

function checkArms(arms: Record<"baseline" | "candidate", ArmReport>, expected: Awaited<ReturnType<typeof traffic>>) {
  for (const arm of ["baseline", "candidate"] as const) {
    const m = arms[arm].metrics;
    expect(arms[arm].exposures).toBe(expected[arm].n);
    expect(m["latency_p50"]?.value).toBeCloseTo(arm === "candidate" ? 80 : 40, -0.5);
    expect(m["latency_p50"]?.samples).toBe(expected[arm].n);
    expect(m["output_tokens"]?.value).toBe(arm === "candidate" ? 120 : 100);
    expect(Math.round((m["error_rate"]?.value ?? 0) * expected[arm].n)).toBe(expected[arm].errors);
    expect(Math.round((m["ctr"]?.value ?? 0) * expected[arm].n)).toBe(expected[arm].clicks);
  }
}

describe("OTLP/HTTP in", () => {
  it("protobuf spans from the OpenTelemetry SDK become the served arm's latency, errors, events and values", async () => {
    const key = "otlp-proto";
    await setUp(key);
    const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new ProtoTraceExporter({ url: `${worker.baseUrl}/v1/traces`, headers: AUTH }))] });
    const expected = await traffic(provider.getTracer("test"), key, 40);
    await provider.forceFlush();
    const arms = await armsWhen(key, (a) => (a.candidate.metrics["latency_p50"]?.samples ?? 0) + (a.baseline.metrics["latency_p50"]?.samples ?? 0) >= 40 && a.baseline.exposures + a.candidate.exposures >= 40);
    checkArms(arms, expected);
    await provider.shutdown();
  });

  it("JSON spans (gzip) count the same way, and an exporter's retry of the same spans counts once", async () => {
    const key = "otlp-json";
    await setUp(key);
    const spans: ReadableSpan[] = [];
    const provider = new BasicTracerProvider({
      spanProcessors: [new SimpleSpanProcessor(new JsonTraceExporter({ url: `${worker.baseUrl}/v1/traces`, headers: AUTH, compression: "gzip" as never })), { onStart: () => {}, onEnd: (s) => spans.push(s), forceFlush: async () => {}, shutdown: async () => {} }],
    });
    const expected = await traffic(provider.getTracer("test"), key, 30);
    await provider.forceFlush();
    const arms = await armsWhen(key, (a) => (a.candidate.metrics["latency_p50"]?.samples ?? 0) + (a.baseline.metrics["latency_p50"]?.samples ?? 0) >= 30 && a.baseline.exposures + a.candidate.exposures >= 30);
    checkArms(arms, expected);
    // The same spans again, as an exporter retries after a lost answer: nothing more is counted.
    const body = ProtobufTraceSerializer.serializeRequest(spans) ?? new Uint8Array();
    const again = await fetch(`${worker.baseUrl}/v1/traces`, { method: "POST", headers: { ...AUTH, "content-type": "application/x-protobuf" }, body: Buffer.from(body) });
    expect(again.status).toBe(200);
    await new Promise((r) => setTimeout(r, 300));
    checkArms(await armsWhen(key, () => true), expected);
    await provider.shutdown();
  });

  it("log records with the flag's attributes and severity ERROR count as the served arm's errors", async () => {
    const key = "otlp-logs";
    await setUp(key);
    const loggerProvider = new LoggerProvider({ processors: [new SimpleLogRecordProcessor({ exporter: new OTLPLogExporter({ url: `${worker.baseUrl}/v1/logs`, headers: AUTH }) })] });
    const logger = loggerProvider.getLogger("test");
    const client = OpenFeature.getClient("otlp");
    const errors = { baseline: 0, candidate: 0 };
    for (let i = 0; i < 20; i++) {
      const details = await client.getStringDetails(key, "bm25", { targetingKey: `logger-${i}` });
      const arm = details.variant as "baseline" | "candidate";
      errors[arm]++;
      logger.emit({ severityNumber: SeverityNumber.ERROR, body: "retrieval failed", attributes: { "feature_flag.key": key, "feature_flag.context.id": `logger-${i}`, "rampart.assignment": String(details.flagMetadata["assignment"]) } });
    }
    await loggerProvider.forceFlush();
    const arms = await armsWhen(key, (a) => Math.round((a.baseline.metrics["error_rate"]?.value ?? 0) * a.baseline.exposures) + Math.round((a.candidate.metrics["error_rate"]?.value ?? 0) * a.candidate.exposures) >= 20);
    for (const arm of ["baseline", "candidate"] as const) expect(arms[arm].metrics["error_rate"]?.value).toBe(errors[arm] > 0 ? 1 : null);
    await loggerProvider.shutdown();
  });

  it("stores a batch that makes more events for one flag than an events call may carry (1,200 spans)", async () => {
    const key = "otlp-large";
    expect((await worker.admin("PUT", `/admin/flags/${key}`, retrieverFlag(key))).status).toBe(201);
    await new Promise((r) => setTimeout(r, E2E_PROPAGATION_MS + 100));
    const tracer = new BasicTracerProvider().getTracer("large");
    const spans: ReadableSpan[] = [];
    for (let i = 0; i < 1_200; i++) {
      // After the flag began (an event from before its first state is not credited).
      const s = tracer.startSpan("retrieve", { startTime: Date.now() - 20, attributes: { "feature_flag.key": key, "feature_flag.context.id": `large-${i}`, "feature_flag.result.variant": i % 2 === 0 ? "baseline" : "candidate" } });
      s.end(Date.now());
      spans.push(s as unknown as ReadableSpan);
    }
    const body = ProtobufTraceSerializer.serializeRequest(spans) ?? new Uint8Array();
    const answer = await fetch(`${worker.baseUrl}/v1/traces`, { method: "POST", headers: { ...AUTH, "content-type": "application/x-protobuf" }, body: Buffer.from(body) });
    expect(answer.status).toBe(200);
    const arms = await armsWhen(key, (a) => (a.baseline.metrics["latency_p50"]?.samples ?? 0) + (a.candidate.metrics["latency_p50"]?.samples ?? 0) >= 1_200);
    expect((arms.baseline.metrics["latency_p50"]?.samples ?? 0) + (arms.candidate.metrics["latency_p50"]?.samples ?? 0)).toBe(1_200);
  });

  it("refuses what it cannot read, naming where, and answers partial success for what it cannot count", async () => {
    const key = "otlp-hostile";
    expect((await worker.admin("PUT", `/admin/flags/${key}`, retrieverFlag(key))).status).toBe(201);
    await new Promise((r) => setTimeout(r, E2E_PROPAGATION_MS + 100));
    const post = (body: BodyInit, type = "application/json", extra: Record<string, string> = {}) => fetch(`${worker.baseUrl}/v1/traces`, { method: "POST", headers: { ...AUTH, "content-type": type, ...extra }, body });
    const span = (attributes: unknown[], more: Record<string, unknown> = {}) => ({ traceId: "0af7651916cd43dd8448eb211c80319c", spanId: "b7ad6b7169203331", name: "s", startTimeUnixNano: String(BigInt(Date.now() - 1000) * 1_000_000n), endTimeUnixNano: String(BigInt(Date.now()) * 1_000_000n), attributes, ...more });
    const request = (spans: unknown[]) => JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans }] }] });
    const attr = (k: string, v: string) => ({ key: k, value: { stringValue: v } });

    // Truncated protobuf: 400, naming the message path and the byte.
    const tracer = new BasicTracerProvider().getTracer("t");
    const s = tracer.startSpan("x");
    s.setAttribute("feature_flag.key", key);
    s.end();
    const bytes = ProtobufTraceSerializer.serializeRequest([s as unknown as ReadableSpan]) ?? new Uint8Array();
    const truncated = await post(Buffer.from(bytes.slice(0, bytes.length - 7)), "application/x-protobuf");
    expect(truncated.status).toBe(400);
    expect(truncated.headers.get("content-type")).toBe("application/x-protobuf");
    const status = new TextDecoder().decode(new Uint8Array(await truncated.arrayBuffer()));
    expect(status).toMatch(/resource_spans\[0\][.\w[\]]*: length \d+ runs past the end of its message at byte \d+/);

    // Wrong types in JSON: 400 naming the field.
    const wrong = await post(JSON.stringify({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: 12 }] }] }] }));
    expect(wrong.status).toBe(400);
    expect(((await wrong.json()) as { message: string }).message).toContain("resourceSpans[0].scopeSpans[0].spans[0].traceId");

    // 10,000 attributes on one span, a span without a flag, an unknown flag: partial success naming each.
    const many = Array.from({ length: 10_000 }, (_, i) => attr(`a${i}`, "x"));
    const mixed = await post(request([
      span([attr("feature_flag.key", key), ...many]),
      span([attr("http.route", "/search")], { spanId: "b7ad6b7169203332" }),
      span([attr("feature_flag.key", "no-such-flag")], { spanId: "b7ad6b7169203333" }),
      span([attr("feature_flag.key", key), attr("feature_flag.context.id", "ok-user"), attr("feature_flag.result.variant", "baseline")], { spanId: "b7ad6b7169203334" }),
    ]));
    expect(mixed.status).toBe(200);
    const answer = (await mixed.json()) as { partialSuccess: { rejectedSpans: string; errorMessage: string } };
    expect(answer.partialSuccess.rejectedSpans).toBe("3");
    expect(answer.partialSuccess.errorMessage).toContain("more than 256 attributes");
    expect(answer.partialSuccess.errorMessage).toContain("carries no feature_flag.key");
    expect(answer.partialSuccess.errorMessage).toContain('unknown_flag: flag "no-such-flag" does not exist');

    // A unit longer than an event's targetingKey may be refuses its span; a span event named for a kind its value does not
    // fit (comparison without a verdict) is rejected, and a span making nothing else is then rejected with that reason.
    const limits = await post(request([
      span([attr("feature_flag.key", key), attr("feature_flag.context.id", "u".repeat(513))], { spanId: "b7ad6b7169203335" }),
      span([attr("feature_flag.key", key), attr("feature_flag.context.id", "comparer")], { spanId: "b7ad6b7169203336", startTimeUnixNano: "0", endTimeUnixNano: "0", events: [{ name: "comparison", timeUnixNano: String(BigInt(Date.now()) * 1_000_000n) }] }),
    ]));
    const limited = ((await limits.json()) as { partialSuccess: { rejectedSpans: string; errorMessage: string } }).partialSuccess;
    expect(limited.rejectedSpans).toBe("2");
    expect(limited.errorMessage).toContain("feature_flag.context.id is longer than 512 characters");
    expect(limited.errorMessage).toContain("invalid_event: comparison needs value 1 (agree) or 0 (disagree)");

    // 500 spans of 256 span events each: more values than one request may make, refused whole before outcomes are made.
    const event = new WireWriter().stringField(2, "click").finish();
    const crowded = new WireWriter().stringField(5, "crowded");
    for (let i = 0; i < 256; i++) crowded.bytesField(11, event);
    const crowdedSpan = crowded.finish();
    const scope = new WireWriter();
    for (let i = 0; i < 500; i++) scope.bytesField(2, crowdedSpan);
    const flood = await post(Buffer.from(new WireWriter().bytesField(1, new WireWriter().bytesField(2, scope.finish()).finish()).finish()), "application/x-protobuf");
    expect(flood.status).toBe(400);
    expect(new TextDecoder().decode(new Uint8Array(await flood.arrayBuffer()))).toMatch(/resource_spans\[0\]\.scope_spans\[0\]\.spans\[390\]: more than 100000 attributes, values and span events in one request: split the batch/);

    // Deep nesting: a span naming the limit (JSON nested past the body's own limit is a 400).
    let deep: unknown = { stringValue: "x" };
    for (let i = 0; i < 10; i++) deep = { kvlistValue: { values: [{ key: "k", value: deep }] } };
    const nested = await post(request([span([attr("feature_flag.key", key), { key: "deep", value: deep }])]));
    expect(((await nested.json()) as { partialSuccess: { errorMessage: string } }).partialSuccess.errorMessage).toContain("nested deeper than 8 levels");

    // Too many spans, a gzip bomb, an unknown encoding, a wrong type, no token.
    const tooMany = await post(request(Array.from({ length: 10_001 }, () => ({ name: "s" }))));
    expect(tooMany.status).toBe(400);
    expect(((await tooMany.json()) as { message: string }).message).toContain("more than 10000 spans in one request");
    const bomb = await post(gzipSync(Buffer.alloc(20 * 1_048_576, 0x20)), "application/json", { "content-encoding": "gzip" });
    expect(bomb.status).toBe(413);
    expect((await post("{}", "application/json", { "content-encoding": "br" })).status).toBe(415);
    expect((await post("{}", "text/plain")).status).toBe(415);
    expect((await fetch(`${worker.baseUrl}/v1/traces`, { method: "POST", headers: { "content-type": "application/json" }, body: "{}" })).status).toBe(401);
    // An empty request is a success with nothing rejected.
    const empty = await post("{}");
    expect(empty.status).toBe(200);
    expect(await empty.json()).toEqual({});
  });
});
