/**
 * GET /openapi.json: the HTTP contract as OpenAPI 3.1, with request bodies
 * generated from the same zod schemas that validate them (inputs as written,
 * before units are parsed) — one source of truth.
 */
import { EXPERIMENT_VERDICTS } from "../core/experiment-report";
import { ApiTokenSchema, GrantRequestSchema, GrantSchema, PERMISSIONS, TokenRequestSchema } from "../core/access";
import { ConditionSchema } from "../core/condition";
import { z } from "zod";
import { EventSchema, EventsEnvelopeSchema } from "../core/events";
import { FLAG_KINDS, FlagSpecSchema, JsonValueSchema, ManifestSchema } from "../core/manifest";
import { JsonLogicSchema } from "../core/flagd/json-logic";
import { ActionRequestSchema, RolloutStateSchema } from "../core/rollout";
import { ScheduleRequestSchema, ScheduleSchema } from "../core/schedule";
import { ListedSegmentSchema, SegmentSchema } from "../core/segment";
import { RAMPART_VERSION } from "./version";
import { ApprovalAskBodySchema } from "../durable-objects/flag/types";

type Json = Record<string, unknown>;

const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });
const json = (schema: Json) => ({ content: { "application/json": { schema } } });
const error = (description: string) => ({ description, ...json(ref("Error")) });
const ofrepError = (description: string) => ({ description, ...json(ref("OfrepError")) });
const ok = (description: string, schema: Json) => ({ description, ...json(schema) });
const keyParam = { name: "key", in: "path", required: true, description: "The flag's key", schema: { type: "string", pattern: "^[A-Za-z0-9._-]{1,128}$" } };
const idParam = { name: "id", in: "path", required: true, description: "A decision id as the log prints it (without #)", schema: { type: "integer", minimum: 1 } };
const query = (name: string, description: string, schema: Json = { type: "string" }) => ({ name, in: "query", description, schema });
const signatureParam = {
  name: "Rampart-Signature",
  in: "header",
  description: 'keyid="<id>"; sig="<base64 Ed25519 signature over the exact body>" — required when the deployment sets MANIFEST_PUBLIC_KEYS',
  schema: { type: "string" },
};
const signatureErrors = { 400: error("Invalid spec (issues name each path), or a missing or malformed signature"), 403: error("Read-only token, unknown signing key, or a signature that does not match the body") };
const regionWaves = { type: "array", description: "Region waves in order (absent for a flag without); each wave's regions, state and the spec hash it serves", items: { $ref: "#/components/schemas/WaveSummary" } };
/** Which region wave an admin read means (default: wave 1, the flag's own); `region` picks the wave that names it. */
const waveParams = [
  query("wave", "Region wave, 1-based (default 1; flags without waves have only wave 1)", { type: "integer", minimum: 1, maximum: 16 }),
  query("region", "The region wave that names this region (instead of `wave`); a region no wave names is refused", { type: "string" }),
];
const limitParam = query("limit", "How many, newest first (default 20, at most 500)", { type: "integer", minimum: 1, maximum: 500 });
const timeSchema = { type: "string", description: "ISO 8601, or milliseconds since the epoch" };
const obj = (properties: Json, required: string[] = Object.keys(properties)) => ({ type: "object", required, properties });
const int = { type: "integer" };
const num = { type: "number" };
const str = { type: "string" };
const ms = { type: "number", description: "milliseconds since the epoch" };
const nullable = (schema: Json) => ({ anyOf: [schema, { type: "null" }] });
/** The cron's latest judgement of a flag's current stage, in the list and in one flag's record. */
const judgement = nullable({ ...obj({ at: ms, action: str, rule: str, reason: str }), description: "The cron's latest judgement of the current stage (for a hold: what it still waits for)" });

/** Who may call an operation: anyone (security: []), the admin API's tokens, or the events token. */
type Access = "public" | "admin-read" | "admin-write" | "events";
const SECURITY: Record<Access, Json[]> = {
  public: [],
  "admin-read": [{ adminToken: [] }],
  "admin-write": [{ adminToken: [] }],
  events: [{ eventsToken: [] }, {}],
};

/** One operation: an id, who may call it, and its responses; the admin API's 401/403 are added for every admin operation. */
function op(operationId: string, summary: string, access: Access, responses: Json, extra: Json = {}): Json {
  const auth: Json = {};
  if (access === "admin-read" || access === "admin-write") auth["401"] = error("Token missing or not valid");
  if (access === "admin-read" || access === "admin-write") auth["403"] = error("The caller's grants lack the route's permission (read, act, approve, write or grant); the message names it");
  return { operationId, summary, security: SECURITY[access], ...extra, responses: { ...auth, ...responses } };
}

function schemas(): Json {
  const registry = z.registry<{ id: string }>();
  registry.add(JsonValueSchema, { id: "JsonValue" });
  registry.add(ConditionSchema, { id: "Condition" });
  registry.add(JsonLogicSchema, { id: "JsonLogic" });
  registry.add(FlagSpecSchema, { id: "FlagSpec" });
  registry.add(ManifestSchema, { id: "Manifest" });
  registry.add(ActionRequestSchema, { id: "ActionRequest" });
  registry.add(ScheduleRequestSchema, { id: "ScheduleRequest" });
  registry.add(SegmentSchema, { id: "Segment" });
  registry.add(EventSchema, { id: "Event" });
  registry.add(EventsEnvelopeSchema, { id: "EventsRequest" });
  registry.add(GrantRequestSchema, { id: "GrantRequest" });
  registry.add(TokenRequestSchema, { id: "TokenRequest" });
  registry.add(ApprovalAskBodySchema, { id: "ApprovalAsk" });
  const generated = z.toJSONSchema(registry, { io: "input", unrepresentable: "any", uri: (id) => `#/components/schemas/${id}` }).schemas;
  // What the API answers with is the parsed form (output), not what a client may write.
  const outputs = z.registry<{ id: string }>();
  outputs.add(RolloutStateSchema, { id: "RolloutState" });
  outputs.add(ScheduleSchema, { id: "Schedule" });
  outputs.add(ConditionSchema, { id: "Condition" });
  outputs.add(ListedSegmentSchema, { id: "StoredSegment" });
  outputs.add(GrantSchema, { id: "Grant" });
  outputs.add(ApiTokenSchema, { id: "ApiToken" });
  const answered = z.toJSONSchema(outputs, { io: "output", unrepresentable: "any", uri: (id) => `#/components/schemas/${id}` }).schemas;
  for (const schema of [...Object.values(generated), ...Object.values(answered)]) delete (schema as Json)["$schema"];
  const position = obj({ status: str, stage: int });
  const gateVerdict = {
    type: "object",
    required: ["metric", "compare", "verdict"],
    properties: {
      metric: str, compare: str, bad: str, informational: { type: "boolean" },
      baseline: nullable(num), candidate: nullable(num), delta: nullable(num),
      interval: nullable({ type: "array", items: num, minItems: 2, maxItems: 2 }),
      thresholds: { type: "object", properties: { warn: num, rollback: num, severe: num } },
      samples: obj({ baseline: int, candidate: int }),
      verdict: { type: "string", enum: ["healthy", "warn", "rollback", "severe", "insufficient_sample", "no_data", "not_applicable"] },
      noHarm: { type: "boolean" }, dataNeeded: nullable(num),
      note: { type: "string", description: "Why there is no verdict on the data (a Prometheus source that failed, or is short of points) — an addition" },
    },
  };
  const armMetrics = obj({ exposures: int, metrics: { type: "object", additionalProperties: obj({ value: nullable(num), samples: int, stderr: num }, ["value"]) } });
  return {
    ...generated,
    ...answered,
    Error: {
      type: "object",
      required: ["error", "message"],
      properties: {
        error: { type: "string", description: "A stable code: invalid_request, not_found, unauthorized, forbidden, conflict, …" },
        message: { type: "string", description: "What to fix, for people" },
        offset: { type: "integer", minimum: 0, description: "Parse errors: the UTF-8 byte offset in the body where the parser stopped" },
        line: { type: "integer", minimum: 1, description: "Parse errors: the 1-based line of that place" },
        column: { type: "integer", minimum: 1, description: "Parse errors: the 1-based column (in characters) of that place" },
        issues: { type: "array", items: { type: "object", properties: { path: { type: "string", description: "The field, e.g. rollout.stages[0].weight" }, message: { type: "string" } } } },
      },
    },
    OfrepRequest: { type: "object", properties: { context: { type: "object", properties: { targetingKey: { type: "string" } }, additionalProperties: true } } },
    OfrepEvaluation: {
      type: "object",
      required: ["key", "reason", "metadata"],
      description: "A served value; without `value` and `variant` (a disabled flagd definition, or one without a default variant), the caller keeps its own default (OFREP's code default)",
      properties: {
        key: { type: "string" },
        value: {},
        reason: { enum: ["SPLIT", "STATIC", "DEFAULT", "DISABLED", "TARGETING_MATCH"] },
        variant: { type: "string" },
        metadata: { type: "object", additionalProperties: { type: ["string", "number", "boolean"] } },
      },
    },
    OfrepBulk: obj({
      flags: { type: "array", items: { anyOf: [ref("OfrepEvaluation"), ref("OfrepError")] } },
      eventStreams: { type: "array", items: obj({ type: { const: "sse" }, endpoint: obj({ origin: str, requestUri: str }), inactivityDelaySec: int }), description: "Where to listen for changes (GET /ofrep/v1/flag-changes)" },
    }),
    OfrepError: {
      type: "object",
      required: ["key", "errorCode"],
      properties: { key: { type: "string" }, errorCode: { enum: ["PARSE_ERROR", "TARGETING_KEY_MISSING", "INVALID_CONTEXT", "GENERAL", "FLAG_NOT_FOUND"] }, errorDetails: { type: "string" } },
    },
    EventsResult: obj({ accepted: int, duplicates: int, rejected: { type: "array", items: obj({ index: int, error: str, message: str }) } }),
    Health: obj({ status: { enum: ["ok", "stale", "unavailable"] }, version: str, configVersion: nullable(int), flags: int, snapshotAgeMs: nullable(num), waves: { type: "array", description: "What this isolate serves in each region wave (the first 200)", items: obj({ flag: str, wave: int, regions: { type: "array", items: str }, status: str, stage: int, generation: int, specVersion: int }) } }),
    WaveSummary: obj({ wave: int, regions: { type: "array", items: str }, status: str, stage: int, weight: num, generation: int, forced: nullable(str), specHash: str, updatedAt: ms }),
    FlagSummary: obj({
      key: str, description: nullable(str), kind: { enum: [...FLAG_KINDS] }, type: str, status: str, stage: int, weight: num, generation: int, forced: nullable(str), specVersion: int, updatedAt: ms,
      judgement,
      waves: regionWaves,
    }, ["key", "description", "kind", "type", "status", "stage", "weight", "generation", "forced", "specVersion", "updatedAt", "judgement"]),
    FlagRecord: obj(
      { key: str, spec: { type: "object", description: "The spec as written" }, specHash: str, specVersion: int, state: ref("RolloutState"), judgement, waves: regionWaves, createdAt: ms, updatedAt: ms },
      ["key", "spec", "specHash", "specVersion", "state", "judgement", "createdAt", "updatedAt"],
    ),
    Decision: {
      ...obj({ id: int, at: ms, generation: int, action: str, source: { enum: ["operator", "cron", "config"] }, actor: str, reason: nullable(str), from: position, to: position, stateVersion: int, rule: nullable(str), replayable: { type: "boolean" } }),
      properties: {
        ...obj({ id: int, at: ms, generation: int, action: str, source: { enum: ["operator", "cron", "config"] }, actor: str, reason: nullable(str), from: position, to: position, stateVersion: int, rule: nullable(str), replayable: { type: "boolean" } }).properties,
        judgement: { type: "object", description: "Cron decisions: every gate's verdict, abort rules, SRM, the α split" },
        inputs: { type: "object", description: "Single-decision reads: what the decision was computed from" },
      },
    },
    CompareReport: {
      ...obj({ flag: str, generation: int, from: ms, to: ms, arms: obj({ baseline: armMetrics, candidate: armMetrics }), gates: { type: "array", items: gateVerdict }, alphaPerGate: num }),
      properties: { ...obj({ flag: str, generation: int, from: ms, to: ms, arms: obj({ baseline: armMetrics, candidate: armMetrics }), gates: { type: "array", items: gateVerdict }, alphaPerGate: num }).properties, unattributed: { type: "object", additionalProperties: int } },
    },
    ExperimentReport: obj({
      flag: str, rule: str, iteration: { type: "string", description: "8 hex digits; a new split or experiment block starts a new one" }, current: { type: "boolean" }, control: str, from: ms, to: ms,
      variants: { type: "object", additionalProperties: armMetrics, description: "Per variant of the split, the control included" },
      comparisons: { type: "array", items: obj({
        variant: str, metric: str, compare: { enum: ["relative", "absolute"] }, bad: nullable({ enum: ["increase", "decrease"] }),
        control: nullable(num), treatment: nullable(num), delta: nullable(num), interval: nullable({ type: "array", items: num, minItems: 2, maxItems: 2 }),
        samples: obj({ control: num, treatment: num }), verdict: { enum: [...EXPERIMENT_VERDICTS] },
      }) },
      correction: obj({ method: { enum: ["bonferroni"] }, familyAlpha: num, comparisons: int, alphaEach: num }),
      iterations: { type: "array", items: obj({ iteration: str, rule: str, control: str, firstAt: ms, lastAt: ms }) },
      unattributed: { type: "object", additionalProperties: int },
    }),
    Series: obj({
      flag: str, generation: int, from: ms, to: ms, step: { type: "integer", description: "ms per point" },
      gates: { type: "array", items: obj({ metric: str, compare: str, bad: str, informational: { type: "boolean" }, thresholds: { type: "object", properties: { warn: num, rollback: num, severe: num } } }) },
      points: { type: "array", items: obj({
        t: ms,
        exposures: obj({ baseline: int, candidate: int }),
        levels: { type: "object", additionalProperties: obj({ baseline: nullable(num), candidate: nullable(num) }) },
        gates: { type: "array", items: obj({ metric: str, delta: nullable(num), interval: nullable({ type: "array", items: num }), verdict: str }) },
      }) },
    }),
    PlanEntry: obj({
      key: str, change: { enum: ["create", "update", "unchanged", "delete"] }, fields: { type: "array", items: str },
      diff: { type: "array", items: obj({ path: str, from: { type: "string", description: "JSON text; absent when unset" }, to: { type: "string", description: "JSON text; absent when removed" } }, ["path"]) },
      newGeneration: { type: "boolean" },
    }, ["key", "change"]),
    AuditEntry: obj({ id: int, at: ms, actor: str, action: str, flag: nullable(str), specHash: nullable(str), signingKey: nullable(str), summary: str }),
  };
}

/** OTLP's Export*ServiceResponse in JSON: empty, or a partial success with the rejected count (a decimal string, as OTLP's JSON writes int64) and why. */
function otlpAnswer(field: string): Json {
  return { type: "object", properties: { partialSuccess: obj({ [field]: { type: "string", description: "int64 as a decimal string" }, errorMessage: str }) } };
}

function paths(): Json {
  const flag = { parameters: [keyParam] };
  const noFlag = { 404: error("No such flag") };
  const badQuery = { 400: error("A query parameter is not valid; `issues` names it") };
  return {
    "/ofrep/v1/evaluate/flags/{key}": {
      ...flag,
      post: op("evaluateFlag", "Evaluate one flag (OFREP); counts one exposure", "public", {
        200: ok("The served value", ref("OfrepEvaluation")), 400: ofrepError("Malformed request or missing targeting key"), 404: ofrepError("No such flag"), 503: ofrepError("No configuration yet; retry"),
      }, { requestBody: json(ref("OfrepRequest")) }),
    },
    "/ofrep/v1/evaluate/flags": {
      post: op("evaluateAllFlags", "Evaluate every flag (OFREP bulk); ETag over config version and context", "public", {
        200: ok("Every flag", ref("OfrepBulk")), 304: { description: "Unchanged since If-None-Match" }, 400: ofrepError("Malformed request"),
      }, { parameters: [{ name: "If-None-Match", in: "header", schema: { type: "string" } }], requestBody: json(ref("OfrepRequest")) }),
    },
    "/ofrep/v1/flag-changes": {
      get: op("flagChanges", "OFREP change events (server-sent events): one refetchEvaluation message per configuration change; ids are configuration versions", "public", {
        200: { description: "text/event-stream; each message's data is {\"type\": \"refetchEvaluation\", \"etag\"}", content: { "text/event-stream": { schema: { type: "string" } } } },
      }, { parameters: [{ name: "Last-Event-ID", in: "header", description: "The last version seen: a client behind gets one event at once", schema: { type: "string" } }, query("lastEventId", "The same, for clients that cannot set the header", { type: "string" })] }),
    },
    "/v1/events": {
      post: op("sendEvents", "Ingest up to 1,000 events; ids are deduplicated per flag", "events", {
        202: ok("Accepted, duplicates and per-event rejections", ref("EventsResult")), 400: error("Malformed body"), 401: error("EVENTS_TOKEN required"), 413: error("Body over 1 MiB"), 429: error("Rate limited; see Retry-After"),
      }, { requestBody: json(ref("EventsRequest")) }),
    },
    "/v1/traces": {
      post: op("exportTraces", "OTLP/HTTP traces: spans carrying the feature-flag semantic conventions become outcomes of those flags (latency, errors, span events, OTLP_VALUE_ATTRIBUTES); gzip accepted", "events", {
        200: { description: "ExportTraceServiceResponse: `partialSuccess` with `rejectedSpans` and why, when some were not counted", content: { "application/json": { schema: otlpAnswer("rejectedSpans") }, "application/x-protobuf": { schema: { type: "string", format: "binary" } } } },
        400: { description: "A body that cannot be read (google.rpc.Status naming the message path and byte)", content: { "application/json": { schema: obj({ code: int, message: str }) }, "application/x-protobuf": { schema: { type: "string", format: "binary" } } } },
        401: error("EVENTS_TOKEN required"), 413: error("Body over 4 MiB, or over 16 MiB inflated"), 415: error("Not application/x-protobuf or application/json, or an encoding other than gzip"), 429: error("Rate limited; see Retry-After"), 503: error("Not stored; send again (ids make it safe)"),
      }, { requestBody: { required: true, content: { "application/x-protobuf": { schema: { type: "string", format: "binary" } }, "application/json": { schema: { type: "object", description: "ExportTraceServiceRequest in OTLP's JSON encoding" } } } } }),
    },
    "/v1/logs": {
      post: op("exportLogs", "OTLP/HTTP logs: log records carrying the feature-flag semantic conventions become outcomes (severity ERROR and FATAL → errors, event names → events, OTLP_VALUE_ATTRIBUTES); gzip accepted", "events", {
        200: { description: "ExportLogsServiceResponse: `partialSuccess` with `rejectedLogRecords` and why", content: { "application/json": { schema: otlpAnswer("rejectedLogRecords") }, "application/x-protobuf": { schema: { type: "string", format: "binary" } } } },
        400: { description: "A body that cannot be read (google.rpc.Status)", content: { "application/json": { schema: obj({ code: int, message: str }) }, "application/x-protobuf": { schema: { type: "string", format: "binary" } } } },
        401: error("EVENTS_TOKEN required"), 413: error("Body over 4 MiB, or over 16 MiB inflated"), 415: error("Unsupported content type or encoding"), 429: error("Rate limited; see Retry-After"), 503: error("Not stored; send again"),
      }, { requestBody: { required: true, content: { "application/x-protobuf": { schema: { type: "string", format: "binary" } }, "application/json": { schema: { type: "object", description: "ExportLogsServiceRequest in OTLP's JSON encoding" } } } } }),
    },
    "/health": { get: op("health", "Serving version and snapshot", "public", { 200: ok("Healthy or stale", ref("Health")), 503: ok("No snapshot yet", ref("Health")) }) },
    "/openapi.json": { get: op("openApi", "This document", "public", { 200: ok("OpenAPI 3.1", { type: "object" }) }) },
    "/dashboard": { get: op("dashboard", "The operator dashboard (a page holding no data; it reads the admin API with a token the operator enters)", "public", { 200: { description: "HTML", content: { "text/html": { schema: { type: "string" } } } } }) },
    "/dashboard/assets/{name}": {
      get: op("dashboardAsset", "The dashboard's scripts and styles (content-hashed names, immutable)", "public", {
        200: { description: "JavaScript or CSS", content: { "text/javascript": { schema: { type: "string" } }, "text/css": { schema: { type: "string" } } } }, 404: error("No such asset"),
      }, { parameters: [{ name: "name", in: "path", required: true, schema: { type: "string" } }] }),
    },
    "/metrics": { get: op("metrics", "Prometheus exposition", "admin-read", { 200: { description: "Prometheus text format 0.0.4", content: { "text/plain": { schema: { type: "string" } } } } }) },
    "/admin/whoami": { get: op("whoami", "Who the caller is (a bootstrap token, or a person from Cloudflare Access or OIDC), the permissions their grants give, and the actor the audit will show", "admin-read", { 200: ok("Identity", obj({ role: { enum: ["admin", "read"], description: "admin when the caller may act" }, actor: str, identity: obj({ kind: { enum: ["access", "oidc", "token", "bootstrap"] }, subject: str, groups: { type: "array", items: str } }), permissions: { type: "array", items: { enum: [...PERMISSIONS] }, description: "Held on every flag" }, prefixed: { type: "array", description: "What each prefix-limited grant gives on its flags", items: obj({ prefixes: { type: "array", items: str }, permissions: { type: "array", items: { enum: [...PERMISSIONS] } } }) } })) }) },
    "/mcp": {
      post: op("mcp", "Model Context Protocol (streamable HTTP, stateless, JSON answers): tools that read flags, reports and decisions and pause, resume, roll back, kill or ask for approval, each with the caller's own grant (docs/http-api.md, Agents)", "admin-read", {
        200: { description: "The JSON-RPC answer", content: { "application/json": { schema: { type: "object" } } } }, 202: { description: "A notification, accepted" }, 400: error("Not JSON; the position is named"), 406: error("The client must accept application/json and text/event-stream"), 413: error("Body over 256 KiB"),
      }, { requestBody: json({ type: "object", description: "A JSON-RPC 2.0 message" }) }),
      get: op("mcpStream", "Not offered: the server is stateless and opens no stream", "public", { 405: error("Allow: POST") }, { "x-not-offered": true }),
      delete: op("mcpSession", "Not offered: the server keeps no sessions", "public", { 405: error("Allow: POST") }, { "x-not-offered": true }),
    },
    "/admin/tokens": {
      get: op("listTokens", "API tokens (never their secrets), with last use and revocation; needs the grant permission", "admin-read", { 200: ok("Tokens", obj({ tokens: { type: "array", items: ref("ApiToken") } })) }),
      post: op("createToken", "Create an API token for a machine, CI or an agent: its role, prefixes and expiry; the secret is in this answer only; audited", "admin-write", {
        201: ok("The token, with its secret as `token` (rmp_<id>_<secret>)", { allOf: [ref("ApiToken"), obj({ token: str })] }), 400: error("Not a token request; `issues` names the field"),
      }, { requestBody: json(ref("TokenRequest")) }),
    },
    "/admin/tokens/{id}": {
      parameters: [{ name: "id", in: "path", required: true, schema: { type: "string", pattern: "^[0-9a-f]{12}$" } }],
      delete: op("revokeToken", "Revoke an API token (it is kept, marked revoked); audited", "admin-write", { 200: ok("Revoked", ref("ApiToken")), 404: error("No live token with that id") }),
    },
    "/admin/grants": { get: op("listGrants", "Role grants to people and groups", "admin-read", { 200: ok("Grants", obj({ grants: { type: "array", items: ref("Grant") } })) }) },
    "/admin/grants/{kind}/{subject}": {
      parameters: [
        { name: "kind", in: "path", required: true, schema: { enum: ["user", "group"] } },
        { name: "subject", in: "path", required: true, description: "An email or token subject (user), or a group name", schema: { type: "string", maxLength: 256 } },
      ],
      put: op("putGrant", "Grant a role (viewer, operator, approver, admin), optionally on flag-key prefixes; needs the grant permission; audited", "admin-write", {
        200: ok("Replaced", ref("Grant")), 201: ok("Created", ref("Grant")), 400: error("Not a grant; `issues` names the field"), 403: error("The caller lacks the grant permission"),
      }, { requestBody: json(ref("GrantRequest")) }),
      delete: op("deleteGrant", "Remove a grant; audited", "admin-write", { 200: ok("Deleted", obj({ kind: str, subject: str, deleted: { type: "boolean" } })), 404: error("No such grant") }),
    },
    "/admin/flags": { get: op("listFlags", "List flags with their state and the cron's latest judgement", "admin-read", { 200: ok("Flags", obj({ flags: { type: "array", items: ref("FlagSummary") } })) }) },
    "/admin/flags/{key}": {
      ...flag,
      get: op("getFlag", "A flag: spec as written, rollout state", "admin-read", { 200: ok("The flag", ref("FlagRecord")), ...noFlag }),
      put: op("putFlag", "Create or replace a flag (JSON, or YAML with Content-Type: application/yaml)", "admin-write", {
        200: ok("Replaced (or unchanged)", obj({ key: str, created: { type: "boolean" }, changed: { type: "boolean" }, state: ref("RolloutState"), specVersion: int })),
        201: ok("Created", obj({ key: str, created: { type: "boolean" }, changed: { type: "boolean" }, state: ref("RolloutState"), specVersion: int })),
        ...signatureErrors, 413: error("Body over 1 MiB"), 415: error("Not JSON or YAML"),
      }, { parameters: [signatureParam], requestBody: { content: { "application/json": { schema: ref("FlagSpec") }, "application/yaml": { schema: ref("FlagSpec") } } } }),
      delete: op("deleteFlag", "Delete a flag (its decision log is kept)", "admin-write", { 200: ok("Deleted", obj({ key: str, deleted: { type: "boolean" } })), ...noFlag, 409: error("Other flags require it (prerequisites): the message names them") }),
    },
    "/admin/flags/{key}/actions": {
      ...flag,
      post: op("actOnFlag", "Operator action: promote, demote, rollback, pause, resume, kill, unkill, force, unforce, start (a waiting region wave); `wave` or `region` in the body picks a region wave", "admin-write", {
        200: ok("The new state and its decision", obj({ key: str, state: ref("RolloutState"), decision: ref("Decision"), published: { type: "boolean" } })),
        400: error("Invalid action, or a wave or region the flag does not have"), ...noFlag, 409: error("Not allowed in this state"),
      }, { requestBody: json({ allOf: [ref("ActionRequest"), { type: "object", properties: { wave: { type: "integer", minimum: 1, maximum: 16 }, region: str } }] }) }),
    },
    "/admin/flags/{key}/schedules": {
      ...flag,
      get: op("listSchedules", "A flag's pending scheduled changes, soonest first", "admin-read", { 200: ok("Schedules", obj({ key: str, schedules: { type: "array", items: ref("Schedule") } })), ...noFlag }),
      post: op("addSchedule", "Schedule an operator action for the first cron tick at or after `at` (carried out as schedule:<actor>, audited; one that no longer applies is audited as failed)", "admin-write", {
        201: ok("Scheduled", obj({ key: str, schedule: ref("Schedule") })),
        400: error("Invalid schedule: a time not in the future or over 366 days ahead, an unknown action, force without variant, a wave the flag does not have"), ...noFlag, 409: error("The flag already has 50 pending schedules"),
      }, { requestBody: json(ref("ScheduleRequest")) }),
    },
    "/admin/flags/{key}/schedules/{id}": {
      ...flag,
      delete: op("cancelSchedule", "Cancel a pending schedule (audited)", "admin-write", { 200: ok("Cancelled", obj({ key: str, id: int, cancelled: { type: "boolean" } })), 400: error("Invalid id"), 404: error("No such flag or pending schedule") }, { parameters: [{ name: "id", in: "path", required: true, description: "The schedule's id", schema: { type: "integer", minimum: 1 } }] }),
    },
    "/admin/segments": {
      get: op("listSegments", "Every segment, with its version and the flags whose rules use it", "admin-read", { 200: ok("Segments", obj({ segments: { type: "array", items: ref("StoredSegment") } })) }),
    },
    "/admin/segments/{name}": {
      parameters: [{ name: "name", in: "path", required: true, description: "The segment's name", schema: { type: "string", pattern: "^[A-Za-z][A-Za-z0-9._-]{0,127}$" } }],
      get: op("getSegment", "A segment, its version and the flags using it", "admin-read", { 200: ok("The segment", ref("StoredSegment")), 404: error("No such segment") }),
      put: op("putSegment", "Create or replace a segment; the flags using it are republished (one delta entry each), audited", "admin-write", {
        200: ok("Replaced", obj({ name: str, created: { type: "boolean" }, version: int, republished: { type: "array", items: str } })),
        201: ok("Created", obj({ name: str, created: { type: "boolean" }, version: int, republished: { type: "array", items: str } })),
        400: error("Invalid segment (naming the field), or a name that differs from the URL"), 413: error("Body over 1 MiB"), 415: error("Not JSON or YAML"),
      }, { requestBody: { content: { "application/json": { schema: ref("Segment") }, "application/yaml": { schema: ref("Segment") } } } }),
      delete: op("deleteSegment", "Delete a segment no flag uses (audited)", "admin-write", { 200: ok("Deleted", obj({ name: str, deleted: { type: "boolean" } })), 404: error("No such segment"), 409: error("A flag's rules use it: the message names them") }),
    },
    "/admin/flags/{key}/approval-requests": {
      ...flag,
      post: op("requestApproval", "Ask people to approve the stage a flag waits in: an approval_requested webhook naming who asks, and an audit entry; changes no state; needs the act permission", "admin-write", {
        201: ok("The audit entry", obj({ key: str, requested: { type: "object" } })), 400: error("Invalid request; `issues` names the field"), ...noFlag, 409: error("For another generation or stage, or the stage awaits no approval"),
      }, { requestBody: json(ref("ApprovalAsk")) }),
    },
    "/admin/flags/{key}/approve": {
      ...flag,
      post: op("approveStage", "Approve (or reject) the stage a flag waits in; names the generation and stage it covers", "admin-write", {
        200: ok("The approval, as a decision", obj({ key: str, decision: ref("Decision") })), 400: error("Invalid approval"), ...noFlag, 409: error("For another generation or stage, or the stage awaits no approval"),
      }, { requestBody: json(obj({ decision: { enum: ["approve", "reject"] }, generation: { type: "integer", minimum: 1 }, stage: { type: "integer", minimum: 0 }, note: str, wave: { type: "integer", minimum: 1, maximum: 16 }, region: str }, ["generation", "stage"])) }),
    },
    "/admin/flags/{key}/decisions": { ...flag, get: op("listDecisions", "Decision log, newest first", "admin-read", { 200: ok("Decisions", obj({ key: str, decisions: { type: "array", items: ref("Decision") } })), ...badQuery }, { parameters: [limitParam, ...waveParams] }) },
    "/admin/flags/{key}/decisions/{id}": { ...flag, get: op("getDecision", "One decision with its inputs", "admin-read", { 200: ok("The decision", obj({ key: str, decision: ref("Decision") })), 404: error("No such decision") }, { parameters: [idParam, ...waveParams] }) },
    "/admin/flags/{key}/decisions/{id}/replay": {
      ...flag,
      get: op("replayDecision", "Recompute a cron decision from its stored inputs", "admin-read", {
        200: ok("Replayed verdicts and whether they match", obj({ key: str, decision: ref("Decision"), replayed: { type: "object", required: ["action", "rule"], properties: { action: str, rule: str } }, matches: { type: "boolean" } })),
        404: error("No such decision"), 409: error("An operator decision has nothing to recompute, or the judging method is no longer run"),
      }, { parameters: [idParam, ...waveParams] }),
    },
    "/admin/flags/{key}/report": {
      ...flag,
      get: op("compareReport", "A/B compare report over [from, to)", "admin-read", { 200: ok("Per-arm metrics and gate verdicts", ref("CompareReport")), ...badQuery, ...noFlag }, {
        parameters: [query("from", "Start (default: 24 h before `to`)", timeSchema), query("to", "End (default: now)", timeSchema), query("generation", "Generation (default: the current one)", { type: "integer", minimum: 1 }), ...waveParams],
      }),
    },
    "/admin/flags/{key}/experiments/{rule}": {
      ...flag,
      get: op("experimentReport", "An experiment's compare report: every variant of a rule's split against its control, intervals corrected for the number of arms", "admin-read", {
        200: ok("Per-variant metrics and each treatment against the control", ref("ExperimentReport")), ...badQuery, 404: error("No such flag, rule, experiment or iteration"),
      }, {
        parameters: [
          { name: "rule", in: "path", required: true, schema: { type: "string", pattern: "^[A-Za-z0-9._-]{1,64}$" }, description: "The rule's name (rule-N when it has none)" },
          query("iteration", "An iteration (default: the rule's split as served now)", { type: "string", pattern: "^[0-9a-f]{8}$" }),
          query("from", "Start (default: the iteration's first exposure)", timeSchema), query("to", "End (default: now)", timeSchema),
        ],
      }),
    },
    "/admin/flags/{key}/series": {
      ...flag,
      get: op("metricSeries", "Metrics over time for charts: per-step exposures and levels, cumulative gate verdicts", "admin-read", { 200: ok("Points, oldest first", ref("Series")), ...badQuery, ...noFlag }, {
        parameters: [query("from", "Start (default: 1 h before `to`)", timeSchema), query("to", "End (default: now)", timeSchema), query("points", "Points wanted (1–120, default 60); steps are whole minutes", { type: "integer", minimum: 1, maximum: 120 }), query("generation", "Generation (default: the current one)", { type: "integer", minimum: 1 }), ...waveParams],
      }),
    },
    "/admin/flags/{key}/exposures": {
      ...flag,
      get: op("readExposures", "Logged exposures in [from, to) as newline-delimited JSON, streamed (flags with exposureLog.rate > 0)", "admin-read", {
        200: { description: "One JSON object per line: flag, id (HMAC-SHA256 when EXPOSURE_ID_KEY is set), arm, value, generation, stage, wave, pins, at", content: { "application/x-ndjson": { schema: { type: "string" } } } },
        ...badQuery, ...noFlag,
      }, { parameters: [query("from", "Start (default: 1 h before `to`)", timeSchema), query("to", "End (default: now); at most 168 hours after `from`", timeSchema)] }),
    },
    "/admin/flags/{key}/disagreements": {
      ...flag,
      get: op("listDisagreements", "Recent shadow disagreements", "admin-read", { 200: ok("Disagreements", obj({ key: str, disagreements: { type: "array", items: obj({ eventId: str, at: ms, targetingKey: str, arm: str, generation: int }) } })), ...badQuery }, { parameters: [limitParam, ...waveParams] }),
    },
    "/admin/flags/{key}/stats": { ...flag, get: op("flagStats", "Storage and counter-batch counts", "admin-read", { 200: ok("Stats", { type: "object", required: ["key"], properties: { key: str }, additionalProperties: true }), ...badQuery }, { parameters: waveParams }) },
    "/admin/manifest": {
      post: op("applyManifest", "Apply a multi-flag manifest; dryRun returns the diff; prune deletes flags not in it", "admin-write", {
        200: ok("The changes", obj({ dryRun: { type: "boolean" }, prune: { type: "boolean" }, changes: { type: "array", items: ref("PlanEntry") } })), ...signatureErrors,
      }, {
        parameters: [...["dryRun", "prune"].map((name) => query(name, name === "dryRun" ? "Show the changes, change nothing" : "Also delete flags the manifest does not list", { type: "string", enum: ["1", "true", "0", "false"] })), signatureParam],
        requestBody: { content: { "application/json": { schema: ref("Manifest") }, "application/yaml": { schema: ref("Manifest") } } },
      }),
    },
    "/admin/import/flagd": {
      post: op("importFlagd", "Store a flagd flag-definition document's flags as they are (evaluated as flagd does); all or nothing, other flags untouched; dryRun returns the diff", "admin-write", {
        200: ok("The changes", obj({ dryRun: { type: "boolean" }, changes: { type: "array", items: ref("PlanEntry") } })), ...signatureErrors,
      }, {
        parameters: [query("dryRun", "Show the changes, change nothing", { type: "string", enum: ["1", "true", "0", "false"] }), signatureParam],
        requestBody: { description: "flagd's flag-definition document (flagd.dev/schema/v0/flags.json): flags, $evaluators, metadata", content: { "application/json": { schema: { type: "object", required: ["flags"], properties: { $schema: { type: "string" }, flags: { type: "object", additionalProperties: { type: "object" } }, $evaluators: { type: "object" }, metadata: { type: "object" } } } }, "application/yaml": { schema: { type: "object" } } } },
      }),
    },
    "/admin/audit/export": {
      get: op("exportAudit", "The audit trail as newline-delimited JSON, oldest first, streamed; filtered by time, flag and actor", "admin-read", {
        200: { description: "One AuditEntry per line", content: { "application/x-ndjson": { schema: { type: "string" } } } }, ...badQuery,
      }, { parameters: [query("from", "Start (default: the beginning)", timeSchema), query("to", "End (default: now)", timeSchema), query("flag", "Only this flag's entries", { type: "string" }), query("actor", "Only this actor's entries, or those of actors starting with a prefix ending in *", { type: "string", maxLength: 128 })] }),
    },
    "/admin/audit": { get: op("auditLog", "Registry audit log, newest first", "admin-read", { 200: ok("Entries", obj({ entries: { type: "array", items: ref("AuditEntry") } })), ...badQuery }, { parameters: [limitParam, query("flag", "Only this flag's entries", { type: "string" })] }) },
    "/admin/cron": {
      get: op("cronStatus", "Cron progress", "admin-read", {
        200: ok("Pending and last tick", obj({ pending: nullable(obj({ now: ms, cursor: int, flags: int })), last: nullable(obj({ now: ms, evaluated: int, changed: int, failed: int, batches: int, finishedAt: ms })) })),
      }),
    },
  };
}

let cached: Json | null = null;

/** The OpenAPI document, built once per isolate. */
export function openApiDocument(): Json {
  cached ??= {
    openapi: "3.1.0",
    info: {
      title: "Rampart",
      version: RAMPART_VERSION,
      description: "Edge flag evaluation (OFREP), events, and gated progressive delivery. Flags with a `route` are also served as an HTTP intermediary on their own paths (not listed here). docs/http-api.md describes each route.",
      license: { name: "Proprietary", identifier: "LicenseRef-Rampart" },
    },
    servers: [{ url: "/", description: "This deployment (the document is served by the Worker it describes)" }],
    components: {
      schemas: schemas(),
      securitySchemes: {
        adminToken: { type: "http", scheme: "bearer", description: "ADMIN_TOKEN, or READ_TOKEN for reads (a read-only token is answered 403 on writes)" },
        eventsToken: { type: "http", scheme: "bearer", description: "EVENTS_TOKEN, when the deployment sets one" },
      },
    },
    paths: paths(),
  };
  return cached;
}
