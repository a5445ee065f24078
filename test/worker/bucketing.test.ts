/** A flag moved from another system keeps every user in the arm they had: the mode travels to the edge. */
import { describe, expect, it } from "vitest";
import { BucketingSchema, candidateTest } from "../../core/bucketing-modes";
import { booleanSpec, call, evaluateUntil, putFlag, uniqueKey } from "./helpers";

describe("bucketing modes", () => {
  it("serves each user the arm the vendor rule gives (unleash), and a mode change starts a new generation", async () => {
    const key = uniqueKey("moved");
    const spec = { ...booleanSpec(key, [{ weight: 30 }, { weight: 100 }]), bucketing: { mode: "unleash", seed: "search-v2" } };
    await putFlag(spec);
    const rule = candidateTest(key, BucketingSchema.parse(spec.bucketing));
    expect(rule).not.toBeNull();
    let candidates = 0;
    for (let i = 0; i < 60; i++) {
      const user = `user-${i}`;
      const served = await evaluateUntil(key, { targetingKey: user }, (r) => r.status === 200);
      const expected = rule?.(user, 3000) ? "candidate" : "baseline";
      expect(served.json.variant, user).toBe(expected);
      if (expected === "candidate") candidates++;
    }
    // Not a degenerate split: both arms were served.
    expect(candidates).toBeGreaterThan(5);
    expect(candidates).toBeLessThan(55);

    const changed = await call("PUT", `/admin/flags/${key}`, { body: { ...spec, bucketing: { mode: "growthbook" } } });
    expect(changed.status).toBe(200);
    expect(changed.json.state.generation).toBe(2);
  });

  it("refuses a vendor mode it cannot reproduce, naming the field, and changes nothing", async () => {
    const key = uniqueKey("bad-mode");
    const fractional = await call("PUT", `/admin/flags/${key}`, { body: { ...booleanSpec(key, [{ weight: 12.5 }, { weight: 100 }]), bucketing: { mode: "unleash" } } });
    expect(fractional.status).toBe(400);
    expect(fractional.json.issues).toContainEqual({ path: "rollout.stages[0].weight", message: "bucketing mode unleash splits by whole percents: use an integer weight" });
    const unsalted = await call("PUT", `/admin/flags/${key}`, { body: { ...booleanSpec(key), bucketing: { mode: "launchdarkly" } } });
    expect(unsalted.status).toBe(400);
    expect(unsalted.json.issues[0].path).toBe("bucketing.seed");
    const unknown = await call("PUT", `/admin/flags/${key}`, { body: { ...booleanSpec(key), bucketing: { mode: "optimizely" } } });
    expect(unknown.status).toBe(400);
    expect(unknown.json.issues[0].path).toBe("bucketing.mode");
    expect((await call("GET", `/admin/flags/${key}`)).status).toBe(404);
  });
});
