import { SELF, env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { flagStub } from "../../durable-objects/flag/stub";
import { booleanSpec, evaluate, evaluateUntil, putFlag, sleep, uniqueKey } from "./helpers";

describe("served exposures", () => {
  it("single evaluations are counted per arm and reach the FlagDO in batched flushes", async () => {
    const key = uniqueKey("exposed");
    await putFlag(booleanSpec(key));
    const warmUp = await evaluateUntil(key, { targetingKey: "warm-up" }, (r) => r.status === 200);
    const results = [warmUp];
    for (let i = 0; i < 120; i++) results.push(await evaluate(key, { targetingKey: `user-${i}` }));
    const served = { baseline: 0, candidate: 0 };
    for (const r of [...results]) served[r.json.variant as "baseline" | "candidate"]++;
    // FLUSH_MS in tests is 200 ms: wait for the delayed flush, bounded.
    const deadline = Date.now() + 5_000;
    let counted = { baseline: 0, candidate: 0 };
    while (Date.now() < deadline) {
      const report = await flagStub(env, key).compareReport(0, Date.now() + 3_600_000);
      counted = { baseline: report?.arms.baseline.exposures ?? 0, candidate: report?.arms.candidate.exposures ?? 0 };
      if (counted.baseline + counted.candidate >= results.length) break;
      await sleep(50);
    }
    // Exactly what was served, arm by arm (404s while the flag propagated count nothing).
    expect(counted).toEqual(served);
    const stats = await flagStub(env, key).storageStats();
    expect(stats.counterRows).toBeGreaterThan(0);
  });

  it("bulk evaluations count no exposure", async () => {
    const key = uniqueKey("bulk-only");
    await putFlag(booleanSpec(key, [{ weight: 0, shadow: true }, { weight: 100 }]));
    await evaluateUntil(key, {}, (r) => r.status === 200);
    await sleep(300); // let the warm-up's flush land
    const before = (await flagStub(env, key).compareReport(0, Date.now() + 3_600_000))?.arms.baseline.exposures ?? 0;
    for (let i = 0; i < 20; i++) await SELF.fetch("https://rampart.test/ofrep/v1/evaluate/flags", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
    await sleep(400);
    const after = (await flagStub(env, key).compareReport(0, Date.now() + 3_600_000))?.arms.baseline.exposures ?? 0;
    expect(after).toBe(before);
  });
});
