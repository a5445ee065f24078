/** Flag kinds beyond rollouts: a kill switch is on until killed, flips everywhere, and has nothing to stage. */
import { describe, expect, it } from "vitest";
import { call, evaluateUntil, putFlag, uniqueKey } from "./helpers";

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
