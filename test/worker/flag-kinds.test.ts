/** Flag kinds beyond rollouts: a kill switch is on until killed; a guard falls back on evidence and returns after healthy windows. */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { emptyCounts, minuteOf, type CounterCell } from "../../core/counters";
import { plainCopy } from "../../core/dict";
import { flagStub } from "../../durable-objects/flag/stub";
import { spreadCounts } from "../spread";
import { call, cronAt, evaluateUntil, putFlag, uniqueKey } from "./helpers";


/** One minute of one arm's traffic with a cost per query of `mean` (sd 0.01), spread over the replicate groups. */
function costBatch(stage: number, minute: number, arm: "baseline" | "candidate", queries: number, mean: number) {
  const totals = emptyCounts();
  totals.exposures = queries;
  const sd = 0.01;
  totals.events["cost_usd"] = { count: queries, sum: queries * mean, sumSq: queries * (mean * mean + sd * sd) };
  const cells: CounterCell[] = spreadCounts(totals).map((counts, replicate) => ({ generation: 1, stage, arm, replicate, minute, counts }));
  return plainCopy({ id: crypto.randomUUID(), cells });
}

const killSwitch = (key: string) => ({ key, kind: "kill_switch", type: "boolean", variants: { baseline: false, candidate: true }, description: "new checkout; kill to fall back" });

describe("kill switch", () => {
  it("serves on to everyone, kill and unkill flip it within the propagation bound, each audited", async () => {
    const key = uniqueKey("switch");
    const created = await putFlag(killSwitch(key));
    expect(created.state).toMatchObject({ status: "completed", stageIndex: 0 });
    for (const user of ["a", "b", "c"]) {
      const on = await evaluateUntil(key, { targetingKey: user }, (r) => r.status === 200);
      expect(on.json).toMatchObject({ value: true, reason: "STATIC" });
    }
    // No targeting key needed: nobody is split.
    expect((await evaluateUntil(key, {}, (r) => r.status === 200)).json.value).toBe(true);

    const killed = await call("POST", `/admin/flags/${key}/actions`, { body: { action: "kill", reason: "checkout errors" } });
    expect(killed.status).toBe(200);
    expect((await evaluateUntil(key, { targetingKey: "a" }, (r) => r.json.reason === "DISABLED")).json).toMatchObject({ value: false, reason: "DISABLED" });
    expect((await call("POST", `/admin/flags/${key}/actions`, { body: { action: "unkill" } })).status).toBe(200);
    expect((await evaluateUntil(key, { targetingKey: "a" }, (r) => r.json.value === true)).json.reason).toBe("STATIC");

    const audit = (await call("GET", `/admin/audit?flag=${key}&limit=10`)).json.entries.map((e: { action: string }) => e.action);
    expect(audit).toEqual(expect.arrayContaining(["kill", "unkill"]));
    const summary = (await call("GET", "/admin/flags")).json.flags.find((f: { key: string }) => f.key === key);
    expect(summary.kind).toBe("kill_switch");
  });

  it("refuses stage actions, and specs with stages, gates or abort rules, naming the field and changing nothing", async () => {
    const key = uniqueKey("switch-bad");
    await putFlag(killSwitch(key));
    const promote = await call("POST", `/admin/flags/${key}/actions`, { body: { action: "promote" } });
    expect(promote.status).toBe(409);
    expect(promote.json.message).toContain("only kill and unkill apply");

    const other = uniqueKey("switch-staged");
    const staged = await call("PUT", `/admin/flags/${other}`, { body: { ...killSwitch(other), rollout: { stages: [{ weight: 10 }, { weight: 100 }] } } });
    expect(staged.status).toBe(400);
    expect(staged.json.issues).toContainEqual(expect.objectContaining({ path: "rollout", message: expect.stringContaining("a kill switch has no stages") }));
    const gated = await call("PUT", `/admin/flags/${other}`, { body: { ...killSwitch(other), gates: [{ metric: "error_rate", bad: "increase", rollback: "10%" }] } });
    expect(gated.status).toBe(400);
    expect(gated.json.issues[0].path).toBe("gates");
    expect((await call("GET", `/admin/flags/${other}`)).status).toBe(404);

    const rollout = uniqueKey("no-stages");
    const missing = await call("PUT", `/admin/flags/${rollout}`, { body: { key: rollout, type: "boolean", variants: { baseline: false, candidate: true } } });
    expect(missing.status).toBe(400);
    expect(missing.json.issues).toContainEqual({ path: "rollout", message: "a rollout needs `rollout: { stages: [...] }`" });
  });
});

describe("guard", () => {
  const guardSpec = (key: string) => ({
    key,
    kind: "guard",
    type: "string",
    description: "cost guard: the large model while cost per query stays under 5 cents",
    variants: { baseline: "small-model", candidate: "large-model" },
    metrics: { cost: { kind: "mean", event: "cost_usd" } },
    guard: { when: { metric: "cost", above: 0.05 }, window: "10m", recoverAfter: 2, probe: 10 },
  });

  it("falls back under a cost spike, on evidence, and returns after healthy windows — each switch logged with its numbers", async () => {
    const key = uniqueKey("cost-guard");
    const created = await putFlag(guardSpec(key));
    expect(created.state).toMatchObject({ status: "completed", stageIndex: 0 });
    const stub = flagStub(env, key);
    const state = async () => (await call("GET", `/admin/flags/${key}`)).json.state as { stageIndex: number; status: string; stageEnteredAt: number };
    let t = (created.state.stageEnteredAt as number) + 60_000;

    // Normal cost (3 cents): 15 minutes on the primary, judged every minute, no switch.
    for (let m = 0; m < 15; m++, t += 60_000) {
      await stub.addCounts(costBatch(0, minuteOf(t - 60_000), "candidate", 2_000, 0.03));
      await cronAt(t + 1_000);
    }
    expect(await state(), JSON.stringify((await call("GET", `/admin/flags/${key}/decisions?limit=3`)).json.decisions.map((d: { reason: string }) => d.reason))).toMatchObject({ stageIndex: 0, status: "completed" });

    // A spike to 8 cents: the guard falls back within a few minutes, not at the first noisy minute of data.
    let minutes = 0;
    while ((await state()).stageIndex === 0 && minutes < 10) {
      await stub.addCounts(costBatch(0, minuteOf(t - 60_000), "candidate", 2_000, 0.08));
      await cronAt(t + 1_000);
      t += 60_000;
      minutes++;
    }
    expect(await state()).toMatchObject({ stageIndex: 1, status: "ramping" });
    expect(minutes).toBeLessThanOrEqual(3);
    const fallback = (await call("GET", `/admin/flags/${key}/decisions?limit=5`)).json.decisions[0];
    expect(fallback).toMatchObject({ action: "fallback", source: "cron", rule: "guard:cost:fallback" });
    expect(fallback.reason).toMatch(/falling back: cost 0\.0\d+ \(n=\d+\) above 0\.05: evidence/);
    // Most users get the fallback now; the probe keeps 10% on the primary.
    const served = await evaluateUntil(key, { targetingKey: "user-1" }, (r) => r.json.metadata?.stage === 1);
    expect(served.json.metadata.weight).toBe(10);

    // Still expensive on the probe for its first 10-minute window: no return.
    const fellBackAt = (await state()).stageEnteredAt;
    t = fellBackAt + 60_000;
    for (let m = 0; m < 10; m++, t += 60_000) {
      await stub.addCounts(costBatch(1, minuteOf(t - 60_000), "candidate", 300, 0.08));
      await cronAt(t + 1_000);
    }
    expect((await state()).stageIndex).toBe(1);
    // The cost comes back down: two healthy 10-minute windows later, the primary is served again.
    let back = 0;
    while ((await state()).stageIndex === 1 && back < 40) {
      await stub.addCounts(costBatch(1, minuteOf(t - 60_000), "candidate", 300, 0.03));
      await cronAt(t + 1_000);
      t += 60_000;
      back++;
    }
    expect(await state()).toMatchObject({ stageIndex: 0, status: "completed" });
    // Two whole healthy windows (minutes 10–30 after the fallback), no sooner.
    expect(back).toBeGreaterThanOrEqual(19);
    const recovered = (await call("GET", `/admin/flags/${key}/decisions?limit=5`)).json.decisions[0];
    expect(recovered).toMatchObject({ action: "recover", rule: "guard:cost:recover" });
    expect(recovered.reason).toContain("2 healthy windows in a row");

    // Back on the primary, the e-process starts afresh: the spike's data does not send it straight back.
    for (let m = 0; m < 5; m++, t += 60_000) {
      await stub.addCounts(costBatch(0, minuteOf(t - 60_000), "candidate", 2_000, 0.03));
      await cronAt(t + 1_000);
    }
    expect((await state()).stageIndex).toBe(0);
  });

  it("refuses a guard without a bound or a fallback, and stage actions, naming the field", async () => {
    const key = uniqueKey("guard-bad");
    const noBound = await call("PUT", `/admin/flags/${key}`, { body: { ...guardSpec(key), guard: undefined } });
    expect(noBound.status).toBe(400);
    expect(noBound.json.issues[0].path).toBe("guard");
    const noFallback = await call("PUT", `/admin/flags/${key}`, { body: { ...guardSpec(key), variants: { candidate: "large-model" } } });
    expect(noFallback.status).toBe(400);
    expect(noFallback.json.issues[0].path).toBe("variants.baseline");
    const noProbe = await call("PUT", `/admin/flags/${key}`, { body: { ...guardSpec(key), guard: { when: { metric: "cost", above: 0.05 }, probe: 0 } } });
    expect(noProbe.status).toBe(400);
    expect(noProbe.json.issues[0].path).toBe("guard.probe");
    expect((await call("GET", `/admin/flags/${key}`)).status).toBe(404);
    await putFlag(guardSpec(key));
    const promote = await call("POST", `/admin/flags/${key}/actions`, { body: { action: "promote" } });
    expect(promote.status).toBe(409);
    expect(promote.json.message).toContain("a guard is switched by the cron by its bound");
  });
});
