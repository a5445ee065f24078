/** Approval gates: a ready stage waits for its approval, asks once, and an approval covers one generation and stage only. */
import { env, runInDurableObject } from "cloudflare:test";
import { hmacHex } from "../../durable-objects/flag/outbox";
import { describe, expect, it } from "vitest";
import { minuteOf } from "../../core/counters";
import { flagStub } from "../../durable-objects/flag/stub";
import { call, cronAt, minuteBatch, putFlag, uniqueKey } from "./helpers";


const gatedSpec = (key: string, approval: unknown = "required") => ({
  key,
  type: "string",
  variants: { baseline: "v1", candidate: "v2" },
  rollout: { window: "1m", healthyWindowsToPromote: 2, stages: [{ weight: 50, approval }, { weight: 100 }] },
  metrics: { ctr: { kind: "ratio", numerator: "click", denominator: "exposure" } },
  gates: [{ metric: "ctr", bad: "decrease", rollback: "5%" }],
  webhooks: ["https://hooks.example.test/rampart"],
});

/** Healthy traffic minute after minute, judged each minute; returns the time after the last tick. */
async function healthyMinutes(key: string, start: number, from: number, to: number) {
  const stub = flagStub(env, key);
  for (let m = from; m <= to; m++) {
    await stub.addCounts(minuteBatch(1, 0, minuteOf(start) + m - 1, { baseline: [40_000, 2_000], candidate: [40_000, 2_000] }));
    await cronAt(start + m * 60_000 + 1_000);
  }
}

describe("approval gates", () => {
  it("hold a ready stage with hold:approval, ask once, refuse approvals for another generation or stage, and promote once approved", async () => {
    const key = uniqueKey("approve");
    const created = await putFlag(gatedSpec(key));
    const start = created.state.stageEnteredAt as number;
    await healthyMinutes(key, start, 1, 8);
    expect((await call("GET", `/admin/flags/${key}`)).json.state).toMatchObject({ status: "ramping", stageIndex: 0 });
    const summary = (await call("GET", "/admin/flags")).json.flags.find((f: { key: string }) => f.key === key);
    expect(summary.judgement).toMatchObject({ action: "hold", rule: "hold:approval" });
    expect(summary.judgement.reason).toContain("waiting for approval by an operator");
    // The flag's own record carries the same judgement (what an agent's get_flag shows).
    expect((await call("GET", `/admin/flags/${key}`)).json.judgement).toEqual(summary.judgement);
    const log = (await call("GET", `/admin/flags/${key}/decisions?limit=50`)).json.decisions as { rule: string | null }[];
    expect(log.filter((d) => d.rule === "hold:approval")).toHaveLength(1);
    // One approval_requested notification for the stage, not one a minute (it waits in the outbox until delivered).
    const requests = await runInDurableObject(flagStub(env, key), (_instance, state) =>
      [...state.storage.sql.exec<{ body: string }>("SELECT body FROM outbox")].filter((r) => (JSON.parse(r.body) as { type: string }).type === "approval_requested").length,
    );
    expect(requests).toBe(1);

    // Bad approvals: answered with the field named, nothing changes.
    expect((await call("POST", `/admin/flags/${key}/approve`, { body: { generation: 2, stage: 0 } })).json).toMatchObject({ error: "stale_approval", issues: [{ path: "generation" }] });
    expect((await call("POST", `/admin/flags/${key}/approve`, { body: { generation: 1, stage: 1 } })).json).toMatchObject({ error: "stale_approval", issues: [{ path: "stage" }] });
    expect((await call("POST", `/admin/flags/${key}/approve`, { body: { stage: 0 } })).status).toBe(400);
    expect((await call("POST", `/admin/flags/no-such-flag/approve`, { body: { generation: 1, stage: 0 } })).status).toBe(404);
    await healthyMinutes(key, start, 9, 9);
    expect((await call("GET", `/admin/flags/${key}`)).json.state.stageIndex).toBe(0);

    const approved = await call("POST", `/admin/flags/${key}/approve`, { body: { generation: 1, stage: 0, note: "retrieval eval signed off" }, headers: { "x-rampart-actor": "alice" } });
    expect(approved.status).toBe(200);
    expect(approved.json.decision).toMatchObject({ action: "approve", actor: "admin:alice", reason: "retrieval eval signed off" });
    // It survives in the decision log, with its actor.
    const approvals = (await call("GET", `/admin/flags/${key}/decisions?limit=5`)).json.decisions.filter((d: { action: string }) => d.action === "approve");
    expect(approvals).toHaveLength(1);
    await healthyMinutes(key, start, 10, 10);
    expect((await call("GET", `/admin/flags/${key}`)).json.state).toMatchObject({ status: "completed", stageIndex: 1 });
  });

  it("take an approval request for the stage the flag waits in: a webhook naming who asks and an audit entry, no state change; refuse a stale or unawaited one", async () => {
    const key = uniqueKey("ask");
    await putFlag(gatedSpec(key));
    const outbox = () => runInDurableObject(flagStub(env, key), (_instance, state) => [...state.storage.sql.exec<{ body: string }>("SELECT body FROM outbox")].map((r) => JSON.parse(r.body) as Record<string, unknown>));
    const before = (await call("GET", `/admin/flags/${key}`)).json.state;
    const asked = await call("POST", `/admin/flags/${key}/approval-requests`, { body: { generation: 1, stage: 0, note: "eval is green" }, headers: { "x-rampart-actor": "bot" } });
    expect(asked.status).toBe(201);
    expect(asked.json.requested).toMatchObject({ action: "approval:request", actor: "admin:bot", flag: key, summary: "approval asked for generation 1 stage 0: eval is green" });
    expect((await outbox()).filter((b) => b["type"] === "approval_requested")).toEqual([expect.objectContaining({ flag: key, generation: 1, stage: 0, source: "operator", actor: "admin:bot", reason: "eval is green" })]);
    expect((await call("GET", `/admin/flags/${key}`)).json.state).toEqual(before);
    // Stale, unawaited or malformed: refused naming the field, nothing sent, nothing audited.
    expect((await call("POST", `/admin/flags/${key}/approval-requests`, { body: { generation: 2, stage: 0 } })).json).toMatchObject({ error: "stale_approval", issues: [{ path: "generation" }] });
    expect((await call("POST", `/admin/flags/${key}/approval-requests`, { body: { generation: 1, stage: 0, decision: "approve" } })).json).toMatchObject({ error: "invalid_request", issues: [{ path: "" }] });
    expect((await call("POST", `/admin/flags/${key}/approval-requests`, { body: { generation: 1 } })).json.issues[0].path).toBe("stage");
    const plain = uniqueKey("ask-plain");
    await putFlag({ ...gatedSpec(plain), rollout: { stages: [{ weight: 50 }, { weight: 100 }] } });
    expect((await call("POST", `/admin/flags/${plain}/approval-requests`, { body: { generation: 1, stage: 0 } })).json).toMatchObject({ error: "not_awaiting_approval", issues: [{ path: "stage" }] });
    expect((await call("POST", `/admin/flags/no-such-flag/approval-requests`, { body: { generation: 1, stage: 0 } })).status).toBe(404);
    expect((await outbox()).filter((b) => b["type"] === "approval_requested")).toHaveLength(1);
    expect((await call("GET", `/admin/audit?flag=${key}&limit=10`)).json.entries.filter((e: { action: string }) => e.action === "approval:request")).toHaveLength(1);
  });

  it("roll back on a rejection (or hold with onReject: hold)", async () => {
    for (const [onReject, expected] of [["rollback", "rolled_back"], ["hold", "ramping"]] as const) {
      const key = uniqueKey(`reject-${onReject}`);
      const created = await putFlag(gatedSpec(key, { onReject }));
      const start = created.state.stageEnteredAt as number;
      await healthyMinutes(key, start, 1, 8);
      const rejected = await call("POST", `/admin/flags/${key}/approve`, { body: { decision: "reject", generation: 1, stage: 0, note: "offline eval regressed" } });
      expect(rejected.json.decision.action).toBe("reject");
      await healthyMinutes(key, start, 9, 9);
      const flag = (await call("GET", `/admin/flags/${key}`)).json;
      expect(flag.state.status).toBe(expected);
      const last = (await call("GET", `/admin/flags/${key}/decisions?limit=1`)).json.decisions[0];
      expect(last.rule).toBe(onReject === "rollback" ? "approval:rejected" : "hold:rejected");
    }
  });

  it("ask an external check from the FlagDO, signed both ways: pending and unsigned answers wait, an approval promotes", async () => {
    const key = uniqueKey("check");
    const check = "https://offline-sim.example.test/approve";
    const created = await putFlag(gatedSpec(key, { check }));
    const start = created.state.stageEnteredAt as number;
    await healthyMinutes(key, start, 1, 8);
    expect((await call("GET", "/admin/flags")).json.flags.find((f: { key: string }) => f.key === key).judgement.reason).toContain(`the check at ${check}`);

    const asked: { url: string; body: string; signature: string | null }[] = [];
    const answering = (answer: object, signed = true): typeof fetch => async (input, init) => {
      const body = typeof init?.body === "string" ? init.body : "";
      asked.push({ url: input instanceof Request ? input.url : input.toString(), body, signature: new Headers(init?.headers).get("x-rampart-signature") });
      const text = JSON.stringify(answer);
      return new Response(text, { headers: signed ? { "x-rampart-signature": `sha256=${await hmacHex(env.WEBHOOK_SECRET, text)}` } : {} });
    };
    const run = (send: typeof fetch) => runInDurableObject(flagStub(env, key), (instance) => instance.runApprovalCheck(Date.now(), send));

    expect(await run(answering({ decision: "pending" }))).toBe("pending");
    // The request is signed with the webhook secret and names the generation and stage it asks about.
    expect(asked[0]?.url).toBe(check);
    expect(asked[0]?.signature).toBe(`sha256=${await hmacHex(env.WEBHOOK_SECRET, asked[0]?.body ?? "")}`);
    expect(JSON.parse(asked[0]?.body ?? "{}")).toMatchObject({ type: "approval_check", flag: key, generation: 1, stage: 0, weight: 50, next: 100 });
    // An answer without a valid signature is not believed.
    expect(await run(answering({ decision: "approve" }, false))).toBe("failed");
    await healthyMinutes(key, start, 9, 9);
    expect((await call("GET", `/admin/flags/${key}`)).json.state.stageIndex).toBe(0);

    expect(await run(answering({ decision: "approve", note: "offline simulation: +2.1% reward" }))).toBe("approve");
    const approval = (await call("GET", `/admin/flags/${key}/decisions?limit=3`)).json.decisions.find((d: { action: string }) => d.action === "approve");
    expect(approval).toMatchObject({ actor: "check:offline-sim.example.test", reason: "offline simulation: +2.1% reward" });
    await healthyMinutes(key, start, 10, 10);
    expect((await call("GET", `/admin/flags/${key}`)).json.state).toMatchObject({ status: "completed" });
  });
});
