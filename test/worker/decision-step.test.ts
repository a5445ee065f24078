/**
 * The FlagDO and the gate simulation choose the next state with the same
 * core step (`applyDecision`): a promotion judged by the cron, replayed
 * from its logged inputs through the core judge and that step, lands on
 * the very state the FlagDO recorded.
 */
import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { minuteOf } from "../../core/counters";
import { applyDecision } from "../../core/decision-step";
import { JudgementInputsSchema, judgeRollout } from "../../core/gates";
import { flagStub } from "../../durable-objects/flag/stub";
import { call, cronAt, ctrRolloutSpec, minuteBatch, putFlag, uniqueKey } from "./helpers";

describe("one decision step", () => {
  it("the cron's promotion is what the core judge and applyDecision make of its logged inputs", async () => {
    const key = uniqueKey("step");
    const created = await putFlag(ctrRolloutSpec(key));
    const start = created.state.stageEnteredAt as number;
    const stub = flagStub(env, key);
    for (let m = 1; m <= 8; m++) {
      await stub.addCounts(minuteBatch(1, 0, minuteOf(start) + m - 1, { baseline: [40_000, 2_000], candidate: [40_000, 2_000] }));
      await cronAt(start + m * 60_000 + 1_000);
    }
    const log = (await call("GET", `/admin/flags/${key}/decisions?limit=50&inputs=true`)).json.decisions as { source: string; action: string; to: { status: string; stage: number }; inputs?: unknown }[];
    const moved = log.find((d) => d.source === "cron" && d.action === "complete");
    expect(moved).toBeDefined();
    const inputs = JudgementInputsSchema.parse(moved?.inputs);
    const decision = judgeRollout(inputs);
    expect(decision.action).toBe("complete");
    const step = applyDecision(inputs.state, inputs.spec.rollout.stages, decision, inputs.now);
    expect(step.changed).toBe(true);
    expect({ status: step.state.status, stage: step.state.stageIndex }).toEqual(moved?.to);
    const stored = (await call("GET", `/admin/flags/${key}`)).json.state as Record<string, unknown>;
    expect(stored).toMatchObject({ status: step.state.status, stageIndex: step.state.stageIndex, generation: step.state.generation, version: step.state.version, stageEnteredAt: step.state.stageEnteredAt });
  }, 60_000);
});
