import { describe, expect, it } from "vitest";
import { assign, type Assignment } from "../../core/assign";
import { compiled, specOf } from "./fixtures";

function served(a: Assignment) {
  if (!a.ok) throw new Error(`expected a served value, got ${a.errorCode}`);
  if (a.codeDefault) throw new Error(`expected a served value, got the code default (${a.reason})`);
  return a;
}

describe("assign", () => {
  const spec = specOf();

  it("splits a ramping stage by bucket, with reason SPLIT, metadata and pins", () => {
    const flag = compiled(spec, { status: "ramping", stageIndex: 1 });
    const results = Array.from({ length: 2000 }, (_, i) => served(assign(flag, { targetingKey: `user-${i}` })));
    const candidates = results.filter((r) => r.arm === "candidate");
    expect(candidates.length / results.length).toBeGreaterThan(0.08);
    expect(candidates.length / results.length).toBeLessThan(0.12);
    const one = candidates[0]!;
    expect(one).toMatchObject({ reason: "SPLIT", variant: "candidate", value: "v2" });
    expect(one.bucket).toBeLessThan(1000);
    expect(one.metadata).toEqual({
      arm: "candidate",
      status: "ramping",
      stage: 1,
      weight: 10,
      generation: 1,
      configVersion: 7,
      assignment: "1.1.c",
      "pin.MODEL_VER": "m2",
      "pin.INDEX_HASH": "b7f3",
    });
    expect(results.find((r) => r.arm === "baseline")?.metadata["pin.MODEL_VER"]).toBe("m1");
  });

  it("gives the same key the same arm every time", () => {
    const flag = compiled(spec, { status: "ramping", stageIndex: 2 });
    const first = served(assign(flag, { targetingKey: "sticky" }));
    for (let i = 0; i < 10; i++) expect(served(assign(flag, { targetingKey: "sticky" })).arm).toBe(first.arm);
  });

  it("serves the baseline to everyone in a shadow stage, STATIC and marked shadow, with no key needed", () => {
    const flag = compiled(spec);
    const a = served(assign(flag, {}));
    expect(a).toMatchObject({ arm: "baseline", value: "v1", reason: "STATIC", bucket: null });
    expect(a.metadata["shadow"]).toBe(true);
  });

  it("asks for a targeting key only when the stage splits", () => {
    const splitting = compiled(spec, { status: "ramping", stageIndex: 1 });
    expect(assign(splitting, {})).toMatchObject({ ok: false, errorCode: "TARGETING_KEY_MISSING" });
    expect(assign(splitting, { targetingKey: "" })).toMatchObject({ ok: false, errorCode: "TARGETING_KEY_MISSING" });
    expect(assign(splitting, { targetingKey: { id: 1 } })).toMatchObject({ ok: false, errorCode: "INVALID_CONTEXT" });
    expect(served(assign(compiled(spec, { status: "completed", stageIndex: 3 }), {}))).toMatchObject({ arm: "candidate", reason: "STATIC" });
  });

  it("hashes the configured stickiness attribute instead of the targeting key", () => {
    const bySession = specOf({ stickiness: "sessionId" });
    const flag = compiled(bySession, { status: "ramping", stageIndex: 2 });
    expect(assign(flag, { targetingKey: "u1" })).toMatchObject({ ok: false, errorCode: "TARGETING_KEY_MISSING" });
    const a = served(assign(flag, { targetingKey: "u1", sessionId: "s-9" }));
    const b = served(assign(flag, { targetingKey: "other", sessionId: "s-9" }));
    expect(a.bucket).toBe(b.bucket);
  });

  it("serves the baseline with DISABLED when killed, whatever else is set", () => {
    const flag = compiled(spec, { status: "killed", stageIndex: 3, forced: "candidate", killedFrom: "completed" });
    for (let i = 0; i < 50; i++) expect(served(assign(flag, { targetingKey: `u${i}` }))).toMatchObject({ arm: "baseline", reason: "DISABLED" });
  });

  it("serves a forced variant to everyone in scope, STATIC with forced metadata", () => {
    const flag = compiled(spec, { status: "ramping", stageIndex: 1, forced: "candidate" });
    const a = served(assign(flag, { targetingKey: "anyone" }));
    expect(a).toMatchObject({ arm: "candidate", reason: "STATIC" });
    expect(a.metadata["forced"]).toBe(true);
  });

  it("serves the baseline with DEFAULT outside the scope, and splits inside it", () => {
    const scoped = specOf({
      scope: { tenants: ["acme"], regions: ["us"], rules: [{ attribute: "plan", op: "in", values: ["pro"] }] },
    });
    const flag = compiled(scoped, { status: "completed", stageIndex: 3 });
    const inside = { targetingKey: "u", tenant: "acme", region: "us", plan: "pro" };
    expect(served(assign(flag, inside))).toMatchObject({ arm: "candidate", reason: "STATIC" });
    expect(served(assign(flag, { ...inside, tenant: "globex" }))).toMatchObject({ arm: "baseline", reason: "DEFAULT" });
    expect(served(assign(flag, { ...inside, plan: "free" }))).toMatchObject({ arm: "baseline", reason: "DEFAULT" });
    const { region: _omit, ...noRegion } = inside;
    expect(served(assign(flag, noRegion))).toMatchObject({ reason: "DEFAULT" });
    const anyTenant = compiled(specOf({ scope: { tenants: ["all"] } }), { status: "completed", stageIndex: 3 });
    expect(served(assign(anyTenant, { tenant: "whoever" })).reason).toBe("STATIC");
  });

  it("serves the baseline, STATIC, after a rollback", () => {
    expect(served(assign(compiled(spec, { status: "rolled_back", stageIndex: 2 }), { targetingKey: "u" }))).toMatchObject({
      arm: "baseline",
      reason: "STATIC",
    });
  });

  it("keeps serving what the paused stage served", () => {
    const flag = compiled(spec, { status: "paused", stageIndex: 2, pausedFrom: "ramping" });
    expect(served(assign(flag, { targetingKey: "u1" })).reason).toBe("SPLIT");
    expect(served(assign(flag, { targetingKey: "u1" })).metadata["weight"]).toBe(50);
  });
});
