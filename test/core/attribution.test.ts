/** Crediting events without a token: replayed only where the flag's own spec decides the assignment. */
import { describe, expect, it } from "vitest";
import { attribute, type FlagHistory } from "../../core/attribution";
import type { FlagSpec } from "../../core/manifest";
import { specOf, stateOf } from "./fixtures";

const history = (spec: FlagSpec): FlagHistory => ({ stateAt: () => stateOf(spec, { status: "ramping", stageIndex: 1 }), specOf: () => spec });

describe("attribute", () => {
  it("replays the assignment of a flag whose rules use only the context", () => {
    const spec = specOf({ rules: [{ name: "beta", when: { attribute: "beta", op: "equals", value: true }, serve: { variant: "candidate" } }] });
    expect(attribute({ name: "click", targetingKey: "u1", context: { beta: true } }, 0, history(spec))).toEqual({ ok: false, reason: "not_in_rollout" });
    expect(attribute({ name: "click", targetingKey: "u1" }, 0, history(spec))).toMatchObject({ ok: true, generation: 1, stage: 1 });
  });

  it("asks for the token when the rules use a segment, rather than crediting a segment member to the rollout", () => {
    const spec = specOf({ rules: [{ name: "testers", when: { attribute: "targetingKey", op: "in_segment", value: "testers" }, serve: { variant: "candidate" } }] });
    expect(attribute({ name: "click", targetingKey: "u1" }, 0, history(spec))).toEqual({ ok: false, reason: "needs_assignment" });
    // With the token (or the variant) it counts as before.
    expect(attribute({ name: "click", targetingKey: "u1", assignment: "1.1.c" }, 0, history(spec))).toMatchObject({ ok: true, arm: "candidate", stage: 1 });
    expect(attribute({ name: "click", targetingKey: "u1", variant: "baseline" }, 0, history(spec))).toMatchObject({ ok: true, arm: "baseline" });
  });
});
