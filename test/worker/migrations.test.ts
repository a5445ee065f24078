/**
 * Storage that survives its own upgrades: a FlagDO database written by the
 * release before versioned migrations is brought forward in order and keeps
 * every decision and count; the flag then takes its spec as written from
 * the registry at the next cron tick and is judged again.
 */
import { env, runInDurableObject } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { collapse, emptyCounts } from "../../core/counters";
import { FLAG_MIGRATIONS } from "../../durable-objects/flag/schema";
import { REGISTRY_MIGRATIONS } from "../../durable-objects/registry/schema";
import { registryStub } from "../../durable-objects/registry/stub";
import { flagStub } from "../../durable-objects/flag/stub";
import { migrate, schemaVersion } from "../../durable-objects/migrations";
import { Sql } from "../../durable-objects/sql";
import { waveObjectName } from "../../core/waves";
import { call, cronAt, evaluateUntil, putFlag, uniqueKey } from "./helpers";

/** The FlagDO tables exactly as the previous release created them (no schema_migrations, no replicates). */
const PREVIOUS_SCHEMA = [
  `CREATE TABLE flag (id INTEGER PRIMARY KEY CHECK (id = 1), key TEXT NOT NULL, spec TEXT, identity TEXT, state TEXT NOT NULL, report_attempts INTEGER NOT NULL DEFAULT 0, memory TEXT)`,
  "CREATE TABLE stats (k TEXT PRIMARY KEY, v INTEGER NOT NULL)",
  `CREATE TABLE decisions (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, generation INTEGER NOT NULL, action TEXT NOT NULL, source TEXT NOT NULL, actor TEXT NOT NULL, reason TEXT, from_status TEXT NOT NULL, from_stage INTEGER NOT NULL, to_status TEXT NOT NULL, to_stage INTEGER NOT NULL, state_version INTEGER NOT NULL, inputs TEXT, rule TEXT, verdicts TEXT)`,
  `CREATE TABLE counters (generation INTEGER NOT NULL, stage INTEGER NOT NULL, arm TEXT NOT NULL, minute INTEGER NOT NULL, span INTEGER NOT NULL DEFAULT 1, data TEXT NOT NULL, PRIMARY KEY (generation, stage, arm, minute))`,
  `CREATE TABLE totals (generation INTEGER NOT NULL, stage INTEGER NOT NULL, arm TEXT NOT NULL, data TEXT NOT NULL, PRIMARY KEY (generation, stage, arm))`,
  "CREATE TABLE seen_events (id TEXT PRIMARY KEY, minute INTEGER NOT NULL)",
  `CREATE TABLE outbox (id INTEGER PRIMARY KEY AUTOINCREMENT, url TEXT NOT NULL, body TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, next_at INTEGER NOT NULL)`,
  `CREATE TABLE disagreements (seq INTEGER PRIMARY KEY AUTOINCREMENT, event_id TEXT NOT NULL, at INTEGER NOT NULL, targeting_key TEXT NOT NULL, arm TEXT NOT NULL, generation INTEGER NOT NULL)`,
];


describe("FlagDO storage upgrades", () => {
  it("brings a database of the previous release forward, keeping decisions and counts, then takes its spec again", async () => {
    const key = uniqueKey("upgrade");
    const created = await putFlag({ key, type: "boolean", variants: { baseline: false, candidate: true }, rollout: { stages: [{ weight: 50, hold: "1h" }, { weight: 100 }] } });
    const start = created.state.stageEnteredAt as number;
    const counts = emptyCounts();
    counts.exposures = 1234;
    const upgraded = await runInDurableObject(flagStub(env, key), (_instance, state) => {
      const sql = new Sql(state.storage);
      // Rewrite this object's database as the previous release left it.
      const flagRow = sql.first<{ state: string; identity: string }>("SELECT state, identity FROM flag WHERE id = 1");
      for (const { name } of sql.all<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'")) sql.run(`DROP TABLE ${name}`);
      for (const ddl of PREVIOUS_SCHEMA) sql.run(ddl);
      // The previous release stored the parsed spec (durations in ms).
      const parsedSpec = { key, type: "boolean", variants: { baseline: false, candidate: true }, pins: {}, stickiness: "targetingKey", exposures: "served", counterShards: 1, rollout: { window: 3_600_000, healthyWindowsToPromote: 2, stages: [{ weight: 50, shadow: false, hold: 3_600_000 }, { weight: 100, shadow: false }] }, metrics: {}, gates: [], abort: [], webhooks: [] };
      sql.run("INSERT INTO flag (id, key, spec, identity, state, report_attempts) VALUES (1, ?, ?, ?, ?, 0)", key, JSON.stringify(parsedSpec), flagRow?.identity ?? "", flagRow?.state ?? "{}");
      sql.run(
        `INSERT INTO decisions (at, generation, action, source, actor, reason, from_status, from_stage, to_status, to_stage, state_version, inputs, rule, verdicts)
         VALUES (?, 1, 'created', 'config', 'registry', 'first configuration', 'ramping', 0, 'ramping', 0, 1, NULL, NULL, NULL)`,
        start,
      );
      sql.run(
        `INSERT INTO decisions (at, generation, action, source, actor, reason, from_status, from_stage, to_status, to_stage, state_version, inputs, rule, verdicts)
         VALUES (?, 1, 'hold', 'cron', 'cron', 'hold time: 59m left', 'ramping', 0, 'ramping', 0, 1, '{"now":1,"spec":{}}', 'hold:waiting', '{}')`,
        start + 60_000,
      );
      const minute = Math.floor(start / 60_000);
      for (const arm of ["baseline", "candidate"]) {
        sql.run("INSERT INTO counters (generation, stage, arm, minute, span, data) VALUES (1, 0, ?, ?, 1, ?)", arm, minute, JSON.stringify(counts));
        sql.run("INSERT INTO totals (generation, stage, arm, data) VALUES (1, 0, ?, ?)", arm, JSON.stringify(counts));
      }
      const before = schemaVersion(sql);
      const applied = migrate(sql, FLAG_MIGRATIONS, Date.now());
      return { before, applied, after: schemaVersion(sql), history: sql.first<{ n: number }>("SELECT COUNT(*) AS n FROM state_history")?.n };
    });
    expect(upgraded).toEqual({ before: 0, applied: [1, 2, 3, 4, 5, 6, 7, 8], after: 8, history: 1 });

    const stub = flagStub(env, key);
    // Every decision is still there, readable through the current code.
    const decisions = await stub.decisions(10);
    expect(decisions.map((d) => d.action)).toEqual(["hold", "created"]);
    // A decision judged by the previous method says so on replay instead of recomputing something else.
    const replay = await stub.replay(decisions[0]!.id);
    expect(replay).toMatchObject({ ok: false });
    expect(replay.ok ? "" : replay.message).toContain("method 1");
    // Counts are kept (in replicate group 0: no user grouping was recorded before).
    const read = await stub.readCounters(1, []);
    expect(collapse(read.totals.stages["0"]!.candidate).exposures).toBe(1234);
    expect(read.totals.stages["0"]!.candidate[0]!.exposures).toBe(1234);

    // The old row held the parsed spec only: the next tick has the registry send the written one, and judging resumes.
    expect(await stub.judge(start + 120_000)).toMatchObject({ judged: false, needsSpec: true });
    await cronAt(start + 180_000);
    expect((await stub.view())?.configured).toBe(true);
    const next = await stub.judge(start + 240_000);
    expect(next).toMatchObject({ judged: true, state: { status: "ramping", stageIndex: 0 } });
    expect((await call("GET", `/admin/flags/${key}`)).json.state.status).toBe("ramping");
  });
});

describe("FlagDO jobs upgrade", () => {
  it("moves the schedules release 5 kept among its stats into the jobs table, and the alarm still runs them", async () => {
    const key = uniqueKey("jobs-upgrade");
    await putFlag({ key, type: "boolean", variants: { baseline: false, candidate: true }, rollout: { stages: [{ weight: 50 }, { weight: 100 }] } });
    const jobs = await runInDurableObject(flagStub(env, key), (_instance, state) => {
      const sql = new Sql(state.storage);
      // As release 5 left it: no jobs table, a report retry and an approval check due among the stats, a webhook waiting.
      sql.run("DROP TABLE jobs");
      sql.run("DROP TABLE experiment_counters");
      sql.run("DROP TABLE experiments");
      sql.run("ALTER TABLE flag DROP COLUMN spec_author");
      sql.run("DELETE FROM schema_migrations WHERE version >= 6");
      sql.run("INSERT OR REPLACE INTO stats (k, v) VALUES ('report_retry_at', 1000), ('approval_check_at', 2000)");
      sql.run("INSERT INTO outbox (url, body, attempts, next_at) VALUES ('http://127.0.0.1:9/hook', '{}', 0, 3000)");
      const applied = migrate(sql, FLAG_MIGRATIONS, Date.now());
      return { applied, rows: sql.all("SELECT kind, due_at FROM jobs ORDER BY due_at"), stats: sql.all("SELECT k FROM stats WHERE k LIKE '%_at' AND k != 'rate_at' AND k != 'compacted_at'") };
    });
    expect(jobs).toEqual({ applied: [6, 7, 8], rows: [{ kind: "report_state", due_at: 1000 }, { kind: "approval_check", due_at: 2000 }, { kind: "deliver_webhooks", due_at: 3000 }], stats: [] });
    // The alarm runs what is due: no report is pending and no stage awaits a check, so both are dropped.
    await runInDurableObject(flagStub(env, key), async (instance, state) => {
      await instance.alarm();
      expect(new Sql(state.storage).all("SELECT kind FROM jobs WHERE kind != 'deliver_webhooks'")).toEqual([]);
    });
  });
});

describe("RegistryDO storage upgrades", () => {
  it("adopts a registry of the previous release and keeps every flag, audit entry and the snapshot", async () => {
    const key = uniqueKey("reg-upgrade");
    await putFlag({ key, type: "boolean", variants: { baseline: false, candidate: true }, rollout: { stages: [{ weight: 100 }] } });
    await call("POST", `/admin/flags/${key}/actions`, { body: { action: "kill", reason: "before the upgrade" } });
    const before = { flags: (await call("GET", "/admin/flags")).json, audit: (await call("GET", "/admin/audit?limit=500")).json.entries as unknown[] };
    const result = await runInDurableObject(registryStub(env), (_instance, state) => {
      const sql = new Sql(state.storage);
      const dump = (table: string) => sql.all(`SELECT * FROM ${table}`);
      // The previous release kept wave 1's state in flags (state, state_version).
      const firstWave = new Map(sql.all<{ key: string; state: string; state_version: number }>("SELECT key, state, state_version FROM flag_waves WHERE wave = 1").map((r) => [r.key, r]));
      const flags = dump("flags").map((row): Record<string, unknown> => ({ ...row, state: firstWave.get(row.key as string)?.state ?? "{}", state_version: firstWave.get(row.key as string)?.state_version ?? 0 }));
      const saved: Record<string, Record<string, unknown>[]> = { meta: dump("meta"), flags, audit: dump("audit"), snapshot: dump("snapshot"), flag_metrics: dump("flag_metrics"), decision_counts: dump("decision_counts") };
      for (const { name } of sql.all<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE '_cf_%'")) sql.run(`DROP TABLE ${name}`);
      // The previous release's tables: no schema_migrations, audit without decision_id or signing_key, flags without counter_shards.
      sql.run("CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)");
      sql.run("CREATE TABLE flags (key TEXT PRIMARY KEY, raw TEXT NOT NULL, spec TEXT NOT NULL, spec_hash TEXT NOT NULL, spec_version INTEGER NOT NULL, state TEXT NOT NULL, state_version INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL)");
      sql.run("CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, flag TEXT, spec_hash TEXT, summary TEXT NOT NULL)");
      sql.run("CREATE TABLE snapshot (id INTEGER PRIMARY KEY CHECK (id = 1), version INTEGER NOT NULL, etag TEXT NOT NULL, body TEXT NOT NULL)");
      sql.run("CREATE TABLE flag_metrics (key TEXT PRIMARY KEY, data TEXT NOT NULL)");
      sql.run("CREATE TABLE decision_counts (action TEXT NOT NULL, source TEXT NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (action, source))");
      for (const [table, rows] of Object.entries(saved)) {
        for (const row of rows) {
          const columns = Object.keys(row).filter((c) => c !== "decision_id" && c !== "signing_key" && c !== "counter_shards" && c !== "wave");
          sql.run(`INSERT INTO ${table} (${columns.join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`, ...columns.map((c) => (row[c] ?? null) as string | number | null));
        }
      }
      return { before: schemaVersion(sql), applied: migrate(sql, REGISTRY_MIGRATIONS, Date.now()), after: schemaVersion(sql) };
    });
    expect(result).toEqual({ before: 0, applied: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], after: 11 });
    expect((await call("GET", "/admin/flags")).json).toEqual(before.flags);
    expect((await call("GET", "/admin/audit?limit=500")).json.entries).toEqual(before.audit);
    // It still works as a registry: a new action is audited once.
    await call("POST", `/admin/flags/${key}/actions`, { body: { action: "unkill" } });
    const audit = (await call("GET", "/admin/audit?limit=500")).json.entries as { action: string; flag: string }[];
    expect(audit.filter((e) => e.flag === key && e.action === "unkill")).toHaveLength(1);
    // Its first publish after the upgrade composes every flag into entries (none existed): edges see the flag.
    expect((await evaluateUntil(key, { targetingKey: "u" }, (r) => r.json.value === true)).json).toMatchObject({ value: true, reason: "STATIC" });
  });
  it("moves wave 1's state out of flags and keeps the audit of a wave's decisions once each (a registry as release 5 leaves it)", async () => {
    const key = uniqueKey("reg-waves-upgrade");
    await putFlag({ key, type: "boolean", variants: { baseline: false, candidate: true }, rollout: { stages: [{ weight: 50 }, { weight: 100 }] }, waves: { order: [["us-east-1"], ["rest"]] } });
    // Wave 2 takes a decision (its object's decision ids start again at 1, like wave 1's).
    const started = await call("POST", `/admin/flags/${key}/actions`, { body: { action: "start", wave: 2 } });
    expect(started.status).toBe(200);
    const before = { flag: (await call("GET", `/admin/flags/${key}`)).json, audit: (await call("GET", `/admin/audit?flag=${key}&limit=500`)).json.entries as unknown[] };
    const waveTwo = await flagStub(env, waveObjectName(key, 2)).decisions(1);
    const result = await runInDurableObject(registryStub(env), (_instance, state) => {
      const sql = new Sql(state.storage);
      // Rewrite the registry as release 5 stored it: wave 1's state in flags, waves >= 2 in flag_waves,
      // a wave's decision ids encoded -(wave * 1e9 + id) under a (flag, decision_id) unique index.
      const flags = sql.all("SELECT * FROM flags");
      const waves = sql.all<{ key: string; wave: number; state: string; state_version: number }>("SELECT * FROM flag_waves");
      const audit = sql.all<Record<string, string | number | null>>("SELECT * FROM audit");
      sql.run("DROP TABLE flags");
      sql.run("DROP TABLE flag_waves");
      sql.run("DROP TABLE audit");
      sql.run("CREATE TABLE flags (key TEXT PRIMARY KEY, raw TEXT NOT NULL, spec TEXT NOT NULL, spec_hash TEXT NOT NULL, spec_version INTEGER NOT NULL, state TEXT NOT NULL, state_version INTEGER NOT NULL, created_at INTEGER NOT NULL, updated_at INTEGER NOT NULL, counter_shards INTEGER NOT NULL DEFAULT 1)");
      sql.run("CREATE TABLE flag_waves (key TEXT NOT NULL, wave INTEGER NOT NULL, state TEXT NOT NULL, state_version INTEGER NOT NULL, PRIMARY KEY (key, wave))");
      sql.run("CREATE TABLE audit (id INTEGER PRIMARY KEY AUTOINCREMENT, at INTEGER NOT NULL, actor TEXT NOT NULL, action TEXT NOT NULL, flag TEXT, spec_hash TEXT, summary TEXT NOT NULL, decision_id INTEGER, signing_key TEXT)");
      sql.run("CREATE UNIQUE INDEX audit_decision ON audit (flag, decision_id) WHERE decision_id IS NOT NULL");
      for (const f of flags) {
        const first = waves.find((w) => w.key === f.key && w.wave === 1);
        sql.run("INSERT INTO flags (key, raw, spec, spec_hash, spec_version, state, state_version, created_at, updated_at, counter_shards) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", f.key ?? null, f.raw ?? null, f.spec ?? null, f.spec_hash ?? null, f.spec_version ?? null, first?.state ?? "{}", first?.state_version ?? 0, f.created_at ?? null, f.updated_at ?? null, f.counter_shards ?? 1);
      }
      for (const w of waves.filter((w) => w.wave > 1)) sql.run("INSERT INTO flag_waves (key, wave, state, state_version) VALUES (?, ?, ?, ?)", w.key, w.wave, w.state, w.state_version);
      for (const a of audit) {
        const decisionId = a.decision_id === null ? null : Number(a.wave) > 1 ? -(Number(a.wave) * 1e9 + Number(a.decision_id)) : a.decision_id;
        sql.run("INSERT INTO audit (id, at, actor, action, flag, spec_hash, summary, decision_id, signing_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", a.id ?? null, a.at ?? null, a.actor ?? null, a.action ?? null, a.flag ?? null, a.spec_hash ?? null, a.summary ?? null, decisionId ?? null, a.signing_key ?? null);
      }
      sql.run("DELETE FROM schema_migrations WHERE version >= 6");
      sql.run("DROP TABLE IF EXISTS schedules");
      sql.run("DROP TABLE IF EXISTS segments");
      sql.run("DROP TABLE IF EXISTS grants");
      sql.run("DROP TABLE IF EXISTS api_tokens");
      const encoded = sql.all<{ decision_id: number }>("SELECT decision_id FROM audit WHERE flag = ? AND decision_id < 0", key).length;
      return { encoded, before: schemaVersion(sql), applied: migrate(sql, REGISTRY_MIGRATIONS, Date.now()), after: schemaVersion(sql), columns: sql.all<{ name: string }>("SELECT name FROM pragma_table_info('flags')").map((c) => c.name) };
    });
    expect(result).toMatchObject({ before: 5, applied: [6, 7, 8, 9, 10, 11], after: 11 });
    expect(result.encoded).toBeGreaterThan(0);
    expect(result.columns).not.toContain("state");
    // Every wave, state and audit entry reads back as before.
    expect((await call("GET", `/admin/flags/${key}`)).json).toEqual(before.flag);
    expect((await call("GET", `/admin/audit?flag=${key}&limit=500`)).json.entries).toEqual(before.audit);
    // Wave 2's decision reported again is still audited once; wave 1's decision with the same id is its own entry.
    const replayed = await registryStub(env).reportState(key, (await flagStub(env, waveObjectName(key, 2)).view())!.state, waveTwo[0]!, 2);
    expect(replayed.applied).toBe(false);
    expect((await call("GET", `/admin/audit?flag=${key}&limit=500`)).json.entries).toEqual(before.audit);
    const killed = await call("POST", `/admin/flags/${key}/actions`, { body: { action: "kill", wave: 1, reason: "after the upgrade" } });
    expect(killed.status).toBe(200);
    const audit = (await call("GET", `/admin/audit?flag=${key}&limit=500`)).json.entries as { action: string }[];
    expect(audit.filter((e) => e.action === "kill")).toHaveLength(1);
    expect((await call("GET", `/admin/flags/${key}`)).json.waves.map((w: { status: string }) => w.status)).toEqual(["killed", "rolled_back"]);
  });
});

