/** Soft abort rules: judged like hard ones, they notify once per firing and never change what is served. */
import { SELF, env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { minuteOf } from "../../core/counters";
import { flagStub } from "../../durable-objects/flag/stub";
import { call, cronAt, minuteBatch, putFlag, READ_AUTH, uniqueKey } from "./helpers";


describe("soft abort rules", () => {
  it("log one soft_abort decision, notify and count it, and leave the rollout serving as it was", async () => {
    const key = uniqueKey("soft");
    const created = await putFlag({
      key,
      type: "boolean",
      variants: { baseline: false, candidate: true },
      rollout: { stages: [{ weight: 50, hold: "1d" }, { weight: 100 }] },
      abort: [{ metric: "error_rate", above: "1%", soft: true }],
      webhooks: ["https://hooks.example.test/rampart"],
    });
    const start = created.state.stageEnteredAt as number;
    const stub = flagStub(env, key);
    // The candidate errs 5% of the time (limit 1%), minute after minute.
    for (let m = 1; m <= 6; m++) {
      await stub.addCounts(minuteBatch(1, 0, minuteOf(start) + m - 1, { baseline: [5_000, 0], candidate: [5_000, 0] }, { candidate: 250 }));
      await cronAt(start + m * 60_000 + 1_000);
    }
    const flag = (await call("GET", `/admin/flags/${key}`)).json;
    expect(flag.state).toMatchObject({ status: "ramping", stageIndex: 0 });
    const decisions = (await call("GET", `/admin/flags/${key}/decisions?limit=50`)).json.decisions as { action: string; rule: string; reason: string; id: number }[];
    const soft = decisions.filter((d) => d.action === "soft_abort");
    expect(soft).toHaveLength(1);
    expect(soft[0]).toMatchObject({ rule: "soft_abort:error_rate" });
    expect(soft[0]?.reason).toMatch(/^soft abort rule \(notifies only\): error_rate 0\.05/);
    expect(decisions.some((d) => d.action === "kill" || d.action === "rollback")).toBe(false);
    // Its notification waits in the outbox (delivery is the alarm's; webhooks.test.ts covers it).
    expect((await call("GET", `/admin/flags/${key}/stats`)).json.outbox).toBeGreaterThanOrEqual(1);
    const metrics = await SELF.fetch("https://rampart.test/metrics", { headers: READ_AUTH });
    expect(await metrics.text()).toMatch(/rampart_decisions_total\{action="soft_abort",source="cron"\} [1-9]/);
    // The decision replays to the same verdicts.
    const replay = await call("GET", `/admin/flags/${key}/decisions/${soft[0]?.id ?? 0}/replay`);
    expect(replay.json.matches).toBe(true);
  });

  it("the same rule without `soft` kills the rollout", async () => {
    const key = uniqueKey("hard");
    const created = await putFlag({
      key,
      type: "boolean",
      variants: { baseline: false, candidate: true },
      rollout: { stages: [{ weight: 50, hold: "1d" }, { weight: 100 }] },
      abort: [{ metric: "error_rate", above: "1%" }],
    });
    const start = created.state.stageEnteredAt as number;
    const stub = flagStub(env, key);
    for (let m = 1; m <= 6; m++) {
      await stub.addCounts(minuteBatch(1, 0, minuteOf(start) + m - 1, { baseline: [5_000, 0], candidate: [5_000, 0] }, { candidate: 250 }));
      await cronAt(start + m * 60_000 + 1_000);
    }
    expect((await call("GET", `/admin/flags/${key}`)).json.state.status).toBe("killed");
  });
});
