import { describe, expect, it } from "vitest";
import { applyAction, reconfigure, servedWeight, type Action, type RolloutState } from "../../core/rollout";
import { specOf, stateOf } from "./fixtures";

const spec = specOf();
const stages = spec.rollout.stages;

function act(state: RolloutState, action: Action, variant?: "baseline" | "candidate") {
  const result = applyAction(state, stages, { action, variant }, 1000);
  if (!result.ok) throw new Error(result.message);
  return result.state;
}

describe("rollout state machine", () => {
  it("starts in shadow when the first stage is a shadow stage", () => {
    expect(stateOf(spec)).toMatchObject({ status: "shadow", stageIndex: 0, generation: 1 });
  });

  it("promotes stage by stage and completes at 100%", () => {
    let s = stateOf(spec);
    s = act(s, "promote");
    expect(s).toMatchObject({ status: "ramping", stageIndex: 1, version: 2, stageEnteredAt: 1000 });
    s = act(act(s, "promote"), "promote");
    expect(s).toMatchObject({ status: "completed", stageIndex: 3 });
    expect(servedWeight(s, stages)).toEqual({ weightBp: 10_000, shadow: false });
    expect(applyAction(s, stages, { action: "promote" }, 0)).toMatchObject({ ok: false, code: "invalid_transition" });
  });

  it("demotes to the first weighted stage", () => {
    const s = act(stateOf(spec, { status: "ramping", stageIndex: 2 }), "demote");
    expect(s).toMatchObject({ status: "ramping", stageIndex: 1 });
    expect(applyAction(s, stages, { action: "demote" }, 0)).toMatchObject({ ok: false, message: "already at the first weighted stage" });
  });

  it("pauses and resumes to where it was", () => {
    const paused = act(stateOf(spec, { status: "ramping", stageIndex: 2 }), "pause");
    expect(paused).toMatchObject({ status: "paused", pausedFrom: "ramping" });
    expect(applyAction(paused, stages, { action: "promote" }, 0)).toMatchObject({ ok: false, message: expect.stringContaining("cannot promote a paused rollout") });
    expect(act(paused, "resume")).toMatchObject({ status: "ramping", stageIndex: 2, pausedFrom: null });
  });

  it("kills from any live state and unkills back to it", () => {
    for (const status of ["shadow", "ramping", "paused", "completed"] as const) {
      const before = stateOf(spec, { status, stageIndex: status === "shadow" ? 0 : 2, pausedFrom: status === "paused" ? "ramping" : null });
      const killed = act(before, "kill");
      expect(killed.status).toBe("killed");
      expect(servedWeight(killed, stages).weightBp).toBe(0);
      expect(act(killed, "unkill")).toMatchObject({ status, stageIndex: before.stageIndex, pausedFrom: before.pausedFrom });
    }
  });

  it("rolls back to 0% and starts a new generation on resume", () => {
    const rolled = act(stateOf(spec, { status: "ramping", stageIndex: 2 }), "rollback");
    expect(rolled.status).toBe("rolled_back");
    expect(servedWeight(rolled, stages).weightBp).toBe(0);
    expect(applyAction(rolled, stages, { action: "promote" }, 0).ok).toBe(false);
    expect(applyAction(rolled, stages, { action: "kill" }, 0).ok).toBe(false);
    expect(act(rolled, "resume")).toMatchObject({ status: "shadow", stageIndex: 0, generation: 2 });
  });

  it("forces a variant in any state and needs the variant named", () => {
    const killed = act(stateOf(spec), "kill");
    expect(act(killed, "force", "candidate").forced).toBe("candidate");
    expect(applyAction(killed, stages, { action: "force" }, 0)).toMatchObject({ ok: false, code: "invalid_request" });
    expect(applyAction(killed, stages, { action: "unforce" }, 0)).toMatchObject({ ok: false, message: "the flag is not forced" });
    expect(act(act(killed, "force", "baseline"), "unforce").forced).toBeNull();
  });

  it("starts a new generation when the candidate changes, and keeps the stage otherwise", () => {
    const s = stateOf(spec, { status: "ramping", stageIndex: 2, version: 5 });
    expect(reconfigure(s, stages, true, 9)).toMatchObject({ status: "shadow", stageIndex: 0, generation: 2, version: 6 });
    expect(reconfigure(s, stages, false, 9)).toMatchObject({ status: "ramping", stageIndex: 2, generation: 1, version: 6 });
    const shorter = specOf({ rollout: { stages: [{ weight: 10 }, { weight: 100 }] } }).rollout.stages;
    expect(reconfigure(s, shorter, false, 9)).toMatchObject({ status: "completed", stageIndex: 1 });
  });
});

describe("actions by flag kind", () => {
  const stages = [{ weight: 100, shadow: false }];
  it("lets a kill switch only flip, and a guard only stop and restart", () => {
    const state = stateOf(specOf(), { status: "completed", stageIndex: 0 });
    expect(applyAction(state, stages, { action: "promote" }, 1, "kill_switch")).toMatchObject({ ok: false, message: expect.stringContaining("only kill and unkill apply") });
    expect(applyAction(state, stages, { action: "kill" }, 1, "kill_switch")).toMatchObject({ ok: true, state: { status: "killed" } });
    expect(applyAction(state, stages, { action: "rollback" }, 1, "guard")).toMatchObject({ ok: false });
    expect(applyAction(state, stages, { action: "force", variant: "baseline" }, 1, "guard")).toMatchObject({ ok: true, state: { forced: "baseline" } });
    // A rollout keeps its own rules.
    expect(applyAction(state, stages, { action: "rollback" }, 1)).toMatchObject({ ok: true, state: { status: "rolled_back" } });
  });
});
