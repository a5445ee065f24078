/**
 * GET /openapi.json: the HTTP contract as OpenAPI 3.1, with request bodies
 * generated from the same zod schemas that validate them (inputs as written,
 * before units are parsed) — one source of truth.
 */
import { z } from "zod";
import { EventSchema, EventsEnvelopeSchema } from "../core/events";
import { FlagSpecSchema, JsonValueSchema, ManifestSchema } from "../core/manifest";
import { ActionRequestSchema } from "../core/rollout";
import { RAMPART_VERSION } from "./version";

type Json = Record<string, unknown>;

const ref = (id: string) => ({ $ref: `#/components/schemas/${id}` });
const json = (schema: Json) => ({ content: { "application/json": { schema } } });
const error = (description: string) => ({ description, ...json(ref("Error")) });
const ofrepError = (description: string) => ({ description, ...json(ref("OfrepError")) });
const admin = [{ adminToken: [] }];
const keyParam = { name: "key", in: "path", required: true, schema: { type: "string", pattern: "^[A-Za-z0-9._-]{1,128}$" } };
const ok = (description: string, schema: Json = { type: "object" }) => ({ description, ...json(schema) });

function schemas(): Json {
  const registry = z.registry<{ id: string }>();
  registry.add(JsonValueSchema, { id: "JsonValue" });
  registry.add(FlagSpecSchema, { id: "FlagSpec" });
  registry.add(ManifestSchema, { id: "Manifest" });
  registry.add(ActionRequestSchema, { id: "ActionRequest" });
  registry.add(EventSchema, { id: "Event" });
  registry.add(EventsEnvelopeSchema, { id: "EventsRequest" });
  const generated = z.toJSONSchema(registry, { io: "input", unrepresentable: "any", uri: (id) => `#/components/schemas/${id}` }).schemas;
  for (const schema of Object.values(generated)) delete (schema as Json)["$schema"];
  return {
    ...generated,
    Error: {
      type: "object",
      required: ["error", "message"],
      properties: {
        error: { type: "string" },
        message: { type: "string" },
        issues: { type: "array", items: { type: "object", properties: { path: { type: "string" }, message: { type: "string" } } } },
      },
    },
    OfrepRequest: { type: "object", properties: { context: { type: "object", properties: { targetingKey: { type: "string" } }, additionalProperties: true } } },
    OfrepEvaluation: {
      type: "object",
      required: ["key", "value", "reason", "variant", "metadata"],
      properties: {
        key: { type: "string" },
        value: {},
        reason: { enum: ["SPLIT", "STATIC", "DEFAULT", "DISABLED"] },
        variant: { enum: ["baseline", "candidate"] },
        metadata: { type: "object", additionalProperties: { type: ["string", "number", "boolean"] } },
      },
    },
    OfrepError: {
      type: "object",
      required: ["key", "errorCode"],
      properties: { key: { type: "string" }, errorCode: { enum: ["PARSE_ERROR", "TARGETING_KEY_MISSING", "INVALID_CONTEXT", "GENERAL", "FLAG_NOT_FOUND"] }, errorDetails: { type: "string" } },
    },
  };
}

function paths(): Json {
  const flagPath = { parameters: [keyParam] };
  return {
    "/ofrep/v1/evaluate/flags/{key}": {
      ...flagPath,
      post: {
        summary: "Evaluate one flag (OFREP); counts one exposure",
        requestBody: json(ref("OfrepRequest")),
        responses: { 200: ok("The served value", ref("OfrepEvaluation")), 400: ofrepError("Malformed request or missing targeting key"), 404: ofrepError("No such flag"), 503: ofrepError("No configuration yet; retry") },
      },
    },
    "/ofrep/v1/evaluate/flags": {
      post: {
        summary: "Evaluate every flag (OFREP bulk); ETag over config version and context",
        parameters: [{ name: "If-None-Match", in: "header", schema: { type: "string" } }],
        requestBody: json(ref("OfrepRequest")),
        responses: { 200: ok("Every flag", { type: "object", properties: { flags: { type: "array", items: {} } } }), 304: { description: "Unchanged" }, 400: ofrepError("Malformed request") },
      },
    },
    "/v1/events": {
      post: {
        summary: "Ingest up to 1,000 events; ids are deduplicated per flag",
        requestBody: json(ref("EventsRequest")),
        responses: { 202: ok("Accepted, duplicates and per-event rejections"), 400: error("Malformed body"), 401: error("EVENTS_TOKEN required"), 413: error("Body over 1 MiB"), 429: error("Rate limited; see Retry-After") },
      },
    },
    "/health": { get: { summary: "Serving version and snapshot", responses: { 200: ok("Healthy or stale"), 503: ok("No snapshot yet") } } },
    "/metrics": { get: { summary: "Prometheus exposition", security: admin, responses: { 200: { description: "text/plain" }, 401: error("Token missing or wrong") } } },
    "/admin/flags": { get: { summary: "List flags", security: admin, responses: { 200: ok("Flags") } } },
    "/admin/flags/{key}": {
      ...flagPath,
      get: { summary: "A flag: spec as written, rollout state", security: admin, responses: { 200: ok("The flag"), 404: error("No such flag") } },
      put: {
        summary: "Create or replace a flag (JSON, or YAML with Content-Type: application/yaml)",
        security: admin,
        requestBody: { content: { "application/json": { schema: ref("FlagSpec") }, "application/yaml": { schema: ref("FlagSpec") } } },
        responses: { 200: ok("Replaced (or unchanged)"), 201: ok("Created"), 400: error("Invalid spec; issues name each path"), 403: error("Read-only token"), 413: error("Body over 1 MiB"), 415: error("Not JSON or YAML") },
      },
      delete: { summary: "Delete a flag (its decision log is kept)", security: admin, responses: { 200: ok("Deleted"), 404: error("No such flag") } },
    },
    "/admin/flags/{key}/actions": {
      ...flagPath,
      post: { summary: "Operator action", security: admin, requestBody: json(ref("ActionRequest")), responses: { 200: ok("The new state and its decision"), 400: error("Invalid action"), 404: error("No such flag"), 409: error("Not allowed in this state") } },
    },
    "/admin/flags/{key}/decisions": { ...flagPath, get: { summary: "Decision log, newest first", security: admin, responses: { 200: ok("Decisions") } } },
    "/admin/flags/{key}/decisions/{id}": { ...flagPath, get: { summary: "One decision with its inputs", security: admin, parameters: [{ name: "id", in: "path", required: true, schema: { type: "integer" } }], responses: { 200: ok("The decision"), 404: error("No such decision") } } },
    "/admin/flags/{key}/decisions/{id}/replay": { ...flagPath, get: { summary: "Recompute a decision from its stored inputs", security: admin, parameters: [{ name: "id", in: "path", required: true, schema: { type: "integer" } }], responses: { 200: ok("Replayed verdicts and whether they match"), 409: error("An operator decision has nothing to recompute") } } },
    "/admin/flags/{key}/report": { ...flagPath, get: { summary: "A/B compare report over [from, to)", security: admin, parameters: ["from", "to", "generation"].map((name) => ({ name, in: "query", schema: { type: "string" } })), responses: { 200: ok("Per-arm metrics and gate verdicts"), 400: error("Bad time range") } } },
    "/admin/flags/{key}/disagreements": { ...flagPath, get: { summary: "Recent shadow disagreements", security: admin, responses: { 200: ok("Disagreements") } } },
    "/admin/flags/{key}/stats": { ...flagPath, get: { summary: "Storage and counter-batch counts", security: admin, responses: { 200: ok("Stats") } } },
    "/admin/manifest": {
      post: {
        summary: "Apply a multi-flag manifest; dryRun returns the diff; prune deletes flags not in it",
        security: admin,
        parameters: ["dryRun", "prune"].map((name) => ({ name, in: "query", schema: { type: "string", enum: ["1", "true"] } })),
        requestBody: { content: { "application/json": { schema: ref("Manifest") }, "application/yaml": { schema: ref("Manifest") } } },
        responses: { 200: ok("The changes"), 400: error("Invalid manifest") },
      },
    },
    "/admin/audit": { get: { summary: "Registry audit log", security: admin, responses: { 200: ok("Entries") } } },
    "/admin/cron": { get: { summary: "Cron progress", security: admin, responses: { 200: ok("Pending and last tick") } } },
  };
}

let cached: Json | null = null;

/** The OpenAPI document, built once per isolate. */
export function openApiDocument(): Json {
  cached ??= {
    openapi: "3.1.0",
    info: { title: "Rampart", version: RAMPART_VERSION, description: "Edge flag evaluation (OFREP), events, and gated progressive delivery." },
    components: { schemas: schemas(), securitySchemes: { adminToken: { type: "http", scheme: "bearer", description: "ADMIN_TOKEN, or READ_TOKEN for reads" } } },
    paths: paths(),
  };
  return cached;
}
