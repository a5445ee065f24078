import { describe, expect, it } from "vitest";
import { runOnce, runSeed, SCENARIOS, type RunResult } from "../../scripts/lib/gate-simulation";

/** A small seeded slice of `npm run simulate`: the judge on realistic traffic, against the suite's targets. */
function runs(id: string, n: number): RunResult[] {
  const scenario = SCENARIOS.find((s) => s.id === id);
  if (!scenario) throw new Error(`no scenario ${id}`);
  return Array.from({ length: n }, (_, r) => runOnce(scenario, runSeed(7, scenario, r)));
}
const count = (results: RunResult[], f: (r: RunResult) => boolean) => results.filter(f).length;

describe("gate simulation slice (seeded)", () => {
  it("A/A with users who return 20 times: no false SRM hold, no kill, rare false rollbacks over 24 h", () => {
    const results = runs("aa-20-5k", 24);
    expect(count(results, (r) => r.srmHeld)).toBe(0);
    expect(count(results, (r) => r.outcome === "killed")).toBe(0);
    expect(count(results, (r) => r.outcome === "rolled_back")).toBeLessThanOrEqual(2);
  }, 60_000);

  it("a 10% CTR drop at 50k/h is never shipped and is rolled back by the 50% stage", () => {
    const results = runs("drop10-50k", 12);
    expect(count(results, (r) => r.outcome === "completed")).toBe(0);
    expect(count(results, (r) => r.outcome === "rolled_back" && r.stage <= 1)).toBe(12);
  }, 60_000);

  it("the demo's −30% candidate is rolled back in its first stage; the healthy one completes", () => {
    expect(count(runs("demo-regress", 12), (r) => r.outcome === "rolled_back" && r.stage === 0)).toBe(12);
    expect(count(runs("demo-healthy", 12), (r) => r.outcome === "completed")).toBeGreaterThanOrEqual(11);
  }, 60_000);

  it("an abort rule without `sustained` at 80% of its level does not kill over the rollout and a day after", () => {
    expect(count(runs("abort-1k", 12), (r) => r.outcome === "killed")).toBe(0);
  }, 60_000);

  it("a guard whose error rate sits exactly at its bound never falls back; one whose rate doubles falls back within the hour", () => {
    expect(count(runs("guard-aa-5k", 24), (r) => r.outcome === "fell_back")).toBe(0);
    expect(count(runs("guard-spike-50k", 12), (r) => r.outcome === "fell_back" && r.minutes <= 60)).toBe(12);
  }, 60_000);
});
