import { SELF, env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { minuteOf } from "../../core/counters";
import { counterShardStub, flagStub } from "../../durable-objects/flag/stub";
import { call, cronAt, minuteBatch, putFlag, READ_AUTH, uniqueKey } from "./helpers";


const rankerSpec = (key: string) => ({
  key,
  type: "string",
  variants: { baseline: "v1", candidate: "v2" },
  rollout: { window: "1m", healthyWindowsToPromote: 2, stages: [{ weight: 50, hold: "3m" }, { weight: 100 }] },
  metrics: { ctr: { kind: "ratio", numerator: "click", denominator: "exposure" } },
  gates: [{ metric: "ctr", bad: "decrease", warn: "3%", rollback: "5%", severe: "10%" }],
});

describe("the cron judges rollouts through scheduled()", () => {
  it("drives a healthy candidate from its first stage to completed", async () => {
    const key = uniqueKey("healthy");
    const created = await putFlag(rankerSpec(key));
    const start = created.state.stageEnteredAt as number;
    const stub = flagStub(env, key);
    let status = "";
    for (let m = 1; m <= 12 && status !== "completed"; m++) {
      // Each minute both arms see 40,000 exposures at the same 5% CTR: enough to show within minutes that CTR did not drop 5%.
      await stub.addCounts(minuteBatch(1, 0, minuteOf(start) + m - 1, { baseline: [40_000, 2_000], candidate: [40_000, 2_000] }));
      await cronAt(start + m * 60_000 + 1_000);
      status = (await call("GET", `/admin/flags/${key}`)).json.state.status;
    }
    expect(status).toBe("completed");
    const log = (await call("GET", `/admin/flags/${key}/decisions?limit=100`)).json.decisions;
    const completion = log.find((d: { action: string }) => d.action === "complete");
    expect(completion).toMatchObject({ source: "cron", rule: "complete", to: { status: "completed" } });
    expect(completion.judgement.verdicts[0]).toMatchObject({ metric: "ctr", verdict: "healthy" });
  });

  it("rolls back a CTR regression, naming the ctr gate and its numbers", async () => {
    const key = uniqueKey("regression");
    const created = await putFlag(rankerSpec(key));
    const start = created.state.stageEnteredAt as number;
    await flagStub(env, key).addCounts(minuteBatch(1, 0, minuteOf(start), { baseline: [40_000, 2_000], candidate: [40_000, 1_600] }));
    await cronAt(start + 60_000 + 1_000);
    const flag = (await call("GET", `/admin/flags/${key}`)).json;
    expect(flag.state.status).toBe("rolled_back");
    const [decision] = (await call("GET", `/admin/flags/${key}/decisions`)).json.decisions;
    expect(decision).toMatchObject({ action: "rollback", source: "cron", rule: "gate:ctr:rollback" });
    expect(decision.reason).toContain("ctr relative -20.00%");
    const ctr = decision.judgement.verdicts[0];
    expect(ctr).toMatchObject({ metric: "ctr", verdict: "rollback", baseline: 0.05, candidate: 0.04, samples: { baseline: 40_000, candidate: 40_000 } });
    expect(ctr.interval[1]).toBeLessThan(0);

    // The decision replays from its stored inputs to the same verdicts.
    const replay = await call("GET", `/admin/flags/${key}/decisions/${decision.id}/replay`);
    expect(replay.json).toMatchObject({ matches: true, replayed: { action: "rollback", rule: "gate:ctr:rollback" } });

    // The rollback sticks: later ticks never promote again.
    await cronAt(start + 10 * 60_000);
    expect((await call("GET", `/admin/flags/${key}`)).json.state.status).toBe("rolled_back");
  });

  it("merges a hot flag's counter shards before judging and in its report", async () => {
    const key = uniqueKey("sharded");
    const created = await putFlag({ ...rankerSpec(key), counterShards: 3 });
    const start = created.state.stageEnteredAt as number;
    // Each shard alone is too small to judge; together they show the regression.
    for (const shard of [0, 1, 2]) {
      await counterShardStub(env, key, shard).addCounts(minuteBatch(1, 0, minuteOf(start), { baseline: [15_000, 750], candidate: [15_000, 600] }));
    }
    const report = await call("GET", `/admin/flags/${key}/report?from=${start - 60_000}&to=${start + 120_000}`);
    expect(report.json.arms.candidate.exposures).toBe(45_000);
    await cronAt(start + 61_000);
    const [decision] = (await call("GET", `/admin/flags/${key}/decisions`)).json.decisions;
    expect(decision).toMatchObject({ action: "rollback", rule: "gate:ctr:rollback" });
    expect(decision.judgement.verdicts[0].samples).toEqual({ baseline: 45_000, candidate: 45_000 });
  });

  it("is idempotent per minute: a repeated trigger changes nothing", async () => {
    const key = uniqueKey("idem");
    const created = await putFlag(rankerSpec(key));
    const start = created.state.stageEnteredAt as number;
    await flagStub(env, key).addCounts(minuteBatch(1, 0, minuteOf(start), { baseline: [2000, 100], candidate: [2000, 100] }));
    await cronAt(start + 61_000);
    const before = await call("GET", `/admin/flags/${key}/decisions?inputs=1`);
    await cronAt(start + 62_000);
    await Promise.all([cronAt(start + 63_000), cronAt(start + 64_000)]);
    expect(await call("GET", `/admin/flags/${key}/decisions?inputs=1`)).toEqual(before);
  });

  it("judges a flag at most once per minute: a second look in the same minute is refused", async () => {
    const key = uniqueKey("once");
    const created = await putFlag(rankerSpec(key));
    const start = created.state.stageEnteredAt as number;
    const stub = flagStub(env, key);
    const minuteStart = Math.ceil((start + 1) / 60_000) * 60_000;
    expect((await stub.judge(minuteStart + 1_000)).judged).toBe(true);
    expect((await stub.judge(minuteStart + 30_000)).judged).toBe(false);
    expect((await stub.judge(minuteStart + 59_999)).judged).toBe(false);
    expect((await stub.judge(minuteStart + 60_000)).judged).toBe(true);
  });

  it("exposes per-flag, per-arm counts and decisions on /metrics, as of the last tick", async () => {
    const key = uniqueKey("metrics");
    const created = await putFlag(rankerSpec(key));
    const start = created.state.stageEnteredAt as number;
    await flagStub(env, key).addCounts(minuteBatch(1, 0, minuteOf(start), { baseline: [40_000, 2_000], candidate: [40_000, 1_600] }));
    await cronAt(start + 61_000);
    const unauthenticated = await call("GET", "/metrics", { headers: { authorization: "" } });
    expect(unauthenticated.status).toBe(401);
    const res = await SELF.fetch("https://rampart.test/metrics", { headers: READ_AUTH });
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    expect(text).toContain(`rampart_exposures_total{flag="${key}",arm="candidate",generation="1"} 40000`);
    expect(text).toContain(`rampart_rollout_weight_percent{flag="${key}",status="rolled_back",generation="1"} 0`);
    expect(text).toMatch(/rampart_decisions_total\{action="rollback",source="cron"\} [1-9]/);
    expect(text).toContain(`rampart_unattributed_events_total{flag="${key}",generation="1"} 0`);
    expect(text).toContain("# TYPE rampart_latency_seconds histogram");
  });

  it("reports per-arm metrics and gate verdicts over a span", async () => {
    const key = uniqueKey("report");
    const created = await putFlag(rankerSpec(key));
    const start = created.state.stageEnteredAt as number;
    await flagStub(env, key).addCounts(minuteBatch(1, 0, minuteOf(start), { baseline: [10_000, 500], candidate: [10_000, 480] }));
    const report = await call("GET", `/admin/flags/${key}/report?from=${start - 60_000}&to=${start + 120_000}`);
    expect(report.status).toBe(200);
    expect(report.json.arms.baseline.metrics.ctr).toMatchObject({ value: 0.05, samples: 10_000 });
    expect(report.json.arms.candidate.metrics.ctr.value).toBeCloseTo(0.048, 6);
    expect(report.json.gates[0]).toMatchObject({ metric: "ctr", verdict: "healthy" });
    expect(report.json.gates[0].delta).toBeCloseTo(-0.04, 6);
    const bad = await call("GET", `/admin/flags/${key}/report?from=later`);
    expect(bad.status).toBe(400);
    expect(bad.json.issues[0].path).toBe("from");
  });
});
