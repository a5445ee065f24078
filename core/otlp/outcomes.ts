/**
 * Spans and log records → Rampart events, by OpenTelemetry's feature-flag
 * semantic conventions (semconv "Feature Flags": `feature_flag.key`,
 * `feature_flag.result.variant`, the older `feature_flag.variant`,
 * `feature_flag.context.id`), on the span or log record itself or on a span
 * event named `feature_flag.evaluation` (or the older `feature_flag`), as
 * OpenFeature's OpenTelemetry hooks write them; `rampart.assignment` carries
 * the evaluation's token when the app has it.
 *
 * For each flag a record names: a span's duration → `latency_ms`; status
 * ERROR (a log record's severity ERROR or FATAL) → `error`; every other
 * span event (a log record's event name) → an event of that name; each
 * attribute listed in `OTLP_VALUE_ATTRIBUTES` → an event with its number.
 * Event ids derive from the trace, span and flag, so an exporter's retry
 * counts once. The unit is `feature_flag.context.id`, else the trace.
 */
import type { IncomingEvent } from "../events";
import { murmur3 } from "../murmur3";
import type { OtlpAttributes, OtlpLogRecord, OtlpRecord, OtlpSpan } from "./model";

const EVENT_NAME = /^[A-Za-z0-9_.:-]{1,64}$/;
const EVALUATION_EVENTS = new Set(["feature_flag.evaluation", "feature_flag"]);
/** OTLP severity numbers 17–24: ERROR, FATAL. */
const SEVERITY_ERROR = 17;

export interface OtlpOutcomes {
  /** Events made, each with the index of the record it came from. */
  events: { record: number; event: IncomingEvent }[];
  /** Records refused as a whole, with the reason, by index. */
  refused: Map<number, string>;
}

interface Evaluation {
  flag: string;
  targetingKey: string | undefined;
  assignment: string | undefined;
  variant: string | undefined;
}

const text = (attributes: OtlpAttributes, name: string): string | undefined => {
  const v = attributes.get(name);
  return typeof v === "string" && v !== "" ? v : typeof v === "number" ? String(v) : undefined;
};

function evaluationIn(attributes: OtlpAttributes, fallback: OtlpAttributes): Evaluation | null {
  const flag = text(attributes, "feature_flag.key");
  if (flag === undefined) return null;
  const pick = (name: string) => text(attributes, name) ?? text(fallback, name);
  return {
    flag,
    targetingKey: pick("feature_flag.context.id"),
    assignment: pick("rampart.assignment"),
    variant: pick("feature_flag.result.variant") ?? pick("feature_flag.variant"),
  };
}

/** The flags a span names: on its own attributes, and on its evaluation events (one per flag, the last wins). */
function spanEvaluations(span: OtlpSpan): Evaluation[] {
  const byFlag = new Map<string, Evaluation>();
  const own = evaluationIn(span.attributes, new Map());
  if (own) byFlag.set(own.flag, own);
  for (const e of span.events) {
    if (!EVALUATION_EVENTS.has(e.name)) continue;
    const found = evaluationIn(e.attributes, span.attributes);
    if (found) byFlag.set(found.flag, found);
  }
  return [...byFlag.values()];
}

const msOf = (ns: bigint): number | undefined => (ns > 0n ? Number(ns / 1_000_000n) : undefined);

export function outcomesOf(records: readonly OtlpRecord[], valueAttributes: ReadonlyMap<string, string>): OtlpOutcomes {
  const out: OtlpOutcomes = { events: [], refused: new Map() };
  records.forEach((record, index) => {
    // 1. A record that broke a limit is refused whole.
    if (record.problem) return out.refused.set(index, record.problem);
    // 2. The flags it names.
    const evaluations = record.kind === "span" ? spanEvaluations(record) : [evaluationIn(record.attributes, new Map())].filter((e): e is Evaluation => e !== null);
    if (evaluations.length === 0) {
      return out.refused.set(index, `${record.kind === "span" ? "span" : "log record"} carries no feature_flag.key (on ${record.kind === "span" ? "the span or a feature_flag.evaluation event" : "its attributes"})`);
    }
    // 3. Its outcomes, once per flag.
    for (const evaluation of evaluations) {
      for (const event of record.kind === "span" ? spanOutcomes(record, evaluation, valueAttributes) : logOutcomes(record, evaluation, valueAttributes)) out.events.push({ record: index, event });
    }
  });
  return out;
}

function base(record: OtlpRecord, evaluation: Evaluation, suffix: string, name: string, timestamp: number | undefined, value?: number): IncomingEvent {
  const flagHash = murmur3(evaluation.flag).toString(36);
  const where = record.traceId !== "" || record.spanId !== "" ? `${record.traceId}.${record.spanId}` : murmur3(JSON.stringify([record.kind, String(record.kind === "span" ? record.startNs : record.timeNs), [...record.attributes.keys()]])).toString(36);
  const time = record.kind === "log" ? `.${String(record.timeNs)}` : "";
  return {
    eventId: `${record.kind === "span" ? "o" : "g"}.${where}${time}.${flagHash}.${suffix}`,
    flag: evaluation.flag,
    targetingKey: evaluation.targetingKey ?? `trace:${record.traceId || where}`,
    name,
    ...(value !== undefined ? { value } : {}),
    ...(evaluation.assignment !== undefined ? { assignment: evaluation.assignment } : evaluation.variant !== undefined ? { variant: evaluation.variant } : {}),
    ...(timestamp !== undefined ? { timestamp } : {}),
  };
}

function valueEvents(record: OtlpRecord, evaluation: Evaluation, valueAttributes: ReadonlyMap<string, string>, timestamp: number | undefined): IncomingEvent[] {
  const out: IncomingEvent[] = [];
  let i = 0;
  for (const [attribute, name] of valueAttributes) {
    const v = record.attributes.get(attribute);
    if (typeof v === "number" && Number.isFinite(v)) out.push(base(record, evaluation, `a${i}`, name, timestamp, v));
    i++;
  }
  return out;
}

function spanOutcomes(span: OtlpSpan, evaluation: Evaluation, valueAttributes: ReadonlyMap<string, string>): IncomingEvent[] {
  const at = msOf(span.endNs) ?? msOf(span.startNs);
  const out: IncomingEvent[] = [];
  if (span.startNs > 0n && span.endNs >= span.startNs) out.push(base(span, evaluation, "l", "latency_ms", at, Number(span.endNs - span.startNs) / 1e6));
  if (span.status === 2) out.push(base(span, evaluation, "e", "error", at));
  span.events.forEach((e, i) => {
    if (EVALUATION_EVENTS.has(e.name) || !EVENT_NAME.test(e.name)) return;
    out.push(base(span, evaluation, `v${i}`, e.name, msOf(e.timeNs) ?? at));
  });
  out.push(...valueEvents(span, evaluation, valueAttributes, at));
  return out;
}

function logOutcomes(log: OtlpLogRecord, evaluation: Evaluation, valueAttributes: ReadonlyMap<string, string>): IncomingEvent[] {
  const at = msOf(log.timeNs);
  const out: IncomingEvent[] = [];
  if (log.severity >= SEVERITY_ERROR) out.push(base(log, evaluation, "e", "error", at));
  if (log.eventName !== "" && !EVALUATION_EVENTS.has(log.eventName) && EVENT_NAME.test(log.eventName)) out.push(base(log, evaluation, "n", log.eventName, at));
  out.push(...valueEvents(log, evaluation, valueAttributes, at));
  return out;
}

/** `OTLP_VALUE_ATTRIBUTES`: "attribute=event,attribute=event" (event defaults to the attribute's name). */
export function parseValueAttributes(setting: string | undefined): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of (setting ?? "").split(",")) {
    const [attribute, name] = part.split("=").map((s) => s.trim());
    if (!attribute) continue;
    const event = name || attribute;
    if (EVENT_NAME.test(event)) out.set(attribute, event);
  }
  return out;
}
