/**
 * OTLP/HTTP receiver (OpenTelemetry Protocol 1.x, "OTLP/HTTP"): traces at
 * `POST /v1/traces`, logs at `POST /v1/logs`, protobuf
 * (`application/x-protobuf`) or JSON bodies, gzip accepted, the events
 * token as bearer. Spans and log records carrying OpenTelemetry's
 * feature-flag conventions become events of those flags
 * (`core/otlp/outcomes.ts`), checked and credited exactly as `POST
 * /v1/events` credits them. The answer follows OTLP's partial-success
 * contract, in the request's encoding: 200 with the count of rejected
 * records and why; 400 for a body that cannot be read (naming where); 503
 * only when storage failed, which an exporter retries (ids make it safe).
 */
import { Hono, type Context } from "hono";
import { cors } from "hono/cors";
import { NOT_READY } from "../../core/evaluation-outcome";
import { LogsRequestSchema, TracesRequestSchema } from "../../core/otlp/json";
import type { OtlpRecord } from "../../core/otlp/model";
import { outcomesOf, parseValueAttributes } from "../../core/otlp/outcomes";
import { decodeLogs, decodeTraces, OtlpDecodeError } from "../../core/otlp/protobuf";
import { WireWriter } from "../../core/otlp/wire";
import { summarizeIssues, toIssues } from "../../core/issues";
import { decodeUtf8, parseJson, readBytes, readLimited } from "../body";
import { scheduler, type Services } from "../context";
import { lazyEdgeLocation } from "../edge-location";
import { AppError, evaluationUnavailable } from "../errors";
import { eventsAuth, sortCheckedEvents, storeEvents, type EventsEnv, type Rejection } from "./events";

/** Compressed or not, the body as sent. */
export const OTLP_BODY_LIMIT = 4 * 1_048_576;
/** A gzip body is inflated up to this (a small body cannot become a huge one). */
export const OTLP_INFLATED_LIMIT = 16 * 1_048_576;

type Signal = "traces" | "logs";
type Encoding = "protobuf" | "json";

export function otlpRoutes(services: Services) {
  const app = new Hono<EventsEnv>();
  // Browsers' OTLP exporters post from the app's origin, as the web provider posts events.
  const crossOrigin = cors({ origin: "*", allowMethods: ["POST", "OPTIONS"], allowHeaders: ["Content-Type", "Content-Encoding", "Authorization"], exposeHeaders: ["Retry-After"], maxAge: 600 });
  app.use("/traces", crossOrigin);
  app.use("/logs", crossOrigin);
  app.post("/traces", eventsAuth(services), (c) => receive(services, c, "traces"));
  app.post("/logs", eventsAuth(services), (c) => receive(services, c, "logs"));
  return app;
}

async function receive(services: Services, c: Context<EventsEnv>, signal: Signal): Promise<Response> {
  const now = Date.now();
  // 1. The encoding, then the body (inflated when gzip).
  const type = (c.req.header("content-type") ?? "").split(";")[0]?.trim().toLowerCase();
  const encoding: Encoding | null = type === "application/x-protobuf" ? "protobuf" : type === "application/json" ? "json" : null;
  if (encoding === null) throw new AppError(415, "unsupported_media_type", "OTLP/HTTP takes Content-Type: application/x-protobuf or application/json");
  const bytes = await inflate(await readBytes(c.req.raw, OTLP_BODY_LIMIT), c.req.header("content-encoding"));
  // 2. The records; a body that cannot be read is refused whole, naming where.
  let records: OtlpRecord[];
  try {
    records = decode(signal, encoding, bytes);
  } catch (error) {
    if (error instanceof OtlpDecodeError || error instanceof AppError) return failure(encoding, 400, error.message);
    throw error;
  }
  // 3. Each record's outcomes, checked against the flags as this isolate serves them, and stored.
  const { events, refused } = outcomesOf(records, parseValueAttributes(c.env.OTLP_VALUE_ATTRIBUTES));
  const served = services.snapshots(c.env).serve(scheduler(c));
  const snapshot = served instanceof Promise ? await served : served;
  if (snapshot === null) throw evaluationUnavailable(NOT_READY);
  // Outcomes have an event's shape by construction (`core/otlp/outcomes.ts`): checked against their flags, not parsed again.
  const { batches, rejected } = sortCheckedEvents(events.map((e) => e.problem ?? e.event), snapshot, now, lazyEdgeLocation(c.req.raw));
  // What the answer needs of the records, taken before the call to storage, so that nothing holds the decoded batch while the
  // call is out: held across it, a batch outlives the young generation and is collected as old garbage, which cost as much
  // CPU as the call itself (docs/benchmarks.md, "OTLP ingestion").
  const total = records.length;
  const recordOf = events.map((e) => e.record);
  await storeEvents(c.env, batches, now, rejected);
  if (rejected.some((r) => r.error === "unavailable")) return failure(encoding, 503, "some events could not be stored; send the batch again (their ids make that safe)");
  // 4. What was rejected, by record: refused whole, or every outcome it made was refused.
  return partialSuccess(signal, encoding, total, refused, rejected, recordOf);
}

function decode(signal: Signal, encoding: Encoding, bytes: Uint8Array): OtlpRecord[] {
  if (encoding === "protobuf") return signal === "traces" ? decodeTraces(bytes) : decodeLogs(bytes);
  const parsed = (signal === "traces" ? TracesRequestSchema : LogsRequestSchema).safeParse(parseJson(decodeUtf8(bytes)));
  if (!parsed.success) throw new OtlpDecodeError("body", summarizeIssues(toIssues(parsed.error.issues)));
  return parsed.data;
}

/** gzip (the one encoding OTLP exporters use besides none), inflated within `OTLP_INFLATED_LIMIT`. */
async function inflate(bytes: Uint8Array, contentEncoding: string | undefined): Promise<Uint8Array> {
  const coding = (contentEncoding ?? "identity").trim().toLowerCase();
  if (coding === "identity" || coding === "") return bytes;
  if (coding !== "gzip") throw new AppError(415, "unsupported_encoding", `Content-Encoding ${coding} is not supported: send gzip or none`);
  const stream = new Blob([bytes]).stream().pipeThrough<Uint8Array>(new DecompressionStream("gzip"));
  try {
    return await readLimited(stream, OTLP_INFLATED_LIMIT);
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw new AppError(400, "invalid_encoding", "the gzip body is corrupt or truncated");
  }
}

function partialSuccess(signal: Signal, encoding: Encoding, total: number, refused: ReadonlyMap<number, string>, rejected: readonly Rejection[], recordOf: readonly number[]): Response {
  const made = new Map<number, number>();
  for (const r of recordOf) made.set(r, (made.get(r) ?? 0) + 1);
  const rejectedBy = new Map<number, number>();
  const reasons = new Map<string, number>();
  for (const r of rejected) {
    const record = recordOf[r.index] ?? -1;
    rejectedBy.set(record, (rejectedBy.get(record) ?? 0) + 1);
  }
  let count = 0;
  for (const reason of refused.values()) {
    count++;
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
  }
  for (const [record, n] of rejectedBy) {
    if (n < (made.get(record) ?? 0)) continue;
    count++;
    const first = rejected.find((r) => recordOf[r.index] === record);
    const reason = first ? `${first.error}: ${first.message}` : "rejected";
    reasons.set(reason, (reasons.get(reason) ?? 0) + 1);
  }
  const unit = signal === "traces" ? "span" : "log record";
  const message = [...reasons].sort((a, b) => b[1] - a[1]).slice(0, 5).map(([reason, n]) => `${n} ${unit}${n === 1 ? "" : "s"}: ${reason}`).join("; ");
  const field = signal === "traces" ? "rejectedSpans" : "rejectedLogRecords";
  if (encoding === "json") {
    const body = count === 0 ? {} : { partialSuccess: { [field]: String(count), errorMessage: `${count} of ${total} ${unit}s rejected — ${message}` } };
    return new Response(JSON.stringify(body), { status: 200, headers: { "content-type": "application/json" } });
  }
  // Export*ServiceResponse: 1 = partial_success { 1 = rejected count, 2 = error_message }.
  const writer = new WireWriter();
  if (count > 0) writer.bytesField(1, new WireWriter().varintField(1, count).stringField(2, `${count} of ${total} ${unit}s rejected — ${message}`).finish());
  return new Response(writer.finish(), { status: 200, headers: { "content-type": "application/x-protobuf" } });
}

/** OTLP's failure body: google.rpc.Status (code 3 INVALID_ARGUMENT or 14 UNAVAILABLE, message), in the request's encoding. */
function failure(encoding: Encoding, status: 400 | 503, message: string): Response {
  const code = status === 400 ? 3 : 14;
  const headers: Record<string, string> = status === 503 ? { "retry-after": "5" } : {};
  if (encoding === "json") return new Response(JSON.stringify({ code, message }), { status, headers: { ...headers, "content-type": "application/json" } });
  return new Response(new WireWriter().varintField(1, code).stringField(2, message).finish(), { status, headers: { ...headers, "content-type": "application/x-protobuf" } });
}
