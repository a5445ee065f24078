/**
 * OTLP/HTTP JSON bodies (the protobuf messages in proto3's JSON mapping, as
 * OTLP specifies it: lowerCamelCase names, ids as hex, 64-bit integers as
 * decimal strings or numbers), checked by schema into `model.ts`'s records.
 * Unknown fields are ignored, as OTLP requires of receivers.
 */
import { z } from "zod";
import { addAttribute, OTLP_LIMITS, type OtlpLogRecord, type OtlpSpan, type OtlpValue } from "./model";

const Int64 = z.union([z.int(), z.string().regex(/^-?[0-9]{1,20}$/, "a 64-bit integer as a decimal string")]);
const Nanos = z.union([z.int().min(0), z.string().regex(/^[0-9]{1,20}$/, "nanoseconds since the epoch as a decimal string")]).transform((v) => BigInt(v));
const Id = z.string().regex(/^([0-9a-fA-F]{2})*$/, "an id in hex").transform((s) => s.toLowerCase());

interface AnyValueJson {
  stringValue?: string;
  boolValue?: boolean;
  intValue?: number | string;
  doubleValue?: number | string;
  arrayValue?: { values?: AnyValueJson[] };
  kvlistValue?: { values?: { key: string; value?: AnyValueJson }[] };
  bytesValue?: string;
}

const AnyValueSchema: z.ZodType<AnyValueJson> = z.lazy(() =>
  z.object({
    stringValue: z.string().optional(),
    boolValue: z.boolean().optional(),
    intValue: Int64.optional(),
    doubleValue: z.union([z.number(), z.enum(["NaN", "Infinity", "-Infinity"])]).optional(),
    arrayValue: z.object({ values: z.array(AnyValueSchema).optional() }).optional(),
    kvlistValue: z.object({ values: z.array(z.object({ key: z.string(), value: AnyValueSchema.optional() })).optional() }).optional(),
    bytesValue: z.string().optional(),
  }),
);
const KeyValueSchema = z.object({ key: z.string(), value: AnyValueSchema.optional() });
const Attributes = z.array(KeyValueSchema).optional();

function value(v: AnyValueJson | undefined, depth: number): OtlpValue {
  if (v === undefined) return null;
  if (depth > OTLP_LIMITS.depth) throw new DepthError();
  if (v.stringValue !== undefined) return v.stringValue;
  if (v.boolValue !== undefined) return v.boolValue;
  if (v.intValue !== undefined) return Number(v.intValue);
  if (v.doubleValue !== undefined) return Number(v.doubleValue);
  if (v.arrayValue !== undefined) return (v.arrayValue.values ?? []).map((x) => value(x, depth + 1));
  if (v.kvlistValue !== undefined) return new Map((v.kvlistValue.values ?? []).map((kv) => [kv.key, value(kv.value, depth + 1)]));
  if (v.bytesValue !== undefined) return v.bytesValue;
  return null;
}

class DepthError extends Error {}

function attributes(list: z.infer<typeof Attributes>): { map: Map<string, OtlpValue>; problem?: string } {
  const map = new Map<string, OtlpValue>();
  let problem: string | undefined;
  try {
    for (const kv of list ?? []) problem ??= addAttribute(map, kv.key, value(kv.value, 0));
  } catch (error) {
    if (!(error instanceof DepthError)) throw error;
    problem = `values nested deeper than ${OTLP_LIMITS.depth} levels`;
  }
  return problem === undefined ? { map } : { map, problem };
}

const SpanSchema = z.object({
  traceId: Id.default(""),
  spanId: Id.default(""),
  name: z.string().default(""),
  startTimeUnixNano: Nanos.default(0n),
  endTimeUnixNano: Nanos.default(0n),
  attributes: Attributes,
  events: z.array(z.object({ timeUnixNano: Nanos.default(0n), name: z.string().default(""), attributes: Attributes })).optional(),
  status: z.object({ code: z.union([z.int(), z.enum(["STATUS_CODE_UNSET", "STATUS_CODE_OK", "STATUS_CODE_ERROR"])]).optional() }).optional(),
});

const STATUS = { STATUS_CODE_UNSET: 0, STATUS_CODE_OK: 1, STATUS_CODE_ERROR: 2 } as const;

export const TracesRequestSchema = z
  .object({ resourceSpans: z.array(z.object({ scopeSpans: z.array(z.object({ spans: z.array(SpanSchema).optional() })).optional() })).optional() })
  .transform((request, ctx): OtlpSpan[] => {
    const out: OtlpSpan[] = [];
    for (const resource of request.resourceSpans ?? []) {
      for (const scope of resource.scopeSpans ?? []) {
        for (const s of scope.spans ?? []) {
          if (out.length >= OTLP_LIMITS.records) {
            ctx.addIssue({ code: "custom", path: ["resourceSpans"], message: `more than ${OTLP_LIMITS.records} spans in one request: split the batch` });
            return z.NEVER;
          }
          const attrs = attributes(s.attributes);
          const code = s.status?.code;
          const span: OtlpSpan = {
            kind: "span", traceId: s.traceId, spanId: s.spanId, name: s.name, startNs: s.startTimeUnixNano, endNs: s.endTimeUnixNano,
            status: typeof code === "string" ? STATUS[code] : (code ?? 0), attributes: attrs.map, events: [],
            ...(attrs.problem ? { problem: attrs.problem } : {}),
          };
          const events = s.events ?? [];
          if (events.length > OTLP_LIMITS.spanEvents) span.problem ??= `more than ${OTLP_LIMITS.spanEvents} span events`;
          for (const e of events.slice(0, OTLP_LIMITS.spanEvents)) {
            const ea = attributes(e.attributes);
            span.events.push({ name: e.name, timeNs: e.timeUnixNano, attributes: ea.map });
            if (ea.problem) span.problem ??= `event "${e.name}": ${ea.problem}`;
          }
          out.push(span);
        }
      }
    }
    return out;
  });

const LogSchema = z.object({
  timeUnixNano: Nanos.default(0n),
  observedTimeUnixNano: Nanos.default(0n),
  severityNumber: z.union([z.int().min(0).max(24), z.string()]).optional(),
  eventName: z.string().optional(),
  attributes: Attributes,
  traceId: Id.default(""),
  spanId: Id.default(""),
});

export const LogsRequestSchema = z
  .object({ resourceLogs: z.array(z.object({ scopeLogs: z.array(z.object({ logRecords: z.array(LogSchema).optional() })).optional() })).optional() })
  .transform((request, ctx): OtlpLogRecord[] => {
    const out: OtlpLogRecord[] = [];
    for (const resource of request.resourceLogs ?? []) {
      for (const scope of resource.scopeLogs ?? []) {
        for (const l of scope.logRecords ?? []) {
          if (out.length >= OTLP_LIMITS.records) {
            ctx.addIssue({ code: "custom", path: ["resourceLogs"], message: `more than ${OTLP_LIMITS.records} log records in one request: split the batch` });
            return z.NEVER;
          }
          const attrs = attributes(l.attributes);
          const named = attrs.map.get("event.name");
          out.push({
            kind: "log", traceId: l.traceId, spanId: l.spanId, timeNs: l.timeUnixNano !== 0n ? l.timeUnixNano : l.observedTimeUnixNano,
            severity: typeof l.severityNumber === "number" ? l.severityNumber : 0,
            eventName: l.eventName ?? (typeof named === "string" ? named : ""), attributes: attrs.map,
            ...(attrs.problem ? { problem: attrs.problem } : {}),
          });
        }
      }
    }
    return out;
  });
