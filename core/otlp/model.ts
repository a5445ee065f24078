/**
 * OTLP's trace and log records as Rampart reads them, whatever the body's
 * encoding (JSON: `json.ts`, protobuf: `protobuf.ts`): only what outcomes
 * are made of — ids, times, status, attributes, span events, severity,
 * event names. Attribute values are scalars or (bounded) lists and maps,
 * kept in a Map since their keys come from senders.
 */

export type OtlpValue = string | number | boolean | null | readonly OtlpValue[] | ReadonlyMap<string, OtlpValue>;
export type OtlpAttributes = ReadonlyMap<string, OtlpValue>;

/** Bounds on what one request may hold (beyond them: refused, 400 or rejected records, never a 5xx). */
export const OTLP_LIMITS = {
  /** Spans or log records per request. */
  records: 10_000,
  /** Attributes per span, span event or log record (OpenTelemetry's SDK default is 128). */
  attributes: 256,
  /** Events per span (the SDK default is 128). */
  spanEvents: 256,
  /** Nesting of array and map values. */
  depth: 8,
  /**
   * Attributes, list and map members and span events per request: what a 16 MiB body could otherwise make into millions
   * of objects (and an isolate out of memory). A full SDK batch (512 spans × 128 attributes) is 65,536.
   */
  values: 100_000,
} as const;

export interface OtlpSpanEvent {
  name: string;
  timeNs: bigint;
  attributes: OtlpAttributes;
  /** Set when the event broke a limit (the span is then rejected with it). */
  problem?: string;
}

export interface OtlpSpan {
  kind: "span";
  /** Lower-case hex, as OTLP's JSON writes them; "" when absent. */
  traceId: string;
  spanId: string;
  name: string;
  startNs: bigint;
  endNs: bigint;
  /** OTLP status code: 0 unset, 1 ok, 2 error. */
  status: number;
  attributes: OtlpAttributes;
  events: OtlpSpanEvent[];
  /** Set when the span broke a limit: it is rejected, with this reason. */
  problem?: string;
}

export interface OtlpLogRecord {
  kind: "log";
  traceId: string;
  spanId: string;
  timeNs: bigint;
  /** OTLP severity number: 17–24 are ERROR and FATAL. */
  severity: number;
  /** LogRecord.event_name (OTLP 1.5), else the `event.name` attribute. */
  eventName: string;
  attributes: OtlpAttributes;
  problem?: string;
}

export type OtlpRecord = OtlpSpan | OtlpLogRecord;

const HEX = Array.from({ length: 256 }, (_, b) => b.toString(16).padStart(2, "0"));
export function hex(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += HEX[bytes[i] as number];
  return out;
}

/** Adds an attribute, or says which limit it breaks. */
export function addAttribute(into: Map<string, OtlpValue>, key: string, value: OtlpValue): string | undefined {
  if (into.size >= OTLP_LIMITS.attributes) return `more than ${OTLP_LIMITS.attributes} attributes`;
  into.set(key, value);
  return undefined;
}
