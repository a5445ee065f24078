/**
 * Region waves, end to end on workerd: the prompt pack (examples/prompt-pack.yaml,
 * as written: its stages, holds, gates and abort rules) walks wave 1 to 100%
 * while wave 2 serves the baseline, then wave 2; a regression injected in wave
 * 2 rolls back wave 2 only. Traffic is what edge flushes send each wave's
 * object; the cron is driven directly every five minutes of flag time.
 */
import { SELF, env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import promptPackYaml from "../../examples/prompt-pack.yaml?raw";
import { emptyCounts, minuteOf, type CounterCell } from "../../core/counters";
import { plainCopy } from "../../core/dict";
import { addToHistogram } from "../../core/histogram";
import { waveObjectName } from "../../core/waves";
import type { CounterBatch } from "../../durable-objects/flag/flag-do";
import { flagStub } from "../../durable-objects/flag/stub";
import { spreadCounts } from "../spread";
import { call, cronAt, evaluate, evaluateUntil, putFlag, sleep, uniqueKey } from "./helpers";

/** The prompt pack's window: every tick closes one. */
const TICK_MS = 15 * 60_000;
/** Its stages hold 8 hours in all: 32 ticks a wave, and room for the windows the gates need. */
const MAX_TICKS = 120;

/** The prompt pack under a fresh key; `extra` replaces top-level fields. */
async function putPromptPack(key: string, extra = ""): Promise<{ start: number }> {
  const raw = promptPackYaml.replace(/^key: prompt-pack$/m, `key: ${key}`) + extra;
  const put = await call("PUT", `/admin/flags/${key}`, { raw, type: "application/yaml" });
  if (put.status !== 201) throw new Error(`PUT failed: ${put.status} ${put.text}`);
  return { start: put.json.state.stageEnteredAt as number };
}

/**
 * Fifteen minutes of prompt-pack traffic in one wave (about 1,100 requests a second), as flushes send it:
 * exposures split by the stage's weight, errors, coverage, tool calls,
 * latency and cost per arm; in the shadow stage, comparisons.
 */
function packTraffic(generation: number, stage: number, weight: number, minute: number, candidateCoverage = 0.85): CounterBatch {
  const cells: CounterCell[] = [];
  const total = 1_000_000;
  for (const arm of ["baseline", "candidate"] as const) {
    const n = Math.round(arm === "candidate" ? (total * weight) / 100 : total * (1 - weight / 100));
    const counts = emptyCounts();
    counts.exposures = n;
    counts.errors = Math.round(n * 0.001);
    const coverage = arm === "candidate" ? candidateCoverage : 0.85;
    counts.events["coverage"] = { count: n, sum: n * coverage, sumSq: n * (coverage * coverage + 0.01) };
    const ok = Math.round(n * 0.998);
    counts.events["tool_call"] = { count: n, sum: n, sumSq: n };
    counts.events["tool_ok"] = { count: ok, sum: ok, sumSq: ok };
    counts.events["cost_usd"] = { count: n, sum: n * 0.02, sumSq: n * 0.0005 };
    for (const [ms, share] of [[400, 0.5], [800, 0.3], [1200, 0.15], [1600, 0.05]] as const) addToHistogram(counts.latency, ms, Math.round(n * share));
    if (weight === 0 && arm === "candidate") {
      // Shadow: the candidate answers alongside the baseline; its answers are compared, not served.
      counts.agree = 1_980;
      counts.disagree = 20;
    }
    if (n === 0 && counts.agree === 0) continue;
    spreadCounts(counts).forEach((c, replicate) => cells.push({ generation, stage, arm, replicate, minute, counts: c }));
  }
  return plainCopy({ id: crypto.randomUUID(), cells });
}

const STAGE_WEIGHTS = [0, 5, 25, 50, 100];

async function flagView(key: string) {
  return (await call("GET", `/admin/flags/${key}`)).json as { state: { status: string; stageIndex: number; generation: number }; specHash: string; waves: { wave: number; regions: string[]; status: string; stage: number; weight: number; generation: number; specHash: string }[] };
}

/**
 * Drives the cron every five minutes, feeding each live wave its traffic,
 * until `done` holds (bounded). `coverage(wave)` is the candidate's coverage
 * in that wave. Checks, at every tick, what a user in each region is served.
 */
async function run(key: string, from: number, done: (view: Awaited<ReturnType<typeof flagView>>) => boolean, options: { coverage?: (wave: number) => number; each?: (view: Awaited<ReturnType<typeof flagView>>) => Promise<void> } = {}) {
  let t = from;
  for (let tick = 0; tick < MAX_TICKS; tick++) {
    const view = await flagView(key);
    if (done(view)) return { view, t };
    for (const wave of view.waves) {
      if (!["shadow", "ramping", "paused"].includes(wave.status)) continue;
      const weight = STAGE_WEIGHTS[wave.stage] ?? 0;
      await flagStub(env, waveObjectName(key, wave.wave)).addCounts(packTraffic(wave.generation, wave.stage, weight, minuteOf(t) + 2, options.coverage?.(wave.wave) ?? 0.85));
    }
    t += TICK_MS;
    await cronAt(t);
    if (options.each) await options.each(await flagView(key));
  }
  const line = (await call("GET", "/admin/flags")).json.flags.find((f: { key: string }) => f.key === key);
  throw new Error(`${key}: not done after ${MAX_TICKS} ticks: ${JSON.stringify((await flagView(key)).waves)}; ${JSON.stringify(line?.judgement)}`);
}

/** What a user in `region` is served (the same user each time, so only the rollout's state moves it). */
async function servedIn(key: string, region: string, user: string) {
  const r = await evaluate(key, { targetingKey: user, region, tenant: "acme", endpoint: "/rag/reason" });
  return r.json as { value: { prompt: string }; metadata: { wave?: number; status: string; assignment: string } };
}

describe("region waves", () => {
  it("walk the prompt pack through wave 1 while wave 2 serves the baseline, then wave 2; both end on one generation and spec hash", async () => {
    const key = uniqueKey("pack-waves");
    const { start } = await putPromptPack(key);
    const created = await flagView(key);
    expect(created.waves.map((w) => [w.wave, w.regions, w.status])).toEqual([
      [1, ["us-east-1"], "shadow"],
      [2, ["eu-west-1", "eu-central-1", "rest"], "waiting"],
    ]);

    // Wave 1 walks all five stages; every tick, wave 2 (Europe, and any region no wave names) stays on the baseline.
    const { t } = await run(key, start, (v) => v.waves[0]?.status === "completed", {
      each: async (v) => {
        if (v.waves[0]?.status === "completed") return;
        expect(v.waves[1]?.status).toBe("waiting");
      },
    });
    const midway = await flagView(key);
    expect(midway.waves[0]).toMatchObject({ status: "completed", weight: 100 });
    // Wave 2 started the moment wave 1 completed, in its first (shadow) stage.
    expect(midway.waves[1]).toMatchObject({ status: "shadow", stage: 0, generation: midway.waves[0]?.generation });
    // The flag's own line follows its leading wave: not completed while a wave is still walking.
    const line = (await call("GET", "/admin/flags")).json.flags.find((f: { key: string }) => f.key === key);
    expect(line).toMatchObject({ status: "shadow", stage: 0 });
    // Once the edge has the new snapshot: us-east-1 gets the candidate, Europe and unnamed regions the baseline.
    const us = await evaluateUntil(key, { targetingKey: "u-1", region: "us-east-1", tenant: "acme", endpoint: "/rag/reason" }, (r) => r.json.value?.prompt === "p-2025.08.31-h1");
    expect(us.json.metadata).toMatchObject({ status: "completed" });
    for (const region of ["eu-west-1", "ap-south-1"]) {
      const served = await servedIn(key, region, "u-1");
      expect(served.value.prompt).toBe("p-2025.07.02");
      expect(served.metadata).toMatchObject({ wave: 2, status: "shadow" });
    }

    // Then wave 2 walks on its own traffic.
    const end = await run(key, t, (v) => v.waves[1]?.status === "completed");
    const waves = end.view.waves;
    expect(waves.map((w) => w.status)).toEqual(["completed", "completed"]);
    // Converged: every region serves one generation under one spec hash.
    expect(new Set(waves.map((w) => w.generation)).size).toBe(1);
    expect(new Set(waves.map((w) => w.specHash))).toEqual(new Set([end.view.specHash]));
    await evaluateUntil(key, { targetingKey: "u-2", region: "eu-central-1", tenant: "acme", endpoint: "/rag/reason" }, (r) => r.json.value?.prompt === "p-2025.08.31-h1");
    // This isolate's snapshot, as /health shows it: both waves completed on one generation.
    const health = (await call("GET", "/health")).json as { waves: { flag: string; wave: number; status: string; generation: number }[] };
    const served = health.waves.filter((w) => w.flag === key);
    expect(served.map((w) => [w.wave, w.status, w.generation])).toEqual([[1, "completed", waves[0]?.generation], [2, "completed", waves[0]?.generation]]);
    // Each wave's decisions are its own: wave 2's log starts with its start, by the registry, naming wave 1.
    const log2 = (await call("GET", `/admin/flags/${key}/decisions?wave=2&limit=100`)).json.decisions as { action: string; actor: string; reason: string }[];
    expect(log2.at(-1)?.action).toBe("created");
    expect(log2.find((d) => d.action === "start")).toMatchObject({ actor: "registry", reason: "wave 1 completed" });
    const byRegion = (await call("GET", `/admin/flags/${key}/decisions?region=eu-central-1&limit=100`)).json.decisions;
    expect(byRegion).toEqual(log2);
    // The audit log says which wave moved.
    const audit = (await call("GET", `/admin/audit?flag=${key}&limit=500`)).json.entries as { summary: string }[];
    expect(audit.some((e) => e.summary.startsWith("wave 2: waiting stage 0 → shadow stage 0"))).toBe(true);
  }, 180_000);

  it("roll back only the wave that regresses: wave 1 keeps the candidate, the regressed wave returns to the baseline", async () => {
    const key = uniqueKey("pack-regress");
    const { start } = await putPromptPack(key);
    const { t } = await run(key, start, (v) => v.waves[0]?.status === "completed");
    // Wave 2 walks until its 25% stage, then its candidate's coverage falls below the 0.70 floor there (and only there).
    const regressed = await run(key, t, (v) => v.waves[1]?.status === "rolled_back", {
      coverage: (wave) => (wave === 2 ? 0.62 : 0.85),
    });
    const view = regressed.view;
    expect(view.waves[0]).toMatchObject({ status: "completed", weight: 100 });
    expect(view.waves[1]).toMatchObject({ status: "rolled_back", weight: 0 });
    const rollback = (await call("GET", `/admin/flags/${key}/decisions?wave=2&limit=5`)).json.decisions.find((d: { action: string }) => d.action === "rollback");
    expect(rollback).toMatchObject({ source: "cron", rule: "gate:coverage:rollback" });
    // Wave 1's log has no rollback.
    const log1 = (await call("GET", `/admin/flags/${key}/decisions?limit=100`)).json.decisions as { action: string }[];
    expect(log1.some((d) => d.action === "rollback")).toBe(false);
    await evaluateUntil(key, { targetingKey: "u-3", region: "eu-west-1", tenant: "acme", endpoint: "/rag/reason" }, (r) => r.json.metadata?.status === "rolled_back");
    expect((await servedIn(key, "eu-west-1", "u-3")).value.prompt).toBe("p-2025.07.02");
    expect((await servedIn(key, "us-east-1", "u-3")).value.prompt).toBe("p-2025.08.31-h1");
    // The flag's line shows the regressed wave.
    const line = (await call("GET", "/admin/flags")).json.flags.find((f: { key: string }) => f.key === key);
    expect(line.status).toBe("rolled_back");
  }, 180_000);

  it("with onRegression: rollback_all, a regression in wave 2 rolls back wave 1 too", async () => {
    const key = uniqueKey("pack-all");
    const { start } = await putPromptPack(key);
    await call("PUT", `/admin/flags/${key}`, {
      raw: promptPackYaml.replace(/^key: prompt-pack$/m, `key: ${key}`).replace("onRegression: stop", "onRegression: rollback_all"),
      type: "application/yaml",
    });
    await run(key, start, (v) => v.waves[0]?.status === "completed");
    const kill = await call("POST", `/admin/flags/${key}/actions`, { body: { action: "kill", region: "eu-central-1", reason: "bad answers in Frankfurt" } });
    expect(kill.json).toMatchObject({ wave: 2, state: { status: "killed" } });
    const view = await flagView(key);
    expect(view.waves.map((w) => w.status)).toEqual(["rolled_back", "killed"]);
    const log1 = (await call("GET", `/admin/flags/${key}/decisions?wave=1&limit=5`)).json.decisions;
    expect(log1[0]).toMatchObject({ action: "rollback", actor: "registry", reason: "wave 2 was killed (onRegression: rollback_all)" });
  }, 120_000);
});

describe("region waves: placing requests and counting", () => {
  const spec = (key: string, waves: unknown) => ({
    key,
    type: "boolean",
    variants: { baseline: false, candidate: true },
    rollout: { stages: [{ weight: 50 }, { weight: 100 }] },
    waves,
  });

  it("place a request by its context's region, else by where it arrived (regionFromEdge), else in the rest wave; count each wave's exposures in its own object", async () => {
    const key = uniqueKey("waves-place");
    await putFlag(spec(key, { order: [["us-east-1"], ["eu-west-1", "rest"]], regionFromEdge: "colo", regionMap: { DFW: "us-east-1" } }));
    const us = await evaluate(key, { targetingKey: "a", region: "us-east-1" });
    expect(us.json.metadata).toMatchObject({ wave: 1, status: "ramping" });
    expect(us.json.metadata.assignment).toMatch(/^1\.0\.[bc]$/);
    const eu = await evaluate(key, { targetingKey: "a", region: "eu-west-1" });
    expect(eu.json).toMatchObject({ value: false, reason: "STATIC", metadata: { wave: 2, status: "waiting" } });
    const unnamed = await evaluate(key, { targetingKey: "a", region: "sa-east-1" });
    expect(unnamed.json.metadata).toMatchObject({ wave: 2 });
    // No region in the context: the colo the request arrived at (request.cf), renamed by regionMap; an unmapped colo is the rest.
    const atEdge = async (colo: string) => {
      const response = await SELF.fetch(`https://rampart.test/ofrep/v1/evaluate/flags/${key}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ context: { targetingKey: "a" } }), cf: { colo } });
      return (await response.json<{ metadata: { wave: number } }>()).metadata.wave;
    };
    expect(await atEdge("DFW")).toBe(1);
    expect(await atEdge("FRA")).toBe(2);

    // Exposures land in the wave's own object: 40 in wave 1, 10 in wave 2 once it runs.
    await call("POST", `/admin/flags/${key}/actions`, { body: { action: "start", wave: 2 } });
    await evaluateUntil(key, { targetingKey: "a", region: "eu-west-1" }, (r) => r.json.metadata?.status === "ramping");
    const exposures = async (wave: number) => {
      const report = (await call("GET", `/admin/flags/${key}/report?wave=${wave}`)).json as { arms: { baseline: { exposures: number }; candidate: { exposures: number } } };
      return report.arms.baseline.exposures + report.arms.candidate.exposures;
    };
    // The evaluation that saw wave 2 running was its first exposure: let it land before counting from here.
    const settle = Date.now() + 5_000;
    while ((await exposures(2)) < 1 && Date.now() < settle) await sleep(50);
    const before = [await exposures(1), await exposures(2)];
    for (let i = 0; i < 40; i++) await evaluate(key, { targetingKey: `user-${i}`, region: "us-east-1" });
    for (let i = 0; i < 10; i++) await evaluate(key, { targetingKey: `user-${i}`, region: "eu-west-1" });
    // The isolate flushes after FLUSH_MS (200 ms in tests); wait for it, bounded.
    const deadline = Date.now() + 5_000;
    while ((await exposures(1)) - (before[0] ?? 0) < 40 && Date.now() < deadline) await sleep(50);
    while ((await exposures(2)) - (before[1] ?? 0) < 10 && Date.now() < deadline) await sleep(50);
    expect((await exposures(1)) - (before[0] ?? 0)).toBe(40);
    expect((await exposures(2)) - (before[1] ?? 0)).toBe(10);
  }, 30_000);

  it("refuse waves that leave requests without a wave, name a region twice, or belong to another kind — naming the field, storing nothing", async () => {
    const key = uniqueKey("waves-bad");
    const cases: [unknown, string, string][] = [
      [[["us-east-1"], ["eu-west-1"]], "waves.order", "add \"rest\""],
      [[["us-east-1", "rest"], ["us-east-1"]], "waves.order[1][0]", "already in wave 1"],
      [{ order: [["rest"]], regionFromEdge: "city" }, "waves.regionFromEdge", ""],
      [[], "waves.order", "at least one wave"],
      [{ order: [["rest"]], onRegression: "panic" }, "waves.onRegression", ""],
    ];
    for (const [waves, path, message] of cases) {
      const res = await call("PUT", `/admin/flags/${key}`, { body: spec(key, waves) });
      expect(res.status, JSON.stringify(waves)).toBe(400);
      expect(res.json.issues, JSON.stringify(res.json)).toContainEqual(expect.objectContaining({ path: expect.stringContaining(path), message: expect.stringContaining(message) }));
    }
    const killSwitch = await call("PUT", `/admin/flags/${key}`, { body: { key, kind: "kill_switch", type: "boolean", variants: { baseline: false, candidate: true }, waves: [["rest"]] } });
    expect(killSwitch.json.issues).toContainEqual(expect.objectContaining({ path: "waves" }));
    expect((await call("GET", `/admin/flags/${key}`)).status).toBe(404);
   }, 30_000);

  it("answer an unknown wave or region with 400 naming it, and change nothing", async () => {
    const key = uniqueKey("waves-select");
    await putFlag(spec(key, [["us-east-1"], ["rest"]]));
    const before = await flagView(key);
    const unknownRegion = await call("POST", `/admin/flags/${key}/actions`, { body: { action: "kill", region: "mars-1" } });
    expect(unknownRegion.status).toBe(400);
    expect(unknownRegion.json.issues[0]).toMatchObject({ path: "region", message: expect.stringContaining("waves: 1 [us-east-1]; 2 [rest]") });
    const unknownWave = await call("POST", `/admin/flags/${key}/actions`, { body: { action: "kill", wave: 3 } });
    expect(unknownWave.json.issues[0]).toMatchObject({ path: "wave", message: expect.stringContaining("has 2 waves") });
    const both = await call("POST", `/admin/flags/${key}/approve`, { body: { generation: 1, stage: 0, wave: 1, region: "us-east-1" } });
    expect(both.status).toBe(400);
    // An approval request names its wave as an approval does.
    const askMars = await call("POST", `/admin/flags/${key}/approval-requests`, { body: { generation: 1, stage: 0, region: "mars-1" } });
    expect(askMars.json.issues[0]).toMatchObject({ path: "region", message: expect.stringContaining("waves: 1 [us-east-1]; 2 [rest]") });
    const askWave2 = await call("POST", `/admin/flags/${key}/approval-requests`, { body: { generation: 1, stage: 0, wave: 2 } });
    expect(askWave2.json).toMatchObject({ error: "not_awaiting_approval" });
    expect((await call("GET", `/admin/flags/${key}/decisions?region=nowhere`)).status).toBe(400);
    expect((await call("GET", `/admin/flags/${key}/report?wave=0`)).json.issues[0]).toMatchObject({ path: "wave" });
    const plain = uniqueKey("no-waves");
    await putFlag({ key: plain, type: "boolean", variants: { baseline: false, candidate: true }, rollout: { stages: [{ weight: 50 }, { weight: 100 }] } });
    expect((await call("GET", `/admin/flags/${plain}/decisions?region=us-east-1`)).json.issues[0]).toMatchObject({ path: "region" });
    expect((await call("GET", `/admin/flags/${plain}/decisions?wave=1`)).status).toBe(200);
    expect(await flagView(key)).toEqual(before);
    // Starting a waiting wave early is an operator's choice; starting one that runs is refused.
    const early = await call("POST", `/admin/flags/${key}/actions`, { body: { action: "start", wave: 2 } });
    expect(early.json).toMatchObject({ wave: 2, state: { status: "ramping", stageIndex: 0 } });
    expect((await call("POST", `/admin/flags/${key}/actions`, { body: { action: "start", wave: 1 } })).status).toBe(409);
   }, 30_000);

  it("credit an event to the wave its assignment names, and refuse a wave the flag does not have", async () => {
    const key = uniqueKey("waves-events");
    await putFlag(spec(key, [["us-east-1"], ["rest"]]));
    await call("POST", `/admin/flags/${key}/actions`, { body: { action: "start", wave: 2 } });
    const served = await evaluateUntil(key, { targetingKey: "e-1", region: "eu-west-1" }, (r) => r.json.metadata?.status === "ramping");
    expect(served.json.metadata.assignment).toMatch(/^1\.0\.[bc]\.w2$/);
    const sent = await call("POST", "/v1/events", {
      body: { events: [
        { eventId: `${key}-1`, flag: key, targetingKey: "e-1", name: "click", assignment: served.json.metadata.assignment },
        { eventId: `${key}-2`, flag: key, targetingKey: "e-1", name: "click", assignment: "1.0.c.w3" },
      ] },
    });
    expect(sent.json).toMatchObject({ accepted: 1, rejected: [{ index: 1, error: "invalid_assignment" }] });
    const stats2 = (await call("GET", `/admin/flags/${key}/stats?wave=2`)).json;
    const stats1 = (await call("GET", `/admin/flags/${key}/stats`)).json;
    expect(stats2.eventIds).toBe(1);
    expect(stats1.eventIds).toBe(0);
   }, 30_000);
});
