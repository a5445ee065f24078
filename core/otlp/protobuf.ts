/**
 * OTLP/HTTP protobuf bodies (opentelemetry-proto, collector/trace/v1 and
 * collector/logs/v1): ExportTraceServiceRequest and ExportLogsServiceRequest
 * read into `model.ts`'s records. Field numbers are the .proto files'. A
 * malformed body throws `OtlpDecodeError` naming the message path and byte.
 */
import { addAttribute, hex, OTLP_LIMITS, type OtlpLogRecord, type OtlpRecord, type OtlpSpan, type OtlpSpanEvent, type OtlpValue } from "./model";
import { WireError, WireReader, WIRE_FIXED64, WIRE_LENGTH, WIRE_VARINT } from "./wire";

export class OtlpDecodeError extends Error {
  constructor(readonly path: string, message: string) {
    super(`${path}: ${message}`);
  }
}

/** Runs a decoder, turning wire errors into path-named decode errors. */
function at<T>(path: string, read: () => T): T {
  try {
    return read();
  } catch (error) {
    if (error instanceof WireError) throw new OtlpDecodeError(path, error.message);
    throw error;
  }
}

/** What one request has decoded so far: records, and values (attributes, list and map members, span events). */
interface Counter {
  records: number;
  values: number;
}

/** Counts one decoded value against the request's budget, which bounds the memory a 16 MiB body can ask for. */
function countValue(counter: Counter, r: WireReader): void {
  if (++counter.values > OTLP_LIMITS.values) throw new WireError(r.pos, `more than ${OTLP_LIMITS.values} attributes, values and span events in one request: split the batch`);
}

/** ExportTraceServiceRequest → spans. */
export function decodeTraces(bytes: Uint8Array): OtlpSpan[] {
  const out: OtlpSpan[] = [];
  const counter: Counter = { records: 0, values: 0 };
  forEachResource(bytes, "resource_spans", (scope, path) => {
    // ScopeSpans: 2 = spans.
    let i = 0;
    while (!scope.done()) {
      const { field, wire } = scope.tag();
      if (field === 2 && wire === WIRE_LENGTH) out.push(decodeSpan(scope.nested(), `${path}.spans[${i++}]`, counter));
      else scope.skip(wire);
    }
  });
  return out;
}

/** ExportLogsServiceRequest → log records. */
export function decodeLogs(bytes: Uint8Array): OtlpLogRecord[] {
  const out: OtlpLogRecord[] = [];
  const counter: Counter = { records: 0, values: 0 };
  forEachResource(bytes, "resource_logs", (scope, path) => {
    // ScopeLogs: 2 = log_records.
    let i = 0;
    while (!scope.done()) {
      const { field, wire } = scope.tag();
      if (field === 2 && wire === WIRE_LENGTH) out.push(decodeLog(scope.nested(), `${path}.log_records[${i++}]`, counter));
      else scope.skip(wire);
    }
  });
  return out;
}

/** Request: 1 = resource_spans / resource_logs; each: 2 = scope_spans / scope_logs. */
function forEachResource(bytes: Uint8Array, name: string, scope: (reader: WireReader, path: string) => void): void {
  const request = new WireReader(bytes);
  let r = 0;
  while (!request.done()) {
    const path = `${name}[${r}]`;
    const { field, wire } = at(path, () => request.tag());
    if (field !== 1 || wire !== WIRE_LENGTH) {
      at(path, () => request.skip(wire));
      continue;
    }
    const resource = at(path, () => request.nested());
    let s = 0;
    while (!resource.done()) {
      const { field: f, wire: w } = at(path, () => resource.tag());
      if (f === 2 && w === WIRE_LENGTH) {
        const scopePath = `${path}.${name === "resource_spans" ? "scope_spans" : "scope_logs"}[${s++}]`;
        const reader = at(scopePath, () => resource.nested());
        at(scopePath, () => scope(reader, scopePath));
      } else at(path, () => resource.skip(w));
    }
    r++;
  }
}

function countRecord(counter: Counter, path: string): void {
  if (++counter.records > OTLP_LIMITS.records) throw new OtlpDecodeError(path, `more than ${OTLP_LIMITS.records} records in one request: split the batch`);
}

/** Span: 1 trace_id, 2 span_id, 5 name, 7 start, 8 end, 9 attributes, 11 events, 15 status. */
function decodeSpan(r: WireReader, path: string, counter: Counter): OtlpSpan {
  countRecord(counter, path);
  const span: OtlpSpan = { kind: "span", traceId: "", spanId: "", name: "", startNs: 0n, endNs: 0n, status: 0, attributes: new Map(), events: [] };
  const attributes = span.attributes as Map<string, OtlpValue>;
  let e = 0;
  return at(path, () => {
    while (!r.done()) {
      const { field, wire } = r.tag();
      switch (field) {
        case 1:
          r.expect(wire, WIRE_LENGTH, "trace_id");
          span.traceId = hex(r.bytesField());
          break;
        case 2:
          r.expect(wire, WIRE_LENGTH, "span_id");
          span.spanId = hex(r.bytesField());
          break;
        case 5:
          r.expect(wire, WIRE_LENGTH, "name");
          span.name = r.string();
          break;
        case 7:
          r.expect(wire, WIRE_FIXED64, "start_time_unix_nano");
          span.startNs = r.fixed64();
          break;
        case 8:
          r.expect(wire, WIRE_FIXED64, "end_time_unix_nano");
          span.endNs = r.fixed64();
          break;
        case 9: {
          r.expect(wire, WIRE_LENGTH, "attributes");
          const [key, value] = keyValue(r.nested(), 0, counter);
          span.problem ??= addAttribute(attributes, key, value);
          break;
        }
        case 11: {
          r.expect(wire, WIRE_LENGTH, "events");
          countValue(counter, r);
          const event = spanEvent(r.nested(), counter);
          if (++e > OTLP_LIMITS.spanEvents) span.problem ??= `more than ${OTLP_LIMITS.spanEvents} span events`;
          else span.events.push(event);
          if (event.problem) span.problem ??= `event "${event.name}": ${event.problem}`;
          break;
        }
        case 15: {
          r.expect(wire, WIRE_LENGTH, "status");
          const status = r.nested();
          while (!status.done()) {
            const t = status.tag();
            if (t.field === 3 && t.wire === WIRE_VARINT) span.status = status.varint();
            else status.skip(t.wire);
          }
          break;
        }
        default:
          r.skip(wire);
      }
    }
    return span;
  });
}

/** Span.Event: 1 time_unix_nano, 2 name, 3 attributes. */
function spanEvent(r: WireReader, counter: Counter): OtlpSpanEvent {
  const event: OtlpSpanEvent = { name: "", timeNs: 0n, attributes: new Map() };
  while (!r.done()) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === WIRE_FIXED64) event.timeNs = r.fixed64();
    else if (field === 2 && wire === WIRE_LENGTH) event.name = r.string();
    else if (field === 3 && wire === WIRE_LENGTH) {
      const [key, value] = keyValue(r.nested(), 0, counter);
      event.problem ??= addAttribute(event.attributes as Map<string, OtlpValue>, key, value);
    } else r.skip(wire);
  }
  return event;
}

/** LogRecord: 1 time, 2 severity_number, 6 attributes, 9 trace_id, 10 span_id, 11 observed time, 12 event_name. */
function decodeLog(r: WireReader, path: string, counter: Counter): OtlpLogRecord {
  countRecord(counter, path);
  const log: OtlpLogRecord = { kind: "log", traceId: "", spanId: "", timeNs: 0n, severity: 0, eventName: "", attributes: new Map() };
  let observed = 0n;
  return at(path, () => {
    while (!r.done()) {
      const { field, wire } = r.tag();
      if (field === 1 && wire === WIRE_FIXED64) log.timeNs = r.fixed64();
      else if (field === 11 && wire === WIRE_FIXED64) observed = r.fixed64();
      else if (field === 2 && wire === WIRE_VARINT) log.severity = r.varint();
      else if (field === 6 && wire === WIRE_LENGTH) {
        const [key, value] = keyValue(r.nested(), 0, counter);
        log.problem ??= addAttribute(log.attributes as Map<string, OtlpValue>, key, value);
      } else if (field === 9 && wire === WIRE_LENGTH) log.traceId = hex(r.bytesField());
      else if (field === 10 && wire === WIRE_LENGTH) log.spanId = hex(r.bytesField());
      else if (field === 12 && wire === WIRE_LENGTH) log.eventName = r.string();
      else r.skip(wire);
    }
    if (log.timeNs === 0n) log.timeNs = observed;
    const named = log.attributes.get("event.name");
    if (log.eventName === "" && typeof named === "string") log.eventName = named;
    return log;
  });
}

/** KeyValue: 1 key, 2 value. */
function keyValue(r: WireReader, depth: number, counter: Counter): [string, OtlpValue] {
  let key = "";
  let value: OtlpValue = null;
  while (!r.done()) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === WIRE_LENGTH) key = r.string();
    else if (field === 2 && wire === WIRE_LENGTH) value = anyValue(r.nested(), depth, counter);
    else r.skip(wire);
  }
  return [key, value];
}

/** AnyValue: 1 string, 2 bool, 3 int64, 4 double, 5 array, 6 kvlist, 7 bytes (kept as hex). */
function anyValue(r: WireReader, depth: number, counter: Counter): OtlpValue {
  countValue(counter, r);
  if (depth > OTLP_LIMITS.depth) throw new WireError(r.pos, `values nested deeper than ${OTLP_LIMITS.depth} levels`);
  let value: OtlpValue = null;
  while (!r.done()) {
    const { field, wire } = r.tag();
    if (field === 1 && wire === WIRE_LENGTH) value = r.string();
    else if (field === 2 && wire === WIRE_VARINT) value = r.varint() !== 0;
    else if (field === 3 && wire === WIRE_VARINT) value = r.int64();
    else if (field === 4 && wire === WIRE_FIXED64) value = r.double();
    else if (field === 5 && wire === WIRE_LENGTH) {
      const list: OtlpValue[] = [];
      const array = r.nested();
      while (!array.done()) {
        const t = array.tag();
        if (t.field === 1 && t.wire === WIRE_LENGTH) list.push(anyValue(array.nested(), depth + 1, counter));
        else array.skip(t.wire);
      }
      value = list;
    } else if (field === 6 && wire === WIRE_LENGTH) {
      const map = new Map<string, OtlpValue>();
      const kv = r.nested();
      while (!kv.done()) {
        const t = kv.tag();
        if (t.field === 1 && t.wire === WIRE_LENGTH) {
          const [k, v] = keyValue(kv.nested(), depth + 1, counter);
          map.set(k, v);
        } else kv.skip(t.wire);
      }
      value = map;
    } else if (field === 7 && wire === WIRE_LENGTH) value = hex(r.bytesField());
    else r.skip(wire);
  }
  return value;
}

export type { OtlpRecord };
