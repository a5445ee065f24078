/** The Worker binding (RampartFlags): Flagship's methods over Rampart's evaluation, exposures counted as for OFREP. */
import { createExecutionContext, env, waitOnExecutionContext } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { RampartFlags } from "../../worker/binding";
import { booleanSpec, call, evaluateUntil, putFlag, uniqueKey } from "./helpers";

describe("Worker binding", () => {
  it("evaluates like OFREP with Flagship's method shapes, falls back to the default on errors, and counts exposures", async () => {
    const key = uniqueKey("bound");
    await putFlag({ ...booleanSpec(key, [{ weight: 50 }, { weight: 100 }]) });
    const text = uniqueKey("bound-text");
    await putFlag({ key: text, type: "string", variants: { baseline: "v1", candidate: "v2" }, rollout: { stages: [{ weight: 100 }] } });
    await evaluateUntil(text, { targetingKey: "u" }, (r) => r.status === 200);

    const ctx = createExecutionContext();
    const flags = new RampartFlags(ctx, env);
    const users = Array.from({ length: 40 }, (_, i) => `user-${i}`);
    const served: boolean[] = [];
    for (const user of users) {
      const details = await flags.getBooleanDetails(key, false, { targetingKey: user });
      const ofrep = (await call("POST", `/ofrep/v1/evaluate/flags/${key}`, { body: { context: { targetingKey: user } } })).json;
      // The same answer OFREP gives, in Flagship's detail shape.
      expect(details).toEqual({ flagKey: key, value: ofrep.value, variant: ofrep.variant, reason: "SPLIT" });
      served.push(details.value);
    }
    expect(new Set(served)).toEqual(new Set([true, false]));
    expect(await flags.getStringValue(text, "fallback", { targetingKey: "u" })).toBe("v2");
    expect(await flags.get(text, null, { targetingKey: "u" })).toBe("v2");

    // Never throws: a missing flag, a wrong type or a missing targeting key give the default, and the details say why.
    expect(await flags.getBooleanDetails("no-such-flag", true, { targetingKey: "u" })).toMatchObject({ value: true, errorCode: "FLAG_NOT_FOUND" });
    expect(await flags.getNumberDetails(text, 7, { targetingKey: "u" })).toMatchObject({ value: 7, errorCode: "TYPE_MISMATCH" });
    expect(await flags.getBooleanDetails(key, true)).toMatchObject({ value: true, errorCode: "TARGETING_KEY_MISSING" });
    expect(await flags.getObjectValue(text, { fallback: 1 })).toEqual({ fallback: 1 });
    // A context attribute named like a prototype key is data, not a prototype.
    const hostile = JSON.parse('{"targetingKey":"user-1","__proto__":"x","constructor":"y"}') as Record<string, string>;
    expect(Object.keys(hostile)).toContain("__proto__");
    expect(await flags.getBooleanDetails(key, false, hostile)).toEqual(await flags.getBooleanDetails(key, false, { targetingKey: "user-1" }));

    // Exposures: each binding evaluation of the split flag counts, like each OFREP evaluation does.
    // 42 binding evaluations of the split flag that served (40 users, the hostile context and its plain twin) and 40 OFREP ones: 82 exposures
    // reach its counters (errors count none; flushed in the background, so a bounded wait).
    await waitOnExecutionContext(ctx);
    let exposures = 0;
    for (let attempt = 0; attempt < 40 && exposures < 82; attempt++) {
      await new Promise((r) => setTimeout(r, 100));
      const report = (await call("GET", `/admin/flags/${key}/report`)).json;
      exposures = report.arms.baseline.exposures + report.arms.candidate.exposures;
    }
    expect(exposures).toBe(82);
  });
});
