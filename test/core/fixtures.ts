/** Builders for core tests: a spec, a state, a compiled flag. */
import { compileFlag, type CompiledFlag } from "../../core/assign";
import { FlagSpecSchema, type FlagSpec, type FlagSpecInput } from "../../core/manifest";
import { initialState, type RolloutState } from "../../core/rollout";
import { snapshotFlagOf } from "../../core/snapshot";

export function specOf(overrides: Partial<FlagSpecInput> = {}): FlagSpec {
  return FlagSpecSchema.parse({
    key: "ranker",
    type: "string",
    variants: { baseline: "v1", candidate: "v2" },
    pins: { baseline: { MODEL_VER: "m1" }, candidate: { MODEL_VER: "m2", INDEX_HASH: "b7f3" } },
    rollout: { stages: [{ weight: 0, shadow: true }, { weight: 10 }, { weight: 50 }, { weight: 100 }] },
    ...overrides,
  });
}

export function stateOf(spec: FlagSpec, patch: Partial<RolloutState> = {}): RolloutState {
  return { ...initialState(spec.rollout.stages, 1, 1, 0), ...patch };
}

export function compiled(spec: FlagSpec, patch: Partial<RolloutState> = {}, configVersion = 7): CompiledFlag {
  return compileFlag(snapshotFlagOf(spec, stateOf(spec, patch), 1), configVersion);
}
