/** Admin API: flags, actions, manifests, decisions and the audit log. Bearer-token protected. */
import { Hono } from "hono";
import { z } from "zod";
import { formatPath, toIssues } from "../../core/issues";
import { plainCopy } from "../../core/dict";
import { FLAG_KEY_PATTERN, FlagSpecSchema, ManifestSchema, type FlagSpec } from "../../core/manifest";
import { importFlagd } from "../../core/flagd/import";
import type { Decision } from "../../core/decision";
import { ActionRequestSchema } from "../../core/rollout";
import { MAX_SERIES_POINTS } from "../../core/series";
import { MINUTE_MS } from "../../core/counters";
import { IterationSchema } from "../../core/experiment";
import { GrantKindSchema, GrantRequestSchema, GrantSubjectSchema, PERMISSIONS, permissionsAnywhere, TokenRequestSchema } from "../../core/access";
import { RuleNameSchema } from "../../core/targeting-rules";
import { ApprovalAskBodySchema, ApprovalRequestSchema, type ApproveResult } from "../../durable-objects/flag/flag-do";
import { flagStub } from "../../durable-objects/flag/stub";
import { registryStub } from "../../durable-objects/registry/stub";
import { requireAdmin, tokenHash } from "../auth";
import { MAX_READ_HOURS, readExposures } from "../exposure-log";
import { ADMIN_BODY_LIMIT, documentFromBytes, readBytes, readJson } from "../body";
import { SIGNATURE_HEADER, verifyBodySignature } from "../manifest-signature";
import type { AppEnv } from "../context";
import { AppError, invalidInput } from "../errors";
import { SegmentNameSchema, SegmentSchema } from "../../core/segment";
import { waveObjectName, WaveSelectorSchema, type WaveSelector } from "../../core/waves";
import { ScheduleRequestSchema, scheduleTimeProblem } from "../../core/schedule";

function flagKeyParam(key: string): string {
  if (!FLAG_KEY_PATTERN.test(key)) {
    throw invalidInput("invalid flag key", [{ path: "key", message: "flag keys use only A-Z a-z 0-9 . _ - (1–128 characters)" }]);
  }
  return key;
}

const notFound = (key: string) => new AppError(404, "not_found", `flag "${key}" does not exist`);
const segmentNotFound = (name: string) => new AppError(404, "not_found", `segment "${name}" does not exist`);

function segmentNameParam(name: string): string {
  if (!SegmentNameSchema.safeParse(name).success) throw invalidInput("invalid segment name", [{ path: "name", message: "segment names start with a letter and use only A-Z a-z 0-9 . _ - (1–128 characters)" }]);
  return name;
}


function waveQuery(c: { req: { query(name: string): string | undefined } }): WaveSelector {
  const parsed = WaveSelectorSchema.safeParse({ wave: c.req.query("wave"), region: c.req.query("region") });
  if (!parsed.success) throw invalidInput("invalid wave selector", toIssues(parsed.error.issues));
  return parsed.data;
}

/**
 * The object that runs the wave a request names. Without a selector it is
 * the flag's own (wave 1) and costs nothing more; with one, the flag's waves
 * are read and a wave or region it does not have is refused, naming the field.
 */
async function waveStub(env: Env, key: string, selector: WaveSelector): Promise<{ stub: ReturnType<typeof flagStub>; wave: number }> {
  if (selector.wave === undefined && selector.region === undefined) return { stub: flagStub(env, key), wave: 1 };
  if (selector.wave !== undefined && selector.region !== undefined) {
    throw invalidInput("name a wave or a region, not both", [{ path: "region", message: "give either `wave` or `region`" }]);
  }
  const waves = await registryStub(env).flagWaves(key);
  if (!waves) throw notFound(key);
  const listed = waves.map((w) => `${w.wave} [${w.regions.join(", ")}]`).join("; ");
  let wave = selector.wave ?? 1;
  if (selector.region !== undefined) {
    const region = selector.region;
    if (waves.length === 0) throw invalidInput("this flag has no region waves", [{ path: "region", message: `flag "${key}" has no \`waves\`: leave out region` }]);
    const named = waves.find((w) => w.regions.includes(region));
    if (!named) throw invalidInput(`unknown region "${region}"`, [{ path: "region", message: `no wave of flag "${key}" names region "${region}"; waves: ${listed}` }]);
    wave = named.wave;
  } else if (wave > Math.max(1, waves.length)) {
    throw invalidInput(`unknown wave ${wave}`, [{ path: "wave", message: waves.length === 0 ? `flag "${key}" has no region waves: only wave 1` : `flag "${key}" has ${waves.length} waves: ${listed}` }]);
  }
  return { stub: flagStub(env, waveObjectName(key, wave)), wave };
}

function parseSpec(raw: unknown, pathKey: string): FlagSpec {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw)) {
    throw invalidInput("the flag spec must be an object", [{ path: "", message: "expected an object" }]);
  }
  const body = raw as Record<string, unknown>;
  if (body["key"] !== undefined && body["key"] !== pathKey) {
    throw invalidInput("the spec's key differs from the URL", [{ path: "key", message: `must be "${pathKey}" (the key in the URL) or left out` }]);
  }
  const parsed = FlagSpecSchema.safeParse({ ...body, key: pathKey });
  if (!parsed.success) throw invalidInput("the flag spec is not valid", toIssues(parsed.error.issues));
  return parsed.data;
}

const LimitQuery = z.coerce.number().int().min(1).max(500).default(50);

function parseQuery<T>(schema: z.ZodType<T>, value: string | undefined, name: string): T {
  const parsed = schema.safeParse(value);
  if (!parsed.success) throw invalidInput(`invalid query parameter ${name}`, toIssues(parsed.error.issues, [name]));
  return parsed.data;
}

/**
 * A boolean query parameter: absent is false; 1/true and 0/false are
 * understood; anything else is refused (a typo'd `dryRun=yes` must not
 * apply a manifest for real).
 */
function booleanQuery(value: string | undefined, name: string): boolean {
  if (value === undefined) return false;
  if (value === "1" || value === "true") return true;
  if (value === "0" || value === "false") return false;
  throw invalidInput(`invalid query parameter ${name}`, [{ path: name, message: `must be true, false, 1 or 0 (got "${value}")` }]);
}

/** A time query parameter: ISO 8601 or milliseconds since the epoch. */
/** Audit entries per registry read while an export streams. */
const AUDIT_EXPORT_PAGE = 200;
const TimeQuery = z.union([z.coerce.number().int().min(0), z.iso.datetime({ offset: true }).transform((s) => Date.parse(s))]);

function parseJsonObject(text: string | null): Record<string, unknown> {
  if (text === null) return {};
  const value = JSON.parse(text) as unknown;
  return value !== null && typeof value === "object" ? (value as Record<string, unknown>) : {};
}

/** A decision as the API shows it: stored JSON texts parsed, inputs only when asked for. */
function present(decision: Decision, withInputs: boolean) {
  const { verdicts, inputs, ...rest } = decision;
  return {
    ...rest,
    ...(verdicts !== null ? { judgement: parseJsonObject(verdicts) } : {}),
    replayable: inputs !== null,
    ...(withInputs && inputs !== null ? { inputs: parseJsonObject(inputs) } : {}),
  };
}

/**
 * A spec or manifest body, checked against MANIFEST_PUBLIC_KEYS before it is
 * parsed (the signature covers the exact bytes); `signedBy` is the key id.
 */
async function readSignedDocument(request: Request, env: Env): Promise<{ raw: unknown; signedBy: string | null }> {
  const bytes = await readBytes(request, ADMIN_BODY_LIMIT);
  const signedBy = await verifyBodySignature(env.MANIFEST_PUBLIC_KEYS, request.headers.get(SIGNATURE_HEADER) ?? undefined, bytes);
  return { raw: documentFromBytes(request, bytes), signedBy };
}

/** An approval (or a request for one) the flag's object refused, rendered once for both routes. */
function approvalRefusal(key: string, result: Extract<ApproveResult, { ok: false }>): AppError {
  if (result.code === "not_found") return notFound(key);
  if (result.code === "same_person") return new AppError(403, "four_eyes", result.message, [{ path: "actor", message: result.message }]);
  return new AppError(409, result.code === "stale" ? "stale_approval" : "not_awaiting_approval", result.message, [{ path: result.path ?? "", message: result.message }]);
}

export function adminRoutes() {
  const app = new Hono<AppEnv>();
  app.use("*", requireAdmin);

  /** Who is calling and what they may do, on every flag and on the prefixes their limited grants name, so a page offers only that. */
  app.get("/whoami", (c) => {
    const caller = c.get("caller");
    const { identity } = caller;
    const everywhere = caller.permissionsOn(null);
    // Grants limited to prefixes, each with what it adds there (a page offers those actions on those flags only).
    const prefixed = caller.grants.filter((g) => g.prefixes !== undefined).map((g) => ({ prefixes: g.prefixes ?? [], permissions: PERMISSIONS.filter((p) => permissionsAnywhere([g]).has(p)) }));
    return c.json({ role: everywhere.has("act") ? "admin" : "read", actor: caller.actor, identity: { kind: identity.kind, subject: identity.subject, groups: identity.groups }, permissions: PERMISSIONS.filter((p) => everywhere.has(p)), prefixed });
  });

  // API tokens: the secret is shown once, in the answer that creates it; only its hash is stored.
  app.post("/tokens", async (c) => {
    const parsed = TokenRequestSchema.safeParse(await readJson(c.req.raw));
    if (!parsed.success) throw invalidInput("the token request is not valid", toIssues(parsed.error.issues));
    const now = Date.now();
    if (parsed.data.expiresAt !== undefined && parsed.data.expiresAt <= now) throw invalidInput("the token would be expired already", [{ path: "expiresAt", message: "must be in the future" }]);
    const random = crypto.getRandomValues(new Uint8Array(38));
    const id = Array.from(random.subarray(0, 6), (b) => b.toString(16).padStart(2, "0")).join("");
    const secret = btoa(String.fromCharCode(...random.subarray(6))).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
    const token = `rmp_${id}_${secret}`;
    const stored = await registryStub(c.env).addToken(id, await tokenHash(token), parsed.data, c.get("actor"), now);
    return c.json({ ...stored, token }, 201);
  });

  app.get("/tokens", async (c) => c.json({ tokens: await registryStub(c.env).listTokens() }));

  app.delete("/tokens/:id", async (c) => {
    const id = parseQuery(z.string().regex(/^[0-9a-f]{12}$/, "a token id is 12 hex digits (rmp_<id>_…)"), c.req.param("id"), "id");
    const revoked = await registryStub(c.env).revokeToken(id, c.get("actor"), Date.now());
    if (!revoked) throw new AppError(404, "not_found", `no live token ${id}`);
    return c.json(revoked);
  });

  app.get("/grants", async (c) => c.json({ grants: await registryStub(c.env).listGrants() }));

  app.put("/grants/:kind/:subject", async (c) => {
    const kind = parseQuery(GrantKindSchema, c.req.param("kind"), "kind");
    const subject = parseQuery(GrantSubjectSchema, c.req.param("subject"), "subject");
    const parsed = GrantRequestSchema.safeParse(await readJson(c.req.raw));
    if (!parsed.success) throw invalidInput("the grant is not valid", toIssues(parsed.error.issues));
    const { created } = await registryStub(c.env).putGrant(kind, subject, parsed.data, c.get("actor"), Date.now());
    return c.json({ kind, subject, ...parsed.data, created }, created ? 201 : 200);
  });

  app.delete("/grants/:kind/:subject", async (c) => {
    const kind = parseQuery(GrantKindSchema, c.req.param("kind"), "kind");
    const subject = parseQuery(GrantSubjectSchema, c.req.param("subject"), "subject");
    if (!(await registryStub(c.env).deleteGrant(kind, subject, c.get("actor"), Date.now()))) throw new AppError(404, "not_found", `${kind} ${subject} has no grant`);
    return c.json({ kind, subject, deleted: true });
  });

  // Each caller sees the flags it may read: a prefix-limited grant lists its prefixes' flags.
  app.get("/flags", async (c) => {
    const caller = c.get("caller");
    return c.json({ flags: (await registryStub(c.env).listFlags()).filter((f) => caller.permissionsOn(f.key).has("read")) });
  });

  app.get("/flags/:key", async (c) => {
    const key = flagKeyParam(c.req.param("key"));
    const record = await registryStub(c.env).getFlag(key);
    if (!record) throw notFound(key);
    return c.json(record);
  });

  app.put("/flags/:key", async (c) => {
    const key = flagKeyParam(c.req.param("key"));
    const { raw, signedBy } = await readSignedDocument(c.req.raw, c.env);
    const spec = parseSpec(raw, key);
    // Specs hold prototype-free dictionaries (waves.regionMap), which RPC cannot carry: send a plain copy.
    const result = await registryStub(c.env).putFlag(plainCopy({ raw, spec, signedBy }), c.get("actor"), Date.now());
    if ("refused" in result) throw invalidInput("the flag spec refers to segments or flags that do not exist, or makes a cycle", result.issues);
    return c.json({ key, ...result }, result.created ? 201 : 200);
  });

  app.delete("/flags/:key", async (c) => {
    const key = flagKeyParam(c.req.param("key"));
    const deleted = await registryStub(c.env).deleteFlag(key, c.get("actor"), Date.now());
    if (typeof deleted === "object") throw new AppError(409, "required_by", `flag "${key}" is a prerequisite of ${deleted.dependents.join(", ")}: remove it from their prerequisites first`);
    if (!deleted) throw notFound(key);
    return c.json({ key, deleted: true });
  });

  app.post("/flags/:key/actions", async (c) => {
    const key = flagKeyParam(c.req.param("key"));
    const parsed = ActionRequestSchema.extend(WaveSelectorSchema.shape).safeParse(await readJson(c.req.raw));
    if (!parsed.success) throw invalidInput("the action is not valid", toIssues(parsed.error.issues));
    const { wave: _wave, region, ...request } = parsed.data;
    const { stub, wave } = await waveStub(c.env, key, parsed.data);
    const result = await stub.act(request, c.get("actor"), Date.now());
    if (result.ok) return c.json({ key, ...(_wave !== undefined || region !== undefined ? { wave } : {}), state: result.state, decision: result.decision, published: result.published });
    if (result.code === "not_found") throw notFound(key);
    if (result.code === "invalid_request") throw invalidInput(result.message, [{ path: result.path ?? "variant", message: result.message }]);
    throw new AppError(409, "invalid_transition", result.message);
  });

  app.get("/flags/:key/schedules", async (c) => {
    const key = flagKeyParam(c.req.param("key"));
    const schedules = await registryStub(c.env).listSchedules(key);
    if (schedules === null) throw notFound(key);
    return c.json({ key, schedules });
  });

  app.post("/flags/:key/schedules", async (c) => {
    const key = flagKeyParam(c.req.param("key"));
    const parsed = ScheduleRequestSchema.safeParse(await readJson(c.req.raw));
    if (!parsed.success) throw invalidInput("the schedule is not valid", toIssues(parsed.error.issues));
    const now = Date.now();
    const problem = scheduleTimeProblem(parsed.data.at, now);
    if (problem !== null) throw invalidInput("the schedule is not valid", [{ path: "at", message: problem }]);
    if (parsed.data.action === "force" && parsed.data.variant === undefined) throw invalidInput("the schedule is not valid", [{ path: "variant", message: "force needs `variant`: baseline or candidate" }]);
    if (parsed.data.action === "update") {
      if (parsed.data.spec === undefined) throw invalidInput("the schedule is not valid", [{ path: "spec", message: "update needs `spec`: the flag's spec from `at` on" }]);
      if (parsed.data.wave !== undefined || parsed.data.variant !== undefined) throw invalidInput("the schedule is not valid", [{ path: parsed.data.wave !== undefined ? "wave" : "variant", message: "an update replaces the whole flag's spec: it takes no wave or variant" }]);
      const { key: specKey } = parsed.data.spec;
      if (specKey !== undefined && specKey !== key) throw invalidInput("the schedule is not valid", [{ path: "spec.key", message: `must be "${key}" (the key in the URL) or left out` }]);
      const spec = FlagSpecSchema.safeParse({ ...parsed.data.spec, key });
      if (!spec.success) throw invalidInput("the scheduled spec is not valid", toIssues(spec.error.issues, ["spec"]));
      parsed.data.spec = { ...parsed.data.spec, key };
    } else if (parsed.data.spec !== undefined) throw invalidInput("the schedule is not valid", [{ path: "spec", message: `only update carries a spec; ${parsed.data.action} acts on the flag as it is` }]);
    const result = await registryStub(c.env).addSchedule(key, parsed.data, c.get("actor"), now);
    if (result.ok) return c.json({ key, schedule: result.schedule }, 201);
    if (result.kind === "not_found") throw notFound(key);
    if (result.kind === "no_such_wave") throw invalidInput("the schedule is not valid", [{ path: "wave", message: result.message }]);
    throw new AppError(409, "too_many_schedules", result.message);
  });

  app.delete("/flags/:key/schedules/:id", async (c) => {
    const key = flagKeyParam(c.req.param("key"));
    const id = Number(c.req.param("id"));
    if (!Number.isInteger(id) || id < 1) throw invalidInput("invalid schedule id", [{ path: "id", message: "a schedule id is a positive integer" }]);
    if (!(await registryStub(c.env).cancelSchedule(key, id, c.get("actor"), Date.now()))) throw new AppError(404, "not_found", `flag "${key}" has no pending schedule ${id}`);
    return c.json({ key, id, cancelled: true });
  });

  app.post("/flags/:key/approve", async (c) => {
    const key = flagKeyParam(c.req.param("key"));
    const parsed = ApprovalRequestSchema.extend(WaveSelectorSchema.shape).safeParse(await readJson(c.req.raw));
    if (!parsed.success) throw invalidInput("the approval is not valid", toIssues(parsed.error.issues));
    const { wave: _wave, region: _region, ...request } = parsed.data;
    const { stub } = await waveStub(c.env, key, parsed.data);
    const result = await stub.approve(request, c.get("actor"), Date.now());
    if (result.ok) return c.json({ key, decision: result.decision });
    throw approvalRefusal(key, result);
  });

  // An operator (or an agent) asks people to approve the stage the flag waits in: webhooks told, audited, no state changed.
  app.post("/flags/:key/approval-requests", async (c) => {
    const key = flagKeyParam(c.req.param("key"));
    const parsed = ApprovalAskBodySchema.safeParse(await readJson(c.req.raw));
    if (!parsed.success) throw invalidInput("the approval request is not valid", toIssues(parsed.error.issues));
    const { wave: _wave, region: _region, ...request } = parsed.data;
    const { stub } = await waveStub(c.env, key, parsed.data);
    const now = Date.now();
    const awaited = await stub.requestApproval(request, c.get("actor"), now);
    if (!awaited.ok) throw approvalRefusal(key, awaited);
    const entry = await registryStub(c.env).requestApproval(key, request, c.get("actor"), now);
    if (entry === null) throw notFound(key);
    return c.json({ key, requested: entry }, 201);
  });

  app.get("/flags/:key/decisions", async (c) => {
    const key = flagKeyParam(c.req.param("key"));
    const limit = parseQuery(LimitQuery, c.req.query("limit"), "limit");
    const before = parseQuery(z.coerce.number().int().min(1).optional(), c.req.query("before"), "before");
    const withInputs = booleanQuery(c.req.query("inputs"), "inputs");
    const { stub } = await waveStub(c.env, key, waveQuery(c));
    if ((await stub.view()) === null) throw notFound(key);
    const decisions = (await stub.decisions(limit, before)).map((d) => present(d, withInputs));
    return c.json({ key, decisions });
  });

  app.get("/flags/:key/decisions/:id", async (c) => {
    const key = flagKeyParam(c.req.param("key"));
    const id = parseQuery(z.coerce.number().int().min(1), c.req.param("id"), "id");
    const decision = await (await waveStub(c.env, key, waveQuery(c))).stub.decision(id);
    if (!decision) throw new AppError(404, "not_found", `flag "${key}" has no decision ${id}`);
    return c.json({ key, decision: present(decision, true) });
  });

  app.get("/flags/:key/decisions/:id/replay", async (c) => {
    const key = flagKeyParam(c.req.param("key"));
    const id = parseQuery(z.coerce.number().int().min(1), c.req.param("id"), "id");
    const result = await (await waveStub(c.env, key, waveQuery(c))).stub.replay(id);
    if (!result.ok) throw new AppError(result.kind === "no_decision" ? 404 : 409, "not_replayable", result.message);
    return c.json({
      key,
      decision: present(result.decision, false),
      replayed: { action: result.replayed.action, rule: result.replayed.rule, ...parseJsonObject(result.replayed.verdicts) },
      matches: result.matches,
    });
  });

  app.get("/flags/:key/report", async (c) => {
    const key = flagKeyParam(c.req.param("key"));
    const now = Date.now();
    const to = parseQuery(TimeQuery.optional(), c.req.query("to"), "to") ?? now;
    const from = parseQuery(TimeQuery.optional(), c.req.query("from"), "from") ?? to - 86_400_000;
    if (from >= to) throw invalidInput("from must be before to", [{ path: "from", message: "must be before `to`" }]);
    const generation = parseQuery(z.coerce.number().int().min(1).optional(), c.req.query("generation"), "generation");
    const report = await (await waveStub(c.env, key, waveQuery(c))).stub.compareReport(from, to, generation);
    if (!report) throw notFound(key);
    return c.json(report);
  });

  app.get("/flags/:key/experiments/:rule", async (c) => {
    const key = flagKeyParam(c.req.param("key"));
    const rule = parseQuery(RuleNameSchema, c.req.param("rule"), "rule");
    const to = parseQuery(TimeQuery.optional(), c.req.query("to"), "to") ?? Date.now();
    const from = parseQuery(TimeQuery.optional(), c.req.query("from"), "from");
    if (from !== undefined && from >= to) throw invalidInput("from must be before to", [{ path: "from", message: "must be before `to`" }]);
    const iteration = parseQuery(IterationSchema.optional(), c.req.query("iteration"), "iteration");
    const result = await flagStub(c.env, key).experimentReport(rule, { to, ...(from !== undefined ? { from } : {}), ...(iteration !== undefined ? { iteration } : {}) });
    if (result.ok) return c.json(result.report);
    if (result.code === "not_found") throw notFound(key);
    throw new AppError(404, result.code, result.message, [{ path: result.path ?? "rule", message: result.message }]);
  });

  app.get("/flags/:key/series", async (c) => {
    const key = flagKeyParam(c.req.param("key"));
    const to = parseQuery(TimeQuery.optional(), c.req.query("to"), "to") ?? Date.now();
    const from = parseQuery(TimeQuery.optional(), c.req.query("from"), "from") ?? to - 3_600_000;
    if (from >= to) throw invalidInput("from must be before to", [{ path: "from", message: "must be before `to`" }]);
    const points = parseQuery(z.coerce.number().int().min(1).max(MAX_SERIES_POINTS).optional(), c.req.query("points"), "points") ?? 60;
    const generation = parseQuery(z.coerce.number().int().min(1).optional(), c.req.query("generation"), "generation");
    // Steps are whole minutes (the counters' resolution); the span is rounded out to whole steps.
    const step = Math.max(MINUTE_MS, Math.ceil((to - from) / points / MINUTE_MS) * MINUTE_MS);
    const start = Math.floor(from / MINUTE_MS) * MINUTE_MS;
    const series = await (await waveStub(c.env, key, waveQuery(c))).stub.series(start, step, Math.ceil((to - start) / step), generation);
    if (!series) throw notFound(key);
    return c.json(series);
  });

  app.get("/flags/:key/exposures", async (c) => {
    const key = flagKeyParam(c.req.param("key"));
    const to = parseQuery(TimeQuery.optional(), c.req.query("to"), "to") ?? Date.now();
    const from = parseQuery(TimeQuery.optional(), c.req.query("from"), "from") ?? to - 3_600_000;
    if (from >= to) throw invalidInput("from must be before to", [{ path: "from", message: "must be before `to`" }]);
    if (to - from > MAX_READ_HOURS * 3_600_000) throw invalidInput(`at most ${MAX_READ_HOURS} hours per read`, [{ path: "from", message: `the span may be at most ${MAX_READ_HOURS} hours; read it in parts` }]);
    if (!(await registryStub(c.env).getFlag(key))) throw notFound(key);
    return c.body(readExposures(c.env.EXPOSURES, key, from, to), 200, { "content-type": "application/x-ndjson; charset=utf-8", "cache-control": "no-store" });
  });

  app.get("/flags/:key/disagreements", async (c) => {
    const key = flagKeyParam(c.req.param("key"));
    const limit = parseQuery(LimitQuery, c.req.query("limit"), "limit");
    const { stub } = await waveStub(c.env, key, waveQuery(c));
    if ((await stub.view()) === null) throw notFound(key);
    return c.json({ key, disagreements: await stub.recentDisagreements(limit) });
  });

  app.get("/flags/:key/stats", async (c) => {
    const key = flagKeyParam(c.req.param("key"));
    const { stub } = await waveStub(c.env, key, waveQuery(c));
    if ((await stub.view()) === null) throw notFound(key);
    return c.json({ key, ...(await stub.storageStats()) });
  });

  app.post("/manifest", async (c) => {
    const dryRun = booleanQuery(c.req.query("dryRun"), "dryRun");
    const prune = booleanQuery(c.req.query("prune"), "prune");
    const { raw, signedBy } = await readSignedDocument(c.req.raw, c.env);
    const parsed = ManifestSchema.safeParse(raw);
    if (!parsed.success) throw invalidInput("the manifest is not valid", toIssues(parsed.error.issues));
    const registry = registryStub(c.env);
    const rawFlags = (raw as { flags: unknown[] }).flags;
    const changes = dryRun
      ? await registry.planManifest(plainCopy(parsed.data.flags), prune)
      : await registry.applyManifest(plainCopy(parsed.data.flags.map((spec, i) => ({ raw: rawFlags[i], spec, signedBy }))), prune, c.get("actor"), Date.now(), plainCopy(parsed.data.segments));
    if ("refused" in changes) throw invalidInput("the manifest refers to segments or flags that do not exist, or makes a cycle", changes.issues);
    return c.json({ dryRun, prune, changes });
  });

  /**
   * A flagd flag-definition document, each flag stored as a `kind: targeting`
   * flag with its `flagd` block (evaluated as flagd does); all or nothing,
   * like a manifest without prune: flags not in the document are left alone.
   */
  app.post("/import/flagd", async (c) => {
    const dryRun = booleanQuery(c.req.query("dryRun"), "dryRun");
    const { raw, signedBy } = await readSignedDocument(c.req.raw, c.env);
    const imported = importFlagd(raw);
    if (!imported.ok) throw invalidInput("the flagd document cannot be stored as it is", imported.problems.map((p) => ({ path: formatPath(p.path), message: p.message })));
    const registry = registryStub(c.env);
    const changes = dryRun
      ? await registry.planManifest(plainCopy(imported.flags.map((f) => f.spec)), false)
      : await registry.applyManifest(plainCopy(imported.flags.map(({ input, spec }) => ({ raw: input, spec, signedBy }))), false, c.get("actor"), Date.now());
    if ("refused" in changes) throw invalidInput("the flagd document's flags cannot be stored", changes.issues);
    return c.json({ dryRun, changes });
  });

  app.get("/segments", async (c) => c.json({ segments: await registryStub(c.env).listSegments() }));

  app.get("/segments/:name", async (c) => {
    const name = segmentNameParam(c.req.param("name"));
    const stored = await registryStub(c.env).getSegment(name);
    if (stored === null) throw segmentNotFound(name);
    return c.json(stored);
  });

  app.put("/segments/:name", async (c) => {
    const name = segmentNameParam(c.req.param("name"));
    const { raw } = await readSignedDocument(c.req.raw, c.env);
    if (raw === null || typeof raw !== "object" || Array.isArray(raw)) throw invalidInput("the segment must be an object", [{ path: "", message: "expected an object" }]);
    const named = raw as Record<string, unknown>;
    if (named["name"] !== undefined && named["name"] !== name) throw invalidInput("the segment's name differs from the URL", [{ path: "name", message: `must be "${name}" (the name in the URL) or left out` }]);
    const parsed = SegmentSchema.safeParse({ ...named, name });
    if (!parsed.success) throw invalidInput("the segment is not valid", toIssues(parsed.error.issues));
    const result = await registryStub(c.env).putSegment(plainCopy(parsed.data), c.get("actor"), Date.now());
    return c.json({ name, ...result }, result.created ? 201 : 200);
  });

  app.delete("/segments/:name", async (c) => {
    const name = segmentNameParam(c.req.param("name"));
    const result = await registryStub(c.env).deleteSegment(name, c.get("actor"), Date.now());
    if (result.usedBy.length > 0) throw new AppError(409, "segment_in_use", `segment "${name}" is used by ${result.usedBy.join(", ")}: remove it from their rules first`);
    if (!result.deleted) throw segmentNotFound(name);
    return c.json({ name, deleted: true });
  });

  app.get("/cron", async (c) => c.json(await registryStub(c.env).cronStatus()));

  // The whole audit trail as newline-delimited JSON, oldest first, streamed a page at a time (no size limit on the answer).
  app.get("/audit/export", (c) => {
    const to = parseQuery(TimeQuery.optional(), c.req.query("to"), "to") ?? Date.now();
    const from = parseQuery(TimeQuery.optional(), c.req.query("from"), "from") ?? 0;
    if (from >= to) throw invalidInput("from must be before to", [{ path: "from", message: "must be before `to`" }]);
    const flag = c.req.query("flag");
    const actor = parseQuery(z.string().min(1).max(128).optional(), c.req.query("actor"), "actor");
    const filter = { from, to, ...(flag !== undefined ? { flag: flagKeyParam(flag) } : {}), ...(actor !== undefined ? { actor } : {}) };
    const registry = registryStub(c.env);
    let after = 0;
    const encoder = new TextEncoder();
    const body = new ReadableStream<Uint8Array>({
      async pull(controller) {
        const page = await registry.auditPage(after, AUDIT_EXPORT_PAGE, filter);
        if (page.length === 0) return controller.close();
        after = page[page.length - 1]?.id ?? after;
        controller.enqueue(encoder.encode(page.map((e) => `${JSON.stringify(e)}\n`).join("")));
      },
    });
    return new Response(body, { headers: { "content-type": "application/x-ndjson", "cache-control": "no-store" } });
  });

  app.get("/audit", async (c) => {
    const limit = parseQuery(LimitQuery, c.req.query("limit"), "limit");
    const flag = c.req.query("flag");
    return c.json({ entries: await registryStub(c.env).auditLog(limit, flag === undefined ? undefined : flagKeyParam(flag)) });
  });
  return app;
}
