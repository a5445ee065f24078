/**
 * A sample ratio mismatch blocks promotion until an operator clears it:
 * the cron holds (`hold:srm`) even once the split looks right again, the
 * operator's `clear_srm` needs a reason and is audited, and only then does
 * the rollout go on.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { minuteOf } from "../../core/counters";
import { flagStub } from "../../durable-objects/flag/stub";
import { call, cronAt, ctrRolloutSpec, minuteBatch, putFlag, uniqueKey } from "./helpers";

describe("the SRM latch", () => {
  it("holds after a mismatch until clear_srm (reason required, audited), then promotes", async () => {
    const key = uniqueKey("srm");
    const created = await putFlag(ctrRolloutSpec(key));
    const start = created.state.stageEnteredAt as number;
    const stub = flagStub(env, key);
    const minute = async (m: number, baseline: [number, number], candidate: [number, number]) => {
      await stub.addCounts(minuteBatch(1, 0, minuteOf(start) + m - 1, { baseline, candidate }));
      await cronAt(start + m * 60_000 + 1_000);
    };
    const judgement = async () => (await call("GET", "/admin/flags")).json.flags.find((f: { key: string }) => f.key === key).judgement as { rule: string; reason: string };
    // A third of the candidate's exposures lost for two minutes: held for SRM.
    for (const m of [1, 2]) await minute(m, [2_000, 100], [1_000, 50]);
    expect(await judgement()).toMatchObject({ rule: "srm" });
    // Then healthy and balanced for long enough to promote: still held, saying what clears it.
    for (let m = 3; m <= 10; m++) await minute(m, [40_000, 2_000], [40_000, 2_000]);
    const held = await judgement();
    expect(held.rule).toBe("hold:srm");
    expect(held.reason).toContain("clear_srm");
    expect((await call("GET", `/admin/flags/${key}`)).json.state).toMatchObject({ status: "ramping", stageIndex: 0 });

    // Without a reason: 400 naming the field, nothing changes.
    const bare = await call("POST", `/admin/flags/${key}/actions`, { body: { action: "clear_srm" } });
    expect(bare.status).toBe(400);
    expect(bare.json).toMatchObject({ error: "invalid_request", issues: [{ path: "reason" }] });
    await minute(11, [40_000, 2_000], [40_000, 2_000]);
    expect((await judgement()).rule).toBe("hold:srm");

    const cleared = await call("POST", `/admin/flags/${key}/actions`, { body: { action: "clear_srm", reason: "exposure logging fixed in ingest 4.2" }, headers: { "x-rampart-actor": "alice" } });
    expect(cleared.status).toBe(200);
    expect(cleared.json.decision).toMatchObject({ action: "clear_srm", actor: "admin:alice", reason: expect.stringContaining("exposure logging fixed in ingest 4.2 (mismatch seen at stage 0") });
    const audit = (await call("GET", `/admin/audit?flag=${key}&limit=20`)).json.entries as { action: string; actor: string; summary: string }[];
    expect(audit.find((e) => e.action === "clear_srm")).toMatchObject({ actor: "admin:alice", summary: expect.stringContaining("exposure logging fixed") });
    // Nothing left to clear: 409.
    expect((await call("POST", `/admin/flags/${key}/actions`, { body: { action: "clear_srm", reason: "again" } })).status).toBe(409);

    await minute(12, [40_000, 2_000], [40_000, 2_000]);
    expect((await call("GET", `/admin/flags/${key}`)).json.state).toMatchObject({ status: "completed", stageIndex: 1 });
  }, 60_000);
});
