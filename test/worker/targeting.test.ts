/** Targeting rules and multi-variant flags through the admin API and OFREP, as an application sees them. */
import { describe, expect, it } from "vitest";
import { call, cronAt, evaluate, evaluateUntil, PROPAGATION_MS, putFlag, uniqueKey } from "./helpers";

const threeWay = (key: string) => ({
  key,
  kind: "targeting",
  type: "string",
  variants: { control: "grid", list: "list", cards: "cards" },
  defaultVariant: "control",
  rules: [
    { name: "staff", when: { any: [{ attribute: "email", op: "ends_with", value: "@example.com" }, { attribute: "groups", op: "contains", value: "staff" }] }, serve: { variant: "cards" } },
    { name: "old-apps", when: { attribute: "appVersion", op: "semver_lt", value: "2.0.0" }, serve: { variant: "control" } },
    { name: "experiment", serve: { split: [{ variant: "control", weight: 34 }, { variant: "list", weight: 33 }, { variant: "cards", weight: 33 }] } },
  ],
});

describe("targeting flags", () => {
  it("serves rules in order over OFREP, with the rule in the metadata, and a kill serves the default", async () => {
    const key = uniqueKey("layout");
    await putFlag(threeWay(key));
    const staff = await evaluateUntil(key, { targetingKey: "u1", email: "ana@example.com", appVersion: "1.0.0" }, (r) => r.status === 200);
    expect(staff.json).toMatchObject({ value: "cards", variant: "cards", reason: "TARGETING_MATCH", metadata: { rule: "staff" } });
    expect((await evaluate(key, { targetingKey: "u1", appVersion: "1.9.9" })).json).toMatchObject({ variant: "control", reason: "TARGETING_MATCH", metadata: { rule: "old-apps" } });
    const seen = new Set<string>();
    for (let i = 0; i < 60; i++) {
      const r = await evaluate(key, { targetingKey: `user-${i}`, appVersion: "2.1.0" });
      expect(r.json.reason).toBe("SPLIT");
      expect(r.json.metadata.rule).toBe("experiment");
      seen.add(r.json.variant);
    }
    expect([...seen].sort()).toEqual(["cards", "control", "list"]);
    // A split needs a unit to be sticky: no key is refused, not bucketed at random.
    const keyless = await evaluate(key, { appVersion: "2.1.0" });
    expect(keyless.status).toBe(400);
    expect(keyless.json.errorCode).toBe("TARGETING_KEY_MISSING");

    expect((await call("POST", `/admin/flags/${key}/actions`, { body: { action: "promote" } })).status).toBe(409);
    expect((await call("POST", `/admin/flags/${key}/actions`, { body: { action: "kill", reason: "layout bug" } })).status).toBe(200);
    const killed = await evaluateUntil(key, { targetingKey: "u1", email: "ana@example.com" }, (r) => r.json.reason === "DISABLED");
    expect(killed.json).toMatchObject({ value: "grid", variant: "control" });
  });

  it("bulk evaluation answers every rule's variant too", async () => {
    const key = uniqueKey("layout-bulk");
    await putFlag(threeWay(key));
    await evaluateUntil(key, { targetingKey: "u" }, (r) => r.status === 200);
    const response = await call("POST", "/ofrep/v1/evaluate/flags", { body: { context: { targetingKey: "u", groups: ["staff"] } }, headers: {} });
    const flag = response.json.flags.find((f: { key: string }) => f.key === key);
    expect(flag).toMatchObject({ value: "cards", variant: "cards", reason: "TARGETING_MATCH" });
  });

  it("counts only the rollout's cohort: rule-served users are no exposures of either arm", async () => {
    const key = uniqueKey("ranker-rules");
    await putFlag({
      key,
      type: "string",
      variants: { baseline: "v1", candidate: "v2" },
      rules: [{ name: "beta", when: { attribute: "beta", op: "equals", value: true }, serve: { variant: "candidate" } }],
      rollout: { stages: [{ weight: 50 }, { weight: 100 }] },
    });
    const beta = await evaluateUntil(key, { targetingKey: "b1", beta: true }, (r) => r.status === 200);
    expect(beta.json).toMatchObject({ variant: "candidate", reason: "TARGETING_MATCH" });
    expect(beta.json.metadata.assignment).toBeUndefined();
    const rolled = await evaluate(key, { targetingKey: "b1" });
    expect(rolled.json.reason).toBe("SPLIT");
    expect(rolled.json.metadata.assignment).toMatch(/^1\.0\.[bc]$/);
  });

  it("walks a rollout on one rule's cohort through two stages while other rules keep their users, then a schedule kills it within the propagation bound", async () => {
    const key = uniqueKey("cohort-rollout");
    await putFlag({
      key,
      type: "string",
      variants: { baseline: "ranker-v1", candidate: "ranker-v2", legacy: "ranker-v0" },
      rules: [
        { name: "enterprise", when: { attribute: "plan", op: "equals", value: "enterprise" }, serve: { variant: "legacy" } },
        { name: "beta", when: { attribute: "groups", op: "contains", value: "beta" }, serve: "rollout" },
        { name: "everyone-else", serve: { variant: "baseline" } },
      ],
      rollout: { stages: [{ weight: 20 }, { weight: 60 }, { weight: 100 }] },
    });
    const beta = (i: number) => ({ targetingKey: `beta-${i}`, groups: ["beta"] });
    const others = [{ targetingKey: "ent-1", plan: "enterprise", groups: ["beta"] }, { targetingKey: "free-1", plan: "free" }];
    await evaluateUntil(key, beta(0), (r) => r.status === 200);
    const armsAt = async (stage: number) => {
      const arms = new Map<number, string>();
      for (let i = 0; i < 80; i++) {
        const r = await evaluate(key, beta(i));
        expect(r.json).toMatchObject({ reason: "SPLIT", metadata: { stage, assignment: expect.stringMatching(new RegExp(`^1\\.${stage}\\.[bc]$`)) } });
        arms.set(i, r.json.variant);
      }
      expect((await evaluate(key, others[0]!)).json).toMatchObject({ variant: "legacy", reason: "TARGETING_MATCH", metadata: { rule: "enterprise" } });
      expect((await evaluate(key, others[1]!)).json).toMatchObject({ variant: "baseline", reason: "TARGETING_MATCH", metadata: { rule: "everyone-else" } });
      return arms;
    };
    const first = await armsAt(0);
    const candidatesFirst = [...first].filter(([, v]) => v === "candidate").map(([i]) => i);
    expect(candidatesFirst.length).toBeGreaterThan(4);
    expect(candidatesFirst.length).toBeLessThan(30);

    expect((await call("POST", `/admin/flags/${key}/actions`, { body: { action: "promote", reason: "stage 1 healthy" } })).status).toBe(200);
    await evaluateUntil(key, beta(0), (r) => r.json.metadata?.stage === 1);
    const second = await armsAt(1);
    // Sticky as the weight rises: every candidate stays one, and more join.
    for (const i of candidatesFirst) expect(second.get(i)).toBe("candidate");
    expect([...second.values()].filter((v) => v === "candidate").length).toBeGreaterThan(candidatesFirst.length);

    const at = Date.now() + 3_600_000;
    expect((await call("POST", `/admin/flags/${key}/schedules`, { body: { at: new Date(at).toISOString(), action: "kill", reason: "experiment cutoff" } })).status).toBe(201);
    await cronAt(at - 60_000);
    expect((await evaluate(key, beta(candidatesFirst[0]!))).json.variant).toBe("candidate");
    await cronAt(at + 1_000);
    const killedAt = Date.now();
    const served = await evaluateUntil(key, beta(candidatesFirst[0]!), (r) => r.json.reason === "DISABLED");
    expect(Date.now() - killedAt).toBeLessThanOrEqual(PROPAGATION_MS);
    expect(served.json).toMatchObject({ variant: "baseline", value: "ranker-v1" });
    expect((await evaluate(key, others[0]!)).json).toMatchObject({ variant: "baseline", reason: "DISABLED" });
  });

  it("refuses a rule naming an unknown variant with the path, and changes nothing", async () => {
    const key = uniqueKey("layout-bad");
    const bad = threeWay(key);
    bad.rules[2] = { name: "experiment", serve: { split: [{ variant: "control", weight: 50 }, { variant: "tiles", weight: 50 }] } };
    const refused = await call("PUT", `/admin/flags/${key}`, { body: bad });
    expect(refused.status).toBe(400);
    expect(refused.json.issues).toContainEqual(expect.objectContaining({ path: "rules[2].serve.split[1].variant", message: expect.stringContaining('unknown variant "tiles"') }));
    expect((await call("GET", `/admin/flags/${key}`)).status).toBe(404);
    // A variant named __proto__ never reaches a schema: the document is refused where the key stands.
    const proto = await call("PUT", `/admin/flags/${key}`, { raw: JSON.stringify(threeWay(key)).replace('"list":"list"', '"__proto__":"list"'), type: "application/json" });
    expect(proto.status).toBe(400);
    expect(proto.json.message).toContain('keys named "__proto__" are not accepted');
  });
});
