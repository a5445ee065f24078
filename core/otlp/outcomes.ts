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
import { EVENT_LIMITS, EVENT_NAME, eventValueProblem, type IncomingEvent } from "../events";
import { FLAG_KEY_PATTERN } from "../manifest";
import { murmur3 } from "../murmur3";
import type { OtlpAttributes, OtlpLogRecord, OtlpRecord, OtlpSpan } from "./model";

const EVALUATION_EVENTS = new Set(["feature_flag.evaluation", "feature_flag"]);
/** OTLP severity numbers 17–24: ERROR, FATAL. */
const SEVERITY_ERROR = 17;
const NO_ATTRIBUTES: OtlpAttributes = new Map();

/**
 * One outcome of a record. Made here, it already has an event's shape and
 * limits (`EVENT_LIMITS`: the evaluation's fields are checked once per
 * record, refusing the record otherwise), so the route checks it against
 * the flag without parsing it again; `problem` is set when the event's
 * value does not fit its name (`eventValueProblem`).
 */
export interface OtlpOutcome {
  record: number;
  event: IncomingEvent;
  problem: string | null;
}

export interface OtlpOutcomes {
  /** Events made, each with the index of the record it came from. */
  events: OtlpOutcome[];
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
  const own = evaluationIn(span.attributes, NO_ATTRIBUTES);
  let byFlag: Map<string, Evaluation> | null = null;
  for (const e of span.events) {
    if (!EVALUATION_EVENTS.has(e.name)) continue;
    const found = evaluationIn(e.attributes, span.attributes);
    if (!found) continue;
    byFlag ??= new Map(own ? [[own.flag, own]] : []);
    byFlag.set(found.flag, found);
  }
  return byFlag !== null ? [...byFlag.values()] : own ? [own] : [];
}

/** Why an evaluation's fields cannot make events (the limits an event's schema sets), or null. */
function evaluationProblem(e: Evaluation, where: string): string | null {
  if (!FLAG_KEY_PATTERN.test(e.flag)) return `feature_flag.key is not a flag key (A-Z a-z 0-9 . _ -, 1–128 characters)`;
  if (e.targetingKey !== undefined && e.targetingKey.length > EVENT_LIMITS.targetingKey) return `feature_flag.context.id is longer than ${EVENT_LIMITS.targetingKey} characters`;
  if (e.variant !== undefined && e.variant.length > EVENT_LIMITS.variant) return `feature_flag.result.variant is longer than ${EVENT_LIMITS.variant} characters`;
  if (e.assignment !== undefined && e.assignment.length > EVENT_LIMITS.assignment) return `rampart.assignment is longer than ${EVENT_LIMITS.assignment} characters`;
  // The longest suffix an event id gets is ".a<index>" (`valueEvents`); ids longer than an event id may be are refused here.
  if (where.length + 16 > EVENT_LIMITS.eventId) return `its trace and span ids are too long to make event ids (at most ${EVENT_LIMITS.eventId} characters)`;
  return null;
}

const msOf = (ns: bigint): number | undefined => (ns > 0n ? Number(ns / 1_000_000n) : undefined);

export function outcomesOf(records: readonly OtlpRecord[], valueAttributes: ReadonlyMap<string, string>): OtlpOutcomes {
  const out: OtlpOutcomes = { events: [], refused: new Map() };
  const flagHashes = new Map<string, string>();
  records.forEach((record, index) => {
    // 1. A record that broke a limit is refused whole.
    if (record.problem) return out.refused.set(index, record.problem);
    // 2. The flags it names, each with fields an event can carry.
    const evaluations = record.kind === "span" ? spanEvaluations(record) : [evaluationIn(record.attributes, NO_ATTRIBUTES)].filter((e): e is Evaluation => e !== null);
    if (evaluations.length === 0) {
      return out.refused.set(index, `${record.kind === "span" ? "span" : "log record"} carries no feature_flag.key (on ${record.kind === "span" ? "the span or a feature_flag.evaluation event" : "its attributes"})`);
    }
    const { where, trace } = whereOf(record);
    for (const evaluation of evaluations) {
      const problem = evaluationProblem(evaluation, where);
      if (problem !== null) return out.refused.set(index, problem);
    }
    // 3. Its outcomes, once per flag.
    for (const evaluation of evaluations) {
      let flagHash = flagHashes.get(evaluation.flag);
      if (flagHash === undefined) flagHashes.set(evaluation.flag, (flagHash = murmur3(evaluation.flag).toString(36)));
      const make = maker(evaluation, evaluation.targetingKey ?? `trace:${trace}`, `${record.kind === "span" ? "o" : "g"}.${where}.${flagHash}.`, index, out.events);
      if (record.kind === "span") spanOutcomes(record, make, valueAttributes);
      else logOutcomes(record, make, valueAttributes);
    }
  });
  return out;
}

/**
 * What makes a record's event ids its own: trace and span ids (and a log's time), else a hash of what it carries; and the
 * unit its events count for when no `feature_flag.context.id` names one (the trace, else that hash).
 */
function whereOf(record: OtlpRecord): { where: string; trace: string } {
  const ids = record.traceId !== "" || record.spanId !== "" ? `${record.traceId}.${record.spanId}` : murmur3(JSON.stringify([record.kind, String(record.kind === "span" ? record.startNs : record.timeNs), [...record.attributes.keys()]])).toString(36);
  return { where: record.kind === "log" ? `${ids}.${String(record.timeNs)}` : ids, trace: record.traceId || ids };
}

type Make = (suffix: string, name: string, timestamp: number | undefined, value?: number) => void;

/** Adds one event of `evaluation` to `into`; ids are `prefix` + suffix, so an exporter's retry makes the same ones. */
function maker(evaluation: Evaluation, targetingKey: string, prefix: string, index: number, into: OtlpOutcome[]): Make {
  return (suffix, name, timestamp, value) => {
    const event: IncomingEvent = { eventId: prefix + suffix, flag: evaluation.flag, targetingKey, name };
    if (value !== undefined) event.value = value;
    if (evaluation.assignment !== undefined) event.assignment = evaluation.assignment;
    else if (evaluation.variant !== undefined) event.variant = evaluation.variant;
    if (timestamp !== undefined) event.timestamp = timestamp;
    into.push({ record: index, event, problem: eventValueProblem(name, value) });
  };
}

function valueEvents(record: OtlpRecord, make: Make, valueAttributes: ReadonlyMap<string, string>, timestamp: number | undefined): void {
  let i = 0;
  for (const [attribute, name] of valueAttributes) {
    const v = record.attributes.get(attribute);
    if (typeof v === "number" && Number.isFinite(v)) make(`a${i}`, name, timestamp, v);
    i++;
  }
}

function spanOutcomes(span: OtlpSpan, make: Make, valueAttributes: ReadonlyMap<string, string>): void {
  const at = msOf(span.endNs) ?? msOf(span.startNs);
  if (span.startNs > 0n && span.endNs >= span.startNs) make("l", "latency_ms", at, Number(span.endNs - span.startNs) / 1e6);
  if (span.status === 2) make("e", "error", at);
  span.events.forEach((e, i) => {
    if (EVALUATION_EVENTS.has(e.name) || !EVENT_NAME.test(e.name)) return;
    make(`v${i}`, e.name, msOf(e.timeNs) ?? at);
  });
  valueEvents(span, make, valueAttributes, at);
}

function logOutcomes(log: OtlpLogRecord, make: Make, valueAttributes: ReadonlyMap<string, string>): void {
  const at = msOf(log.timeNs);
  if (log.severity >= SEVERITY_ERROR) make("e", "error", at);
  if (log.eventName !== "" && !EVALUATION_EVENTS.has(log.eventName) && EVENT_NAME.test(log.eventName)) make("n", log.eventName, at);
  valueEvents(log, make, valueAttributes, at);
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
