import { describe, expect, it } from "vitest";
import { emptyReplicated, REPLICATES, type Replicated } from "../../core/counters";
import { groupVariance, linearize, ratioEstimate, robustVariance, studentize } from "../../core/estimate";
import { addToHistogram } from "../../core/histogram";
import { Draws } from "../../scripts/lib/gate-simulation";

describe("random-groups variance (known values)", () => {
  it("a ratio of sums over groups: value, influences and R/(R−1)·Σe²", () => {
    const e = ratioEstimate([1, 2, 3, 4], [10, 10, 10, 10], () => 0);
    expect(e.value).toBe(0.25);
    e.influence.forEach((x, i) => expect(x).toBeCloseTo([-0.0375, -0.0125, 0.0125, 0.0375][i]!, 12));
    expect(groupVariance(e.influence)).toBeCloseTo((4 / 3) * 0.003125, 12);
  });

  it("Student t quantiles from normal ones (table values: t₃₁ 0.975 = 2.0395, 0.9995 = 3.6335; t₁₀ 0.975 = 2.2281)", () => {
    expect(studentize(1.959964, 31)).toBeCloseTo(2.0395, 3);
    expect(studentize(3.290527, 31)).toBeCloseTo(3.6335, 2);
    expect(studentize(1.959964, 10)).toBeCloseTo(2.2281, 2);
  });

  it("never reports less than the independent-observation variance", () => {
    const flat = ratioEstimate([5, 5, 5, 5], [100, 100, 100, 100], (p, n) => (p * (1 - p)) / n);
    expect(groupVariance(flat.influence)).toBe(0);
    expect(robustVariance(flat)).toBeCloseTo((0.05 * 0.95) / 400, 12);
  });
});

/** One arm of users: each with a geometric number of exposures, an own click rate (Beta(1,19)) and an own latency level. */
function users(draw: Draws, n: number, meanExposures: number): Replicated {
  const arm = emptyReplicated();
  for (let u = 0; u < n; u++) {
    const g = Math.floor(draw.uniform() * REPLICATES);
    const c = arm[g]!;
    const k = draw.geometric(meanExposures);
    const p = draw.beta(0.05, 20);
    const level = 100 * Math.exp(0.5 * draw.normal());
    for (let i = 0; i < k; i++) {
      c.exposures += 1;
      if (draw.uniform() < p) {
        const s = (c.events["click"] ??= { count: 0, sum: 0, sumSq: 0 });
        s.count += 1;
        s.sum += 1;
        s.sumSq += 1;
      }
      addToHistogram(c.latency, level * Math.exp(0.3 * draw.normal()));
    }
  }
  return arm;
}

describe("user-level variance by seeded simulation (users return 10 times on average)", () => {
  const defs = { ctr: { kind: "ratio" as const, numerator: ["click"], denominator: ["exposure"] } };
  const draw = new Draws(11);
  const estimates = { ctr: [] as number[], p95: [] as number[] };
  const robust = { ctr: [] as number[], p95: [] as number[] };
  const iid = { ctr: [] as number[], p95: [] as number[] };
  for (let rep = 0; rep < 300; rep++) {
    const arm = users(draw, 1500, 10);
    for (const [name, metric] of [["ctr", "ctr"], ["p95", "latency_p95"]] as const) {
      const e = linearize(metric, defs, arm);
      estimates[name].push(e.value!);
      robust[name].push(robustVariance(e));
      iid[name].push(e.iidVariance);
    }
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = (xs: number[]) => {
    const m = mean(xs);
    return xs.reduce((s, x) => s + (x - m) ** 2, 0) / (xs.length - 1);
  };

  // With 300 replications the empirical variance itself has a relative Monte Carlo error of about √(2/299) ≈ 8%.
  it("CTR: the group variance matches the true variance; treating exposures as independent understates it", () => {
    const truth = variance(estimates.ctr);
    expect(mean(robust.ctr) / truth).toBeGreaterThan(0.8);
    expect(mean(robust.ctr) / truth).toBeLessThan(1.3);
    expect(mean(iid.ctr) / truth).toBeLessThan(0.7);
  });

  it("latency p95: the linearised (Woodruff) group variance matches the true variance; the independent one understates it", () => {
    const truth = variance(estimates.p95);
    expect(mean(robust.p95) / truth).toBeGreaterThan(0.7);
    expect(mean(robust.p95) / truth).toBeLessThan(1.5);
    expect(mean(iid.p95) / truth).toBeLessThan(0.5);
  });
});
