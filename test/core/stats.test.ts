import { describe, expect, it } from "vitest";
import {
  alwaysValidHalfWidth,
  logNormalCdf,
  normalCdf,
  normalQuantile,
} from "../../core/stats";
import { seededRandom, normalSample } from "../../core/random";
import { judgeAbort } from "../../core/abort";
import { emptyCounts } from "../../core/counters";
import { dict } from "../../core/dict";
import type { MetricDefinition } from "../../core/gate-spec";
import { spreadCounts } from "../spread";

describe("normal distribution (standard table values)", () => {
  it("Φ matches the table", () => {
    expect(normalCdf(0)).toBeCloseTo(0.5, 7);
    expect(normalCdf(1.96)).toBeCloseTo(0.9750021, 6);
    expect(normalCdf(-1)).toBeCloseTo(0.1586553, 6);
    expect(normalCdf(3)).toBeCloseTo(0.9986501, 6);
  });

  it("Φ⁻¹ matches the table", () => {
    expect(normalQuantile(0.975)).toBeCloseTo(1.959964, 5);
    expect(normalQuantile(0.999)).toBeCloseTo(3.090232, 5);
    expect(normalQuantile(0.5)).toBeCloseTo(0, 9);
    expect(normalQuantile(0.0005)).toBeCloseTo(-3.290527, 5);
    for (const p of [0.001, 0.02, 0.3, 0.7, 0.99]) expect(normalCdf(normalQuantile(p))).toBeCloseTo(p, 6);
  });
});

describe("always-valid interval (mixture SPRT)", () => {
  it("matches the closed form and is wider than the fixed-horizon interval", () => {
    const V = 0.0001;
    const tau2 = 0.0025;
    const expected = Math.sqrt(((V * (V + tau2)) / tau2) * (Math.log((V + tau2) / V) - 2 * Math.log(0.05)));
    expect(alwaysValidHalfWidth(V, tau2, 0.05)).toBeCloseTo(expected, 12);
    expect(alwaysValidHalfWidth(V, tau2, 0.05)).toBeGreaterThan(1.96 * Math.sqrt(V));
    expect(alwaysValidHalfWidth(0, tau2, 0.05)).toBe(0);
  });

  it("keeps the false-alarm rate under α when an A/A test is looked at every step (simulation)", () => {
    const random = seededRandom(7);
    const runs = 1000;
    const looks = 200;
    const alpha = 0.05;
    let sequentialAlarms = 0;
    let naiveAlarms = 0;
    for (let r = 0; r < runs; r++) {
      let sum = 0;
      let sequential = false;
      let naive = false;
      for (let n = 1; n <= looks; n++) {
        sum += normalSample(random);
        const mean = sum / n;
        const variance = 1 / n;
        if (Math.abs(mean) > alwaysValidHalfWidth(variance, 0.1, alpha)) sequential = true;
        if (Math.abs(mean) > 1.959964 * Math.sqrt(variance)) naive = true;
      }
      if (sequential) sequentialAlarms++;
      if (naive) naiveAlarms++;
    }
    expect(sequentialAlarms / runs).toBeLessThanOrEqual(alpha);
    // Peeking with a fixed-horizon interval is what the sequential one protects against.
    expect(naiveAlarms / runs).toBeGreaterThan(3 * alpha);
  });
});

describe("ln Φ deep in the lower tail", () => {
  it("matches known values and joins the direct computation smoothly", () => {
    // ln Φ(−40) = ln 3.655893540915e−350 (Φ itself underflows a double).
    expect(logNormalCdf(-40)).toBeCloseTo(-804.6084420137538, 6);
    expect(logNormalCdf(-8)).toBeCloseTo(-35.013437159914545, 5);
    expect(logNormalCdf(-10.0001)).toBeCloseTo(Math.log(normalCdf(-9.9999)) - 0.0010, 2);
    expect(Math.abs(logNormalCdf(-10.000001) - logNormalCdf(-9.999999))).toBeLessThan(1e-4);
    expect(logNormalCdf(0)).toBeCloseTo(Math.log(0.5), 6);
  });
});

describe("abort rules on means far inside their limit", () => {
  it("see no evidence against a mean well below an `above` limit, however much data (the Φ-clamp defect)", () => {
    const counts = emptyCounts();
    const n = 1_000_000;
    counts.exposures = n;
    counts.events["cost_usd"] = { count: n, sum: n * 0.03, sumSq: n * (0.03 * 0.03 + 0.0001) };
    const rule = { metric: "cost", direction: "above" as const, level: 0.05, sustained: undefined, soft: false };
    const definitions = dict<MetricDefinition>();
    definitions["cost"] = { kind: "mean", event: "cost_usd" };
    const start = Date.UTC(2026, 10, 23, 10);
    const first = judgeAbort(rule, definitions, [spreadCounts(emptyCounts())], start, undefined, 0.01);
    const { verdict } = judgeAbort(rule, definitions, [spreadCounts(counts)], start + 60_000, first.memory, 0.01);
    expect(verdict.value).toBeCloseTo(0.03, 6);
    expect(verdict.evidence).toBeLessThan(1);
    expect(verdict.fired).toBe(false);
  });
});
