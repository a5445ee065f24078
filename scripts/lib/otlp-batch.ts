/**
 * An OTLP/HTTP protobuf traces batch as an instrumented service sends it:
 * `n` spans made by the OpenTelemetry SDK, each naming `flag` by the
 * feature-flag semantic conventions (its own user, the arm it was served),
 * with a duration, some failing, some with a `click` event — serialized by
 * OpenTelemetry's own exporter code. For `npm run bench:edge`.
 */
import { SpanStatusCode } from "@opentelemetry/api";
import { ProtobufTraceSerializer } from "@opentelemetry/otlp-transformer";
import { BasicTracerProvider, type ReadableSpan } from "@opentelemetry/sdk-trace-base";

export function otlpBatch(flag: string, n: number): { body: Uint8Array; traceIdOffsets: number[] } {
  const spans: ReadableSpan[] = [];
  const provider = new BasicTracerProvider({ spanProcessors: [{ onStart: () => {}, onEnd: (s) => spans.push(s), forceFlush: async () => {}, shutdown: async () => {} }] });
  const tracer = provider.getTracer("bench");
  const now = Date.now();
  for (let i = 0; i < n; i++) {
    const arm = i % 2 === 0 ? "baseline" : "candidate";
    const span = tracer.startSpan("retrieve", { startTime: now - 1_000, attributes: { "http.route": "/search", "gen_ai.usage.output_tokens": 100 + (i % 40) } });
    span.addEvent("feature_flag.evaluation", { "feature_flag.key": flag, "feature_flag.result.variant": arm, "feature_flag.context.id": `user-${i}` });
    if (i % 7 === 0) span.addEvent("click");
    if (i % 20 === 0) span.setStatus({ code: SpanStatusCode.ERROR });
    span.end(now - 1_000 + 20 + (i % 50));
  }
  const body = ProtobufTraceSerializer.serializeRequest(spans) ?? new Uint8Array();
  // Each span is its own trace, and a trace id's 16 bytes appear once in the body (no parents, no links).
  const bytes = Buffer.from(body);
  const traceIdOffsets = spans.map((s) => bytes.indexOf(Buffer.from(s.spanContext().traceId, "hex"))).sort((a, b) => a - b);
  if (traceIdOffsets.some((o, i) => o < 0 || (i > 0 && o === traceIdOffsets[i - 1]))) throw new Error("a trace id is not where the batch should carry it");
  return { body, traceIdOffsets };
}
