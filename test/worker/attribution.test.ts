/**
 * Outcome events are credited to the exposure that caused them (issue: a
 * judge you can trust on real traffic): late events to the stage they
 * happened in, echoed assignments exactly, events without a variant through
 * the flag's history with their own context, shadow comparisons to the
 * candidate — and what cannot be credited is counted as unattributed.
 */
import { SELF, env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { collapse } from "../../core/counters";
import { flagStub } from "../../durable-objects/flag/stub";
import { call, cronAt, evaluateUntil, minuteBatch, putFlag, uniqueKey } from "./helpers";

async function send(events: unknown[]) {
  const r = await SELF.fetch("https://rampart.test/v1/events", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ events }) });
  return r.json<Record<string, any>>();
}


/** Candidate and baseline click counts per stage over the last hour and the next. */
async function clicksByStage(key: string) {
  const stages = await flagStub(env, key).readSpanByStage(1, Date.now() - 3_600_000, Date.now() + 3_600_000);
  const out: Record<string, { baseline: number; candidate: number }> = {};
  for (const [stage, pair] of Object.entries(stages)) {
    out[stage] = { baseline: collapse(pair.baseline).events["click"]?.count ?? 0, candidate: collapse(pair.candidate).events["click"]?.count ?? 0 };
  }
  return out;
}

const eventsFlag = (key: string, extra: Record<string, unknown> = {}) => ({
  key,
  type: "boolean",
  variants: { baseline: false, candidate: true },
  exposures: "events",
  rollout: { stages: [{ weight: 10 }, { weight: 50 }, { weight: 100 }] },
  metrics: { ctr: { kind: "ratio", numerator: "click", denominator: "exposure" } },
  ...extra,
});

describe("crediting events to the exposure that caused them", () => {
  it("a late click with its variant counts in the stage its timestamp falls in, not the stage current at receipt", async () => {
    const key = uniqueKey("late");
    const created = await putFlag(eventsFlag(key));
    const servedAt = (created.state.stageEnteredAt as number) + 1;
    expect((await call("POST", `/admin/flags/${key}/actions`, { body: { action: "promote" } })).status).toBe(200);
    const r = await send([{ eventId: `${key}-c`, flag: key, targetingKey: "u1", name: "click", variant: "candidate", timestamp: servedAt }]);
    expect(r.accepted).toBe(1);
    expect(await clicksByStage(key)).toEqual({ "0": { baseline: 0, candidate: 1 } });
  });

  it("after a rollback and resume (a new generation), events with their variant are credited to the new generation", async () => {
    const key = uniqueKey("resumed");
    await putFlag(eventsFlag(key));
    await evaluateUntil(key, { targetingKey: "probe" }, (res) => res.status === 200);
    await call("POST", `/admin/flags/${key}/actions`, { body: { action: "rollback" } });
    const resumed = await call("POST", `/admin/flags/${key}/actions`, { body: { action: "resume" } });
    expect(resumed.json.state.generation).toBe(2);
    const r = await send([{ eventId: `${key}-c`, flag: key, targetingKey: "u1", name: "click", variant: "candidate" }]);
    expect(r.accepted).toBe(1);
    const stages = await flagStub(env, key).readSpanByStage(2, Date.now() - 3_600_000, Date.now() + 3_600_000);
    expect(collapse(stages["0"]!.candidate).events["click"]?.count).toBe(1);
    expect((await call("GET", `/admin/flags/${key}/stats`)).json.unattributed).toEqual({});
  });

  it("an echoed assignment token credits exactly that generation, stage and arm; a malformed one is refused", async () => {
    const key = uniqueKey("token");
    await putFlag(eventsFlag(key));
    const served = await evaluateUntil(key, { targetingKey: "u7" }, (res) => res.status === 200);
    const token = served.json.metadata.assignment as string;
    expect(token).toMatch(/^1\.0\.[bc]$/);
    await call("POST", `/admin/flags/${key}/actions`, { body: { action: "promote" } });
    const r = await send([
      { eventId: `${key}-ok`, flag: key, targetingKey: "u7", name: "click", assignment: token },
      { eventId: `${key}-bad`, flag: key, targetingKey: "u7", name: "click", assignment: "stage-one" },
    ]);
    expect(r.accepted).toBe(1);
    expect(r.rejected).toEqual([expect.objectContaining({ index: 1, error: "invalid_assignment" })]);
    const arm = token.endsWith("c") ? "candidate" : "baseline";
    expect((await clicksByStage(key))["0"]?.[arm]).toBe(1);
  });

  it("an event without a variant is assigned again with its own context; out of scope it is counted unattributed, never given to the baseline", async () => {
    const key = uniqueKey("scoped");
    await putFlag(eventsFlag(key, { stickiness: "userId", scope: { tenants: ["acme"] }, rollout: { stages: [{ weight: 100 }] } }));
    await evaluateUntil(key, { targetingKey: "probe" }, (res) => res.status === 200);
    const r = await send([
      { eventId: `${key}-in`, flag: key, targetingKey: "t", name: "click", context: { tenant: "acme", userId: "u1" } },
      { eventId: `${key}-out`, flag: key, targetingKey: "t", name: "click", context: { tenant: "globex", userId: "u2" } },
      { eventId: `${key}-none`, flag: key, targetingKey: "t", name: "click" },
    ]);
    expect(r).toMatchObject({ accepted: 3, duplicates: 0, rejected: [] });
    expect(await clicksByStage(key)).toEqual({ "0": { baseline: 0, candidate: 1 } });
    const stats = await call("GET", `/admin/flags/${key}/stats`);
    expect(stats.json.unattributed).toEqual({ out_of_scope: 2 });
    const report = await call("GET", `/admin/flags/${key}/report`);
    expect(report.json.unattributed).toEqual({ out_of_scope: 2 });
  });

  it("an edge counter batch delivered twice (a retry after a lost reply) counts once", async () => {
    const key = uniqueKey("batch");
    const created = await putFlag(eventsFlag(key, { exposures: "served" }));
    const minute = Math.floor((created.state.stageEnteredAt as number) / 60_000);
    const batch = minuteBatch(1, 0, minute, { baseline: [900, 45], candidate: [100, 5] });
    expect(await flagStub(env, key).addCounts(batch)).toEqual({ counted: true });
    expect(await flagStub(env, key).addCounts(batch)).toEqual({ counted: false });
    const report = await call("GET", `/admin/flags/${key}/report`);
    expect(report.json.arms.candidate.exposures).toBe(100);
    expect(report.json.arms.baseline.exposures).toBe(900);
  });
});

describe("shadow stages judged on comparisons", () => {
  const shadowFlag = (key: string) => ({
    key,
    type: "string",
    variants: { baseline: "rules", candidate: "lgbm" },
    exposures: "events",
    rollout: { window: "1m", healthyWindowsToPromote: 1, stages: [{ weight: 0, shadow: true, hold: "1m" }, { weight: 10 }, { weight: 100 }] },
    gates: [{ metric: "shadow_agreement", compare: "floor", warn: "85%", rollback: "75%" }],
  });

  it("comparisons reported without a variant count for the candidate: 50% agreement is rolled back, never promoted", async () => {
    const key = uniqueKey("shadow-half");
    const created = await putFlag(shadowFlag(key));
    const start = created.state.stageEnteredAt as number;
    await evaluateUntil(key, { targetingKey: "probe" }, (res) => res.status === 200);
    const events = Array.from({ length: 600 }, (_, i) => ({ eventId: `${key}-${i}`, flag: key, targetingKey: `user-${i}`, name: "comparison", value: i % 2 }));
    expect((await send(events)).accepted).toBe(600);
    for (let m = 1; m <= 4; m++) await cronAt(start + m * 60_000 + 1_000);
    const flag = (await call("GET", `/admin/flags/${key}`)).json;
    expect(flag.state.status).toBe("rolled_back");
    const decisions = (await call("GET", `/admin/flags/${key}/decisions`)).json.decisions as { action: string }[];
    expect(decisions.some((d) => d.action === "promote")).toBe(false);
    const decision = decisions.find((d) => d.action === "rollback") as Record<string, any>;
    expect(decision).toMatchObject({ action: "rollback", rule: "gate:shadow_agreement:rollback" });
    expect(decision.judgement.verdicts[0]).toMatchObject({ metric: "shadow_agreement", candidate: 0.5, samples: { candidate: 600 } });
  });

  it("a shadow stage with no comparisons holds and says what it waits for", async () => {
    const key = uniqueKey("shadow-none");
    const created = await putFlag(shadowFlag(key));
    const start = created.state.stageEnteredAt as number;
    for (let m = 1; m <= 4; m++) await cronAt(start + m * 60_000 + 1_000);
    expect((await call("GET", `/admin/flags/${key}`)).json.state.status).toBe("shadow");
    const [decision] = (await call("GET", `/admin/flags/${key}/decisions`)).json.decisions;
    expect(decision).toMatchObject({ source: "cron", action: "hold" });
    expect(decision.reason).toContain("shadow comparisons: none received yet");
  });
});
