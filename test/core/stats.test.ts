import { describe, expect, it } from "vitest";
import {
  alwaysValidHalfWidth,
  logGamma,
  normalCdf,
  normalQuantile,
  poolEstimates,
  srmLogBayesFactor,
  wilsonInterval,
} from "../../core/stats";
import { seededRandom, normalSample } from "../../core/random";

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

describe("log-gamma", () => {
  it("matches closed forms", () => {
    expect(logGamma(0.5)).toBeCloseTo(Math.log(Math.sqrt(Math.PI)), 12);
    expect(logGamma(1)).toBeCloseTo(0, 12);
    expect(logGamma(10)).toBeCloseTo(Math.log(362_880), 10);
    expect(logGamma(100.5)).toBeCloseTo(361.4355404678, 8); // Python math.lgamma(100.5)
  });
});

describe("Wilson score interval", () => {
  it("matches its closed form at zero successes and a textbook example", () => {
    // 0 of 10: upper bound z²/(n+z²).
    const z = normalQuantile(0.975);
    expect(wilsonInterval(0, 10, 0.05).upper).toBeCloseTo((z * z) / (10 + z * z), 10);
    expect(wilsonInterval(0, 10, 0.05).lower).toBe(0);
    // Newcombe (1998), example 81/263: 0.2553 to 0.3662.
    const w = wilsonInterval(81, 263, 0.05);
    expect(w.lower).toBeCloseTo(0.2553, 3);
    expect(w.upper).toBeCloseTo(0.3662, 3);
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

describe("sequential sample ratio mismatch", () => {
  it("matches a hand-computed Bayes factor", () => {
    // One observation in arm 1 of two equal arms, Dirichlet(1, 1): BF = [Γ(2)/Γ(3)] · [Γ(2)/Γ(1)] / 0.5 = 1.
    expect(srmLogBayesFactor([1, 0], [0.5, 0.5], 2)).toBeCloseTo(0, 12);
  });

  it("rarely alarms on a correct split and catches 10% of one arm's exposures lost (simulation)", () => {
    const random = seededRandom(11);
    const threshold = Math.log(1 / 0.001);
    let falseAlarms = 0;
    let caught = 0;
    const runs = 100;
    for (let r = 0; r < runs; r++) {
      let a = 0;
      let b = 0;
      let la = 0;
      let lb = 0;
      let alarm = false;
      let lossAlarm = false;
      for (let look = 0; look < 100; look++) {
        for (let i = 0; i < 1000; i++) {
          const toCandidate = random() < 0.1;
          if (toCandidate) a++;
          else b++;
          if (toCandidate) {
            if (random() >= 0.1) la++;
          } else lb++;
        }
        if (srmLogBayesFactor([a, b], [0.1, 0.9]) > threshold) alarm = true;
        if (srmLogBayesFactor([la, lb], [0.1, 0.9]) > threshold) lossAlarm = true;
      }
      if (alarm) falseAlarms++;
      if (lossAlarm) caught++;
    }
    expect(falseAlarms / runs).toBeLessThanOrEqual(0.01);
    expect(caught / runs).toBeGreaterThanOrEqual(0.95);
  });
});

describe("pooling", () => {
  it("weights estimates by inverse variance", () => {
    expect(poolEstimates([{ value: 1, variance: 1 }, { value: 3, variance: 1 }])).toEqual({ value: 2, variance: 0.5 });
    expect(poolEstimates([{ value: 1, variance: 1 }, { value: 4, variance: 2 }])?.value).toBeCloseTo(2, 12);
    expect(poolEstimates([])).toBeNull();
  });
});
