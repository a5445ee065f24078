import { describe, expect, it } from "vitest";
import { runOnce, runSeed, SCENARIOS, type RunResult } from "../../scripts/lib/gate-simulation";

/** A smaller, seeded version of `npm run simulate`: the cron's decisions against the targets. */
function runs(id: string, n: number): RunResult[] {
  const scenario = SCENARIOS.find((s) => s.id === id);
  if (!scenario) throw new Error(`no scenario ${id}`);
  return Array.from({ length: n }, (_, r) => runOnce(scenario, runSeed(2, scenario, r)));
}
const share = (results: RunResult[], f: (r: RunResult) => boolean) => results.filter(f).length / results.length;

describe("gate simulation (feed-ranker, 100 seeded runs per scenario)", () => {
  it("A/A: completes within 12 h, rarely rolls back, never kills, no false SRM holds", () => {
    const results = runs("a", 100);
    expect(share(results, (r) => r.outcome === "completed")).toBeGreaterThanOrEqual(0.9);
    expect(share(results, (r) => r.outcome === "rolled_back")).toBeLessThanOrEqual(0.05);
    expect(share(results, (r) => r.outcome === "killed")).toBeLessThanOrEqual(0.01);
    expect(share(results, (r) => r.srmHeld)).toBeLessThanOrEqual(0.05);
  });

  it("a true 10% CTR drop is rolled back before the candidate passes 50%", () => {
    const results = runs("b", 100);
    expect(share(results, (r) => r.outcome === "rolled_back" && r.maxWeight <= 50)).toBeGreaterThanOrEqual(0.95);
  });

  it("losing 10% of candidate exposures holds the rollout for SRM", () => {
    expect(share(runs("d", 100), (r) => r.srmHeld)).toBeGreaterThanOrEqual(0.95);
  });
});
