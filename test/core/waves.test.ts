/** Region waves: where a request goes, and how waves move one another (`core/waves.ts`). */
import { describe, expect, it } from "vitest";
import type { RolloutState } from "../../core/rollout";
import { compileWaves, leadingWave, nextWaveSteps, regionOf, waveIndexOf, WavesSchema, waveNamingRegion } from "../../core/waves";

const state = (status: RolloutState["status"], generation = 1): RolloutState => ({ status, stageIndex: 0, generation, version: 1, forced: null, pausedFrom: null, killedFrom: null, stageEnteredAt: 0, updatedAt: 0 });

describe("placing a request in a wave", () => {
  const waves = compileWaves(WavesSchema.parse({ order: [["us-east-1"], ["eu-west-1", "rest"], ["ap-south-1"]], regionFromEdge: "continent", regionMap: JSON.parse('{"NA": "us-east-1", "__proto__": "ap-south-1"}') as unknown }));

  it("takes the context's region first, then the edge location renamed by the map, else the rest wave", () => {
    expect(waveIndexOf(waves, regionOf(waves, { region: "ap-south-1" }, { continent: "NA" }))).toBe(2);
    expect(waveIndexOf(waves, regionOf(waves, {}, { continent: "NA" }))).toBe(0);
    expect(waveIndexOf(waves, regionOf(waves, {}, { continent: "EU" }))).toBe(1);
    expect(waveIndexOf(waves, regionOf(waves, {}, null))).toBe(1);
    expect(waveIndexOf(waves, regionOf(waves, { region: "" }, null))).toBe(1);
    // A map key such as __proto__ is a region name like any other, not the map's prototype.
    expect(regionOf(waves, {}, { continent: "__proto__" })).toBe("ap-south-1");
    expect(regionOf(waves, {}, { continent: "constructor" })).toBe("constructor");
  });

  it("ignores the edge unless the spec asks for it", () => {
    const contextOnly = compileWaves(WavesSchema.parse([["us-east-1"], ["rest"]]));
    expect(regionOf(contextOnly, {}, { continent: "NA", colo: "IAD" })).toBeNull();
  });

  it("finds the wave an operator names by region, and nothing for a region no wave names", () => {
    const spec = WavesSchema.parse([["us-east-1"], ["rest"]]);
    expect(waveNamingRegion(spec, "rest")).toBe(2);
    expect(waveNamingRegion(spec, "mars-1")).toBeNull();
  });
});

describe("waves moving one another", () => {
  it("starts the next waiting wave when one completes, at its generation", () => {
    expect(nextWaveSteps([state("completed", 3), state("waiting", 1), state("waiting", 1)], 0, "ramping", "stop")).toEqual([
      { wave: 2, action: "start", generation: 3, reason: "wave 1 completed" },
    ]);
    // Nothing to start while the wave before is still ramping.
    expect(nextWaveSteps([state("ramping"), state("waiting")], 0, "shadow", "stop")).toEqual([]);
  });

  it("stops the waves after a regression, and rolls back earlier ones only with rollback_all", () => {
    const states = [state("completed"), state("rolled_back"), state("waiting")];
    expect(nextWaveSteps(states, 1, "ramping", "stop")).toEqual([]);
    expect(nextWaveSteps(states, 1, "ramping", "rollback_all")).toEqual([{ wave: 1, action: "rollback", reason: "wave 2 rolled back (onRegression: rollback_all)" }]);
    // A completed wave killed later by an abort rule: the started wave after it rolls back.
    expect(nextWaveSteps([state("killed"), state("ramping")], 0, "completed", "stop")).toEqual([{ wave: 2, action: "rollback", reason: "wave 1 was killed: the waves after it stop" }]);
    // Only the change into a regression moves the others: a wave already rolled back that changes again does not.
    expect(nextWaveSteps([state("ramping"), state("rolled_back")], 1, "rolled_back", "rollback_all")).toEqual([]);
  });

  it("lets the first unfinished wave speak for the flag", () => {
    expect(leadingWave([state("completed"), state("ramping"), state("waiting")])).toBe(1);
    expect(leadingWave([state("completed"), state("completed")])).toBe(1);
    expect(leadingWave([state("shadow"), state("waiting")])).toBe(0);
  });
});
